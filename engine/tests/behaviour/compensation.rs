//! Failure handling: compensations in reverse order of completion, each with its own retry
//! policy, then `on_failure`; `compensation_failed` and retrying it.

use crate::on_both_stores;
use crate::support::{Backend, Harness, Recorder, Reply};
use braid_engine::store::RunStatus;
use serde_json::json;

on_both_stores!(
    compensations_run_in_reverse_order_then_on_failure,
    a_failed_compensation_leaves_the_run_retryable,
);

fn saga(base: &str) -> String {
    format!(
        r#"workflow saga {{
          step a = http.post("{base}/a") {{
            compensate http.post("{base}/undo_a", body: {{ n: a.body.n }})
          }}
          step b = http.post("{base}/b") {{
            after a
            compensate http.post("{base}/undo_b") {{
              retry {{ attempts 2 backoff fixed(1s) jitter none }}
            }}
          }}
          step c = http.post("{base}/c") {{ after b  retry {{ attempts 1 }} }}
          on_failure {{
            step alert = http.post("{base}/alert", body: {{ step: error.step, kind: error.kind }})
          }}
        }}"#
    )
}

async fn compensations_run_in_reverse_order_then_on_failure(backend: Backend) {
    let (server, base) = Recorder::start().await;
    server.script("/c", [Reply::status(400, json!({ "error": "rejected" }))]);
    let h = Harness::new(backend, &saga(&base)).await;
    let id = h.start("saga", json!({})).await;
    h.drain().await;
    assert_eq!(
        server.paths(),
        vec!["/a", "/b", "/c", "/undo_b", "/undo_a", "/alert"]
    );
    assert_eq!(server.calls_to("/undo_a")[0].body, json!({ "n": 1 }));
    assert_eq!(
        server.calls_to("/alert")[0].body,
        json!({ "step": "c", "kind": "status" })
    );
    assert_eq!(h.status(&id).await, RunStatus::Failed);
    assert_eq!(h.step_status(&id, "a").await, "compensated");
    assert_eq!(h.step_status(&id, "b").await, "compensated");
    assert_eq!(h.step_status(&id, "c").await, "failed");
}

async fn a_failed_compensation_leaves_the_run_retryable(backend: Backend) {
    let (server, base) = Recorder::start().await;
    server.script("/c", [Reply::status(400, json!({}))]);
    server.script(
        "/undo_b",
        [Reply::status(500, json!({})), Reply::status(502, json!({}))],
    );
    let h = Harness::new(backend, &saga(&base)).await;
    let id = h.start("saga", json!({})).await;
    h.drain().await;
    assert_eq!(h.step_status(&id, "~b").await, "retrying");
    h.advance(1_000).await;
    // The compensation of b failed for good; a is still undone, then on_failure runs.
    assert_eq!(h.status(&id).await, RunStatus::CompensationFailed);
    assert_eq!(h.step_status(&id, "b").await, "compensation_failed");
    assert_eq!(h.step_status(&id, "a").await, "compensated");
    assert_eq!(server.calls_to("/alert").len(), 1);

    h.store.retry_run(&id).await.expect("retry");
    h.drain().await;
    assert_eq!(h.status(&id).await, RunStatus::Failed);
    assert_eq!(h.step_status(&id, "b").await, "compensated");
    assert_eq!(server.calls_to("/undo_b").len(), 3);
    assert_eq!(server.calls_to("/undo_a").len(), 1, "a is not undone twice");
    assert_eq!(
        server.calls_to("/alert").len(),
        1,
        "on_failure does not run twice"
    );
    let keys: Vec<_> = server
        .calls_to("/undo_b")
        .into_iter()
        .map(|c| c.idempotency_key)
        .collect();
    assert_eq!(keys, vec![Some(format!("{id}/~b")); 3]);
}
