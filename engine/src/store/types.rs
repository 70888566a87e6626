//! The values that go in and out of the [`Store`](super::Store): runs, steps, completions and
//! the records the API shows.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

use super::error::StoreError;

/// Key of the pseudo-step that evaluates a run's `output` and finishes the run. The store
/// creates it for every run, depending on every main step.
pub const OUTPUT_KEY: &str = "$output";

/// Prefix of a compensation step's key: `~deal` undoes `deal`.
pub const COMPENSATION_PREFIX: &str = "~";

/// Prefix of an `on_failure` step's key: `!alert`.
pub const ON_FAILURE_PREFIX: &str = "!";

/// Defines a string-backed enum with `as_str`, `Display` and `FromStr`.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The name stored in the database and shown by the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(StoreError::Corrupt(format!(
                        concat!("unknown ", stringify!($name), " `{}`"),
                        other
                    ))),
                }
            }
        }
    };
}

string_enum! {
    /// Where a run is in its life.
    RunStatus {
        /// Created, no step claimed yet.
        Pending = "pending",
        /// At least one step is ready, running or retrying.
        Running = "running",
        /// Every open step waits (a timer, a signal, a child run).
        Waiting = "waiting",
        /// The `$output` step succeeded.
        Succeeded = "succeeded",
        /// A step failed; compensations and `on_failure` steps have run.
        Failed = "failed",
        /// A step failed; running steps finish, then compensations and `on_failure` run.
        Compensating = "compensating",
        /// As `failed`, but a compensation failed permanently; retryable.
        CompensationFailed = "compensation_failed",
        /// Cancelled by a user.
        Cancelled = "cancelled",
    }
}

impl RunStatus {
    /// Whether the run has finished (nothing of it will run unless it is retried).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded
                | RunStatus::Failed
                | RunStatus::CompensationFailed
                | RunStatus::Cancelled
        )
    }
}

string_enum! {
    /// Where a step is in its life.
    StepStatus {
        /// An `on_failure` step (or a reset compensation) that has not been activated.
        Dormant = "dormant",
        /// Waiting for dependencies (or, for a `for_each` item, for a free slot).
        Pending = "pending",
        /// Claimable now.
        Ready = "ready",
        /// Claimed by a worker holding a lease.
        Running = "running",
        /// Failed an attempt; claimable again at `ready_at`.
        Retrying = "retrying",
        /// Waiting for a timer, a signal, a child run or its `for_each` items.
        Waiting = "waiting",
        /// Done, output recorded.
        Succeeded = "succeeded",
        /// Failed permanently (or with `on_error continue`).
        Failed = "failed",
        /// Not run: `when` was false, or the run failed or was cancelled first.
        Skipped = "skipped",
        /// Succeeded, then undone by its compensation.
        Compensated = "compensated",
        /// Succeeded, and its compensation failed permanently.
        CompensationFailed = "compensation_failed",
    }
}

impl StepStatus {
    /// Whether the step is done for this run of the state machine.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded
                | StepStatus::Failed
                | StepStatus::Skipped
                | StepStatus::Compensated
                | StepStatus::CompensationFailed
        )
    }
}

string_enum! {
    /// Which part of a run a step belongs to.
    Phase {
        /// A workflow step, or a `for_each` item of one.
        Main = "main",
        /// `~name`: undoes a succeeded main step after a failure.
        Compensation = "compensation",
        /// `!name`: runs after compensation when the run failed.
        OnFailure = "on_failure",
        /// `$output`: evaluates the run's output.
        Output = "output",
    }
}

string_enum! {
    /// Which part of its life a run is in; decides which steps may start.
    Stage {
        /// Main steps and the output run.
        Main = "main",
        /// A step failed: nothing new starts; running main steps finish their attempt.
        Failing = "failing",
        /// Compensations run, one at a time, in reverse order of completion.
        Compensating = "compensating",
        /// `on_failure` steps run.
        OnFailure = "on_failure",
        /// Finished; nothing runs.
        Done = "done",
    }
}

impl Stage {
    /// Whether a step of `phase` may start (become ready, be claimed) in a run that is
    /// `status` and in this stage.
    pub fn admits(self, status: RunStatus, phase: Phase) -> bool {
        if status.is_terminal() {
            return false;
        }
        matches!(
            (self, phase),
            (Stage::Main, Phase::Main | Phase::Output)
                | (Stage::Compensating, Phase::Compensation)
                | (Stage::OnFailure, Phase::OnFailure)
        )
    }
}

string_enum! {
    /// Which database a store uses.
    Backend {
        /// An SQLite file (the embedded default).
        Sqlite = "sqlite",
        /// A PostgreSQL server (several engine processes may share it).
        Postgres = "postgres",
    }
}

/// A step to create with a run (or as a `for_each` item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewStep {
    /// Unique within the run: the step name, `name[i]` for items, `!name` for `on_failure`.
    pub key: String,
    /// [`Phase::Main`] or [`Phase::OnFailure`] (the store makes compensation and output rows).
    pub phase: Phase,
    /// Keys of steps of the same phase that must finish first.
    pub deps: Vec<String>,
    /// Attempts the retry policy allows (at least 1); informs [`Claimed::exhausted`].
    pub max_attempts: u32,
    /// Whether the step has a `compensate` action (a `~key` row is made on failure).
    pub has_compensation: bool,
    /// Attempts the compensation's retry policy allows.
    pub compensation_max_attempts: u32,
    /// The idempotency key sent on every attempt; the compensation uses it + `/compensate`.
    pub idempotency_key: Option<String>,
}

impl NewStep {
    /// A main step with one attempt, no dependencies and no compensation.
    pub fn main(key: impl Into<String>) -> Self {
        NewStep {
            key: key.into(),
            phase: Phase::Main,
            deps: Vec::new(),
            max_attempts: 1,
            has_compensation: false,
            compensation_max_attempts: 1,
            idempotency_key: None,
        }
    }

    /// An `on_failure` step (`key` should start with `!`).
    pub fn on_failure(key: impl Into<String>) -> Self {
        NewStep {
            phase: Phase::OnFailure,
            ..NewStep::main(key)
        }
    }

    /// The same step depending on `deps`.
    pub fn after<I, S>(mut self, deps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.deps.extend(deps.into_iter().map(Into::into));
        self
    }

    /// The same step allowing `n` attempts.
    pub fn attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// The same step with a compensation allowing `attempts` attempts.
    pub fn compensated(mut self, attempts: u32) -> Self {
        self.has_compensation = true;
        self.compensation_max_attempts = attempts;
        self
    }

    /// The same step with idempotency key `key`.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// The run and step that started a child run (`workflow.run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentRef {
    /// The parent run.
    pub run_id: String,
    /// The parent's step that waits for the child.
    pub step_key: String,
}

/// A run to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// The run's id; a fresh UUID when `None`.
    pub id: Option<String>,
    /// Workflow name.
    pub workflow: String,
    /// Hash of the compiled plan the run is pinned to.
    pub version_hash: String,
    /// The run's input.
    pub input: Value,
    /// What started it: cron tick, webhook headers and query, API caller.
    pub trigger: Option<Value>,
    /// With the workflow, identifies a delivery: a second run with the same key is not made.
    pub dedupe_key: Option<String>,
    /// Set for a child run.
    pub parent: Option<ParentRef>,
    /// Main and `on_failure` steps. The `$output` step is added by the store.
    pub steps: Vec<NewStep>,
}

/// The result of [`Store::create_run`](super::Store::create_run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreateOutcome {
    /// A new run with this id.
    Created(String),
    /// The dedupe key was seen before: the id of the first run.
    Duplicate(String),
}

impl CreateOutcome {
    /// The run id, new or existing.
    pub fn run_id(&self) -> &str {
        match self {
            CreateOutcome::Created(id) | CreateOutcome::Duplicate(id) => id,
        }
    }
}

/// What a waiting step waits for besides its timer, so that the event can wake it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaitFor {
    /// A signal of this name sent to the run.
    Signal(String),
    /// The child run with this id reaching a terminal status.
    Run(String),
}

impl WaitFor {
    /// The text stored in `steps.waiting_for`.
    pub(crate) fn encode(&self) -> String {
        match self {
            WaitFor::Signal(name) => format!("signal:{name}"),
            WaitFor::Run(id) => format!("run:{id}"),
        }
    }

    /// Reads `steps.waiting_for` back; `children` (a `for_each` parent) gives `None`.
    pub(crate) fn decode(s: &str) -> Option<WaitFor> {
        if let Some(name) = s.strip_prefix("signal:") {
            Some(WaitFor::Signal(name.to_string()))
        } else {
            s.strip_prefix("run:")
                .map(|id| WaitFor::Run(id.to_string()))
        }
    }
}

/// A step handed to a worker by [`Store::claim`](super::Store::claim).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claimed {
    /// The run.
    pub run_id: String,
    /// The run's workflow.
    pub workflow: String,
    /// The plan the run is pinned to.
    pub version_hash: String,
    /// The step's key.
    pub key: String,
    /// The step's phase.
    pub phase: Phase,
    /// The attempt this claim is (1 for the first); echo it in the [`Completion`].
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The step was waiting and was woken (timer, signal, child run, `for_each` items):
    /// this is not a new attempt.
    pub resumed_from_wait: bool,
    /// The executor's scratch state saved by the last `Wait` or `Spawn`.
    pub state: Option<Value>,
    /// What the step waited for, if it was waiting for a signal or a child run.
    pub waiting_for: Option<WaitFor>,
    /// The step's idempotency key.
    pub idempotency_key: Option<String>,
    /// For a `for_each` item: the key of the step that spawned it.
    pub parent_key: Option<String>,
    /// For a `for_each` item: its index in the list.
    pub item_index: Option<u32>,
    /// The lease ends at this time (ms) unless renewed.
    pub lease_expires_at: i64,
}

impl Claimed {
    /// Whether this attempt exceeds the policy (the previous one was interrupted by a crash
    /// and was the last allowed): the executor should fail the step at once.
    pub fn exhausted(&self) -> bool {
        self.attempt > self.max_attempts.max(1)
    }

    /// A reference to this step.
    pub fn step_ref(&self) -> StepRef {
        StepRef {
            run_id: self.run_id.clone(),
            key: self.key.clone(),
        }
    }
}

/// A step of a run, by key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StepRef {
    /// The run.
    pub run_id: String,
    /// The step's key.
    pub key: String,
}

/// What happened to a claimed step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Done; dependents whose dependencies are all done become ready.
    Succeeded {
        /// The step's output.
        output: Value,
    },
    /// Not run (`when` false, or skipped upstream); counts as done for dependents.
    Skipped,
    /// Failed permanently. Without `continue_on_error` the run starts failing.
    Failed {
        /// `{class, message, status?}`.
        error: Value,
        /// `on_error continue`: dependents proceed, the output is `null`.
        continue_on_error: bool,
    },
    /// The attempt failed and the policy allows another at `ready_at` (a durable timer).
    Retry {
        /// The attempt's error.
        error: Value,
        /// When to try again (ms).
        ready_at: i64,
    },
    /// Wait without using an attempt: until `ready_at` (if any), or until `waiting_for`
    /// happens, whichever is first.
    Wait {
        /// Wake time (ms); `None` waits only for `waiting_for`.
        ready_at: Option<i64>,
        /// Scratch state handed back at the next claim.
        state: Option<Value>,
        /// A signal or child run that wakes the step.
        waiting_for: Option<WaitFor>,
    },
    /// `for_each`: create the items and wait until every one is finished.
    Spawn {
        /// The items (`name[i]`, phase main; their `deps` are ignored).
        children: Vec<NewStep>,
        /// At most this many items open at once (0: no limit).
        concurrency: u32,
        /// Scratch state handed back when the step is woken.
        state: Option<Value>,
    },
    /// The `$output` step's result: the run succeeded with this output.
    RunOutput {
        /// The run's output.
        output: Value,
    },
}

impl Outcome {
    /// The name used in events and attempt rows.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Succeeded { .. } => "succeeded",
            Outcome::Skipped => "skipped",
            Outcome::Failed { .. } => "failed",
            Outcome::Retry { .. } => "retry",
            Outcome::Wait { .. } => "wait",
            Outcome::Spawn { .. } => "spawn",
            Outcome::RunOutput { .. } => "succeeded",
        }
    }

    /// The outcome with `f` applied to its error, if it has one (to mask secrets).
    pub fn map_error(self, f: impl FnOnce(&Value) -> Value) -> Outcome {
        match self {
            Outcome::Failed {
                error,
                continue_on_error,
            } => Outcome::Failed {
                error: f(&error),
                continue_on_error,
            },
            Outcome::Retry { error, ready_at } => Outcome::Retry {
                error: f(&error),
                ready_at,
            },
            other => other,
        }
    }
}

/// A worker's report on a step it claimed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The run.
    pub run_id: String,
    /// The step's key.
    pub key: String,
    /// The worker that holds the lease.
    pub worker_id: String,
    /// The attempt from [`Claimed::attempt`].
    pub attempt: u32,
    /// What happened.
    pub outcome: Outcome,
}

/// What [`Store::complete`](super::Store::complete) did with one completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompletionReport {
    /// Recorded.
    Applied,
    /// Ignored: the step is no longer running under this worker and attempt (its lease
    /// expired and another worker took it, or the run was retried).
    LeaseLost,
}

/// A step's result, for evaluating expressions that refer to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// The step's key.
    pub key: String,
    /// Its status.
    pub status: StepStatus,
    /// Its output (`None` until it succeeded; `null` when skipped or failed with continue).
    pub output: Option<Value>,
    /// Its last error.
    pub error: Option<Value>,
    /// For a `for_each` item: its index.
    pub item_index: Option<u32>,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub id: String,
    /// Workflow name.
    pub workflow: String,
    /// Hash of the plan.
    pub version_hash: String,
    /// Status.
    pub status: RunStatus,
    /// Input.
    pub input: Value,
    /// Output, once succeeded.
    pub output: Option<Value>,
    /// The failure: the failing step's error with `step` added.
    pub error: Option<Value>,
    /// Trigger data.
    pub trigger: Option<Value>,
    /// Dedupe key.
    pub dedupe_key: Option<String>,
    /// Parent run and step, for a child run.
    pub parent: Option<ParentRef>,
    /// Created (ms).
    pub created: i64,
    /// Last changed (ms).
    pub updated: i64,
    /// First claimed (ms).
    pub started: Option<i64>,
    /// Reached a terminal status (ms).
    pub finished: Option<i64>,
}

/// A step row as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step's key.
    pub key: String,
    /// Phase.
    pub phase: Phase,
    /// Status.
    pub status: StepStatus,
    /// Current attempt under the policy (reset by a retry of the run).
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Dependencies not yet finished.
    pub deps_open: i64,
    /// Has a compensation.
    pub has_compensation: bool,
    /// Output.
    pub output: Option<Value>,
    /// Last error.
    pub error: Option<Value>,
    /// Executor scratch state.
    pub state: Option<Value>,
    /// What it waits for.
    pub waiting_for: Option<WaitFor>,
    /// When it becomes claimable (ms).
    pub ready_at: Option<i64>,
    /// Worker holding the lease.
    pub lease_owner: Option<String>,
    /// Lease end (ms).
    pub lease_expires_at: Option<i64>,
    /// Order of completion within the store (for reverse compensation).
    pub completed_seq: Option<i64>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// For `for_each` items: the spawning step.
    pub parent_key: Option<String>,
    /// For `for_each` items: the index.
    pub item_index: Option<u32>,
    /// Created (ms).
    pub created: i64,
    /// Last changed (ms).
    pub updated: i64,
    /// First claimed (ms).
    pub started: Option<i64>,
    /// Finished (ms).
    pub finished: Option<i64>,
}

/// One attempt of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The step's key.
    pub key: String,
    /// Sequence number of the attempt for this step, never reset.
    pub number: u32,
    /// Attempt number under the policy (reset when the run is retried).
    pub attempt: u32,
    /// Worker that ran it.
    pub worker: String,
    /// Started (ms).
    pub started: i64,
    /// Finished (ms); `None` while running.
    pub finished: Option<i64>,
    /// `succeeded`, `failed`, `retry`, `wait`, `spawn`, `skipped`, `lost` (lease expired).
    pub outcome: Option<String>,
    /// Error.
    pub error: Option<Value>,
}

/// One entry of a run's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Global, increasing.
    pub id: i64,
    /// The run.
    pub run_id: String,
    /// When (ms).
    pub at: i64,
    /// What happened, e.g. `run_created`, `step_ready`, `step_succeeded`.
    pub kind: String,
    /// The step concerned.
    pub step_key: Option<String>,
    /// Details.
    pub data: Option<Value>,
}

/// A run with everything the API shows about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    /// The run.
    pub run: RunRecord,
    /// Its steps, in creation order.
    pub steps: Vec<StepRecord>,
    /// Its attempts, by step then number.
    pub attempts: Vec<AttemptRecord>,
    /// Its history, oldest first.
    pub events: Vec<EventRecord>,
}

/// Which runs [`Store::list_runs`](super::Store::list_runs) returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFilter {
    /// Only this workflow.
    pub workflow: Option<String>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Created at or after (ms).
    pub created_from: Option<i64>,
    /// Created before (ms).
    pub created_to: Option<i64>,
    /// Page size (default 50, at most 1000).
    pub limit: Option<u32>,
    /// From [`RunPage::next_cursor`] of the previous page.
    pub cursor: Option<String>,
}

/// A page of runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    /// The runs, newest first.
    pub runs: Vec<RunRecord>,
    /// Pass as [`RunFilter::cursor`] for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// A compiled workflow as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowVersion {
    /// SHA-256 of the plan JSON.
    pub hash: String,
    /// Workflow name.
    pub name: String,
    /// The plan, as JSON text.
    pub plan_json: String,
    /// First stored (ms).
    pub created: i64,
}

/// Figures about the whole store, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Steps whose time has come and that no worker holds: the queue's depth.
    pub due_steps: u64,
    /// Number of runs per (workflow, status).
    pub runs: Vec<(String, RunStatus, u64)>,
    /// Per workflow, when its latest succeeded run finished (ms).
    pub last_success: Vec<(String, i64)>,
}

string_enum! {
    /// Where a claimed cron tick is.
    TickStatus {
        /// Claimed; no run yet (being started, or queued behind the workflow's active run).
        Pending = "pending",
        /// Its run was started ([`TickRecord::run_id`]).
        Started = "started",
        /// No run: the overlap policy or an error said so ([`TickRecord::note`]).
        Skipped = "skipped",
    }
}

/// A claimed cron tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickRecord {
    /// The time the schedule named (ms).
    pub scheduled_at: i64,
    /// When it was claimed (ms); `fired_at - scheduled_at` is how late the scheduler was.
    pub fired_at: i64,
    /// Where it is.
    pub status: TickStatus,
    /// The run it started.
    pub run_id: Option<String>,
    /// Why it was skipped.
    pub note: Option<String>,
}

/// A value in the engine's key-value store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    /// The value (sealed by [`crate::crypto`] when it is a secret).
    pub value: String,
    /// Last written (ms).
    pub updated: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in [
            StepStatus::Dormant,
            StepStatus::CompensationFailed,
            StepStatus::Retrying,
        ] {
            assert_eq!(s.as_str().parse::<StepStatus>().ok(), Some(s));
        }
        assert_eq!(
            "compensation_failed".parse::<RunStatus>().ok(),
            Some(RunStatus::CompensationFailed)
        );
        assert!("nope".parse::<Phase>().is_err());
    }

    #[test]
    fn wait_for_round_trips() {
        for w in [
            WaitFor::Signal("approved".into()),
            WaitFor::Run("r1".into()),
        ] {
            assert_eq!(WaitFor::decode(&w.encode()), Some(w));
        }
        assert_eq!(WaitFor::decode("children"), None);
    }
}
