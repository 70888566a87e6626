//! `braid run` killed with SIGKILL at 20+ points of a 20-step workflow and resumed each time
//! (`braid run --resume`): the run succeeds, every step is recorded exactly once, the receiving
//! server sees one idempotency key per step on every attempt, and no step is called again
//! after it succeeded. On SQLite and on PostgreSQL.

use braid_engine::store::{self, RunDetail, RunStatus, StoreOptions};
use braid_testkit::{fresh_postgres_url, Recorder};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const STEPS: usize = 20;
const KILLS: usize = 22;
/// Short leases, so a resumed process takes a killed one's step back quickly.
const LEASE: &str = "800ms";

fn step_name(i: usize) -> String {
    format!("s{i:02}")
}

/// A chain of 20 HTTP steps, each reading the one before it.
fn workflow(base: &str) -> String {
    let mut text = String::from("workflow chain {\n  input { order: string }\n");
    for i in 1..=STEPS {
        let body = if i == 1 {
            "{ order: input.order }".to_string()
        } else {
            format!("{{ previous: {}.body.n }}", step_name(i - 1))
        };
        text.push_str(&format!(
            "  step {} = http.post(\"{base}/{}\", body: {body}) {{ retry {{ attempts 10 backoff fixed(100ms) }} }}\n",
            step_name(i),
            step_name(i)
        ));
    }
    text.push_str(&format!(
        "  output {{ last: {}.body.n }}\n}}\n",
        step_name(STEPS)
    ));
    text
}

/// What the processes wrote on stderr, for the failure message.
type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Starts `braid run` with `args`; returns the child and the run id it announced first.
async fn start(args: &[String], log: &Log) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_braid"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn braid run");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("braid run announces its run in time")
        .expect("read stderr")
        .expect("a first line");
    // Keep draining, so the child never blocks on a full pipe.
    let log = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    });
    let id = first
        .strip_prefix("run ")
        .unwrap_or_else(|| panic!("first line is `run <id>`, got {first:?}"))
        .to_string();
    (child, id)
}

/// Waits until `path` has had more than `seen` calls; false after a minute.
async fn wait_for_call(server: &Recorder, path: &str, seen: usize) -> bool {
    for _ in 0..30_000 {
        if server.calls_to(path).len() > seen {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

async fn crash_and_resume(db: String) {
    let (server, base) = Recorder::start().await;
    server.set_default_delay(25);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("chain.braid");
    std::fs::write(&file, workflow(&base)).expect("write workflow");
    let common = [
        "--db".to_string(),
        db.clone(),
        "--lease".into(),
        LEASE.into(),
    ];

    let first: Vec<String> = [
        "run".to_string(),
        file.display().to_string(),
        "--input".into(),
        r#"{"order": "A-1"}"#.into(),
    ]
    .into_iter()
    .chain(common.clone())
    .collect();
    let log = Log::default();
    let (mut child, run_id) = start(&first, &log).await;
    let resume: Vec<String> = ["run".to_string(), "--resume".into(), run_id.clone()]
        .into_iter()
        .chain(common)
        .collect();

    let mut kills = 0;
    let status = loop {
        if kills < KILLS {
            // Kill point k: when step k's next call arrives (the last step again for the
            // extra points), plus 0–40 ms: mid-call, after the answer but before the result
            // is written, or after it.
            let path = format!("/{}", step_name((kills + 1).min(STEPS)));
            let seen = server.calls_to(&path).len();
            let arrived = tokio::select! {
                arrived = wait_for_call(&server, &path, seen) => arrived,
                status = child.wait() => break status.expect("wait"),
            };
            assert!(arrived, "no call to {path} after {kills} kills");
            tokio::time::sleep(Duration::from_millis((kills as u64 * 7) % 41)).await;
            child.start_kill().expect("SIGKILL");
            child.wait().await.expect("reap");
            kills += 1;
            log.lock().unwrap_or_else(|e| e.into_inner()).clear();
            child = start(&resume, &log).await.0;
        } else {
            break tokio::time::timeout(Duration::from_secs(120), child.wait())
                .await
                .expect("the last process finishes")
                .expect("wait");
        }
    };
    assert!(
        status.success(),
        "the last `braid run` failed: {status}\n{}",
        log.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
    );
    assert!(kills >= 20, "only {kills} kills before the run finished");

    let store = store::open(&db, &StoreOptions::default())
        .await
        .expect("open");
    let detail: RunDetail = store.get_run_detail(&run_id).await.expect("detail");
    assert_eq!(
        detail.run.status,
        RunStatus::Succeeded,
        "{:?}",
        detail.run.error
    );
    let calls = server.calls();
    for i in 1..=STEPS {
        let name = step_name(i);
        let step = detail
            .steps
            .iter()
            .find(|s| s.key == name)
            .unwrap_or_else(|| panic!("step {name}"));
        assert_eq!(step.status.as_str(), "succeeded", "{name}");
        let succeeded: Vec<_> = detail
            .attempts
            .iter()
            .filter(|a| a.key == name && a.outcome.as_deref() == Some("succeeded"))
            .collect();
        assert_eq!(succeeded.len(), 1, "{name} succeeded exactly once");
        let recorded = detail
            .events
            .iter()
            .filter(|e| e.kind == "step_succeeded" && e.step_key.as_deref() == Some(&name))
            .count();
        assert_eq!(recorded, 1, "{name} recorded exactly once");
        let path = format!("/{name}");
        let mine: Vec<_> = calls.iter().filter(|c| c.path == path).collect();
        assert!(!mine.is_empty(), "{name} was called");
        let expected_key = format!("{run_id}/{name}");
        for call in &mine {
            assert_eq!(
                call.idempotency_key.as_deref(),
                Some(expected_key.as_str()),
                "{name}"
            );
        }
        let finished = step.finished.expect("finished");
        for call in &mine {
            assert!(
                call.received_at <= finished,
                "{name} was called at {} after it succeeded at {finished}",
                call.received_at
            );
        }
    }
    // Each step sent the previous step's answer on, so each saw its predecessor's result.
    let by_path: BTreeMap<&str, usize> = calls.iter().fold(BTreeMap::new(), |mut m, c| {
        *m.entry(c.path.as_str()).or_default() += 1;
        m
    });
    eprintln!("{kills} kills, {} calls: {by_path:?}", calls.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill_at_every_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("braid.db").display());
    crash_and_resume(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_sigkill_at_every_point() {
    crash_and_resume(fresh_postgres_url().await).await;
}
