//! Three `braid serve` processes on one PostgreSQL share the work, and one of them is
//! SIGKILLed halfway and started again: 2,000 runs of a 10-call workflow (with a signal
//! wait) started by webhooks and signalled through the API, spread over the processes. Every
//! run succeeds, no two attempts of a step are ever in flight at once, no step is called after
//! it succeeded, and a cron trigger on a seconds schedule fires every tick exactly once.

mod support;

use braid_testkit::{fresh_postgres_url, now_ms, Recorder};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::audit;
use support::cluster::Cluster;
use support::workflows::{call_step, cron_tick};

const RUNS: usize = 2_000;
const CALLS_PER_RUN: usize = 10;
const PROCESSES: usize = 3;
/// Requests the test keeps on their way to the processes at once.
const CLIENTS: usize = 24;

/// `multi`: ten calls in a small DAG (two fan-outs and joins) with a signal wait in the
/// middle, started by a webhook that de-duplicates on the input's id (so a start sent again
/// after a process died under it makes no second run); and the cron workflow `tick`.
fn project(base: &str) -> String {
    let mut text = String::from(
        "workflow multi {\n  trigger webhook \"/hooks/multi\" { dedupe input.id }\n  input { id: string }\n",
    );
    text += &call_step(base, "s1", "{ id: input.id }");
    text += &call_step(base, "s2", "{ a: s1.body.n }");
    text += &call_step(base, "s3", "{ a: s1.body.n }");
    text += &call_step(base, "s4", "{ a: s2.body.n, b: s3.body.n }");
    text += &call_step(base, "s5", "{ a: s4.body.n }");
    text += "  step go = wait_signal(\"go\", timeout: 10m) { after s5 }\n";
    text += &call_step(base, "s6", "{ a: s5.body.n, go: go }");
    text += &call_step(base, "s7", "{ a: s6.body.n }");
    text += &call_step(base, "s8", "{ a: s6.body.n }");
    text += &call_step(base, "s9", "{ a: s7.body.n, b: s8.body.n }");
    text += &call_step(base, "s10", "{ a: s9.body.n }");
    text += "  output { last: s10.body.n }\n}\n";
    text += &cron_tick(base);
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_the_work_and_survive_a_kill() {
    let began = Instant::now();
    let (server, base) = Recorder::start().await;
    // Long enough that two attempts of one step at once would be seen.
    server.set_default_delay(20);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("multi.braid"), project(&base)).expect("write");
    let db = fresh_postgres_url().await;
    let mut cluster = Cluster::start(PROCESSES, dir.path(), &db, &["--lease", "2s"]).await;
    let all_up = now_ms();
    eprintln!("{PROCESSES} processes up in {:?}", began.elapsed());

    let spread = cluster.spread();
    let served = spread.get("/api/workflows").await;
    assert_eq!(served["problems"], json!([]), "{served:#}");

    // Start and signal every run, each through a process, its signal through the next one.
    let slots = Arc::new(tokio::sync::Semaphore::new(CLIENTS));
    let mut clients = tokio::task::JoinSet::new();
    let t_start = Instant::now();
    for i in 0..RUNS {
        let permit = slots.clone().acquire_owned().await.expect("semaphore");
        let spread = spread.clone();
        clients.spawn(async move {
            let (status, answer) = spread
                .post(i, "/hooks/multi", &json!({ "id": format!("r{i}") }))
                .await;
            assert_eq!(status, 202, "{answer}");
            let run_id = answer["run_id"].as_str().expect("run_id").to_string();
            let path = format!("/api/runs/{run_id}/signals/go");
            let (status, answer) = spread.post(i + 1, &path, &json!({ "n": i })).await;
            assert_eq!(status, 202, "{answer}");
            drop(permit);
        });
    }

    // SIGKILL one process when about half of the calls have been made, and start it again.
    let half = RUNS * CALLS_PER_RUN / 2;
    assert!(
        server.wait_for_calls(half, Duration::from_secs(120)).await,
        "half the calls never arrived"
    );
    let t_kill = t_start.elapsed();
    cluster.kill(1).await;
    cluster.restart(1).await;
    eprintln!("killed and restarted process 1 at {t_kill:?}");

    while let Some(done) = clients.join_next().await {
        done.expect("a client task");
    }
    let t_requests = t_start.elapsed();
    let pool = audit::pool(&db).await;
    let counts = audit::wait_finished(&pool, "multi", RUNS, Duration::from_secs(120)).await;
    let t_done = t_start.elapsed();
    let window_end = now_ms() - 2_000;
    assert_eq!(
        counts.get("succeeded").copied(),
        Some(RUNS as i64),
        "{counts:?}"
    );
    // Let the last ticks of the window finish.
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.kill_all().await;

    let (calls, repeated) = audit::check_calls(&pool, &server, "multi").await;
    assert!(calls >= RUNS * CALLS_PER_RUN, "{calls} calls checked");
    let workers: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT worker) FROM attempts")
        .fetch_one(&pool)
        .await
        .expect("workers");
    assert!(
        workers > PROCESSES as i64,
        "every process (and the restarted one) carried out steps: {workers} workers"
    );
    // The kill interrupted attempts, and other processes took them over.
    let lost: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM attempts WHERE outcome = 'lost'")
        .fetch_one(&pool)
        .await
        .expect("lost attempts");
    assert!(lost > 0, "the kill interrupted no attempt");
    let ticks = audit::cron_runs(&pool, "tick").await;
    // From the first whole second after all three were up to two seconds before the end.
    let checked = audit::check_ticks(&ticks, &server, "/tick", all_up + 1_000, window_end);
    assert!(checked >= 10, "only {checked} ticks in the window");
    eprintln!(
        "{RUNS} runs: requests done in {t_requests:?}, all succeeded in {t_done:?} \
         ({:.0} calls/s); {calls} calls, {lost} attempts interrupted by the kill, {repeated} \
         steps called again; {checked} cron ticks each fired once; {workers} workers; total {:?}",
        calls as f64 / t_done.as_secs_f64(),
        began.elapsed()
    );
}
