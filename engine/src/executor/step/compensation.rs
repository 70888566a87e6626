//! The run's way through failure: a step's compensation and the `on_failure` steps.

use super::{dep_names, Engine, Invocation, RunView};
use crate::store::{Claimed, Outcome, StoreError, ON_FAILURE_PREFIX};
use braid_dsl::plan::{StepPlan, WorkflowPlan};
use serde_json::{json, Value};

impl Engine {
    /// The compensation of a step that succeeded, once its run failed.
    pub(super) async fn compensation(
        &self,
        plan: &WorkflowPlan,
        run: &RunView<'_>,
        claimed: &Claimed,
        step: &StepPlan,
    ) -> Result<Outcome, StoreError> {
        let Some(comp) = &step.compensate else {
            return Ok(Outcome::Succeeded {
                output: Value::Null,
            });
        };
        let mut names = dep_names(plan, step);
        names.push(step.name.clone());
        let (scope, _) = self.scope_with(run, names).await?;
        let call = Invocation::of_compensation(step, comp, format!("{}/{}", run.id, claimed.key));
        self.invoke(plan, run, claimed, call, scope).await
    }

    /// An `on_failure` step: sees every step's output and the run's `error`.
    pub(super) async fn on_failure_step(
        &self,
        plan: &WorkflowPlan,
        run: &RunView<'_>,
        claimed: &Claimed,
        step: &StepPlan,
    ) -> Result<Outcome, StoreError> {
        let mut names: Vec<String> = plan.steps.iter().map(|s| s.name.clone()).collect();
        names.extend(
            plan.on_failure
                .iter()
                .map(|s| format!("{ON_FAILURE_PREFIX}{}", s.name)),
        );
        let (mut scope, results) = self.scope_with(run, names).await?;
        for r in &results {
            if let Some(name) = r.key.strip_prefix(ON_FAILURE_PREFIX) {
                scope.set(name.to_string(), r.output.clone().unwrap_or(Value::Null));
            }
        }
        let error = run.error.clone().unwrap_or(Value::Null);
        scope.set(
            "error",
            json!({
                "step": error.get("step").cloned().unwrap_or(Value::Null),
                "message": error.get("message").or_else(|| error.pointer("/error/message")).cloned().unwrap_or(Value::Null),
                "kind": error.get("class").or_else(|| error.pointer("/error/class")).cloned().unwrap_or(Value::Null),
            }),
        );
        let call = Invocation::of_step(step, format!("{}/{}", run.id, claimed.key));
        self.invoke(plan, run, claimed, call, scope).await
    }
}
