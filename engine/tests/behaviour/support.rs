//! What the behaviour suite shares: a store of either kind (a fresh SQLite file, or a fresh
//! PostgreSQL schema), an engine on a manual clock, and (from `braid-testkit`) a recording
//! HTTP server.

use braid_dsl::plan::WorkflowPlan;
use braid_dsl::SourceMap;
use braid_engine::clock::{Clock, ManualClock};
use braid_engine::executor::{Engine, ExecutorConfig, StartRequest};
use braid_engine::store::{self, RunDetail, RunRecord, RunStatus, Store, StoreOptions};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

#[allow(unused_imports)] // Not every suite that includes this module uses all of them.
pub use braid_testkit::{fresh_postgres_url, Recorder, Reply};

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
