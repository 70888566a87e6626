//! Deciding a trigger's pending ticks under its `overlap` policy, and starting their runs.
//!
//! Pending ticks are decided oldest first. "Active" means the workflow has an unfinished run
//! (any run, not only the trigger's own; [`Store::count_active_runs`]):
//! - `allow`: every pending tick starts;
//! - `skip`: a tick starts if nothing is active, else it is skipped (and recorded so);
//! - `queue`: the oldest tick starts once nothing is active; the rest stay pending, at most
//!   [`super::CronConfig::max_queued`] of them (newer ones are skipped as "queue full").
//!
//! Every process may decide any pending tick, so the steps are safe to repeat or interleave:
//! a tick's run id is derived from the tick, so starting it twice makes one run; a tick whose
//! run exists is recorded as started before anything is counted (a process may have stopped
//! between starting the run and recording it); skipping only changes a pending tick, while
//! recording a run always wins.
//!
//! [`Store::count_active_runs`]: crate::store::Store::count_active_runs

use super::report::{SkippedTick, StartedTick, TickReport};
use super::trigger::{rfc3339, tick_run_id, CronTrigger};
use super::CronScheduler;
use crate::executor::{StartError, StartRequest};
use crate::runtime::host::EngineHost;
use crate::store::{CreateOutcome, StoreError};
use braid_dsl::eval::{Evaluator, Scope};
use braid_dsl::plan::Overlap;
use braid_stdlib::catalog::std_library;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tracing::Instrument;

impl CronScheduler {
    /// Decides `trigger`'s pending ticks; see the module docs.
    pub(super) async fn start_pending(
        &self,
        trigger: &CronTrigger<'_>,
        report: &mut TickReport,
    ) -> Result<(), StoreError> {
        let store = &self.engine.store;
        let mut pending = store.pending_ticks(&trigger.key).await?;
        if trigger.overlap == Overlap::Queue && pending.len() > self.config.max_queued {
            for at in pending.split_off(self.config.max_queued) {
                self.skip(trigger, at, "the queue is full", report).await?;
            }
        }
        // Whether the workflow has an active run; counted when first needed.
        let mut busy: Option<bool> = None;
        let mut queued = 0;
        for (i, &at) in pending.iter().enumerate() {
            let run_id = tick_run_id(&trigger.key, at);
            if self.run_exists(&run_id).await? {
                store.set_tick_run(&trigger.key, at, &run_id).await?;
                busy = None;
                continue;
            }
            let active = match (trigger.overlap, busy) {
                (Overlap::Allow, _) => false,
                (_, Some(b)) => b,
                (_, None) => store.count_active_runs(&trigger.plan.name).await? > 0,
            };
            busy = Some(active);
            if active && trigger.overlap == Overlap::Skip {
                let reason = "overlap skip: a run of the workflow is still active";
                self.skip(trigger, at, reason, report).await?;
                continue;
            }
            if active && trigger.overlap == Overlap::Queue {
                queued = pending.len() - i;
                break;
            }
            self.start_tick(trigger, at, &run_id, report).await?;
            busy = Some(true);
        }
        report.queued += queued;
        self.note_queued(&trigger.key, queued);
        Ok(())
    }

    /// Starts the run of the tick at `at` and records it; a tick whose run cannot start
    /// (its input does not evaluate or fit) is skipped with the reason.
    async fn start_tick(
        &self,
        trigger: &CronTrigger<'_>,
        at: i64,
        run_id: &str,
        report: &mut TickReport,
    ) -> Result<(), StoreError> {
        let span = tracing::info_span!("cron_tick", scheduled_at = %rfc3339(at), run_id = %run_id);
        async {
            let request = match self.request(trigger, at, run_id) {
                Ok(request) => request,
                Err(reason) => {
                    tracing::error!(error = %reason, "cron tick cannot start its run");
                    return self.skip(trigger, at, &reason, report).await;
                }
            };
            match self.engine.start_run(trigger.plan, request).await {
                Ok(outcome) => {
                    let store = &self.engine.store;
                    store
                        .set_tick_run(&trigger.key, at, outcome.run_id())
                        .await?;
                    if let CreateOutcome::Created(id) = outcome {
                        tracing::info!("cron tick started a run");
                        report.started.push(StartedTick {
                            workflow: trigger.plan.name.clone(),
                            trigger_key: trigger.key.clone(),
                            scheduled_at: at,
                            run_id: id,
                        });
                    }
                    Ok(())
                }
                Err(StartError::Store(e)) => Err(e),
                Err(e) => {
                    tracing::error!(error = %e, "cron tick cannot start its run");
                    let reason = format!("the run cannot start: {e}");
                    self.skip(trigger, at, &reason, report).await
                }
            }
        }
        .instrument(span)
        .await
    }

    /// What to start for the tick at `at`: its id, the trigger's input, the `trigger` data.
    fn request(
        &self,
        trigger: &CronTrigger<'_>,
        at: i64,
        run_id: &str,
    ) -> Result<StartRequest, String> {
        Ok(StartRequest {
            id: Some(run_id.to_string()),
            input: self.input(trigger, at, run_id)?,
            trigger: Some(trigger.trigger_data(at)),
            ..StartRequest::default()
        })
    }

    /// The trigger's `input` (`{}` without one), evaluated with `now()` the scheduled time
    /// and `uuid()` seeded by the run id, so every process evaluates a tick's input alike.
    fn input(&self, trigger: &CronTrigger<'_>, at: i64, run_id: &str) -> Result<Value, String> {
        let Some(expr) = trigger.input else {
            return Ok(json!({}));
        };
        let now = DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default();
        let host = EngineHost::new(
            self.engine.secrets.clone(),
            self.engine.redactor.clone(),
            now,
            format!("{run_id}/$input"),
        );
        let ev = Evaluator::new(std_library(), &host, &trigger.plan.mappings);
        ev.eval(expr, &Scope::new())
            .map_err(|e| format!("the trigger's input cannot be evaluated: {e}"))
    }

    /// Marks a pending tick skipped; reports it if this call did.
    async fn skip(
        &self,
        trigger: &CronTrigger<'_>,
        at: i64,
        reason: &str,
        report: &mut TickReport,
    ) -> Result<(), StoreError> {
        if self
            .engine
            .store
            .skip_tick(&trigger.key, at, reason)
            .await?
        {
            tracing::info!(scheduled_at = %rfc3339(at), reason, "cron tick skipped");
            report.skipped.push(SkippedTick {
                workflow: trigger.plan.name.clone(),
                trigger_key: trigger.key.clone(),
                scheduled_at: at,
                reason: reason.to_string(),
            });
        }
        Ok(())
    }

    /// Whether run `run_id` exists.
    async fn run_exists(&self, run_id: &str) -> Result<bool, StoreError> {
        match self.engine.store.load_run(run_id).await {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
