//! A connection's `rate_limit` holds across engines: two engines on one store (as two
//! processes would be: each with its own HTTP client and in-process state) call a local
//! recording server, and the calls it receives are spaced as one engine's would be.
//! On SQLite and on PostgreSQL.

#[allow(dead_code)]
#[path = "behaviour/support.rs"]
mod support;

use braid_engine::clock::SystemClock;
use braid_engine::executor::{Engine, ExecutorConfig, StartRequest};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use support::{compile, Backend, Recorder, TestStore};

const CALLS: usize = 20;
/// `rate_limit 10 per second`: one call may start every 100 ms.
const INTERVAL_MS: i64 = 100;
/// How much later than its slot a call may arrive: timers firing late and the server reading
/// the clock late on a busy machine (up to ~35 ms seen on 2 cores shared with builds). Two
/// limits of their own (one per engine) would put calls about 0–30 ms apart, and any three
/// consecutive calls one interval apart, so this still tells them from one shared limit.
const JITTER_MS: i64 = 60;

fn engine(store: Arc<dyn braid_engine::store::Store>, worker: &str, text: &str) -> Arc<Engine> {
    let engine = Engine::new(
        store,
        Arc::new(SystemClock),
        HashMap::new(),
        ExecutorConfig {
            worker_id: worker.to_string(),
            idle_poll: Duration::from_millis(20),
            // Few at a time, so that neither engine claims every step: both make calls.
            max_in_flight: 4,
            ..ExecutorConfig::default()
        },
    );
    engine.load_workflows(compile(text));
    engine
}

async fn two_engines_share_one_limit(backend: Backend) {
    let (server, base) = Recorder::start().await;
    let text = format!(
        r#"connection api {{ base_url "{base}" rate_limit 10 per second }}
        workflow w {{
          input {{ i: int }}
          step call = http.post(api, "/limited", body: {{ i: input.i }})
        }}"#
    );
    let location = TestStore::new(backend).await;
    let clock = Arc::new(SystemClock);
    let a = engine(location.open(clock.clone()).await, "engine-a", &text);
    let b = engine(location.open(clock).await, "engine-b", &text);
    let mut ids = Vec::new();
    for i in 0..CALLS {
        let starter = if i % 2 == 0 { &a } else { &b };
        let plan = starter.workflow("w").expect("w");
        let outcome = starter
            .start_run(
                &plan,
                StartRequest {
                    input: json!({ "i": i }),
                    ..StartRequest::default()
                },
            )
            .await
            .expect("start");
        ids.push(outcome.run_id().to_string());
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = [
        tokio::spawn(a.clone().run(stopped.clone(), Duration::from_secs(5))),
        tokio::spawn(b.clone().run(stopped, Duration::from_secs(5))),
    ];
    assert!(
        server.wait_for_calls(CALLS, Duration::from_secs(30)).await,
        "not every call arrived"
    );
    // Every run finishes (its result written) before the engines stop.
    for id in &ids {
        for _ in 0..500 {
            if a.store
                .load_run(id)
                .await
                .expect("run")
                .status
                .is_terminal()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let _ = stop.send(true);
    for r in running {
        r.await.expect("engine stops");
    }

    let mut workers = BTreeSet::new();
    for id in &ids {
        let detail = a.store.get_run_detail(id).await.expect("detail");
        assert_eq!(
            detail.run.status.as_str(),
            "succeeded",
            "{:?}",
            detail.run.error
        );
        workers.extend(detail.attempts.into_iter().map(|at| at.worker));
    }
    assert_eq!(workers.len(), 2, "both engines made calls: {workers:?}");
    let mut times: Vec<i64> = server
        .calls_to("/limited")
        .iter()
        .map(|c| c.received_at)
        .collect();
    assert_eq!(times.len(), CALLS);
    times.sort_unstable();
    // Any k + 1 consecutive calls span at least k intervals: no window holds more calls than
    // the limit allows, whichever engine made them.
    for i in 0..times.len() {
        for j in i + 1..times.len() {
            let k = (j - i) as i64;
            assert!(
                times[j] - times[i] >= k * INTERVAL_MS - JITTER_MS,
                "calls {i} and {j} arrived {} ms apart, under {k} intervals: {times:?}",
                times[j] - times[i]
            );
        }
    }
    a.store.close().await;
    b.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_engines_share_a_rate_limit() {
    two_engines_share_one_limit(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_engines_share_a_rate_limit() {
    two_engines_share_one_limit(Backend::Postgres).await;
}
