//! Dependencies, `when` and skipping, `expect`, `on_error continue`, output, dedupe.

use crate::on_both_stores;
use crate::support::{Backend, Harness, Recorder, Reply};
use braid_engine::store::{CreateOutcome, NewRun, NewStep, RunStatus};
use serde_json::json;

on_both_stores!(
    steps_run_in_dependency_order_and_skips_propagate,
    expect_failures_and_on_error_continue,
    a_repeated_dedupe_key_returns_the_first_run,
    every_change_is_in_the_history,
    a_step_sees_outputs_written_by_its_own_worker_and_by_others,
);

async fn steps_run_in_dependency_order_and_skips_propagate(backend: Backend) {
    let (server, base) = Recorder::start().await;
    let h = Harness::new(
        backend,
        &format!(
            r#"workflow basics {{
              input {{ n: int }}
              step a = transform(input.n + 1)
              step b = http.post("{base}/b", body: {{ a: a }})
              step c = transform(b.body.echo.a * 10)
              step rare = transform(1) {{ when input.n > 100 }}
              step downstream = transform(rare + 1)
              step decides = transform("ran") {{ after rare  when true }}
              output {{ c: c, downstream: downstream, decides: decides }}
            }}"#
        ),
    )
    .await;
    let id = h.start("basics", json!({ "n": 3 })).await;
    h.drain().await;
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(
        run.output,
        Some(json!({ "c": 40, "downstream": null, "decides": "ran" }))
    );
    assert_eq!(h.step_status(&id, "rare").await, "skipped");
    assert_eq!(h.step_status(&id, "downstream").await, "skipped");
    let calls = server.calls_to("/b");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].body, json!({ "a": 4 }));
    assert_eq!(
        calls[0].idempotency_key.as_deref(),
        Some(format!("{id}/b").as_str())
    );
}

/// A worker that hands itself the next step keeps the outputs it wrote instead of reading
/// them again; a step joining two branches gets one output that way and the other from the
/// store, and every step sees the same values, whichever worker ran what.
async fn a_step_sees_outputs_written_by_its_own_worker_and_by_others(backend: Backend) {
    let h = Harness::new(
        backend,
        r#"workflow diamond {
              input { n: int }
              step a = transform(input.n)
              step b = transform(a + 1)
              step c = transform(a * 10)
              step d = transform({ a: a, b: b, c: c, n: input.n })
              step e = transform(d.b + d.c)
              output { d: d, e: e }
            }"#,
    )
    .await;
    for n in 1..=5 {
        let id = h.start("diamond", json!({ "n": n })).await;
        h.drain().await;
        let run = h.run(&id).await;
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
        assert_eq!(
            run.output,
            Some(json!({
                "d": { "a": n, "b": n + 1, "c": n * 10, "n": n },
                "e": n + 1 + n * 10,
            }))
        );
    }
}

async fn expect_failures_and_on_error_continue(backend: Backend) {
    let (server, base) = Recorder::start().await;
    server.script(
        "/bad",
        [Reply::status(200, json!({ "ok": false, "error": "quota" }))],
    );
    let h = Harness::new(
        backend,
        &format!(
            r#"workflow checks {{
              step bad = http.get("{base}/bad") {{
                expect bad.body.ok == true
                retry {{ attempts 1 }}
                on_error continue
              }}
              step next = transform({{ got: bad }})
              output next
            }}"#
        ),
    )
    .await;
    let id = h.start("checks", json!({})).await;
    h.drain().await;
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!({ "got": null })));
    let detail = h.detail(&id).await;
    let bad = detail.steps.iter().find(|s| s.key == "bad").expect("bad");
    assert_eq!(bad.status.as_str(), "failed");
    assert_eq!(
        bad.error.as_ref().and_then(|e| e.get("class")),
        Some(&json!("expect"))
    );
}

async fn a_repeated_dedupe_key_returns_the_first_run(backend: Backend) {
    let h = Harness::new(backend, "workflow w { step a = transform(1) }").await;
    let run = |id: &str| NewRun {
        id: Some(id.to_string()),
        workflow: "w".into(),
        version_hash: "h".into(),
        input: json!({}),
        trigger: None,
        dedupe_key: Some("delivery-1".into()),
        parent: None,
        steps: vec![NewStep::main("a")],
    };
    let first = h.store.create_run(run("r1")).await.expect("create");
    let second = h.store.create_run(run("r2")).await.expect("create again");
    assert_eq!(first, CreateOutcome::Created("r1".into()));
    assert_eq!(second, CreateOutcome::Duplicate("r1".into()));
    assert!(h.store.load_run("r2").await.is_err());
}

async fn every_change_is_in_the_history(backend: Backend) {
    let h = Harness::new(
        backend,
        "workflow w { step a = transform(1)  step b = transform(a + 1)  output b }",
    )
    .await;
    let id = h.start("w", json!({})).await;
    h.drain().await;
    let kinds: Vec<(String, Option<String>)> = h
        .detail(&id)
        .await
        .events
        .into_iter()
        .map(|e| (e.kind, e.step_key))
        .collect();
    let expected = [
        ("run_created", None),
        ("step_started", Some("a")),
        ("step_succeeded", Some("a")),
        ("step_ready", Some("b")),
        ("step_started", Some("b")),
        ("step_succeeded", Some("b")),
        ("step_ready", Some("$output")),
        ("step_started", Some("$output")),
        ("step_succeeded", Some("$output")),
        ("run_succeeded", None),
    ];
    let expected: Vec<(String, Option<String>)> = expected
        .iter()
        .map(|(k, s)| (k.to_string(), s.map(str::to_string)))
        .collect();
    assert_eq!(kinds, expected);
}

on_both_stores!(runs_are_listed_newest_first_a_page_at_a_time);

async fn runs_are_listed_newest_first_a_page_at_a_time(backend: Backend) {
    use braid_engine::store::RunFilter;
    let h = Harness::new(
        backend,
        "workflow a { step s = transform(1) }\nworkflow b { step s = transform(1) }",
    )
    .await;
    let mut started = Vec::new();
    for i in 0..7 {
        h.clock.advance(1_000);
        let workflow = if i % 2 == 0 { "a" } else { "b" };
        started.push((workflow, h.start(workflow, json!({})).await));
    }
    h.drain().await;
    let newest_first: Vec<String> = started.iter().rev().map(|(_, id)| id.clone()).collect();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = h
            .store
            .list_runs(&RunFilter {
                limit: Some(3),
                cursor: cursor.clone(),
                ..RunFilter::default()
            })
            .await
            .expect("list");
        assert!(page.runs.len() <= 3);
        seen.extend(page.runs.into_iter().map(|r| r.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, newest_first, "every run once, newest first");
    let only_a = h
        .store
        .list_runs(&RunFilter {
            workflow: Some("a".into()),
            status: Some(RunStatus::Succeeded),
            ..RunFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(only_a.runs.len(), 4);
    let window = h
        .store
        .list_runs(&RunFilter {
            created_from: Some(crate::support::T0 + 2_000),
            created_to: Some(crate::support::T0 + 5_000),
            ..RunFilter::default()
        })
        .await
        .expect("list");
    let ids: Vec<_> = window.runs.into_iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        vec![
            started[3].1.clone(),
            started[2].1.clone(),
            started[1].1.clone()
        ]
    );
    assert!(h
        .store
        .list_runs(&RunFilter {
            cursor: Some("garbage".into()),
            ..RunFilter::default()
        })
        .await
        .is_err());
}
