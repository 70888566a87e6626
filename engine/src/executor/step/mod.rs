//! Carrying out one claimed step row and deciding its [`Outcome`].
//!
//! A row is a main step, a `for_each` item (`name[i]`), a compensation (`~name`), an
//! `on_failure` step (`!name`) or the run's output (`$output`). Control steps are evaluated
//! again each time they are woken and decide from the store whether their wait is over.

use super::Engine;
use crate::runtime::call;
use crate::runtime::host::EngineHost;
use crate::store::{
    Claimed, Outcome, RunRecord, StepResult, StepStatus, Store, StoreError, COMPENSATION_PREFIX,
    ON_FAILURE_PREFIX, OUTPUT_KEY,
};
use braid_dsl::eval::{Evaluator, Scope};
use braid_dsl::plan::{OnError, StepPlan, WorkflowPlan};
use braid_stdlib::catalog::std_library;
use invoke::Invocation;
use serde_json::{json, Value};

mod compensation;
mod control;
mod fan_out;
mod invoke;

/// Which part of the plan a claimed row runs.
enum Role<'p> {
    Output,
    Main(&'p StepPlan),
    Item(&'p StepPlan, u32),
    Compensation(&'p StepPlan),
    OnFailure(&'p StepPlan),
}

fn role<'p>(plan: &'p WorkflowPlan, claimed: &Claimed) -> Option<Role<'p>> {
    let key = claimed.key.as_str();
    if key == OUTPUT_KEY {
        return Some(Role::Output);
    }
    if let Some(name) = key.strip_prefix(COMPENSATION_PREFIX) {
        return plan.step(name).map(Role::Compensation);
    }
    if let Some(name) = key.strip_prefix(ON_FAILURE_PREFIX) {
        return plan
            .on_failure
            .iter()
            .find(|s| s.name == name)
            .map(Role::OnFailure);
    }
    if let (Some(parent), Some(index)) = (&claimed.parent_key, claimed.item_index) {
        return plan.step(parent).map(|s| Role::Item(s, index));
    }
    plan.step(key).map(Role::Main)
}

/// A permanent failure that no retry policy applies to.
fn fatal(kind: &str, message: impl Into<String>) -> Outcome {
    Outcome::Failed {
        error: json!({ "class": kind, "message": message.into() }),
        continue_on_error: false,
    }
}

/// What a worker carrying out a chain of hand-offs knows of the run without reading it: the
/// run's record, and the outputs of the steps it completed. A chained step's dependency is
/// usually the step just before it, which this worker just wrote.
#[derive(Default)]
pub(crate) struct Known {
    run: Option<RunRecord>,
    outputs: Vec<StepResult>,
}

/// Outputs kept per worker: a chain needs the last one.
const KNOWN_OUTPUTS: usize = 8;

impl Known {
    /// Notes that `claimed` succeeded with `output` (and that it is durable).
    pub(crate) fn succeeded(&mut self, claimed: &Claimed, output: Value) {
        if self.run.as_ref().is_none_or(|r| r.id != claimed.run_id) {
            return;
        }
        if self.outputs.len() >= KNOWN_OUTPUTS {
            self.outputs.remove(0);
        }
        self.outputs.push(StepResult {
            key: claimed.key.clone(),
            status: StepStatus::Succeeded,
            output: Some(output),
            error: None,
            item_index: claimed.item_index,
        });
    }

    /// Run `run_id` as a step sees it: the record known, if `reuse` allows it, else read
    /// (and kept); outputs known of another run are forgotten.
    async fn view(
        &mut self,
        store: &dyn Store,
        run_id: &str,
        reuse: bool,
    ) -> Result<RunView<'_>, StoreError> {
        let record = match self.run.take() {
            Some(known) if reuse && known.id == run_id => known,
            known => {
                if known.is_none_or(|r| r.id != run_id) {
                    self.outputs.clear();
                }
                store.load_run(run_id).await?
            }
        };
        Ok(RunView {
            record: self.run.insert(record),
            known: &self.outputs,
        })
    }
}

/// A run as a step sees it: its record, and the outputs of its steps known without a read.
struct RunView<'k> {
    record: &'k RunRecord,
    known: &'k [StepResult],
}

impl std::ops::Deref for RunView<'_> {
    type Target = RunRecord;
    fn deref(&self) -> &RunRecord {
        self.record
    }
}

impl Engine {
    /// Runs one claimed row to its outcome. Store errors are returned so the row is left to its
    /// lease (and taken back) rather than recorded wrongly.
    pub(crate) async fn execute(
        &self,
        claimed: &Claimed,
        known: &mut Known,
    ) -> Result<Outcome, StoreError> {
        let plan = self
            .plans
            .get(self.store.as_ref(), &claimed.version_hash)
            .await?;
        let Some(role) = role(&plan, claimed) else {
            return Ok(fatal(
                "invalid",
                format!("step `{}` is not in the workflow's plan", claimed.key),
            ));
        };
        // The run's output has no policy of its own and no outside effect: evaluating it again
        // after a crash is always safe, so an interruption never fails the run.
        if claimed.exhausted() && !matches!(role, Role::Output) {
            return Ok(Outcome::Failed {
                error: json!({
                    "class": "interrupted",
                    "message": format!("attempt {} was interrupted and no attempts are left", claimed.attempt - 1),
                }),
                continue_on_error: matches!(&role, Role::Main(s) | Role::Item(s, _) if s.on_error == OnError::Continue),
            });
        }
        // What a main step, an item or the output reads of its run (input, trigger, start
        // time) never changes once the run is running; the other phases read its error.
        let settled = matches!(role, Role::Output | Role::Main(_) | Role::Item(..));
        let run = known
            .view(self.store.as_ref(), &claimed.run_id, settled)
            .await?;
        match role {
            Role::Output => self.output(&plan, &run).await,
            Role::Main(step) if step.for_each.is_some() => {
                self.fan_out(&plan, &run, claimed, step).await
            }
            Role::Main(step) => self.step(&plan, &run, claimed, step, None).await,
            Role::Item(step, index) => self.step(&plan, &run, claimed, step, Some(index)).await,
            Role::Compensation(step) => self.compensation(&plan, &run, claimed, step).await,
            Role::OnFailure(step) => self.on_failure_step(&plan, &run, claimed, step).await,
        }
    }

    /// The scope every expression of a run sees, plus the outputs of `keys` (read from the
    /// store unless this worker recorded them).
    async fn scope_with(
        &self,
        run: &RunView<'_>,
        keys: Vec<String>,
    ) -> Result<(Scope<'static>, Vec<StepResult>), StoreError> {
        let (mut results, unknown): (Vec<StepResult>, Vec<String>) = {
            let mut found = Vec::new();
            let mut unknown = Vec::new();
            for key in keys {
                match run.known.iter().find(|r| r.key == key) {
                    Some(r) => found.push(r.clone()),
                    None => unknown.push(key),
                }
            }
            (found, unknown)
        };
        if !unknown.is_empty() {
            results.extend(self.store.load_results(&run.id, &unknown).await?);
        }
        let mut scope = Scope::new()
            .with("input", run.input.clone())
            .with(
                "run",
                json!({
                    "id": run.id,
                    "workflow": run.workflow,
                    "started_at": chrono::DateTime::from_timestamp_millis(run.started.unwrap_or(run.created))
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                }),
            )
            .with("trigger", run.trigger.clone().unwrap_or(Value::Null));
        for r in &results {
            scope.set(r.key.clone(), r.output.clone().unwrap_or(Value::Null));
        }
        Ok((scope, results))
    }

    fn host(&self, claimed: &Claimed) -> EngineHost {
        EngineHost::new(
            self.secrets.clone(),
            self.redactor.clone(),
            chrono::DateTime::from_timestamp_millis(self.clock.now_ms()).unwrap_or_default(),
            format!("{}/{}", claimed.run_id, claimed.key),
        )
    }

    async fn output(&self, plan: &WorkflowPlan, run: &RunView<'_>) -> Result<Outcome, StoreError> {
        // Without an `output` there is nothing to read every step's output for.
        let Some(expr) = &plan.output else {
            return Ok(Outcome::RunOutput {
                output: Value::Null,
            });
        };
        let names = plan.steps.iter().map(|s| s.name.clone()).collect();
        let (scope, _) = self.scope_with(run, names).await?;
        let host = EngineHost::new(
            self.secrets.clone(),
            self.redactor.clone(),
            chrono::Utc::now(),
            &run.id,
        );
        let ev = Evaluator::new(std_library(), &host, &plan.mappings);
        Ok(match ev.eval(expr, &scope) {
            Ok(v) => Outcome::RunOutput {
                output: self.redactor.json(&v),
            },
            Err(e) => Outcome::Failed {
                error: self.redactor.json(&call::eval_failure(e).error),
                continue_on_error: false,
            },
        })
    }

    /// `Some(Skipped)` when `when` is false, or a dependency was skipped and there is no `when`.
    fn skip(
        &self,
        plan: &WorkflowPlan,
        step: &StepPlan,
        results: &[StepResult],
        scope: &Scope,
        claimed: &Claimed,
    ) -> Option<Outcome> {
        let deps: Vec<&str> = step
            .deps
            .iter()
            .filter_map(|d| plan.steps.get(d.0))
            .map(|s| s.name.as_str())
            .collect();
        match &step.when {
            None => results
                .iter()
                .any(|r| deps.contains(&r.key.as_str()) && r.status == StepStatus::Skipped)
                .then_some(Outcome::Skipped),
            Some(when) => {
                let host = self.host(claimed);
                let ev = Evaluator::new(std_library(), &host, &plan.mappings);
                match ev.eval_condition(when, scope, "`when`") {
                    Ok(true) => None,
                    Ok(false) => Some(Outcome::Skipped),
                    Err(e) => Some(Outcome::Failed {
                        error: call::eval_failure(e).error,
                        continue_on_error: false,
                    }),
                }
            }
        }
    }

    /// A main step or a `for_each` item: its own call, unless it is skipped.
    async fn step(
        &self,
        plan: &WorkflowPlan,
        run: &RunView<'_>,
        claimed: &Claimed,
        step: &StepPlan,
        item: Option<u32>,
    ) -> Result<Outcome, StoreError> {
        let (mut scope, results) = self.scope_with(run, dep_names(plan, step)).await?;
        if item.is_none() {
            if let Some(skip) = self.skip(plan, step, &results, &scope, claimed) {
                return Ok(skip);
            }
        }
        if let (Some(index), Some(for_each)) = (item, &step.for_each) {
            // The list is evaluated again from the same stored inputs, so it is the same list.
            let host = self.host(claimed);
            let ev = Evaluator::new(std_library(), &host, &plan.mappings);
            let value = match ev.eval(&for_each.list, &scope) {
                Ok(Value::Array(items)) => {
                    items.get(index as usize).cloned().unwrap_or(Value::Null)
                }
                _ => Value::Null,
            };
            scope.set(for_each.var.clone(), value);
        }
        let default_key = match item {
            Some(i) => format!("{}/{}/{i}", run.id, step.name),
            None => format!("{}/{}", run.id, step.name),
        };
        let call = Invocation::of_step(step, default_key);
        self.invoke(plan, run, claimed, call, scope).await
    }
}

/// The names of the steps `step` depends on.
fn dep_names(plan: &WorkflowPlan, step: &StepPlan) -> Vec<String> {
    step.deps
        .iter()
        .filter_map(|d| plan.steps.get(d.0))
        .map(|s| s.name.clone())
        .collect()
}
