//! What the benchmarks share: the no-op chain workflow they run and the baseline they are
//! measured against. (Each bench uses part of it.)
#![allow(dead_code)]

use braid_dsl::SourceMap;
use braid_engine::store::{Store, StoreError};
use std::time::{Duration, Instant};

/// Workflow `name`: a chain of `steps` no-op (`transform`) steps, each on the one before.
pub fn chain(name: &str, steps: usize) -> String {
    let mut text = format!("workflow {name} {{\n  step s0 = transform(0)\n");
    for i in 1..steps {
        text.push_str(&format!("  step s{i} = transform(s{} + 1)\n", i - 1));
    }
    text.push_str("}\n");
    text
}

/// The plans of a project made of `text`, which must compile cleanly.
pub fn plans(text: &str) -> Vec<braid_dsl::plan::WorkflowPlan> {
    let mut sources = SourceMap::new();
    sources.add("bench.braid", text);
    let out = braid_stdlib::compile::compile(&sources);
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    out.project.workflows.into_values().collect()
}

/// The baseline: median latency of `n` one-row write transactions (`kv_put`) on `store`.
pub async fn raw_commit(store: &dyn Store, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        one_row_commit(store, i as u64).await.expect("commit");
        times.push(t.elapsed());
    }
    times.sort();
    times[n / 2]
}

/// The baseline's unit: one one-row write transaction (`kv_put`, one of 16 keys by `i`).
pub async fn one_row_commit(store: &dyn Store, i: u64) -> Result<(), StoreError> {
    store.kv_put("bench", &format!("k{}", i % 16), "v").await
}
