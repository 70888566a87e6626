//! A rolling restart of three `braid serve` processes on one PostgreSQL — each in turn
//! SIGTERMed, waited for, and started again — while runs keep arriving: nothing is lost and no
//! run fails. Each stopping process lets its running attempts finish and hands back what it
//! claimed, so no attempt is interrupted and no step is called twice; cron keeps firing
//! every tick once.

mod support;

use braid_testkit::{fresh_postgres_url, now_ms, Recorder};
use serde_json::json;
use sqlx::Row;
use std::time::{Duration, Instant};
use support::audit;
use support::cluster::Cluster;
use support::workflows::{call_step, cron_tick};

const PROCESSES: usize = 3;
/// Runs started, at a steady pace, while the processes restart one after the other.
const RUNS: usize = 600;
/// Time between two starts.
const PACE: Duration = Duration::from_millis(25);

/// `roll`: six calls in a chain around a signal wait, started by a webhook.
fn project(base: &str) -> String {
    let mut text = String::from(
        "workflow roll {\n  trigger webhook \"/hooks/roll\" { dedupe input.id }\n  input { id: string }\n",
    );
    text += &call_step(base, "r1", "{ id: input.id }");
    text += &call_step(base, "r2", "{ a: r1.body.n }");
    text += &call_step(base, "r3", "{ a: r2.body.n }");
    text += "  step go = wait_signal(\"go\", timeout: 10m) { after r3 }\n";
    text += &call_step(base, "r4", "{ a: r3.body.n, go: go }");
    text += &call_step(base, "r5", "{ a: r4.body.n }");
    text += &call_step(base, "r6", "{ a: r5.body.n }");
    text += "  output { last: r6.body.n }\n}\n";
    text += &cron_tick(base);
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_loses_nothing() {
    let began = Instant::now();
    let (server, base) = Recorder::start().await;
    server.set_default_delay(20);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("roll.braid"), project(&base)).expect("write");
    let db = fresh_postgres_url().await;
    let args = ["--lease", "2s", "--grace", "20s"];
    let mut cluster = Cluster::start(PROCESSES, dir.path(), &db, &args).await;
    let all_up = now_ms();
    let spread = cluster.spread();
    let served = spread.get("/api/workflows").await;
    assert_eq!(served["problems"], json!([]), "{served:#}");

    // Runs arrive at a steady pace through every process, each signalled through the next.
    let feeder = tokio::spawn({
        let spread = spread.clone();
        async move {
            let mut clients = tokio::task::JoinSet::new();
            for i in 0..RUNS {
                let spread = spread.clone();
                clients.spawn(async move {
                    let (status, answer) = spread
                        .post(i, "/hooks/roll", &json!({ "id": format!("r{i}") }))
                        .await;
                    assert_eq!(status, 202, "{answer}");
                    let run_id = answer["run_id"].as_str().expect("run_id").to_string();
                    let path = format!("/api/runs/{run_id}/signals/go");
                    let (status, answer) = spread.post(i + 1, &path, &json!({ "n": i })).await;
                    assert_eq!(status, 202, "{answer}");
                });
                tokio::time::sleep(PACE).await;
            }
            while let Some(done) = clients.join_next().await {
                done.expect("a client task");
            }
        }
    });

    // Each process in turn: SIGTERM, wait for its exit, start it again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..PROCESSES {
        let t = Instant::now();
        let log_before = cluster.logs(i);
        let clean = cluster.terminate(i, Duration::from_secs(30)).await;
        assert!(clean, "process {i} did not stop cleanly:\n{log_before}");
        let stopped_in = t.elapsed();
        cluster.restart(i).await;
        eprintln!(
            "process {i}: stopped in {stopped_in:?}, back after {:?}",
            t.elapsed()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    feeder.await.expect("every run started and signalled");
    let pool = audit::pool(&db).await;
    let counts = audit::wait_finished(&pool, "roll", RUNS, Duration::from_secs(90)).await;
    let window_end = now_ms() - 2_000;
    assert_eq!(
        counts.get("succeeded").copied(),
        Some(RUNS as i64),
        "{counts:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.kill_all().await;

    let (calls, repeated) = audit::check_calls(&pool, &server, "roll").await;
    assert!(calls >= RUNS * 6, "{calls} calls checked");
    // A stop hands its work over: no attempt was cut short, so no step was called twice.
    let lost = sqlx::query(
        "SELECT a.run_id, a.key, a.worker FROM attempts a JOIN runs r ON r.id = a.run_id \
         WHERE r.workflow = 'roll' AND a.outcome = 'lost'",
    )
    .fetch_all(&pool)
    .await
    .expect("attempts");
    let lost: Vec<String> = lost
        .iter()
        .map(|r| {
            format!(
                "{}/{} on {}",
                r.get::<String, _>("run_id"),
                r.get::<String, _>("key"),
                r.get::<String, _>("worker")
            )
        })
        .collect();
    assert_eq!(
        lost,
        Vec::<String>::new(),
        "attempts interrupted by a restart"
    );
    assert_eq!(repeated, 0, "steps called more than once");
    let ticks = audit::cron_runs(&pool, "tick").await;
    let checked = audit::check_ticks(&ticks, &server, "/tick", all_up + 1_000, window_end);
    eprintln!(
        "{RUNS} runs and {calls} calls through a rolling restart, none repeated; {checked} \
         cron ticks each fired once; total {:?}",
        began.elapsed()
    );
}
