//! Several `braid serve` processes on one store, and a client that spreads requests over the
//! live ones: a request that meets a process being killed is sent again to the next one.

use super::Serve;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// `braid serve` processes sharing one store and one workflow folder.
pub struct Cluster {
    dir: PathBuf,
    db: String,
    args: Vec<String>,
    procs: Vec<Option<Serve>>,
    /// The base URL of each live process (`None` while it is down), shared with [`Spread`].
    urls: Arc<RwLock<Vec<Option<String>>>>,
}

impl Cluster {
    /// Starts `n` processes serving `dir` on `db` with `args`, one after the other.
    pub async fn start(n: usize, dir: &std::path::Path, db: &str, args: &[&str]) -> Cluster {
        let mut cluster = Cluster {
            dir: dir.to_path_buf(),
            db: db.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            procs: (0..n).map(|_| None).collect(),
            urls: Arc::new(RwLock::new(vec![None; n])),
        };
        for i in 0..n {
            cluster.restart(i).await;
        }
        cluster
    }

    /// Starts process `i` (again).
    pub async fn restart(&mut self, i: usize) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let serve = Serve::start(&self.dir, &self.db, &args, &[]).await;
        self.set_url(i, Some(serve.url.clone()));
        self.procs[i] = Some(serve);
    }

    /// SIGKILLs process `i` (requests on their way to it fail and go elsewhere).
    pub async fn kill(&mut self, i: usize) {
        if let Some(serve) = self.procs[i].take() {
            serve.kill().await;
        }
        self.set_url(i, None);
    }

    /// SIGTERMs process `i` and waits for it to exit; returns whether it exited cleanly.
    /// It takes no new requests from the moment the signal is sent.
    pub async fn terminate(&mut self, i: usize, limit: Duration) -> bool {
        self.set_url(i, None);
        match self.procs[i].take() {
            Some(serve) => serve.terminate(limit).await,
            None => true,
        }
    }

    /// The log of process `i` so far.
    pub fn logs(&self, i: usize) -> String {
        self.procs[i].as_ref().map(Serve::logs).unwrap_or_default()
    }

    /// A client spreading requests over the live processes.
    pub fn spread(&self) -> Spread {
        Spread {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            urls: self.urls.clone(),
        }
    }

    /// SIGKILLs every process.
    pub async fn kill_all(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i).await;
        }
    }

    fn set_url(&self, i: usize, url: Option<String>) {
        self.urls.write().unwrap_or_else(|e| e.into_inner())[i] = url;
    }
}

/// Sends requests to the live processes of a [`Cluster`].
#[derive(Clone)]
pub struct Spread {
    http: reqwest::Client,
    urls: Arc<RwLock<Vec<Option<String>>>>,
}

impl Spread {
    /// POSTs `body` to `path` on process `prefer` (modulo their number) or, while that one
    /// is down or its connection fails, on the next live one; returns the status and JSON
    /// answer. Panics when no process answers within a minute.
    pub async fn post(&self, prefer: usize, path: &str, body: &Value) -> (u16, Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut i = prefer;
        loop {
            if let Some(base) = self.url(i) {
                let sent = self
                    .http
                    .post(format!("{base}{path}"))
                    .json(body)
                    .send()
                    .await;
                if let Ok(response) = sent {
                    let status = response.status().as_u16();
                    // A process killed mid-answer: the request is sent again elsewhere.
                    if let Ok(value) = response.json::<Value>().await {
                        return (status, value);
                    }
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no process answered POST {path}"
            );
            i += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// GETs `path` from any live process.
    pub async fn get(&self, path: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut i = 0;
        loop {
            if let Some(base) = self.url(i) {
                if let Ok(response) = self.http.get(format!("{base}{path}")).send().await {
                    if let Ok(value) = response.json::<Value>().await {
                        return value;
                    }
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no process answered GET {path}"
            );
            i += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn url(&self, i: usize) -> Option<String> {
        let urls = self.urls.read().unwrap_or_else(|e| e.into_inner());
        urls[i % urls.len()].clone()
    }
}
