//! What the cron scheduler tells its callers: what one look did ([`TickReport`]) and how each
//! trigger is doing ([`CronTriggerStats`], for `/metrics`).

use serde::Serialize;

/// A run a tick started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartedTick {
    /// The workflow.
    pub workflow: String,
    /// The trigger's key (see [`super::trigger_key`]).
    pub trigger_key: String,
    /// The tick's scheduled time (ms).
    pub scheduled_at: i64,
    /// The run.
    pub run_id: String,
}

/// A tick that started no run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedTick {
    /// The workflow.
    pub workflow: String,
    /// The trigger's key.
    pub trigger_key: String,
    /// The tick's scheduled time (ms).
    pub scheduled_at: i64,
    /// Why (also stored with the tick).
    pub reason: String,
}

/// What one [`super::CronScheduler::tick`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Runs this call created, oldest tick first per trigger. A tick whose run another
    /// process created is recorded but not listed.
    pub started: Vec<StartedTick>,
    /// Ticks this call decided to skip (overlap, a full queue, an input that cannot start).
    pub skipped: Vec<SkippedTick>,
    /// Ticks left waiting under `overlap queue`.
    pub queued: usize,
    /// Triggers a store error stopped; they are looked at again on the next call.
    pub errors: usize,
}

/// How a cron trigger is doing, as far as this process knows (it reads the store on every
/// look, so ticks fired by other processes count too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CronTriggerStats {
    /// The workflow.
    pub workflow: String,
    /// The trigger's key.
    pub trigger_key: String,
    /// The scheduled time of the latest tick fired (claimed), ms.
    pub last_scheduled_at: Option<i64>,
    /// How late that tick was fired: claimed at minus scheduled at, ms.
    pub last_lag_ms: Option<i64>,
    /// The next scheduled time, ms.
    pub next_at: Option<i64>,
    /// Ticks waiting under `overlap queue`.
    pub queued: usize,
}
