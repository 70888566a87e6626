//! `for_each`: items as durable children, concurrency, partial failure and retrying it.

use crate::on_both_stores;
use crate::support::{Backend, Harness, Recorder, Reply};
use braid_engine::store::RunStatus;
use serde_json::json;

on_both_stores!(items_run_at_most_concurrency_at_a_time_and_partial_failure_is_retried);

async fn items_run_at_most_concurrency_at_a_time_and_partial_failure_is_retried(backend: Backend) {
    let (server, base) = Recorder::start().await;
    for i in 1..=5 {
        let reply = if i == 3 {
            Reply::status(400, json!({ "error": "bad item" }))
        } else {
            Reply::status(200, json!({ "item": i }))
        };
        server.script(&format!("/item/{i}"), [reply.after_ms(40)]);
    }
    let h = Harness::new(
        backend,
        &format!(
            r#"workflow fan {{
              input {{ items: array }}
              step each = http.post("{base}/item/${{item}}") {{
                for_each item in input.items
                concurrency 2
                retry {{ attempts 1 }}
              }}
              output each
            }}"#
        ),
    )
    .await;
    let id = h.start("fan", json!({ "items": [1, 2, 3, 4, 5] })).await;
    h.drain().await;
    assert_eq!(server.calls().len(), 5, "every item ran");
    assert_eq!(
        server.max_in_flight(),
        2,
        "never more than `concurrency` at once"
    );
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.expect("error");
    assert_eq!(error["step"], json!("each"));
    assert_eq!(error["item"], json!(2));
    assert_eq!(h.step_status(&id, "each[2]").await, "failed");
    assert_eq!(h.step_status(&id, "each[4]").await, "succeeded");

    // Only the failed item runs again; the others keep their results.
    h.store.retry_run(&id).await.expect("retry");
    h.drain().await;
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(server.calls().len(), 6);
    assert_eq!(server.calls_to("/item/3").len(), 2);
    let output = run.output.expect("output");
    let items: Vec<_> = output
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["body"].clone())
        .collect();
    assert_eq!(items[0], json!({ "item": 1 }));
    assert_eq!(items[2]["path"], json!("/item/3"));
    assert_eq!(items[4], json!({ "item": 5 }));
    let keys: Vec<_> = server
        .calls_to("/item/3")
        .into_iter()
        .map(|c| c.idempotency_key)
        .collect();
    assert_eq!(keys, vec![Some(format!("{id}/each/2")); 2]);
}
