//! Carrying out a call: evaluate it, call out, apply `expect`, decide about a retry.

use super::{Engine, RunView};
use crate::runtime::call::{self, Context, Prepared};
use crate::runtime::failure::{decide, Decision, StepFailure};
use crate::store::{Claimed, Outcome, StoreError};
use braid_dsl::ast::Call;
use braid_dsl::eval::{Evaluator, Scope};
use braid_dsl::plan::{CompensatePlan, Failure, OnError, RetryPolicy, StepPlan, WorkflowPlan};
use braid_stdlib::catalog::std_library;
use serde_json::Value;

impl Engine {
    /// Evaluates and carries out a call, then applies `expect` and the retry policy.
    pub(super) async fn invoke(
        &self,
        plan: &WorkflowPlan,
        run: &RunView<'_>,
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

    /// The outcome of a failed attempt: a retry at a time the policy decides, or the end.
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
}

/// What to call, with the options that govern it.
pub(super) struct Invocation<'p> {
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
    pub(super) fn of_step(step: &'p StepPlan, default_key: String) -> Self {
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

    /// The compensation `comp` of `step`: its own call and policy, never `on_error continue`.
    pub(super) fn of_compensation(
        step: &'p StepPlan,
        comp: &'p CompensatePlan,
        default_key: String,
    ) -> Self {
        Invocation {
            function: &comp.function,
            call: &comp.call,
            timeout_ms: comp.timeout_ms,
            retry: &comp.retry,
            on_error: OnError::Fail,
            idempotency_key: None,
            expect: None,
            own_name: &step.name,
            default_key,
        }
    }
}
