//! The durable executor: claims ready step rows from the store with a lease, carries them out
//! on tokio, and writes each outcome (with the readiness of dependents) through the group
//! committer. Nothing waits in memory that the store does not also hold: a sleeping or waiting
//! step is a row with a wake time, and a restarted engine simply claims it again.

mod committer;
mod creator;
mod lease;
mod plans;
mod start;
mod step;

pub use committer::Committer;
pub use creator::Creator;
pub use plans::PlanCache;
pub use start::{step_rows, StartError, StartRequest};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::redact::Redactor;
use crate::runtime::host::Secrets;
use crate::store::{Claimed, Completion, CompletionReport, StepRef, Store, StoreError};
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
    /// Run creation, group-committed.
    creator: Creator,
    progress: broadcast::Sender<Progress>,
    /// Steps this process is carrying out: the heartbeat renews exactly these leases, so a
    /// step abandoned after a store error lapses and is taken back; an attempt whose lease
    /// is not renewed in time gives up before another process may take the step over.
    in_flight: lease::Leases,
    /// Counters and gauges for `/metrics`.
    pub metrics: Metrics,
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
        let redactor = Redactor::new();
        // OAuth2 tokens live in the store: shared by every run and every engine process on it.
        let http = crate::http_client::http_client(
            store.clone(),
            crate::crypto::Sealer::from_env(),
            clock.clone(),
            redactor.clone(),
        );
        Arc::new(Engine {
            committer: Committer::start(store.clone(), config.lease.as_millis() as i64),
            creator: Creator::start(store.clone()),
            store,
            plans: PlanCache::default(),
            secrets: Secrets::new(stored_secrets),
            redactor,
            http,
            clock,
            wake: Notify::new(),
            workflows: RwLock::new(HashMap::new()),
            config,
            progress,
            in_flight: lease::Leases::default(),
            metrics: Metrics::new(),
        })
    }

    /// Makes `plans` the workflows new runs start from (runs already started keep theirs).
    pub fn load_workflows(&self, plans: impl IntoIterator<Item = WorkflowPlan>) {
        self.serve_workflows(plans.into_iter().map(Arc::new));
    }

    /// As [`Engine::load_workflows`], for plans already shared.
    pub fn serve_workflows(&self, plans: impl IntoIterator<Item = Arc<WorkflowPlan>>) {
        let mut map = self.workflows.write().unwrap_or_else(|e| e.into_inner());
        map.clear();
        map.extend(plans.into_iter().map(|p| (p.name.clone(), p)));
    }

    /// Every loaded workflow, by name. A snapshot: [`Engine::load_workflows`] may replace
    /// the set at any time, so callers that run long (the cron scheduler) ask again each time.
    pub fn workflows(&self) -> Vec<Arc<WorkflowPlan>> {
        let map = self.workflows.read().unwrap_or_else(|e| e.into_inner());
        let mut plans: Vec<_> = map.values().cloned().collect();
        plans.sort_by(|a, b| a.name.cmp(&b.name));
        plans
    }

    /// The clock the engine reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// This process's worker id (in leases and attempt rows).
    pub fn worker_id(&self) -> &str {
        &self.config.worker_id
    }

    /// The loaded workflow `name`.
    pub fn workflow(&self, name: &str) -> Option<Arc<WorkflowPlan>> {
        self.workflows
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Live progress of every step this process carries out.
    pub fn subscribe(&self) -> broadcast::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Claims and carries out steps until `shutdown` turns true; then stops claiming, gives
    /// running attempts up to `grace` to finish (their results are written), and lets the
    /// leases of any still running lapse at once, so the next start takes them back.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>, grace: Duration) {
        let max = self.config.max_in_flight.max(1);
        let slots = Arc::new(Semaphore::new(max));
        let heartbeat = tokio::spawn(self.clone().heartbeat());
        while !*shutdown.borrow() {
            // Claim only what there are free slots for: a claimed step never waits in memory.
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => permit,
                _ = shutdown.changed() => continue,
            };
            let Ok(first) = first else { break };
            let free = 1 + slots.available_permits() as u32;
            let now = self.clock.now_ms();
            let lease = self.config.lease.as_millis() as i64;
            let claimed = match self
                .store
                .claim(&self.config.worker_id, now, free, lease)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming steps failed; retrying");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                drop(first);
                let pause = self.idle_pause().await;
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let mut first = Some(first);
            for step in claimed {
                let permit = match first.take() {
                    Some(p) => p,
                    None => match slots.clone().try_acquire_owned() {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                let engine = self.clone();
                tokio::spawn(async move {
                    engine.carry_out(step).await;
                    drop(permit);
                    engine.wake.notify_one();
                });
            }
        }
        if tokio::time::timeout(grace, slots.acquire_many(max as u32))
            .await
            .is_err()
        {
            tracing::warn!("attempts still running after the grace period; handing them back");
        }
        heartbeat.abort();
        if let Err(e) = self.store.release(&self.config.worker_id, &[]).await {
            tracing::warn!(error = %e, "handing back leases failed; they lapse on their own");
        }
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
            let steps: Vec<StepRef> = self.in_flight.steps();
            if steps.is_empty() {
                continue;
            }
            match self
                .store
                .renew_leases(&self.config.worker_id, &steps, until)
                .await
            {
                Ok(renewed) => self.in_flight.renewed(&renewed, until),
                Err(e) => tracing::warn!(error = %e, "renewing leases failed"),
            }
        }
    }

    /// Carries out a claimed step, then each step handed off to this worker by its
    /// completion, until no step is handed off.
    async fn carry_out(&self, claimed: Claimed) {
        let mut next = Some(claimed);
        let mut known = step::Known::default();
        while let Some(claimed) = next.take() {
            let span = tracing::info_span!("step", run_id = %claimed.run_id, workflow = %claimed.workflow, step = %claimed.key, attempt = claimed.attempt);
            let mut lease = self
                .in_flight
                .hold(claimed.step_ref(), claimed.lease_expires_at);
            next = self
                .carry_out_one(claimed, &mut lease, &mut known)
                .instrument(span)
                .await;
        }
    }

    /// Carries out one step and records its outcome; returns the step handed off next.
    async fn carry_out_one(
        &self,
        claimed: Claimed,
        lease: &mut lease::Held<'_>,
        known: &mut step::Known,
    ) -> Option<Claimed> {
        self.report(&claimed, "started", None);
        let began = std::time::Instant::now();
        // A quarter of the lease: the heartbeat (every third) has had two chances by then.
        let margin = self.config.lease / 4;
        let executed = tokio::select! {
            executed = self.execute(&claimed, known) => executed,
            _ = lease.lapsing(self.clock.as_ref(), margin) => {
                tracing::warn!("the lease could not be renewed in time; the attempt is abandoned before another process may take the step over");
                return None;
            }
        };
        let outcome = match executed {
            // Errors may quote evaluated values (`number(secret("X"))`): masked on every path.
            Ok(outcome) => outcome.map_error(|e| self.redactor.json(e)),
            Err(e) => {
                // The step's lease lapses and it is taken back.
                tracing::warn!(error = %e, "store error while running a step");
                return None;
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
        let output = match &outcome {
            crate::store::Outcome::Succeeded { output } => Some(output.clone()),
            _ => None,
        };
        let completion = Completion {
            run_id: claimed.run_id.clone(),
            key: claimed.key.clone(),
            worker_id: self.config.worker_id.clone(),
            attempt: claimed.attempt,
            outcome,
        };
        match self.committer.commit(completion).await {
            Ok((CompletionReport::Applied, next)) => {
                let seconds = began.elapsed().as_secs_f64();
                self.metrics
                    .attempt_finished(&claimed.workflow, event, seconds);
                if event != "succeeded" {
                    tracing::info!(
                        outcome = event,
                        message = message.as_deref(),
                        "step attempt ended"
                    );
                }
                self.report(&claimed, event, message);
                if let Some(output) = output {
                    known.succeeded(&claimed, output);
                }
                next
            }
            Ok((CompletionReport::LeaseLost, _)) => {
                tracing::warn!("lease lost; another process took this step over");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "writing a step's result failed; it will be taken back");
                None
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
