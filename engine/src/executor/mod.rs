//! The durable executor: claims ready step rows from the store with a lease, carries them out
//! on tokio, and writes each outcome (with the readiness of dependents) through the group
//! committer. Nothing waits in memory that the store does not also hold: a sleeping or waiting
//! step is a row with a wake time, and a restarted engine simply claims it again.

mod committer;
mod plans;
mod start;
mod step;

pub use committer::Committer;
pub use plans::PlanCache;
pub use start::{step_rows, StartError, StartRequest};

use crate::clock::Clock;
use crate::redact::Redactor;
use crate::runtime::host::Secrets;
use crate::store::{Claimed, Completion, CompletionReport, Store, StoreError};
use braid_dsl::plan::WorkflowPlan;
use braid_stdlib::http::HttpClient;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, watch, Notify, Semaphore};
use tracing::Instrument;

/// How the executor works; the defaults suit one engine process.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// This process's name in leases (unique per process).
    pub worker_id: String,
    /// How long a claimed step is this process's before others may take it back.
    pub lease: Duration,
    /// Most steps carried out at once.
    pub max_in_flight: usize,
    /// Longest pause between looks at the store when nothing is ready.
    pub idle_poll: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            worker_id: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            lease: Duration::from_secs(30),
            max_in_flight: 64,
            idle_poll: Duration::from_millis(500),
        }
    }
}

/// What happened to a step, for live progress displays.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The run.
    pub run_id: String,
    /// The step row.
    pub key: String,
    /// The attempt number.
    pub attempt: u32,
    /// `started`, or the outcome: `succeeded`, `failed`, `retry`, `wait`, `skipped`, `spawn`.
    pub event: &'static str,
    /// The error message of a failed or retried attempt (redacted).
    pub message: Option<String>,
}

/// The engine: the store, the loaded workflows, and what steps need to run.
pub struct Engine {
    /// The store everything durable lives in.
    pub store: Arc<dyn Store>,
    /// Compiled plans by hash.
    pub plans: PlanCache,
    pub(crate) secrets: Secrets,
    /// Masks secret values in everything written down.
    pub redactor: Redactor,
    pub(crate) http: HttpClient,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) wake: Notify,
    workflows: RwLock<HashMap<String, Arc<WorkflowPlan>>>,
    config: ExecutorConfig,
    committer: Committer,
    progress: broadcast::Sender<Progress>,
}

impl Engine {
    /// An engine on `store`, reading secrets from the environment and `stored_secrets`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        stored_secrets: HashMap<String, String>,
        config: ExecutorConfig,
    ) -> Arc<Self> {
        let (progress, _) = broadcast::channel(1024);
        Arc::new(Engine {
            committer: Committer::start(store.clone()),
            store,
            plans: PlanCache::default(),
            secrets: Secrets::new(stored_secrets),
            redactor: Redactor::new(),
            http: HttpClient::default(),
            clock,
            wake: Notify::new(),
            workflows: RwLock::new(HashMap::new()),
            config,
            progress,
        })
    }

    /// Makes `plans` the workflows new runs start from (runs already started keep theirs).
    pub fn load_workflows(&self, plans: impl IntoIterator<Item = WorkflowPlan>) {
        let mut map = self.workflows.write().unwrap_or_else(|e| e.into_inner());
        map.clear();
        map.extend(plans.into_iter().map(|p| (p.name.clone(), Arc::new(p))));
    }

    /// The loaded workflow `name`.
    pub fn workflow(&self, name: &str) -> Option<Arc<WorkflowPlan>> {
        self.workflows
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Every loaded workflow, by name. A snapshot: [`Engine::load_workflows`] may replace
    /// the set at any time, so callers that run long (the cron scheduler) ask again each time.
    pub fn workflows(&self) -> Vec<Arc<WorkflowPlan>> {
        let map = self.workflows.read().unwrap_or_else(|e| e.into_inner());
        let mut plans: Vec<Arc<WorkflowPlan>> = map.values().cloned().collect();
        plans.sort_by(|a, b| a.name.cmp(&b.name));
        plans
    }

    /// The clock the engine takes the time from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Live progress of every step this process carries out.
    pub fn subscribe(&self) -> broadcast::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Claims and carries out steps until `shutdown` turns true; then stops claiming and waits
    /// for the steps it is running (their results are written).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.config.max_in_flight));
        let heartbeat = tokio::spawn(self.clone().heartbeat());
        loop {
            if *shutdown.borrow() {
                break;
            }
            let free = slots.available_permits().max(1) as u32;
            let now = self.clock.now_ms();
            let claimed = match self
                .store
                .claim(
                    &self.config.worker_id,
                    now,
                    free,
                    self.config.lease.as_millis() as i64,
                )
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming steps failed; retrying");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                let pause = self.idle_pause().await;
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            for step in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let engine = self.clone();
                tokio::spawn(async move {
                    engine.carry_out(step).await;
                    drop(permit);
                    engine.wake.notify_one();
                });
            }
        }
        // Let running attempts finish and record their results.
        let _ = slots.acquire_many(self.config.max_in_flight as u32).await;
        heartbeat.abort();
    }

    /// Claims and carries out every step due at the clock's current time, and the steps that
    /// become due because of them, until none is left; returns how many were carried out.
    /// Tests drive the engine this way with a manual clock: nothing runs in the background.
    pub async fn drain(self: &Arc<Self>) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let claimed = self
                .store
                .claim(
                    &self.config.worker_id,
                    self.clock.now_ms(),
                    self.config.max_in_flight as u32,
                    self.config.lease.as_millis() as i64,
                )
                .await?;
            if claimed.is_empty() {
                return Ok(total);
            }
            total += claimed.len();
            let mut tasks = tokio::task::JoinSet::new();
            for step in claimed {
                let engine = self.clone();
                tasks.spawn(async move { engine.carry_out(step).await });
            }
            while tasks.join_next().await.is_some() {}
        }
    }

    /// Tells the claiming loop to look at the store now (a run was started, a signal sent).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// How long to wait when nothing is ready: until the next timer, within the idle poll.
    async fn idle_pause(&self) -> Duration {
        let max = self.config.idle_poll;
        match self.store.next_wake_at().await {
            Ok(Some(at)) => {
                let wait = (at - self.clock.now_ms()).max(1) as u64;
                Duration::from_millis(wait).min(max)
            }
            _ => max,
        }
    }

    async fn heartbeat(self: Arc<Self>) {
        let every = self.config.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let until = self.clock.now_ms() + self.config.lease.as_millis() as i64;
            if let Err(e) = self.store.renew_leases(&self.config.worker_id, until).await {
                tracing::warn!(error = %e, "renewing leases failed");
            }
        }
    }

    async fn carry_out(&self, claimed: Claimed) {
        let span = tracing::info_span!("step", run_id = %claimed.run_id, workflow = %claimed.workflow, step = %claimed.key, attempt = claimed.attempt);
        self.carry_out_inner(claimed).instrument(span).await;
    }

    async fn carry_out_inner(&self, claimed: Claimed) {
        self.report(&claimed, "started", None);
        let outcome = match self.execute(&claimed).await {
            Ok(outcome) => outcome,
            Err(e) => {
                // The step keeps its lease and is taken back when it expires.
                tracing::warn!(error = %e, "store error while running a step");
                return;
            }
        };
        let message = match &outcome {
            crate::store::Outcome::Failed { error, .. }
            | crate::store::Outcome::Retry { error, .. } => error
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string),
            _ => None,
        };
        let event = outcome.name();
        let completion = Completion {
            run_id: claimed.run_id.clone(),
            key: claimed.key.clone(),
            worker_id: self.config.worker_id.clone(),
            attempt: claimed.attempt,
            outcome,
        };
        match self.committer.commit(completion).await {
            Ok(CompletionReport::Applied) => self.report(&claimed, event, message),
            Ok(CompletionReport::LeaseLost) => {
                tracing::warn!("lease lost; another process took this step over")
            }
            Err(e) => {
                tracing::warn!(error = %e, "writing a step's result failed; it will be taken back")
            }
        }
    }

    fn report(&self, claimed: &Claimed, event: &'static str, message: Option<String>) {
        let _ = self.progress.send(Progress {
            run_id: claimed.run_id.clone(),
            key: claimed.key.clone(),
            attempt: claimed.attempt,
            event,
            message,
        });
    }
}
