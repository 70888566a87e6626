//! Carrying out one claimed step row and deciding its [`Outcome`].
//!
//! A row is a main step, a `for_each` item (`name[i]`), a compensation (`~name`), an
//! `on_failure` step (`!name`) or the run's output (`$output`). Control steps are evaluated
//! again each time they are woken and decide from the store whether their wait is over.

use super::Engine;
use crate::runtime::call::{self, Context, Control, Prepared};
use crate::runtime::failure::{decide, Decision, StepFailure};
use crate::runtime::host::EngineHost;
use crate::store::{
    Claimed, NewStep, Outcome, ParentRef, RunRecord, RunStatus, StepResult, StepStatus, StoreError,
    WaitFor, COMPENSATION_PREFIX, ON_FAILURE_PREFIX, OUTPUT_KEY,
};
use braid_dsl::ast::Call;
use braid_dsl::eval::{Evaluator, Scope};
use braid_dsl::plan::{Failure, OnError, RetryPolicy, StepPlan, WorkflowPlan};
use braid_stdlib::catalog::std_library;
use serde_json::{json, Value};

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

impl Engine {
    /// Runs one claimed row to its outcome. Store errors are returned so the row is left to its
    /// lease (and taken back) rather than recorded wrongly.
    pub(crate) async fn execute(&self, claimed: &Claimed) -> Result<Outcome, StoreError> {
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
        let run = self.store.load_run(&claimed.run_id).await?;
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

    /// The scope every expression of a run sees, plus the outputs of `keys`.
    async fn scope_with(
        &self,
        run: &RunRecord,
        keys: Vec<String>,
    ) -> Result<(Scope<'static>, Vec<StepResult>), StoreError> {
        let results = if keys.is_empty() {
            Vec::new()
        } else {
            self.store.load_results(&run.id, &keys).await?
        };
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

    async fn output(&self, plan: &WorkflowPlan, run: &RunRecord) -> Result<Outcome, StoreError> {
        let names = plan.steps.iter().map(|s| s.name.clone()).collect();
        let (scope, _) = self.scope_with(run, names).await?;
        let host = EngineHost::new(
            self.secrets.clone(),
            self.redactor.clone(),
            chrono::Utc::now(),
            &run.id,
        );
        let ev = Evaluator::new(std_library(), &host, &plan.mappings);
        Ok(match &plan.output {
            None => Outcome::RunOutput {
                output: Value::Null,
            },
            Some(expr) => match ev.eval(expr, &scope) {
                Ok(v) => Outcome::RunOutput {
                    output: self.redactor.json(&v),
                },
                Err(e) => Outcome::Failed {
                    error: self.redactor.json(&call::eval_failure(e).error),
                    continue_on_error: false,
                },
            },
        })
    }

    /// A `for_each` step: the first time, one child row per item; when woken after the items
    /// are done, the list of their outputs.
    async fn fan_out(
        &self,
        plan: &WorkflowPlan,
        run: &RunRecord,
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

    async fn step(
        &self,
        plan: &WorkflowPlan,
        run: &RunRecord,
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

    async fn compensation(
        &self,
        plan: &WorkflowPlan,
        run: &RunRecord,
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
        let call = Invocation {
            function: &comp.function,
            call: &comp.call,
            timeout_ms: comp.timeout_ms,
            retry: &comp.retry,
            on_error: OnError::Fail,
            idempotency_key: None,
            expect: None,
            own_name: &step.name,
            default_key: format!("{}/{}", run.id, claimed.key),
        };
        self.invoke(plan, run, claimed, call, scope).await
    }

    async fn on_failure_step(
        &self,
        plan: &WorkflowPlan,
        run: &RunRecord,
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

    /// Evaluates and carries out a call, then applies `expect` and the retry policy.
    async fn invoke(
        &self,
        plan: &WorkflowPlan,
        run: &RunRecord,
        claimed: &Claimed,
        inv: Invocation<'_>,
        mut scope: Scope<'static>,
    ) -> Result<Outcome, StoreError> {
        let now_ms = self.clock.now_ms();
        let prepared = {
            let host = self.host(claimed);
            let ev = Evaluator::new(std_library(), &host, &plan.mappings);
            let key = match inv.idempotency_key {
                Some(expr) => match ev.eval(expr, &scope) {
                    Ok(Value::String(s)) => s,
                    Ok(other) => other.to_string(),
                    Err(e) => return Ok(self.failed(&inv, claimed, call::eval_failure(e), now_ms)),
                },
                None => inv.default_key.clone(),
            };
            let cx = Context {
                plan,
                ev: &ev,
                library: std_library(),
                idempotency_key: key,
                timeout_ms: inv.timeout_ms,
                now_ms,
            };
            call::prepare(&cx, inv.function, inv.call, &scope)
        };
        let result = match prepared {
            Prepared::Done(v) => Ok(self.redactor.json(&v)),
            Prepared::Failed(f) => Err(f),
            Prepared::Http(request) => {
                call::perform(&self.http, &request, None, &self.redactor).await
            }
            Prepared::Paginate(request, options) => {
                call::perform(&self.http, &request, Some(&options), &self.redactor).await
            }
            Prepared::Control(control) => return self.control(run, claimed, control, now_ms).await,
        };
        let value = match result {
            Ok(v) => v,
            Err(f) => return Ok(self.failed(&inv, claimed, f, now_ms)),
        };
        if let Some(expect) = inv.expect {
            scope.set(inv.own_name.to_string(), value.clone());
            let host = self.host(claimed);
            let ev = Evaluator::new(std_library(), &host, &plan.mappings);
            match ev.eval_condition(expect, &scope, "`expect`") {
                Ok(true) => {}
                Ok(false) => {
                    let mut f = StepFailure::new(
                        Failure::Expect,
                        "expect",
                        "the result did not meet `expect`",
                    );
                    f.error["result"] = value;
                    return Ok(self.failed(&inv, claimed, f, now_ms));
                }
                Err(e) => return Ok(self.failed(&inv, claimed, call::eval_failure(e), now_ms)),
            }
        }
        Ok(Outcome::Succeeded { output: value })
    }

    fn failed(
        &self,
        inv: &Invocation,
        claimed: &Claimed,
        failure: StepFailure,
        now_ms: i64,
    ) -> Outcome {
        let error = self.redactor.json(&failure.error);
        match decide(
            inv.retry,
            claimed.attempt,
            &failure,
            now_ms,
            rand::random::<f64>(),
        ) {
            Decision::RetryAt(ready_at) => Outcome::Retry { error, ready_at },
            Decision::GiveUp => Outcome::Failed {
                error,
                continue_on_error: inv.on_error == OnError::Continue,
            },
        }
    }

    /// Control steps: decide from the store whether the wait is over.
    async fn control(
        &self,
        run: &RunRecord,
        claimed: &Claimed,
        control: Control,
        now_ms: i64,
    ) -> Result<Outcome, StoreError> {
        let state = claimed.state.clone().unwrap_or(Value::Null);
        Ok(match control {
            Control::SleepUntil(computed) => {
                // Woken: the time chosen the first time counts, not one computed now.
                let until = state
                    .get("until")
                    .and_then(Value::as_i64)
                    .unwrap_or(computed);
                if now_ms >= until {
                    Outcome::Succeeded {
                        output: Value::Null,
                    }
                } else {
                    Outcome::Wait {
                        ready_at: Some(until),
                        state: Some(json!({ "until": until })),
                        waiting_for: None,
                    }
                }
            }
            Control::WaitSignal { name, deadline } => {
                if let Some(payload) = self
                    .store
                    .consume_signal(&run.id, &claimed.key, &name)
                    .await?
                {
                    return Ok(Outcome::Succeeded { output: payload });
                }
                let deadline = match state.get("deadline") {
                    Some(d) => d.as_i64(),
                    None if claimed.resumed_from_wait => None,
                    None => deadline,
                };
                match deadline {
                    Some(d) if now_ms >= d => Outcome::Failed {
                        error: json!({ "class": "timeout", "message": format!("no signal `{name}` arrived before the timeout") }),
                        continue_on_error: self.continues(claimed).await,
                    },
                    _ => Outcome::Wait {
                        ready_at: deadline,
                        state: Some(json!({ "deadline": deadline })),
                        waiting_for: Some(WaitFor::Signal(name)),
                    },
                }
            }
            Control::RunChild { workflow, input } => {
                let child_id = match state.get("child").and_then(Value::as_str) {
                    Some(id) => id.to_string(),
                    None => {
                        let Some(plan) = self.workflow(&workflow) else {
                            return Ok(fatal(
                                "invalid",
                                format!("no workflow named `{workflow}` is loaded"),
                            ));
                        };
                        let request = super::StartRequest {
                            id: Some(child_run_id(&run.id, &claimed.key)),
                            input,
                            parent: Some(ParentRef {
                                run_id: run.id.clone(),
                                step_key: claimed.key.clone(),
                            }),
                            ..Default::default()
                        };
                        match self.start_run(&plan, request).await {
                            Ok(outcome) => outcome.run_id().to_string(),
                            Err(super::StartError::Store(e)) => return Err(e),
                            Err(e) => return Ok(fatal("input", e.to_string())),
                        }
                    }
                };
                let child = self.store.load_run(&child_id).await?;
                match child.status {
                    RunStatus::Succeeded => Outcome::Succeeded {
                        output: child.output.unwrap_or(Value::Null),
                    },
                    s if s.is_terminal() => Outcome::Failed {
                        error: json!({ "class": "child", "message": format!("child run {child_id} ended {s}"), "run": child_id }),
                        continue_on_error: false,
                    },
                    _ => Outcome::Wait {
                        ready_at: None,
                        state: Some(json!({ "child": child_id })),
                        waiting_for: Some(WaitFor::Run(child_id)),
                    },
                }
            }
        })
    }

    /// Whether the claimed step has `on_error continue`.
    async fn continues(&self, claimed: &Claimed) -> bool {
        match self
            .plans
            .get(self.store.as_ref(), &claimed.version_hash)
            .await
        {
            Ok(plan) => plan
                .step(&claimed.key)
                .is_some_and(|s| s.on_error == OnError::Continue),
            Err(_) => false,
        }
    }
}

/// What to call, with the options that govern it.
struct Invocation<'p> {
    function: &'p str,
    call: &'p Call,
    timeout_ms: Option<u64>,
    retry: &'p RetryPolicy,
    on_error: OnError,
    idempotency_key: Option<&'p braid_dsl::ast::Expr>,
    expect: Option<&'p braid_dsl::ast::Expr>,
    own_name: &'p str,
    default_key: String,
}

impl<'p> Invocation<'p> {
    /// The call of `step` itself (a main, item or `on_failure` step), with its options.
    fn of_step(step: &'p StepPlan, default_key: String) -> Self {
        Invocation {
            function: &step.function,
            call: &step.call,
            timeout_ms: step.timeout_ms,
            retry: &step.retry,
            on_error: step.on_error,
            idempotency_key: step.idempotency_key.as_ref(),
            expect: step.expect.as_ref(),
            own_name: &step.name,
            default_key,
        }
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

/// A child run's id, derived from its parent step so that starting it twice (after a crash)
/// finds the first one instead of starting another.
fn child_run_id(parent_run: &str, step_key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("child:{parent_run}/{step_key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}
