//! Memory of 100,000 waiting runs: the resident memory of a real `braid serve` process on
//! SQLite holding 100,000 runs that sleep for an hour, next to the same engine with zero runs,
//! measured in the same run.
//!
//! `cargo bench -p braid --bench memory [-- RUNS]` (default 100,000):
//!
//! 1. starts `braid serve` (this package's binary, release) on 127.0.0.1 with a fresh SQLite
//!    file and one workflow (`step s = sleep(1h)`, then a step after it), and reads its
//!    `VmRSS` from `/proc/PID/status` once it listens: the baseline;
//! 2. creates the runs through its webhook, 256 deliveries in flight (every `202` means a run
//!    stored), and times it;
//! 3. waits until the engine has carried every run to its waiting state (the sleep step
//!    `waiting` in the store), and times that;
//! 4. reads `VmRSS` (and the peak, `VmHWM`) of the same process, then restarts the service on
//!    the same file and reads `VmRSS` of the fresh process with every run still waiting.
//!
//! `BRAID_BENCH_BIN=PATH` runs another `braid` binary instead (an older build, to compare).

use serde_json::Value;
use sqlx::ConnectOptions;
use std::process::Stdio;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const WORKFLOW: &str = r#"
workflow sleeper {
  input { id: int }
  trigger webhook "/hooks/sleeper"
  step s = sleep(1h)
  step after_sleep = transform(input.id + 1) { after s }
}
"#;

/// Deliveries in flight at once while creating the runs.
const IN_FLIGHT: usize = 256;

/// A `braid serve` process and its address.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    async fn start(dir: &std::path::Path, db: &str) -> Serve {
        let bin = std::env::var("BRAID_BENCH_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_braid").to_string());
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(["--db", db])
            .arg("--workflows")
            .arg(dir)
            .env_remove("BRAID_API_TOKEN")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn braid serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("braid serve starts in time")
                .expect("read stderr")
                .expect("braid serve exited before listening");
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if entry["fields"]["message"] == "braid serve is listening" {
                break format!("http://{}", entry["fields"]["addr"].as_str().expect("addr"));
            }
        };
        // Keep reading the logs (one line per webhook) so the process never blocks on them.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Serve { child, url }
    }

    /// `VmRSS`, `VmHWM`, `RssAnon`, `RssFile` and `RssShmem` of the process, in KiB.
    fn memory(&self) -> Memory {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .expect("field")
        };
        Memory {
            rss: field("VmRSS:"),
            peak: field("VmHWM:"),
            anon: field("RssAnon:"),
            file: field("RssFile:"),
            shmem: field("RssShmem:"),
        }
    }

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await;
        let _ = self.child.start_kill();
    }
}

/// What `/proc/PID/status` says of a process's memory, in KiB.
struct Memory {
    rss: u64,
    peak: u64,
    anon: u64,
    file: u64,
    shmem: u64,
}

impl Memory {
    /// `RSS (anonymous + file + shared)`.
    fn show(&self) -> String {
        format!(
            "{} ({} + {} + {})",
            mib(self.rss),
            mib(self.anon),
            mib(self.file),
            mib(self.shmem)
        )
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Steps `s` in the waiting state, read from the SQLite file.
async fn waiting(db: &std::path::Path) -> i64 {
    let mut conn =
        sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}?mode=ro", db.display()))
            .expect("url")
            .connect()
            .await
            .expect("open read-only");
    sqlx::query_scalar("SELECT count(*) FROM steps WHERE key = 's' AND status = 'waiting'")
        .fetch_one(&mut conn)
        .await
        .expect("count")
}

async fn settle() {
    tokio::time::sleep(Duration::from_secs(3)).await;
}

fn main() {
    let runs: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.replace([',', '_'], "").parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let workflows = dir.path().join("workflows");
        std::fs::create_dir(&workflows).expect("mkdir");
        std::fs::write(workflows.join("sleeper.braid"), WORKFLOW).expect("write");
        let file = dir.path().join("braid.db");
        let db = format!("sqlite://{}", file.display());

        let serve = Serve::start(&workflows, &db).await;
        settle().await;
        let idle = serve.memory();

        let http = reqwest::Client::new();
        let url = Arc::new(format!("{}/hooks/sleeper", serve.url));
        let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let t = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for id in 0..runs {
            let permit = slots.clone().acquire_owned().await.expect("semaphore");
            let http = http.clone();
            let url = url.clone();
            tasks.spawn(async move {
                let response = http
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .body(format!("{{\"id\":{id}}}"))
                    .send()
                    .await
                    .expect("send");
                assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
                drop(permit);
            });
            while let Some(done) = tasks.try_join_next() {
                done.expect("delivery");
            }
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("delivery");
        }
        let created = t.elapsed();

        loop {
            if waiting(&file).await >= runs as i64 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(1800),
                "the runs did not all reach waiting"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let all_waiting = t.elapsed();
        settle().await;
        let loaded = serve.memory();
        serve.stop().await;

        let restarted = Serve::start(&workflows, &db).await;
        settle().await;
        let after_restart = restarted.memory();
        restarted.stop().await;

        println!("RSS as anonymous + file-backed + shared (SQLite's WAL index), from /proc/PID/status:\n");
        println!("| runs | RSS, zero runs (baseline) | RSS, all runs waiting | difference | peak (VmHWM) | RSS after a restart, all waiting | created (webhooks, {IN_FLIGHT} in flight) | all waiting |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        println!(
            "| {runs} | {} | **{}** | {} | {} | {} | {:.1} s ({:.0}/s) | {:.1} s |",
            idle.show(),
            loaded.show(),
            mib(loaded.rss.saturating_sub(idle.rss)),
            mib(loaded.peak),
            after_restart.show(),
            created.as_secs_f64(),
            runs as f64 / created.as_secs_f64(),
            all_waiting.as_secs_f64(),
        );
    });
}
