//! Leases: an attempt whose worker died counts as an attempt, and the step is taken over.

use crate::on_both_stores;
use crate::support::{Backend, Harness, Recorder};
use braid_engine::store::{Completion, Outcome, RunStatus};
use serde_json::json;
use std::sync::Arc;

on_both_stores!(
    a_dead_workers_step_is_taken_over_after_its_lease,
    an_interrupted_last_attempt_fails_the_step,
    an_interrupted_output_is_evaluated_again,
    a_stopping_worker_hands_its_leases_back_at_once,
);

/// Workflow `w`: one step that calls a recording server, with `attempts` attempts.
async fn calling(backend: Backend, attempts: u32) -> (Arc<Recorder>, Harness) {
    let (server, base) = Recorder::start().await;
    let h = Harness::new(
        backend,
        &format!(
            r#"workflow w {{ step call = http.post("{base}/call") {{ retry {{ attempts {attempts} }} }} }}"#
        ),
    )
    .await;
    (server, h)
}

async fn a_dead_workers_step_is_taken_over_after_its_lease(backend: Backend) {
    let (server, h) = calling(backend, 3).await;
    let id = h.start("w", json!({})).await;
    // Another process claims the step and dies without a word.
    let now = h.clock.advance(0);
    let taken = h
        .store
        .claim("dead-worker", now, 10, 30_000)
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1);
    assert_eq!(h.drain().await, 0, "the lease holds");
    h.advance(29_999).await;
    assert!(server.calls().is_empty());
    h.advance(1).await;
    assert_eq!(h.status(&id).await, RunStatus::Succeeded);
    let attempts: Vec<_> = h
        .detail(&id)
        .await
        .attempts
        .into_iter()
        .filter(|a| a.key == "call")
        .map(|a| (a.attempt, a.worker, a.outcome))
        .collect();
    assert_eq!(
        attempts,
        vec![
            (1, "dead-worker".to_string(), Some("lost".to_string())),
            (2, "worker-1".to_string(), Some("succeeded".to_string())),
        ]
    );
}

async fn an_interrupted_last_attempt_fails_the_step(backend: Backend) {
    let (server, h) = calling(backend, 1).await;
    let id = h.start("w", json!({})).await;
    let now = h.clock.advance(0);
    h.store
        .claim("dead-worker", now, 10, 30_000)
        .await
        .expect("claim");
    h.advance(30_000).await;
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.expect("error")["class"], json!("interrupted"));
    assert!(server.calls().is_empty(), "no attempt is left to call with");
}

async fn an_interrupted_output_is_evaluated_again(backend: Backend) {
    let h = Harness::new(
        backend,
        r#"workflow w { step a = transform(41 + 1) output { a: a } }"#,
    )
    .await;
    let id = h.start("w", json!({})).await;
    // A process carries out `a`, then dies while evaluating the run's output (which has no
    // retry policy of its own: one attempt).
    let now = h.clock.advance(0);
    let taken = h
        .store
        .claim("dead-worker", now, 10, 30_000)
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1);
    h.store
        .complete(vec![Completion {
            run_id: id.clone(),
            key: "a".into(),
            worker_id: "dead-worker".into(),
            attempt: 1,
            outcome: Outcome::Succeeded { output: json!(42) },
        }])
        .await
        .expect("complete");
    let taken = h
        .store
        .claim("dead-worker", now, 10, 30_000)
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1, "the output step");
    h.advance(30_000).await;
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!({ "a": 42 })));
}

/// A worker that stops (SIGTERM, after its grace period) hands back every lease it still
/// holds: the next worker takes the steps at once, not when the leases would have run out.
async fn a_stopping_worker_hands_its_leases_back_at_once(backend: Backend) {
    let (server, h) = calling(backend, 3).await;
    let ids = [h.start("w", json!({})).await, h.start("w", json!({})).await];
    let now = h.clock.advance(0);
    let taken = h
        .store
        .claim("stopping-worker", now, 10, 30_000)
        .await
        .expect("claim");
    assert_eq!(taken.len(), 2);
    assert_eq!(h.drain().await, 0, "the leases hold");
    h.store
        .release("stopping-worker", &[])
        .await
        .expect("release");
    h.advance(0).await;
    for id in &ids {
        assert_eq!(h.status(id).await, RunStatus::Succeeded);
    }
    assert_eq!(server.calls().len(), 2);
}
