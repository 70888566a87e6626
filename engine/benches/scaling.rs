//! How throughput scales with the number of engines on one PostgreSQL, next to the
//! database's raw single-row commit rate measured in the same run.
//!
//! `cargo bench -p braid-engine --bench scaling [-- ENGINES…]` (default `1 2 3`) prints a
//! Markdown table. For each number of engines N, [`ROUNDS`] times on a fresh schema: [`RUNS`]
//! runs of a 10-step chain of no-op steps are stored, then N engines — each with its own
//! store connection pool, HTTP client, committer and worker id, as N processes would have —
//! claim and carry them out together; the figure is steps per second until the last run
//! succeeded (the median of the rounds). The baseline is the median latency of a one-row
//! write transaction on one connection (`kv_put`), as commits per second.
//!
//! The engines share this process's tokio runtime and the machine's cores with PostgreSQL, as
//! processes on the database's machine would. PostgreSQL comes from `BRAID_TEST_POSTGRES_URL`
//! (default the local server).

mod support;

use braid_engine::clock::SystemClock;
use braid_engine::executor::{Engine, ExecutorConfig, StartRequest};
use braid_engine::store::{self, RunStatus, Store, StoreOptions};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs per round.
const RUNS: usize = 500;
/// Steps per run.
const STEPS: usize = 10;
/// Rounds per number of engines (the median is reported).
const ROUNDS: usize = 3;
/// Commits timed for the baseline.
const COMMITS: usize = 400;

/// Median latency of a one-row write transaction on one connection.
async fn raw_commit(url: &str) -> Duration {
    let options = StoreOptions {
        max_connections: 1,
        ..StoreOptions::default()
    };
    let store = store::open(url, &options).await.expect("open");
    let median = support::raw_commit(store.as_ref(), COMMITS).await;
    store.close().await;
    median
}

/// How many runs of the chain have succeeded (one grouped count, cheap to poll).
async fn succeeded(store: &dyn Store) -> u64 {
    let stats = store.stats(0).await.expect("stats");
    stats
        .runs
        .iter()
        .filter(|(w, s, _)| w == "chain" && *s == RunStatus::Succeeded)
        .map(|(_, _, n)| n)
        .sum()
}

/// One round with `n` engines: steps per second.
async fn round(n: usize) -> f64 {
    let url = braid_testkit::fresh_postgres_url().await;
    let mut engines = Vec::with_capacity(n);
    for i in 0..n {
        let store = store::open(&url, &StoreOptions::default())
            .await
            .expect("open");
        let engine = Engine::new(
            store,
            Arc::new(SystemClock),
            HashMap::new(),
            ExecutorConfig {
                worker_id: format!("engine-{i}"),
                idle_poll: Duration::from_millis(50),
                ..ExecutorConfig::default()
            },
        );
        engine.load_workflows(support::plans(&support::chain("chain", STEPS)));
        engines.push(engine);
    }
    let plan = engines[0].workflow("chain").expect("chain");
    for _ in 0..RUNS {
        engines[0]
            .start_run(
                &plan,
                StartRequest {
                    input: json!({}),
                    ..StartRequest::default()
                },
            )
            .await
            .expect("start");
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let t = Instant::now();
    let workers: Vec<_> = engines
        .iter()
        .map(|e| tokio::spawn(e.clone().run(stopped.clone(), Duration::from_secs(10))))
        .collect();
    let watcher = engines[0].store.clone();
    while succeeded(watcher.as_ref()).await < RUNS as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = t.elapsed();
    let _ = stop.send(true);
    for w in workers {
        let _ = w.await;
    }
    for e in &engines {
        e.store.close().await;
    }
    (RUNS * STEPS) as f64 / elapsed.as_secs_f64()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![1, 2, 3]
    } else {
        counts
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let baseline = raw_commit(&braid_testkit::fresh_postgres_url().await).await;
        let commits = 1.0 / baseline.as_secs_f64();
        println!(
            "PostgreSQL raw single-row commit: {:.3} ms median ({commits:.0} commits/s on one connection)\n",
            baseline.as_secs_f64() * 1e3
        );
        println!("| engines | steps/s (median of {ROUNDS}) | rounds | ÷ one engine | ÷ raw commit rate |");
        println!("| --- | --- | --- | --- | --- |");
        let mut one = None;
        for &n in &counts {
            let mut rates = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                rates.push(round(n).await);
            }
            let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
            let rate = median(rates);
            let base = *one.get_or_insert(rate);
            println!(
                "| {n} | **{rate:.0}** | {} | {:.2}× | {:.2}× |",
                shown.join(", "),
                rate / base,
                rate / commits
            );
        }
    });
}
