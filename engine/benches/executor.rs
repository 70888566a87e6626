//! The executor's speed against the store's raw commit rate, measured in the same run.
//!
//! `cargo bench -p braid-engine --bench executor [-- sqlite|postgres]` prints a Markdown table:
//!
//! * baseline: the median latency of a one-row write transaction on the same store;
//! * (a) 1,000 runs of 10 no-op steps started at once: steps per second, and that rate over the
//!   baseline's commits per second (group commit at work);
//! * (b) one run of 1,000 sequential no-op steps: time per step over the baseline latency.
//!
//! PostgreSQL comes from `BRAID_TEST_POSTGRES_URL` (default the local server), in a fresh schema.

use braid_dsl::SourceMap;
use braid_engine::clock::SystemClock;
use braid_engine::executor::{Engine, ExecutorConfig, StartRequest};
use braid_engine::store::{self, RunFilter, RunStatus, Store, StoreOptions};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn chain(name: &str, steps: usize) -> String {
    let mut text = format!("workflow {name} {{\n  step s0 = transform(0)\n");
    for i in 1..steps {
        text.push_str(&format!("  step s{i} = transform(s{} + 1)\n", i - 1));
    }
    text.push_str("}\n");
    text
}

fn plans(text: &str) -> Vec<braid_dsl::plan::WorkflowPlan> {
    let mut sources = SourceMap::new();
    sources.add("bench.braid", text);
    let out = braid_stdlib::compile::compile(&sources);
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    out.project.workflows.into_values().collect()
}

/// Median latency of a one-row write transaction, over `n` commits.
async fn raw_commit(store: &dyn Store, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        store
            .kv_put("bench", &format!("k{}", i % 16), "v")
            .await
            .expect("commit");
        times.push(t.elapsed());
    }
    times.sort();
    times[n / 2]
}

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

async fn measure(label: &str, url: &str) {
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
    let baseline = raw_commit(store.as_ref(), 400).await;
    let commits_per_sec = 1.0 / baseline.as_secs_f64();

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
    let elapsed = t.elapsed();
    let steps_per_sec = 10_000.0 / elapsed.as_secs_f64();

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

    println!(
        "| {label} | {:.3} ms ({:.0}/s) | {:.0} steps/s in {:.2} s | **{:.1}×** | {:.3} ms | **{:.2}×** |",
        baseline.as_secs_f64() * 1e3,
        commits_per_sec,
        steps_per_sec,
        elapsed.as_secs_f64(),
        steps_per_sec / commits_per_sec,
        per_step.as_secs_f64() * 1e3,
        per_step.as_secs_f64() / baseline.as_secs_f64(),
    );
    store.close().await;
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
        println!("| store | raw commit (median) | (a) 1,000 runs × 10 steps | (a) ÷ commit rate | (b) per step, 1,000-step run | (b) ÷ commit latency |");
        println!("| --- | --- | --- | --- | --- | --- |");
        if want("sqlite") {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            measure("SQLite, synchronous=FULL", &url).await;
        }
        if want("postgres") {
            measure("PostgreSQL", &braid_testkit::fresh_postgres_url().await).await;
        }
    });
}
