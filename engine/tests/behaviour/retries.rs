//! Retry policies: backoff timing and `Retry-After` on a manual clock, stable idempotency
//! keys, retrying a failed run without calling succeeded steps again.

use crate::on_both_stores;
use crate::support::{Backend, Harness, Recorder, Reply, T0};
use braid_engine::store::RunStatus;
use serde_json::json;

on_both_stores!(
    backoff_and_retry_after_decide_when_the_next_attempt_runs,
    exponential_backoff_grows_to_its_maximum_then_the_run_fails,
    a_retried_run_does_not_call_succeeded_steps_again,
    a_retried_run_ends_only_after_every_step_that_runs_again,
);

/// `ready_at` of step `key`.
async fn ready_at(h: &Harness, id: &str, key: &str) -> Option<i64> {
    h.detail(id)
        .await
        .steps
        .into_iter()
        .find(|s| s.key == key)
        .and_then(|s| s.ready_at)
}

async fn backoff_and_retry_after_decide_when_the_next_attempt_runs(backend: Backend) {
    let (server, base) = Recorder::start().await;
    server.script(
        "/flaky",
        [
            Reply::status(503, json!({ "error": "down" })),
            Reply::status(429, json!({ "error": "slow down" })).header("Retry-After", "120"),
            Reply::status(200, json!({ "done": true })),
        ],
    );
    let h = Harness::new(
        backend,
        &format!(
            r#"workflow flaky {{
              step call = http.post("{base}/flaky") {{
                retry {{ attempts 4 backoff fixed(10s) jitter none }}
              }}
              output call.body
            }}"#
        ),
    )
    .await;
    let id = h.start("flaky", json!({})).await;
    h.drain().await;
    assert_eq!(h.step_status(&id, "call").await, "retrying");
    assert_eq!(ready_at(&h, &id, "call").await, Some(T0 + 10_000));
    assert_eq!(
        h.advance(9_999).await,
        0,
        "nothing runs before the backoff ends"
    );
    assert_eq!(server.calls_to("/flaky").len(), 1);
    h.advance(1).await;
    assert_eq!(server.calls_to("/flaky").len(), 2);
    // The 429 asked for 120 s, longer than the 10 s backoff.
    assert_eq!(ready_at(&h, &id, "call").await, Some(T0 + 10_000 + 120_000));
    assert_eq!(h.advance(119_999).await, 0);
    h.advance(1).await;
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!({ "done": true })));
    let keys: Vec<_> = server
        .calls_to("/flaky")
        .into_iter()
        .map(|c| c.idempotency_key)
        .collect();
    assert_eq!(
        keys,
        vec![Some(format!("{id}/call")); 3],
        "one key for every attempt"
    );
    let outcomes: Vec<_> = h
        .detail(&id)
        .await
        .attempts
        .into_iter()
        .filter(|a| a.key == "call")
        .map(|a| (a.attempt, a.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (1, Some("retry".to_string())),
            (2, Some("retry".to_string())),
            (3, Some("succeeded".to_string()))
        ]
    );
}

async fn exponential_backoff_grows_to_its_maximum_then_the_run_fails(backend: Backend) {
    let (server, base) = Recorder::start().await;
    server.script("/down", (0..4).map(|_| Reply::status(500, json!({}))));
    let h = Harness::new(
        backend,
        &format!(
            r#"workflow down {{
              step call = http.post("{base}/down") {{
                retry {{ attempts 4 backoff exponential(initial: 1s, factor: 2, max: 3s) jitter none }}
              }}
            }}"#
        ),
    )
    .await;
    let id = h.start("down", json!({})).await;
    h.drain().await;
    let mut now = T0;
    for wait in [1_000, 2_000, 3_000] {
        assert_eq!(ready_at(&h, &id, "call").await, Some(now + wait));
        assert_eq!(h.advance(wait - 1).await, 0);
        h.advance(1).await;
        now += wait;
    }
    assert_eq!(server.calls_to("/down").len(), 4);
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.expect("error");
    assert_eq!(error["step"], json!("call"));
    assert_eq!(error["status"], json!(500));
}

async fn a_retried_run_does_not_call_succeeded_steps_again(backend: Backend) {
    let (server, base) = Recorder::start().await;
    server.script("/c", [Reply::status(400, json!({ "error": "bad" }))]);
    let h = Harness::new(
        backend,
        &format!(
            r#"workflow chain {{
              step a = http.post("{base}/a")
              step b = http.post("{base}/b") {{ after a }}
              step c = http.post("{base}/c", body: {{ from_a: a.body.n }}) {{ after b }}
              output {{ c: c.body.path }}
            }}"#
        ),
    )
    .await;
    let id = h.start("chain", json!({})).await;
    h.drain().await;
    assert_eq!(h.status(&id).await, RunStatus::Failed);
    assert!(h.store.retry_run("not-a-run").await.is_err());
    h.store.retry_run(&id).await.expect("retry");
    h.drain().await;
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(server.paths(), vec!["/a", "/b", "/c", "/c"]);
    assert_eq!(server.calls_to("/c")[1].body, json!({ "from_a": 1 }));
    // A succeeded run cannot be retried.
    assert!(h.store.retry_run(&id).await.is_err());
}

/// The run's output waits for every step that runs again, also one that only steps before the
/// output's last dependencies depend on (`a`, which failed with `on_error continue` while
/// `b` after it succeeded and is kept).
async fn a_retried_run_ends_only_after_every_step_that_runs_again(backend: Backend) {
    let (server, base) = Recorder::start().await;
    // First try: `a` fails for good and the run goes on without it; `f` fails the run. Second
    // try: `a` fails once more, retryably, and waits for its backoff.
    server.script(
        "/a",
        [
            Reply::status(400, json!({ "error": "bad" })),
            Reply::status(503, json!({ "error": "down" })),
        ],
    );
    server.script("/f", [Reply::status(400, json!({ "error": "bad" }))]);
    let h = Harness::new(
        backend,
        &format!(
            r#"workflow tail {{
              step a = http.post("{base}/a") {{
                retry {{ attempts 2 backoff fixed(10s) jitter none }}
                on_error continue
              }}
              step b = transform({{ from_a: a }})
              step f = http.post("{base}/f") {{ after b }}
              output {{ a: a.body.path, f: f.body.path }}
            }}"#
        ),
    )
    .await;
    let id = h.start("tail", json!({})).await;
    h.drain().await;
    assert_eq!(h.status(&id).await, RunStatus::Failed);
    assert_eq!(h.step_status(&id, "a").await, "failed");
    assert_eq!(h.step_status(&id, "b").await, "succeeded");

    h.store.retry_run(&id).await.expect("retry");
    h.drain().await;
    assert_eq!(h.step_status(&id, "f").await, "succeeded");
    assert_eq!(h.step_status(&id, "a").await, "retrying");
    assert_eq!(
        h.step_status(&id, "$output").await,
        "pending",
        "the output waits for `a`"
    );
    assert_ne!(h.status(&id).await, RunStatus::Succeeded);

    h.advance(10_000).await;
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!({ "a": "/a", "f": "/f" })));
    assert_eq!(server.calls_to("/a").len(), 3);
    assert_eq!(server.calls_to("/f").len(), 2);
}
