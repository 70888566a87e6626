//! A workflow's cron triggers as the scheduler sees them: a key that names the trigger in the
//! store across restarts and processes, the parsed timezone and the policies, and what a tick
//! hands its run (an id, the `trigger` data).

use braid_dsl::ast::Expr;
use braid_dsl::plan::{Catchup, CronSpec, Overlap, TriggerPlan, WorkflowPlan};
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};
use std::sync::Arc;

/// One `trigger cron` of a loaded workflow.
pub(crate) struct CronTrigger<'a> {
    /// The workflow.
    pub plan: &'a Arc<WorkflowPlan>,
    /// See [`trigger_key`].
    pub key: String,
    /// The schedule.
    pub schedule: &'a CronSpec,
    /// The timezone it is read in.
    pub tz: Tz,
    /// The timezone's name, as written.
    pub timezone: &'a str,
    /// What a tick does while a run of the workflow is active.
    pub overlap: Overlap,
    /// Which missed ticks fire.
    pub catchup: Catchup,
    /// The runs' input (`{}` without one).
    pub input: Option<&'a Expr>,
}

impl<'a> CronTrigger<'a> {
    /// The cron triggers of `plan`, in source order. One whose timezone is unknown (the
    /// checker refuses those, so only a plan from elsewhere has one) is logged and left out.
    pub fn of(plan: &'a Arc<WorkflowPlan>) -> Vec<CronTrigger<'a>> {
        let crons = plan.triggers.iter().filter_map(|t| match t {
            TriggerPlan::Cron {
                schedule,
                timezone,
                overlap,
                catchup,
                input,
            } => Some((schedule, timezone, *overlap, *catchup, input.as_ref())),
            TriggerPlan::Webhook { .. } => None,
        });
        crons
            .enumerate()
            .filter_map(|(index, (schedule, timezone, overlap, catchup, input))| {
                let tz = match timezone.parse::<Tz>() {
                    Ok(tz) => tz,
                    Err(e) => {
                        tracing::warn!(workflow = %plan.name, timezone = %timezone, error = %e,
                            "cron trigger with an unknown timezone ignored");
                        return None;
                    }
                };
                Some(CronTrigger {
                    plan,
                    key: trigger_key(&plan.name, index, schedule, timezone),
                    schedule,
                    tz,
                    timezone,
                    overlap,
                    catchup,
                    input,
                })
            })
            .collect()
    }

    /// The `trigger` data of the run the tick at `scheduled_at` (ms) starts.
    pub fn trigger_data(&self, scheduled_at: i64) -> Value {
        json!({
            "cron": {
                "scheduled_at": rfc3339(scheduled_at),
                "schedule": self.schedule.as_str(),
                "timezone": self.timezone,
            }
        })
    }
}

/// The name of a workflow's `index`-th cron trigger in the store:
/// `{workflow}#cron{index}:{normalised schedule}@{timezone}`. It stays the same across
/// restarts and processes as long as the workflow keeps the trigger; a changed schedule or
/// timezone is a new trigger, which starts from the moment it is first seen.
pub fn trigger_key(workflow: &str, index: usize, schedule: &CronSpec, timezone: &str) -> String {
    format!("{workflow}#cron{index}:{}@{timezone}", schedule.as_str())
}

/// The id of the run a tick starts, derived from the trigger key and the scheduled time:
/// whoever starts the tick (another process, or this one after a crash) makes the same run,
/// and the store creates it once.
pub(crate) fn tick_run_id(trigger_key: &str, scheduled_at: i64) -> String {
    crate::derived_id::derived_uuid(&format!("cron/{trigger_key}/{scheduled_at}"))
}

/// `ms` as an RFC 3339 UTC time (`2026-01-01T00:00:00Z`); the number itself if out of range.
pub(crate) fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_workflow_index_schedule_and_timezone() {
        let spec = CronSpec::parse("0 9 * * 1-5").expect("valid");
        assert_eq!(
            trigger_key("report", 1, &spec, "Europe/Berlin"),
            "report#cron1:0 0 9 * * MON-FRI@Europe/Berlin"
        );
    }

    #[test]
    fn run_ids_are_stable_uuids_per_tick() {
        let a = tick_run_id("k", 1_000);
        assert_eq!(a, tick_run_id("k", 1_000));
        assert_ne!(a, tick_run_id("k", 2_000));
        assert_ne!(a, tick_run_id("j", 1_000));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_767_225_600_000), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_600_250), "2026-01-01T00:00:00.250Z");
    }
}
