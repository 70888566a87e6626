//! Durable waiting: sleep across a restart, signals (before and during the wait, and the
//! timeout), child runs, cancellation.

use crate::on_both_stores;
use crate::support::{Backend, Harness, Recorder};
use braid_engine::store::{RunFilter, RunStatus};
use serde_json::json;

on_both_stores!(
    a_sleeping_run_survives_a_restart,
    signals_wake_waiting_steps_and_timeouts_fail_them,
    a_signal_sent_before_the_wait_is_kept,
    child_runs_hand_their_output_to_the_parent,
    cancelling_stops_a_run_and_its_children,
);

async fn a_sleeping_run_survives_a_restart(backend: Backend) {
    let (server, base) = Recorder::start().await;
    let text = format!(
        r#"workflow nap {{
          step s = sleep(1h)
          step after = http.post("{base}/after") {{ after s }}
        }}"#
    );
    let h = Harness::new(backend, &text).await;
    let id = h.start("nap", json!({})).await;
    h.drain().await;
    assert_eq!(h.status(&id).await, RunStatus::Waiting);
    let h = h.restart("worker-2").await;
    assert_eq!(h.advance(3_599_999).await, 0);
    assert!(server.calls().is_empty());
    h.advance(1).await;
    assert_eq!(h.status(&id).await, RunStatus::Succeeded);
    assert_eq!(server.calls_to("/after").len(), 1);
}

async fn signals_wake_waiting_steps_and_timeouts_fail_them(backend: Backend) {
    let h = Harness::new(
        backend,
        r#"workflow approve {
          step approval = wait_signal("approve", timeout: 1d)
          output approval
        }"#,
    )
    .await;
    let signalled = h.start("approve", json!({})).await;
    let forgotten = h.start("approve", json!({})).await;
    h.drain().await;
    assert_eq!(h.status(&signalled).await, RunStatus::Waiting);
    h.store
        .signal(&signalled, "approve", json!({ "by": "ann" }))
        .await
        .expect("signal");
    h.drain().await;
    let run = h.run(&signalled).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!({ "by": "ann" })));
    assert!(
        h.store
            .signal(&signalled, "approve", json!({}))
            .await
            .is_err(),
        "finished runs take no signals"
    );

    assert_eq!(h.advance(86_400_000 - 1).await, 0);
    h.advance(1).await;
    let run = h.run(&forgotten).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.expect("error")["class"], json!("timeout"));
}

async fn a_signal_sent_before_the_wait_is_kept(backend: Backend) {
    let h = Harness::new(
        backend,
        r#"workflow later {
          step s = sleep(1m)
          step w = wait_signal("go") { after s }
          output w
        }"#,
    )
    .await;
    let id = h.start("later", json!({})).await;
    h.drain().await;
    h.store.signal(&id, "go", json!(7)).await.expect("signal");
    h.advance(60_000).await;
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!(7)));
}

async fn child_runs_hand_their_output_to_the_parent(backend: Backend) {
    let h = Harness::new(
        backend,
        r#"workflow parent {
          step child = workflow.run("square", input: { x: 3 })
          output child
        }
        workflow square {
          input { x: int }
          step sq = transform(input.x * input.x)
          output { sq: sq }
        }"#,
    )
    .await;
    let id = h.start("parent", json!({})).await;
    h.drain().await;
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!({ "sq": 9 })));
    let children = h
        .store
        .list_runs(&RunFilter {
            workflow: Some("square".into()),
            ..RunFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(children.runs.len(), 1);
    let child = &children.runs[0];
    assert_eq!(
        child.parent.as_ref().map(|p| p.run_id.as_str()),
        Some(id.as_str())
    );
    assert_eq!(child.status, RunStatus::Succeeded);
}

async fn cancelling_stops_a_run_and_its_children(backend: Backend) {
    let (server, base) = Recorder::start().await;
    let h = Harness::new(
        backend,
        &format!(
            r#"workflow parent {{
              step child = workflow.run("slow")
              step after = http.post("{base}/after") {{ after child }}
            }}
            workflow slow {{
              step s = sleep(1h)
              step t = http.post("{base}/slow") {{ after s }}
            }}"#
        ),
    )
    .await;
    let id = h.start("parent", json!({})).await;
    h.drain().await;
    let child = h
        .store
        .list_runs(&RunFilter {
            workflow: Some("slow".into()),
            ..RunFilter::default()
        })
        .await
        .expect("list")
        .runs
        .remove(0);
    assert_eq!(child.status, RunStatus::Waiting);
    h.store.cancel_run(&id).await.expect("cancel");
    assert_eq!(h.status(&id).await, RunStatus::Cancelled);
    assert_eq!(h.status(&child.id).await, RunStatus::Cancelled);
    assert_eq!(h.step_status(&child.id, "s").await, "skipped");
    h.advance(3_600_000).await;
    assert!(server.calls().is_empty(), "nothing of a cancelled run runs");
    assert!(
        h.store.cancel_run(&id).await.is_err(),
        "a finished run cannot be cancelled"
    );
}
