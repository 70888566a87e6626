//! What the end-to-end tests share: real `braid serve` processes on ephemeral ports.

#![allow(dead_code)]

pub mod audit;
pub mod cluster;
pub mod workflows;

use serde_json::Value;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A `braid serve` process.
pub struct Serve {
    pub child: Child,
    pub url: String,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    /// Starts `braid serve --workflows DIR --db DB` on an ephemeral port, with JSON logs and
    /// `extra` arguments and `env` variables; returns once it listens.
    pub async fn start(
        dir: &std::path::Path,
        db: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Serve {
        let mut command = Command::new(env!("CARGO_BIN_EXE_braid"));
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--db",
                db,
            ])
            .arg("--workflows")
            .arg(dir)
            .args(extra)
            .env_remove("BRAID_API_TOKEN")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn braid serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let url = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("braid serve starts in time")
                .expect("read stderr");
            let Some(line) = line else {
                panic!(
                    "braid serve exited: {:#?}",
                    logs.lock().unwrap_or_else(|e| e.into_inner())
                );
            };
            logs.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(line.clone());
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if entry["fields"]["message"] == "braid serve is listening" {
                let addr = entry["fields"]["addr"].as_str().expect("addr").to_string();
                break format!("http://{addr}");
            }
        };
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        Serve { child, url, logs }
    }

    /// Every log line so far.
    pub fn logs(&self) -> String {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// SIGKILL, and wait for it to go.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, and wait (at most `limit`) for it to exit; returns whether it exited cleanly.
    pub async fn terminate(mut self, limit: Duration) -> bool {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => false,
        }
    }
}

/// A fresh SQLite URL in `dir`.
pub fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("braid.db").display())
}

/// Polls `GET url` until `done` holds for the JSON answer; panics after `limit`.
pub async fn wait_until(
    http: &reqwest::Client,
    url: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Ok(response) = http.get(url).send().await {
            if let Ok(value) = response.json::<Value>().await {
                if done(&value) {
                    return value;
                }
                if tokio::time::Instant::now() >= deadline {
                    panic!("gave up waiting on {url}; last answer: {value:#}");
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("gave up waiting on {url}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
