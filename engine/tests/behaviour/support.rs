//! What the behaviour suite shares: a store of either kind (a fresh SQLite file, or a fresh
//! PostgreSQL schema), an engine on a manual clock, and a recording HTTP server.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use braid_dsl::plan::WorkflowPlan;
use braid_dsl::SourceMap;
use braid_engine::clock::{Clock, ManualClock};
use braid_engine::executor::{Engine, ExecutorConfig, StartRequest};
use braid_engine::store::{self, RunDetail, RunRecord, RunStatus, Store, StoreOptions};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `mod NAME { sqlite, postgres }` tests calling `NAME(Backend)`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    )+};
}

/// The PostgreSQL server the suite uses.
pub fn postgres_url() -> String {
    std::env::var("BRAID_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A URL to a schema of its own on the test PostgreSQL server. Fails the test (never skips it)
/// when the server cannot be reached.
pub async fn fresh_postgres_url() -> String {
    use sqlx::Connection;
    let base = postgres_url();
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {base} is unreachable ({e}); run scripts/ensure-postgres")
        });
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// A store of either kind, with what keeps it alive.
pub struct TestStore {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// A new, empty store location.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("braid.db").display());
                TestStore {
                    url,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => TestStore {
                url: fresh_postgres_url().await,
                _dir: None,
            },
        }
    }

    /// Opens (migrating) the store with `clock`.
    pub async fn open(&self, clock: Arc<dyn Clock>) -> Arc<dyn Store> {
        store::open(&self.url, &StoreOptions::with_clock(clock))
            .await
            .expect("open store")
    }
}

/// Compiles `text` (which must be free of diagnostics) into its workflows.
pub fn compile(text: &str) -> Vec<WorkflowPlan> {
    let mut sources = SourceMap::new();
    sources.add("test.braid", text);
    let out = braid_stdlib::compile::compile(&sources);
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
    out.project.workflows.into_values().collect()
}

/// The time the manual clock starts at: 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600_000;

/// An engine on a manual clock over a test store, driven by [`Harness::drain`].
pub struct Harness {
    pub engine: Arc<Engine>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
    pub location: TestStore,
    text: String,
}

impl Harness {
    /// A harness running the workflows of `text` on a fresh store.
    pub async fn new(backend: Backend, text: &str) -> Self {
        let location = TestStore::new(backend).await;
        Self::on(location, text, Arc::new(ManualClock::new(T0)), "worker-1").await
    }

    /// A harness on an existing store location: an engine process started again.
    pub async fn on(
        location: TestStore,
        text: &str,
        clock: Arc<ManualClock>,
        worker: &str,
    ) -> Self {
        let store = location.open(clock.clone()).await;
        let config = ExecutorConfig {
            worker_id: worker.to_string(),
            ..ExecutorConfig::default()
        };
        let engine = Engine::new(store.clone(), clock.clone(), HashMap::new(), config);
        engine.load_workflows(compile(text));
        Harness {
            engine,
            clock,
            store,
            location,
            text: text.to_string(),
        }
    }

    /// The engine stops (nothing of it survives but the store) and a new one starts on the
    /// same store, at the same time.
    pub async fn restart(self, worker: &str) -> Self {
        self.store.close().await;
        let Harness {
            location,
            clock,
            text,
            ..
        } = self;
        Harness::on(location, &text, clock, worker).await
    }

    /// A second engine process on the same store and clock, with the same workflows; it
    /// shares nothing else with this one. `self` keeps the store location alive.
    pub async fn another_process(&self, worker: &str) -> Harness {
        let location = TestStore {
            url: self.location.url.clone(),
            _dir: None,
        };
        Harness::on(location, &self.text, self.clock.clone(), worker).await
    }

    /// Starts a run of `workflow`.
    pub async fn start(&self, workflow: &str, input: Value) -> String {
        let plan = self.engine.workflow(workflow).expect("workflow loaded");
        let request = StartRequest {
            input,
            ..Default::default()
        };
        self.engine
            .start_run(&plan, request)
            .await
            .expect("start run")
            .run_id()
            .to_string()
    }

    /// Carries out everything due now.
    pub async fn drain(&self) -> usize {
        self.engine.drain().await.expect("drain")
    }

    /// Moves the clock on by `ms` and carries out what became due.
    pub async fn advance(&self, ms: i64) -> usize {
        self.clock.advance(ms);
        self.drain().await
    }

    /// The run as stored.
    pub async fn run(&self, id: &str) -> RunRecord {
        self.store.load_run(id).await.expect("load run")
    }

    /// The run's status.
    pub async fn status(&self, id: &str) -> RunStatus {
        self.run(id).await.status
    }

    /// The run with steps, attempts and events.
    pub async fn detail(&self, id: &str) -> RunDetail {
        self.store.get_run_detail(id).await.expect("run detail")
    }

    /// Status of step `key` of run `id`.
    pub async fn step_status(&self, id: &str, key: &str) -> String {
        let detail = self.detail(id).await;
        detail
            .steps
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.status.to_string())
            .unwrap_or_else(|| format!("no step {key}"))
    }
}

/// One request the recording server received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub body: Value,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub delay: Duration,
}

impl Reply {
    /// An answer with `status` and a JSON body.
    pub fn status(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body,
            delay: Duration::ZERO,
        }
    }

    /// The same answer, sent after `ms` milliseconds.
    pub fn after_ms(mut self, ms: u64) -> Self {
        self.delay = Duration::from_millis(ms);
        self
    }

    /// The same answer with a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// An HTTP server on 127.0.0.1 that records every request and answers from a script per
/// path (then `200 {"path", "n", "echo"}`).
#[derive(Default)]
pub struct Recorder {
    calls: Mutex<Vec<Call>>,
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    in_flight: Mutex<(usize, usize)>,
}

impl Recorder {
    /// Starts a server; returns it and its base URL.
    pub async fn start() -> (Arc<Recorder>, String) {
        let recorder = Arc::new(Recorder::default());
        let app = Router::new().fallback(answer).with_state(recorder.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (recorder, format!("http://{addr}"))
    }

    /// Queues answers for `path`, used in order before the default answer.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.script
            .lock()
            .expect("lock")
            .entry(path.to_string())
            .or_default()
            .extend(replies);
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }

    /// The requests to `path`.
    pub fn calls_to(&self, path: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path == path)
            .collect()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.lock().expect("lock").1
    }

    /// The paths requested, in order.
    pub fn paths(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.path).collect()
    }
}

async fn answer(
    State(recorder): State<Arc<Recorder>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = {
        let mut calls = recorder.calls.lock().expect("lock");
        calls.push(Call {
            method: method.to_string(),
            path: path.clone(),
            idempotency_key: headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: body.clone(),
        });
        calls.iter().filter(|c| c.path == path).count()
    };
    let scripted = recorder
        .script
        .lock()
        .expect("lock")
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    let reply = scripted
        .unwrap_or_else(|| Reply::status(200, json!({ "path": path, "n": n, "echo": body })));
    {
        let mut in_flight = recorder.in_flight.lock().expect("lock");
        in_flight.0 += 1;
        in_flight.1 = in_flight.1.max(in_flight.0);
    }
    tokio::time::sleep(reply.delay).await;
    recorder.in_flight.lock().expect("lock").0 -= 1;
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(reply.body),
    )
        .into_response();
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
