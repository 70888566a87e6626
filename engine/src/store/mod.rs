//! The durable store: runs, steps and their state machine, in SQLite or PostgreSQL.
//!
//! The store is plan-agnostic. The executor translates a compiled workflow into
//! [`NewStep`]s, claims ready steps ([`Store::claim`]), evaluates and carries them out, and
//! reports [`Completion`]s ([`Store::complete`]). The store owns everything durable: which
//! steps are ready, leases, attempts, timers, the run's status, failure handling with
//! compensation in reverse order of completion, and the history of every change (events).
//!
//! Both implementations share one body of SQL (`shared/`, included into `sqlite.rs` and
//! `postgres.rs`, written against the query layer of `sql/`); only claiming (`FOR NO KEY UPDATE SKIP LOCKED` on PostgreSQL) and
//! transaction start (`BEGIN IMMEDIATE` on SQLite) differ. Every operation is one
//! transaction, re-run automatically when the database aborts it for contention.

mod error;
mod joining;
mod postgres;
mod sql;
mod sqlite;
mod types;
mod validate;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};

pub use error::StoreError;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use types::*;

/// The durable state of Braid: workflow versions, runs, steps, attempts, events, signals,
/// cron ticks and engine key-value data.
///
/// All times are milliseconds since the Unix epoch. Operations that change state take the
/// time from the store's [`Clock`] (see [`StoreOptions::clock`]), except [`Store::claim`],
/// which is given `now` by the caller.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Which database this store uses.
    fn backend(&self) -> Backend;

    /// Applies the schema migrations that have not been applied yet (`braid migrate`).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Closes the connections; later calls fail with [`StoreError::Unavailable`].
    async fn close(&self);

    /// Stores a compiled plan under its hash. Returns whether it was new; storing the same
    /// hash again changes nothing.
    async fn put_workflow_version(
        &self,
        hash: &str,
        name: &str,
        plan_json: &str,
    ) -> Result<bool, StoreError>;

    /// The plan stored under `hash`.
    async fn get_workflow_version(&self, hash: &str)
        -> Result<Option<WorkflowVersion>, StoreError>;

    /// Creates a run with its steps, or returns the first run with the same workflow and
    /// dedupe key. Main steps without dependencies start `ready`; `on_failure` steps start
    /// dormant; the store adds the `$output` step, which depends on every main step.
    async fn create_run(&self, run: NewRun) -> Result<CreateOutcome, StoreError>;

    /// Creates several runs in one transaction (group commit of run creation): each as
    /// [`Store::create_run`] would, in order, so a run with the workflow and dedupe key (or
    /// the id) of an earlier run of the same batch is its duplicate. Returns one result per
    /// run, in order: a run whose steps are invalid gets its error alone and the others are
    /// still created; an error of the transaction is returned for the whole batch, and then
    /// none of it was stored. When this returns, every run reported created is durable.
    async fn create_runs(
        &self,
        runs: &[NewRun],
    ) -> Result<Vec<Result<CreateOutcome, StoreError>>, StoreError> {
        let mut outcomes = Vec::with_capacity(runs.len());
        for run in runs {
            outcomes.push(self.create_run(run.clone()).await);
        }
        Ok(outcomes)
    }

    /// The run with id `run_id` ([`StoreError::NotFound`] if there is none).
    async fn load_run(&self, run_id: &str) -> Result<RunRecord, StoreError>;

    /// Status, output and error of the given steps of a run (unknown keys are left out).
    async fn load_results(
        &self,
        run_id: &str,
        keys: &[String],
    ) -> Result<Vec<StepResult>, StoreError>;

    /// The `for_each` items spawned by step `parent_key`, in item order.
    async fn load_children(
        &self,
        run_id: &str,
        parent_key: &str,
    ) -> Result<Vec<StepResult>, StoreError>;

    /// Claims up to `limit` steps for `worker_id` with a lease until `now + lease_ms`: steps
    /// `ready`, `retrying` or `waiting` whose `ready_at` has passed, and `running` steps whose
    /// lease expired (their worker died: the next claim is the next attempt). A claim
    /// increments the attempt and opens an attempt row, unless the step was only waiting.
    /// Steps of cancelled runs are never handed out.
    async fn claim(
        &self,
        worker_id: &str,
        now: i64,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Extends the leases `worker_id` holds on `steps` to `until`; returns the steps whose
    /// lease was extended. A step whose row another transaction holds at that moment (its
    /// completion being written) is passed over rather than waited for.
    async fn renew_leases(
        &self,
        worker_id: &str,
        steps: &[StepRef],
        until: i64,
    ) -> Result<Vec<StepRef>, StoreError>;

    /// On shutdown: hands back claimed steps the worker has not started (they return to
    /// their previous status and the claim does not count as an attempt), and lets the
    /// worker's other leases expire now so the next start takes them over at once. Returns
    /// how many steps were handed back.
    async fn release(&self, worker_id: &str, unstarted: &[StepRef]) -> Result<u64, StoreError>;

    /// The earliest time a step becomes claimable (a timer, a retry, a lease expiry), if
    /// any, so a worker can sleep until then.
    async fn next_wake_at(&self) -> Result<Option<i64>, StoreError>;

    /// Records completions in one transaction (group commit), with their consequences:
    /// dependents made ready, run status changes, failure handling, waking parents. Returns
    /// one report per completion recorded, in order; a completion whose lease was lost is
    /// ignored. All are recorded, unless an urgent write (a run's creation) waits for the
    /// store's one writer: then a prefix of at least one is, and the rest are to be
    /// submitted again.
    async fn complete(&self, batch: Vec<Completion>) -> Result<Vec<CompletionReport>, StoreError>;

    /// As [`Store::complete`], and each completion's worker takes (with a lease of
    /// `lease_ms`) one of the steps the completion made ready, in the same transaction: a
    /// chain of steps then costs one transaction per step instead of two.
    async fn complete_handing_off(
        &self,
        batch: &[Completion],
        lease_ms: i64,
    ) -> Result<Vec<(CompletionReport, Option<Claimed>)>, StoreError>;

    /// Cancels a run that has not finished, and its unfinished child runs: open steps are
    /// skipped; running attempts may finish but open nothing.
    async fn cancel_run(&self, run_id: &str) -> Result<(), StoreError>;

    /// Retries a `failed` run (every main step that did not succeed runs again; succeeded
    /// steps keep their results) or a `compensation_failed` run (the failed compensations
    /// run again). Anything else is a [`StoreError::Conflict`].
    async fn retry_run(&self, run_id: &str) -> Result<(), StoreError>;

    /// Stores a signal for a run and wakes its steps waiting for `name`. Returns the
    /// signal's id. A finished run cannot be signalled ([`StoreError::Conflict`]).
    async fn signal(&self, run_id: &str, name: &str, payload: Value) -> Result<i64, StoreError>;

    /// Takes the oldest unconsumed signal `name` of the run for step `key`. Idempotent per
    /// step: asked again, the step gets the same signal back.
    async fn consume_signal(
        &self,
        run_id: &str,
        key: &str,
        name: &str,
    ) -> Result<Option<Value>, StoreError>;

    /// Claims cron tick (`trigger_key`, `scheduled_at`): true for exactly one caller across
    /// all processes sharing the database. The tick starts [`TickStatus::Pending`].
    async fn claim_tick(&self, trigger_key: &str, scheduled_at: i64) -> Result<bool, StoreError>;

    /// Records the run a claimed tick started (the tick becomes [`TickStatus::Started`],
    /// whatever it was).
    async fn set_tick_run(
        &self,
        trigger_key: &str,
        scheduled_at: i64,
        run_id: &str,
    ) -> Result<(), StoreError>;

    /// Marks a [`TickStatus::Pending`] tick [`TickStatus::Skipped`], saying why. Returns
    /// false (and changes nothing) when the tick is not pending.
    async fn skip_tick(
        &self,
        trigger_key: &str,
        scheduled_at: i64,
        note: &str,
    ) -> Result<bool, StoreError>;

    /// The scheduled times of a trigger's [`TickStatus::Pending`] ticks, oldest first.
    async fn pending_ticks(&self, trigger_key: &str) -> Result<Vec<i64>, StoreError>;

    /// The claimed tick of a trigger with the latest scheduled time.
    async fn last_tick(&self, trigger_key: &str) -> Result<Option<TickRecord>, StoreError>;

    /// Number of unfinished runs of a workflow (for cron `overlap skip`).
    async fn count_active_runs(&self, workflow: &str) -> Result<u64, StoreError>;

    /// Reads a key-value entry.
    async fn kv_get(&self, namespace: &str, key: &str) -> Result<Option<KvEntry>, StoreError>;

    /// Writes a key-value entry.
    async fn kv_put(&self, namespace: &str, key: &str, value: &str) -> Result<(), StoreError>;

    /// Writes `new` if the current value is `expected` (`None`: if there is none). Returns
    /// whether it was written.
    async fn kv_compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<bool, StoreError>;

    /// Deletes a key-value entry; returns whether it existed.
    async fn kv_delete(&self, namespace: &str, key: &str) -> Result<bool, StoreError>;

    /// Every entry of `namespace`, by key in ascending order.
    async fn kv_list(&self, namespace: &str) -> Result<Vec<(String, KvEntry)>, StoreError>;

    /// Reserves the next free call slot of rate-limited connection `key`: the later of its
    /// next free slot and `now`. The connection's next free slot moves on by `interval_ms`,
    /// atomically across every process on the database, so each caller gets a slot of its
    /// own. Returns the reserved slot (ms since the epoch).
    async fn reserve_rate_slot(
        &self,
        key: &str,
        now: i64,
        interval_ms: i64,
    ) -> Result<i64, StoreError>;

    /// Runs matching `filter`, newest first, one page at a time.
    async fn list_runs(&self, filter: &RunFilter) -> Result<RunPage, StoreError>;

    /// A run with its steps, attempts and events.
    async fn get_run_detail(&self, run_id: &str) -> Result<RunDetail, StoreError>;

    /// Checks that the database answers (`/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Figures for `/metrics`, as of `now`: steps due, runs by workflow and status, each
    /// workflow's last success.
    async fn stats(&self, now: i64) -> Result<StoreStats, StoreError>;
}

/// SQLite's `synchronous` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// `FULL`: a commit is on disk when it returns (the default).
    Full,
    /// `NORMAL`: with WAL, a power loss may lose the last commits, never corrupt the file.
    Normal,
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Where the store takes the time from.
    pub clock: Arc<dyn Clock>,
    /// Connections in the pool (PostgreSQL) or read connections (SQLite, which also has one
    /// write connection).
    pub max_connections: u32,
    /// How long to wait for a free connection before [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
    /// SQLite: how long to wait for another process's write lock.
    pub busy_timeout: Duration,
    /// SQLite: overrides the URL's `?synchronous=`; `FULL` when neither says.
    pub synchronous: Option<Synchronous>,
    /// Apply pending migrations when opening.
    pub migrate: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            clock: Arc::new(SystemClock),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(10),
            synchronous: None,
            migrate: true,
        }
    }
}

impl StoreOptions {
    /// Default options with the given clock.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        StoreOptions {
            clock,
            ..StoreOptions::default()
        }
    }
}

/// Opens the store at `url`: `sqlite://path` (created on first use; `?synchronous=normal`
/// and `?busy_timeout=MS` are understood) or `postgres://…`. Migrations are applied unless
/// [`StoreOptions::migrate`] is false.
pub async fn open(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url, options).await?))
    } else {
        Err(StoreError::Invalid(format!(
            "unsupported store URL `{}`: use sqlite://PATH or postgres://…",
            redact_url(url)
        )))
    }
}

/// The hash a plan is stored under: SHA-256 of its JSON text, in hex.
pub fn plan_hash(plan_json: &str) -> String {
    hex::encode(Sha256::digest(plan_json.as_bytes()))
}

/// `url` with any password replaced by `***`, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://a/b.db"), "sqlite://a/b.db");
    }

    #[test]
    fn plan_hash_is_sha256_hex() {
        assert_eq!(
            plan_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[tokio::test]
    async fn unknown_scheme_is_invalid() {
        let err = open("mysql://x", &StoreOptions::default()).await.err();
        assert!(matches!(err, Some(StoreError::Invalid(_))));
    }
}
