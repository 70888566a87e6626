//! Group-committed run creation: a batch of runs behaves as the same runs created one by one
//! (dedupe within the batch and against stored runs, a bad run failing alone), and runs
//! started at once through the engine are each stored exactly once.

use crate::on_both_stores;
use crate::support::{Backend, Harness};
use braid_engine::executor::StartRequest;
use braid_engine::store::{CreateOutcome, NewRun, NewStep, RunStatus, StoreError};
use serde_json::json;

on_both_stores!(
    a_batch_is_the_same_as_one_by_one,
    concurrent_starts_share_commits_and_dedupe,
);

fn new_run(id: &str, dedupe: Option<&str>, steps: Vec<NewStep>) -> NewRun {
    NewRun {
        id: Some(id.to_string()),
        workflow: "w".into(),
        version_hash: "h".into(),
        input: json!({ "id": id }),
        trigger: None,
        dedupe_key: dedupe.map(str::to_string),
        parent: None,
        steps,
    }
}

async fn a_batch_is_the_same_as_one_by_one(backend: Backend) {
    let h = Harness::new(backend, "workflow w { step a = transform(1) }").await;
    let steps = || vec![NewStep::main("a"), NewStep::main("b").after(["a"])];
    let stored = h
        .store
        .create_run(new_run("r0", Some("old"), steps()))
        .await
        .expect("create");
    assert_eq!(stored, CreateOutcome::Created("r0".into()));
    let batch = vec![
        new_run("r1", Some("k"), steps()),
        new_run("r2", Some("k"), steps()),
        new_run("r3", None, vec![NewStep::main("a").after(["missing"])]),
        new_run("r4", None, steps()),
        new_run("r5", Some("old"), steps()),
        new_run("r4", None, steps()),
    ];
    let outcomes = h.store.create_runs(&batch).await.expect("batch");
    assert_eq!(outcomes.len(), 6);
    assert_eq!(
        outcomes[0].as_ref().ok(),
        Some(&CreateOutcome::Created("r1".into()))
    );
    assert_eq!(
        outcomes[1].as_ref().ok(),
        Some(&CreateOutcome::Duplicate("r1".into()))
    );
    assert!(
        matches!(outcomes[2], Err(StoreError::Invalid(_))),
        "{:?}",
        outcomes[2]
    );
    assert_eq!(
        outcomes[3].as_ref().ok(),
        Some(&CreateOutcome::Created("r4".into()))
    );
    assert_eq!(
        outcomes[4].as_ref().ok(),
        Some(&CreateOutcome::Duplicate("r0".into()))
    );
    assert_eq!(
        outcomes[5].as_ref().ok(),
        Some(&CreateOutcome::Duplicate("r4".into()))
    );
    for missing in ["r2", "r3", "r5"] {
        assert!(h.store.load_run(missing).await.is_err(), "{missing} stored");
    }
    // Created runs are whole: steps (with `$output`, waiting for the last step, `b`),
    // dependencies, history.
    for id in ["r1", "r4"] {
        let detail = h.detail(id).await;
        assert_eq!(detail.run.status, RunStatus::Pending);
        assert_eq!(detail.run.input, json!({ "id": id }));
        let mut steps: Vec<(String, String, i64)> = detail
            .steps
            .iter()
            .map(|s| (s.key.clone(), s.status.to_string(), s.deps_open))
            .collect();
        steps.sort();
        assert_eq!(
            steps,
            vec![
                ("$output".into(), "pending".into(), 1),
                ("a".into(), "ready".into(), 0),
                ("b".into(), "pending".into(), 1),
            ]
        );
        let kinds: Vec<&str> = detail.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["run_created"]);
    }
    // A later delivery with a key of the batch is its duplicate.
    let again = h
        .store
        .create_run(new_run("r6", Some("k"), steps()))
        .await
        .expect("create again");
    assert_eq!(again, CreateOutcome::Duplicate("r1".into()));
    assert!(h.store.create_runs(&[]).await.expect("empty").is_empty());
}

async fn concurrent_starts_share_commits_and_dedupe(backend: Backend) {
    let h = Harness::new(
        backend,
        "workflow w { input { n: int }  step a = transform(input.n * 2)  output a }",
    )
    .await;
    let plan = h.engine.workflow("w").expect("workflow");
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..300 {
        let engine = h.engine.clone();
        let plan = plan.clone();
        tasks.spawn(async move {
            // Every third delivery repeats the key of the one before it.
            let key = format!("delivery-{}", n - usize::from(n % 3 == 2));
            let outcome = engine
                .start_run(
                    &plan,
                    StartRequest {
                        input: json!({ "n": n }),
                        dedupe_key: Some(key.clone()),
                        ..StartRequest::default()
                    },
                )
                .await
                .expect("start");
            (key, outcome)
        });
    }
    let mut by_key = std::collections::HashMap::<String, Vec<CreateOutcome>>::new();
    while let Some(done) = tasks.join_next().await {
        let (key, outcome) = done.expect("task");
        by_key.entry(key).or_default().push(outcome);
    }
    assert_eq!(by_key.len(), 200);
    for (key, outcomes) in &by_key {
        let created: Vec<&str> = outcomes
            .iter()
            .filter_map(|o| match o {
                CreateOutcome::Created(id) => Some(id.as_str()),
                CreateOutcome::Duplicate(_) => None,
            })
            .collect();
        assert_eq!(created.len(), 1, "{key}: {outcomes:?}");
        assert!(outcomes.iter().all(|o| o.run_id() == created[0]), "{key}");
    }
    h.drain().await;
    for outcomes in by_key.values() {
        assert_eq!(h.status(outcomes[0].run_id()).await, RunStatus::Succeeded);
    }
}
