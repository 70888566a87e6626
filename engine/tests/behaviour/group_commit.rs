//! Completions written together (group commit) come out as if written one after the other,
//! in batch order: PostgreSQL writes a batch's successes in one statement, so what one
//! completion of the batch changes must be seen by the next.

use crate::on_both_stores;
use crate::support::{Backend, TestStore, T0};
use braid_engine::clock::ManualClock;
use braid_engine::store::{
    Claimed, Completion, CompletionReport, NewRun, NewStep, Outcome, RunStatus, Store,
};
use serde_json::json;
use std::sync::Arc;

on_both_stores!(
    a_batch_is_recorded_as_its_completions_one_after_another,
    a_failure_in_a_batch_stops_what_its_successes_would_start,
    a_success_that_leaves_only_waiting_steps_shows_its_run_waiting
);

const WORKER: &str = "worker-1";
const LEASE: i64 = 60_000;

/// A store with one run: `a` and `b` first, `c` after both, `d` after `a`.
async fn diamond(backend: Backend) -> (TestStore, Arc<dyn Store>, String) {
    one_run(
        backend,
        &[("a", &[]), ("b", &[]), ("c", &["a", "b"]), ("d", &["a"])],
    )
    .await
}

/// A store with one run (`r1`) of `steps`, each a key and the keys it runs after.
async fn one_run(
    backend: Backend,
    steps: &[(&str, &[&str])],
) -> (TestStore, Arc<dyn Store>, String) {
    let location = TestStore::new(backend).await;
    let store = location.open(Arc::new(ManualClock::new(T0))).await;
    let step = |key: &str, deps: &[&str]| NewStep {
        deps: deps.iter().map(|d| d.to_string()).collect(),
        ..NewStep::main(key)
    };
    let run = NewRun {
        id: Some("r1".into()),
        workflow: "w".into(),
        version_hash: "h".into(),
        input: json!({}),
        trigger: None,
        dedupe_key: None,
        parent: None,
        steps: steps.iter().map(|(key, deps)| step(key, deps)).collect(),
    };
    store.create_run(run).await.expect("create");
    (location, store, "r1".into())
}

/// Claims what is due and returns it by key.
async fn claim(store: &dyn Store) -> Vec<Claimed> {
    let mut claimed = store.claim(WORKER, T0, 10, LEASE).await.expect("claim");
    claimed.sort_by(|x, y| x.key.cmp(&y.key));
    claimed
}

fn done(claimed: &Claimed, outcome: Outcome) -> Completion {
    Completion {
        run_id: claimed.run_id.clone(),
        key: claimed.key.clone(),
        worker_id: WORKER.into(),
        attempt: claimed.attempt,
        outcome,
    }
}

fn succeeded(n: i64) -> Outcome {
    Outcome::Succeeded { output: json!(n) }
}

async fn a_batch_is_recorded_as_its_completions_one_after_another(backend: Backend) {
    let (_location, store, run) = diamond(backend).await;
    let first = claim(store.as_ref()).await;
    let keys: Vec<&str> = first.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    // A completion of an attempt the worker no longer holds is ignored, in the same batch.
    let stale = Completion {
        attempt: 7,
        ..done(&first[0], succeeded(0))
    };
    let batch = [
        stale,
        done(&first[0], succeeded(1)),
        done(&first[1], succeeded(2)),
    ];
    let results = store
        .complete_handing_off(&batch, LEASE)
        .await
        .expect("complete");
    let reports: Vec<CompletionReport> = results.iter().map(|(r, _)| *r).collect();
    assert_eq!(
        reports,
        [
            CompletionReport::LeaseLost,
            CompletionReport::Applied,
            CompletionReport::Applied
        ]
    );
    // `a` alone opens `d`; `c` waits for `b` too, so `b`'s completion opens it.
    let next: Vec<Option<&str>> = results
        .iter()
        .map(|(_, n)| n.as_ref().map(|c| c.key.as_str()))
        .collect();
    assert_eq!(next, [None, Some("d"), Some("c")]);
    assert!(results.iter().flat_map(|(_, n)| n).all(|c| c.attempt == 1));

    let detail = store.get_run_detail(&run).await.expect("detail");
    let step = |key: &str| {
        detail
            .steps
            .iter()
            .find(|s| s.key == key)
            .unwrap_or_else(|| panic!("no step {key}"))
    };
    assert_eq!(step("a").output, Some(json!(1)));
    assert_eq!(step("b").output, Some(json!(2)));
    assert!(step("a").completed_seq < step("b").completed_seq);
    for key in ["c", "d"] {
        assert_eq!(step(key).status.to_string(), "running");
        assert_eq!(step(key).lease_owner.as_deref(), Some(WORKER));
    }
    let attempts: Vec<(&str, Option<&str>)> = detail
        .attempts
        .iter()
        .map(|a| (a.key.as_str(), a.outcome.as_deref()))
        .collect();
    assert_eq!(
        attempts,
        [
            ("a", Some("succeeded")),
            ("b", Some("succeeded")),
            ("c", None),
            ("d", None)
        ]
    );
    let history: Vec<(&str, Option<&str>)> = detail
        .events
        .iter()
        .skip_while(|e| e.kind != "step_succeeded")
        .map(|e| (e.kind.as_str(), e.step_key.as_deref()))
        .collect();
    assert_eq!(
        history,
        [
            ("step_succeeded", Some("a")),
            ("step_ready", Some("d")),
            ("step_started", Some("d")),
            ("step_succeeded", Some("b")),
            ("step_ready", Some("c")),
            ("step_started", Some("c")),
        ]
    );

    // The last steps' completions open the output, and its completion ends the run.
    let last: Vec<Claimed> = results.into_iter().filter_map(|(_, n)| n).collect();
    let batch: Vec<Completion> = last.iter().map(|c| done(c, succeeded(3))).collect();
    let results = store
        .complete_handing_off(&batch, LEASE)
        .await
        .expect("complete");
    let output = results
        .into_iter()
        .find_map(|(_, n)| n)
        .expect("the output handed off");
    assert_eq!(output.key, "$output");
    let end = done(
        &output,
        Outcome::RunOutput {
            output: json!({"ok": true}),
        },
    );
    store
        .complete_handing_off(&[end], LEASE)
        .await
        .expect("complete");
    let detail = store.get_run_detail(&run).await.expect("detail");
    assert_eq!(detail.run.status, RunStatus::Succeeded);
    assert_eq!(detail.run.output, Some(json!({"ok": true})));
    let last_events: Vec<&str> = detail
        .events
        .iter()
        .rev()
        .take(2)
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(last_events, ["run_succeeded", "step_succeeded"]);
}

async fn a_failure_in_a_batch_stops_what_its_successes_would_start(backend: Backend) {
    let (_location, store, run) = diamond(backend).await;
    let first = claim(store.as_ref()).await;
    let failed = Outcome::Failed {
        error: json!({"class": "permanent", "message": "no"}),
        continue_on_error: false,
    };
    let batch = [done(&first[0], succeeded(1)), done(&first[1], failed)];
    let results = store
        .complete_handing_off(&batch, LEASE)
        .await
        .expect("complete");
    assert!(results.iter().all(|(r, _)| *r == CompletionReport::Applied));
    let detail = store.get_run_detail(&run).await.expect("detail");
    let status = |key: &str| {
        detail
            .steps
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.status.to_string())
    };
    // `c` never starts; `d`, handed to the worker before `b` failed, finishes its attempt
    // before compensation may begin.
    assert_eq!(status("c").as_deref(), Some("skipped"));
    assert_eq!(status("d").as_deref(), Some("running"));
    assert_eq!(detail.run.status, RunStatus::Compensating);
    let d = results[0].1.as_ref().expect("d handed off");
    store
        .complete_handing_off(&[done(d, succeeded(4))], LEASE)
        .await
        .expect("complete");
    assert_eq!(
        store.load_run(&run).await.expect("run").status,
        RunStatus::Failed
    );
}

async fn a_success_that_leaves_only_waiting_steps_shows_its_run_waiting(backend: Backend) {
    let (_location, store, run) =
        one_run(backend, &[("a", &[]), ("b", &[]), ("c", &["a", "b"])]).await;
    let first = claim(store.as_ref()).await;
    let nap = Outcome::Wait {
        ready_at: Some(T0 + 3_600_000),
        state: None,
        waiting_for: None,
    };
    // `b` sleeps while `a` still runs: the run goes on.
    store
        .complete_handing_off(&[done(&first[1], nap)], LEASE)
        .await
        .expect("complete");
    assert_eq!(
        store.load_run(&run).await.expect("run").status,
        RunStatus::Running
    );
    // `a` succeeds and makes nothing ready (`c` waits for `b` too): nothing is left to run
    // until `b` wakes, so the run is waiting.
    let results = store
        .complete_handing_off(&[done(&first[0], succeeded(1))], LEASE)
        .await
        .expect("complete");
    assert_eq!(results[0].0, CompletionReport::Applied);
    assert!(results[0].1.is_none());
    assert_eq!(
        store.load_run(&run).await.expect("run").status,
        RunStatus::Waiting
    );
}
