//! Turning checked steps into [`StepPlan`]s: resolving retry policies and timeouts through
//! step → connection → workflow defaults → engine defaults.

use super::connections::CheckedConnection;
use super::steps::CheckedStep;
use crate::catalog::FunctionKind;
use crate::plan::retry::DEFAULT_STEP_TIMEOUT_MS;
use crate::plan::{
    CompensatePlan, ForEach, RetryOverride, RetryPolicy, StepId, StepPlan, DEFAULT_CONCURRENCY,
};
use std::collections::HashMap;

/// The workflow's `defaults` block.
#[derive(Debug, Default, Clone)]
pub(crate) struct Defaults {
    /// `defaults { retry … }`
    pub retry: RetryOverride,
    /// `defaults { timeout … }`
    pub timeout_ms: Option<u64>,
}

/// Resolves a retry policy and timeout for a call of `kind` on `connection`.
fn resolve(
    retry: &RetryOverride,
    timeout: Option<u64>,
    kind: FunctionKind,
    connection: Option<&str>,
    connections: &HashMap<&str, &CheckedConnection>,
    defaults: &Defaults,
) -> (RetryPolicy, Option<u64>) {
    let conn = connection
        .and_then(|c| connections.get(c))
        .and_then(|c| c.plan.as_ref());
    let empty = RetryOverride::default();
    let policy = RetryPolicy::resolve(&[retry, conn.map_or(&empty, |c| &c.retry), &defaults.retry]);
    let timeout = match kind {
        FunctionKind::Step => Some(
            timeout
                .or(conn.and_then(|c| c.timeout_ms))
                .or(defaults.timeout_ms)
                .unwrap_or(DEFAULT_STEP_TIMEOUT_MS),
        ),
        // Control steps are carried out by the engine itself; `wait_signal` bounds its wait
        // with its own `timeout:` argument.
        FunctionKind::Control | FunctionKind::Pure => None,
    };
    (policy, timeout)
}

/// The plan of a checked step; `None` if its call (or its compensation's) did not resolve.
pub(crate) fn step_plan(
    step: &CheckedStep<'_>,
    id: StepId,
    deps: Vec<StepId>,
    connections: &HashMap<&str, &CheckedConnection>,
    defaults: &Defaults,
) -> Option<StepPlan> {
    let call = step.call.as_ref()?;
    let (retry, timeout_ms) = resolve(
        &step.retry,
        step.timeout_ms,
        call.kind,
        call.connection.as_deref(),
        connections,
        defaults,
    );
    let compensate = match &step.compensate {
        None => None,
        Some(c) => {
            let info = c.info.as_ref()?;
            let (retry, timeout_ms) = resolve(
                &c.retry,
                c.timeout_ms,
                info.kind,
                info.connection.as_deref(),
                connections,
                defaults,
            );
            Some(CompensatePlan {
                call: c.call.clone(),
                function: info.function.clone(),
                kind: info.kind,
                connection: info.connection.clone(),
                retry,
                timeout_ms,
            })
        }
    };
    Some(StepPlan {
        id,
        name: step.ast.name.name.clone(),
        call: step.ast.call.clone(),
        function: call.function.clone(),
        kind: call.kind,
        connection: call.connection.clone(),
        deps,
        when: step.when.cloned(),
        for_each: step.for_each.map(|(var, list, concurrency)| ForEach {
            var: var.name.clone(),
            list: list.clone(),
            concurrency: concurrency.unwrap_or(DEFAULT_CONCURRENCY),
        }),
        retry,
        timeout_ms,
        idempotency_key: step.idempotency_key.cloned(),
        expect: step.expect.cloned(),
        compensate,
        on_error: step.on_error,
    })
}
