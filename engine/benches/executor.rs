//! The executor's speed against the store's raw commit rate, measured in the same run.
//!
//! `cargo bench -p braid-engine --bench executor [-- sqlite|postgres]` prints a Markdown table:
//!
//! * baseline: the median latency of a one-row write transaction on the same store;
//! * (a) 1,000 runs of 10 no-op steps started at once: steps per second, and that rate over the
//!   baseline's commits per second (group commit at work);
//! * (b) one run of 1,000 sequential no-op steps: time per step over the baseline latency.
//!
//! Three rounds per store, each on a fresh store, and their medians: these machines are noisy.
//! PostgreSQL comes from `BRAID_TEST_POSTGRES_URL` (default the local server), in a fresh schema.

mod support;

use braid_engine::clock::SystemClock;
use braid_engine::executor::{Engine, ExecutorConfig, StartRequest};
use braid_engine::store::{self, RunFilter, RunStatus, Store, StoreOptions};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{chain, plans, raw_commit};

async fn wait_all_done(store: &dyn Store, workflow: &str, expected: usize) {
    loop {
        let page = store
            .list_runs(&RunFilter {
                workflow: Some(workflow.into()),
                status: Some(RunStatus::Succeeded),
                limit: Some(1000),
                ..RunFilter::default()
            })
            .await
            .expect("list");
        if page.runs.len() >= expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One round's figures.
struct Round {
    commit: Duration,
    steps_per_sec: f64,
    per_step: Duration,
}

impl Round {
    fn ratio_a(&self) -> f64 {
        self.steps_per_sec * self.commit.as_secs_f64()
    }
    fn ratio_b(&self) -> f64 {
        self.per_step.as_secs_f64() / self.commit.as_secs_f64()
    }
}

/// One round on a fresh store: the baseline, then (a) and (b).
async fn round(url: &str) -> Round {
    let store = store::open(url, &StoreOptions::default())
        .await
        .expect("open");
    let text = format!("{}{}", chain("ten", 10), chain("thousand", 1000));
    let engine = Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        HashMap::new(),
        ExecutorConfig {
            max_in_flight: 256,
            idle_poll: Duration::from_millis(50),
            ..ExecutorConfig::default()
        },
    );
    engine.load_workflows(plans(&text));
    let commit = raw_commit(store.as_ref(), 400).await;

    // (a) 1,000 concurrent runs of 10 steps.
    let ten = engine.workflow("ten").expect("ten");
    for _ in 0..1000 {
        engine
            .start_run(
                &ten,
                StartRequest {
                    input: json!({}),
                    ..Default::default()
                },
            )
            .await
            .expect("start");
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(engine.clone().run(stopped, Duration::from_secs(10)));
    let t = Instant::now();
    wait_all_done(store.as_ref(), "ten", 1000).await;
    let steps_per_sec = 10_000.0 / t.elapsed().as_secs_f64();

    // (b) one run of 1,000 sequential steps.
    let thousand = engine.workflow("thousand").expect("thousand");
    let t = Instant::now();
    engine
        .start_run(
            &thousand,
            StartRequest {
                input: json!({}),
                ..Default::default()
            },
        )
        .await
        .expect("start");
    wait_all_done(store.as_ref(), "thousand", 1).await;
    let per_step = t.elapsed() / 1000;
    let _ = stop.send(true);
    let _ = worker.await;
    store.close().await;
    Round {
        commit,
        steps_per_sec,
        per_step,
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Three rounds, each on a fresh store from `fresh_url`; prints one row per round and the
/// medians.
async fn measure<F, Fut>(label: &str, fresh_url: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (String, Option<tempfile::TempDir>)>,
{
    let mut rounds = Vec::new();
    for i in 1..=3 {
        let (url, _keep) = fresh_url().await;
        let r = round(&url).await;
        println!(
            "| {label} | round {i} | {:.3} ms ({:.0}/s) | {:.0} steps/s | {:.1}× | {:.3} ms | {:.2}× |",
            r.commit.as_secs_f64() * 1e3,
            1.0 / r.commit.as_secs_f64(),
            r.steps_per_sec,
            r.ratio_a(),
            r.per_step.as_secs_f64() * 1e3,
            r.ratio_b(),
        );
        rounds.push(r);
    }
    println!(
        "| {label} | **median** | {:.3} ms | {:.0} steps/s | **{:.1}×** | {:.3} ms | **{:.2}×** |",
        median(
            rounds
                .iter()
                .map(|r| r.commit.as_secs_f64() * 1e3)
                .collect()
        ),
        median(rounds.iter().map(|r| r.steps_per_sec).collect()),
        median(rounds.iter().map(Round::ratio_a).collect()),
        median(
            rounds
                .iter()
                .map(|r| r.per_step.as_secs_f64() * 1e3)
                .collect()
        ),
        median(rounds.iter().map(Round::ratio_b).collect()),
    );
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!("| store | round | raw commit (median of 400) | (a) 1,000 runs × 10 steps | (a) ÷ commit rate | (b) per step of a 1,000-step run | (b) ÷ commit latency |");
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        if want("sqlite") {
            measure("SQLite, synchronous=FULL", || async {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                (url, Some(dir))
            })
            .await;
        }
        if want("postgres") {
            measure("PostgreSQL", || async {
                (braid_testkit::fresh_postgres_url().await, None)
            })
            .await;
        }
    });
}
