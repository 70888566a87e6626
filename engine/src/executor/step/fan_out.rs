//! A `for_each` step: its items as child rows, then their outputs as its own.

use super::{dep_names, fatal, Engine, RunView};
use crate::runtime::call;
use crate::store::{Claimed, NewStep, Outcome, StepStatus, StoreError};
use braid_dsl::eval::Evaluator;
use braid_dsl::plan::{OnError, StepPlan, WorkflowPlan};
use braid_stdlib::catalog::std_library;
use serde_json::{json, Value};

impl Engine {
    /// A `for_each` step: the first time, one child row per item; when woken after the items
    /// are done, the list of their outputs.
    pub(super) async fn fan_out(
        &self,
        plan: &WorkflowPlan,
        run: &RunView<'_>,
        claimed: &Claimed,
        step: &StepPlan,
    ) -> Result<Outcome, StoreError> {
        let Some(for_each) = &step.for_each else {
            return Ok(fatal("invalid", "not a for_each step"));
        };
        if claimed.resumed_from_wait {
            let mut children = self.store.load_children(&run.id, &claimed.key).await?;
            children.sort_by_key(|c| c.item_index);
            if let Some(failed) = children
                .iter()
                .find(|c| c.status == StepStatus::Failed && step.on_error == OnError::Fail)
            {
                let error = failed
                    .error
                    .clone()
                    .unwrap_or_else(|| json!({ "message": "an item failed" }));
                return Ok(Outcome::Failed {
                    error: json!({ "class": "item", "item": failed.item_index, "error": error }),
                    continue_on_error: false,
                });
            }
            let outputs = children
                .into_iter()
                .map(|c| c.output.unwrap_or(Value::Null))
                .collect();
            return Ok(Outcome::Succeeded {
                output: Value::Array(outputs),
            });
        }
        let (scope, results) = self.scope_with(run, dep_names(plan, step)).await?;
        if let Some(skip) = self.skip(plan, step, &results, &scope, claimed) {
            return Ok(skip);
        }
        let host = self.host(claimed);
        let ev = Evaluator::new(std_library(), &host, &plan.mappings);
        let items = match ev.eval(&for_each.list, &scope) {
            Ok(Value::Array(items)) => items,
            Ok(Value::Null) => Vec::new(),
            Ok(other) => {
                return Ok(fatal(
                    "type",
                    format!("`for_each` needs a list, got {other}"),
                ))
            }
            Err(e) => {
                return Ok(Outcome::Failed {
                    error: call::eval_failure(e).error,
                    continue_on_error: false,
                })
            }
        };
        if items.is_empty() {
            return Ok(Outcome::Succeeded { output: json!([]) });
        }
        let children = (0..items.len())
            .map(|i| NewStep::main(format!("{}[{i}]", step.name)).attempts(step.retry.attempts))
            .collect();
        Ok(Outcome::Spawn {
            children,
            concurrency: for_each.concurrency.max(1),
            state: Some(json!({ "items": items.len() })),
        })
    }
}
