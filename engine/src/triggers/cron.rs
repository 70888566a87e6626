//! The cron scheduler: fires the `trigger cron` schedules of the loaded workflows.
//!
//! Each [`CronScheduler::tick`] looks at every cron trigger of the workflows loaded *now*
//! ([`Engine::workflows`]; the set may change between looks) and, for each:
//!
//! 1. **Due times.** The schedule's times, read in the trigger's timezone, after the latest
//!    tick claimed in the store (or after this process's previous look, if later) up to now,
//!    cut down by `catchup` ([`due`]). A trigger never fired before starts from the moment the
//!    scheduler first sees it: history does not fire.
//! 2. **Claim.** Each due time is claimed in the store ([`Store::claim_tick`], unique on
//!    trigger key and time): exactly one process fires a tick, and a restarted process never
//!    fires it again. A claimed tick is `pending`.
//! 3. **Decide.** The trigger's pending ticks — just claimed, queued earlier, or left by a
//!    process that stopped before deciding — are decided oldest first under `overlap`: start
//!    a run, skip the tick while a run of the workflow is active (`skip`), or leave it pending
//!    until none is (`queue`). See `fire.rs`.
//!
//! A tick's run has an id derived from trigger key and time, so a tick started twice (two
//! processes deciding at once, a crash between starting and recording) makes one run. A store
//! error is logged and the trigger is looked at again on the next call: its cursor does not
//! move past what was claimed.
//!
//! [`Store::claim_tick`]: crate::store::Store::claim_tick

mod due;
mod fire;
mod report;
mod trigger;

pub use due::{due_ticks, CatchupLimits, Due};
pub use report::{CronTriggerStats, SkippedTick, StartedTick, TickReport};
pub use trigger::trigger_key;

use crate::executor::Engine;
use crate::store::{StoreError, TickRecord};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;
use trigger::{rfc3339, CronTrigger};

/// How the scheduler works; the defaults suit production.
#[derive(Debug, Clone)]
pub struct CronConfig {
    /// The longest sleep of [`CronScheduler::run`] between looks, which is also how soon a
    /// queued tick starts after the run ahead of it ends, and how soon a look that failed is
    /// tried again (1 s).
    pub poll: Duration,
    /// How late a tick may be and still fire under `catchup none` (1 s, the poll interval).
    pub grace: Duration,
    /// Most missed ticks `catchup all` fires after downtime: the newest ones (1000).
    pub max_catchup: usize,
    /// Most ticks waiting under `overlap queue`; newer ones are skipped (1000).
    pub max_queued: usize,
}

impl Default for CronConfig {
    fn default() -> Self {
        CronConfig {
            poll: Duration::from_secs(1),
            grace: Duration::from_secs(1),
            max_catchup: 1000,
            max_queued: 1000,
        }
    }
}

impl CronConfig {
    fn limits(&self) -> CatchupLimits {
        CatchupLimits {
            grace_ms: i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX),
            max_all: self.max_catchup,
        }
    }
}

/// What the scheduler remembers of a trigger between looks.
struct TriggerState {
    /// The `now` of the last look that claimed everything due (ms).
    cursor: i64,
    /// For [`CronScheduler::stats`].
    stats: CronTriggerStats,
}

/// Fires cron ticks for an [`Engine`]; see the module docs.
pub struct CronScheduler {
    engine: Arc<Engine>,
    config: CronConfig,
    state: Mutex<HashMap<String, TriggerState>>,
}

impl CronScheduler {
    /// A scheduler for `engine` with the default [`CronConfig`].
    pub fn new(engine: Arc<Engine>) -> Self {
        Self::with_config(engine, CronConfig::default())
    }

    /// A scheduler for `engine`.
    pub fn with_config(engine: Arc<Engine>, config: CronConfig) -> Self {
        CronScheduler {
            engine,
            config,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// Fires what is due at `now_ms` for every cron trigger of the loaded workflows, and
    /// starts queued ticks whose turn has come. Never fails: a trigger that meets a store
    /// error is logged, counted in [`TickReport::errors`], and looked at again next time.
    pub async fn tick(&self, now_ms: i64) -> TickReport {
        let plans = self.engine.workflows();
        let mut report = TickReport::default();
        let mut seen = HashSet::new();
        for plan in &plans {
            for trigger in CronTrigger::of(plan) {
                seen.insert(trigger.key.clone());
                let span =
                    tracing::info_span!("cron", workflow = %plan.name, trigger = %trigger.key);
                let result = self
                    .tick_trigger(&trigger, now_ms, &mut report)
                    .instrument(span.clone())
                    .await;
                if let Err(e) = result {
                    report.errors += 1;
                    span.in_scope(|| {
                        tracing::warn!(error = %e, "cron trigger failed on the store; retrying next tick")
                    });
                }
            }
        }
        self.lock().retain(|key, _| seen.contains(key));
        report
    }

    /// The earliest time after `now_ms` at which a loaded cron trigger is scheduled, so a
    /// loop can sleep until then; `None` without cron triggers.
    pub fn next_due(&self, now_ms: i64) -> Option<i64> {
        let plans = self.engine.workflows();
        plans
            .iter()
            .flat_map(CronTrigger::of)
            .filter_map(|t| due::next_ms(t.schedule, t.tz, now_ms))
            .min()
    }

    /// Looks at the triggers on the engine's clock until `shutdown` turns true (or its
    /// sender is dropped), sleeping until the next scheduled time but never longer than
    /// [`CronConfig::poll`]. Takes an `Arc` so the caller can keep one for [`Self::stats`].
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let clock = self.engine.clock().clone();
        loop {
            if *shutdown.borrow() {
                break;
            }
            self.tick(clock.now_ms()).await;
            let now = clock.now_ms();
            let wait = match self.next_due(now) {
                Some(due) => Duration::from_millis(u64::try_from(due - now).unwrap_or(0)),
                None => self.config.poll,
            }
            .min(self.config.poll);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
    }

    /// How each cron trigger seen by the last look is doing, by key.
    pub fn stats(&self) -> Vec<CronTriggerStats> {
        let mut all: Vec<CronTriggerStats> =
            self.lock().values().map(|s| s.stats.clone()).collect();
        all.sort_by(|a, b| a.trigger_key.cmp(&b.trigger_key));
        all
    }

    /// One trigger's look: due times, claims, then the pending ticks.
    async fn tick_trigger(
        &self,
        trigger: &CronTrigger<'_>,
        now: i64,
        report: &mut TickReport,
    ) -> Result<(), StoreError> {
        let store = &self.engine.store;
        let last = store.last_tick(&trigger.key).await?;
        let Some(after) = self.note_look(trigger, last.as_ref(), now) else {
            return Ok(()); // First sight, nothing fired before: start from now.
        };
        let due = due_ticks(
            trigger.schedule,
            trigger.tz,
            after,
            now,
            trigger.catchup,
            self.config.limits(),
        );
        if due.dropped {
            tracing::info!(catchup = ?trigger.catchup, firing = due.fire.len(),
                "missed cron ticks dropped by the catch-up policy");
        }
        for &at in &due.fire {
            if store.claim_tick(&trigger.key, at).await? {
                tracing::debug!(scheduled_at = %rfc3339(at), "cron tick claimed");
                self.note_claimed(&trigger.key, at, self.engine.clock().now_ms());
            }
        }
        self.advance_cursor(&trigger.key, now);
        self.start_pending(trigger, report).await
    }

    /// Records a look at `trigger` and returns the time after which ticks are due: the later
    /// of the latest claimed tick and this process's previous look. `None` the first time a
    /// trigger that never fired is seen (its ticks are due from `now` on).
    fn note_look(
        &self,
        trigger: &CronTrigger<'_>,
        last: Option<&TickRecord>,
        now: i64,
    ) -> Option<i64> {
        let next_at = due::next_ms(trigger.schedule, trigger.tz, now);
        let last_at = last.map(|l| l.scheduled_at);
        let mut state = self.lock();
        let first_sight = !state.contains_key(&trigger.key);
        let s = state
            .entry(trigger.key.clone())
            .or_insert_with(|| TriggerState {
                cursor: last_at.unwrap_or(now),
                stats: CronTriggerStats {
                    workflow: trigger.plan.name.clone(),
                    trigger_key: trigger.key.clone(),
                    last_scheduled_at: None,
                    last_lag_ms: None,
                    next_at,
                    queued: 0,
                },
            });
        s.stats.next_at = next_at;
        if let Some(last) = last {
            s.stats.last_scheduled_at = Some(last.scheduled_at);
            s.stats.last_lag_ms = Some(last.fired_at - last.scheduled_at);
        }
        if first_sight && last.is_none() {
            return None;
        }
        Some(last_at.map_or(s.cursor, |at| at.max(s.cursor)))
    }

    /// Records a tick this process claimed at `fired_at`.
    fn note_claimed(&self, key: &str, scheduled_at: i64, fired_at: i64) {
        if let Some(s) = self.lock().get_mut(key) {
            if s.stats.last_scheduled_at.is_none_or(|t| t <= scheduled_at) {
                s.stats.last_scheduled_at = Some(scheduled_at);
                s.stats.last_lag_ms = Some(fired_at - scheduled_at);
            }
        }
    }

    /// Everything due up to `now` has been claimed.
    fn advance_cursor(&self, key: &str, now: i64) {
        if let Some(s) = self.lock().get_mut(key) {
            s.cursor = s.cursor.max(now);
        }
    }

    /// Records how many ticks wait in a trigger's queue.
    fn note_queued(&self, key: &str, queued: usize) {
        if let Some(s) = self.lock().get_mut(key) {
            s.stats.queued = queued;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, TriggerState>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
