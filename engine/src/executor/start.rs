//! Starting runs: the input is checked, the plan pinned by hash, and every step row written in
//! the same transaction as the run (shared with other runs started meanwhile: see
//! [`Creator`](super::Creator)).

use super::Engine;
use crate::runtime::host::EngineHost;
use crate::runtime::input::{self, InputError};
use crate::store::{CreateOutcome, NewRun, NewStep, ParentRef, StoreError, ON_FAILURE_PREFIX};
use braid_dsl::eval::Evaluator;
use braid_dsl::plan::{StepPlan, WorkflowPlan};
use braid_stdlib::catalog::std_library;
use serde_json::Value;
use std::sync::Arc;

/// Why a run could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No workflow of that name is loaded.
    #[error("no workflow named `{0}`")]
    UnknownWorkflow(String),
    /// The input does not fit the workflow's `input` block.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The store refused or is unavailable.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    /// A run id chosen by the caller (child runs derive theirs from the parent step).
    pub id: Option<String>,
    /// The run's input, before validation.
    pub input: Value,
    /// Request data readable as `trigger` (webhook headers and query).
    pub trigger: Option<Value>,
    /// A key that makes a repeated delivery return the first run.
    pub dedupe_key: Option<String>,
    /// The step of a parent run waiting for this one.
    pub parent: Option<ParentRef>,
}

impl Engine {
    /// Validates the input and stores the run with all its steps; returns its id (or the id of
    /// the run an earlier delivery with the same dedupe key started).
    pub async fn start_run(
        &self,
        plan: &Arc<WorkflowPlan>,
        request: StartRequest,
    ) -> Result<CreateOutcome, StartError> {
        let host = EngineHost::new(
            self.secrets.clone(),
            self.redactor.clone(),
            chrono::Utc::now(),
            "start",
        );
        let ev = Evaluator::new(std_library(), &host, &plan.mappings);
        let input = input::validate(plan, request.input, &ev)?;
        let hash = match self.creator.stored_hash(plan) {
            Some(hash) => hash,
            None => {
                let hash = self.plans.register(self.store.as_ref(), plan).await?;
                self.creator.remember(plan, &hash);
                hash
            }
        };
        let run = NewRun {
            id: request.id,
            workflow: plan.name.clone(),
            version_hash: hash,
            input: self.redactor.json(&input),
            trigger: request.trigger,
            dedupe_key: request.dedupe_key,
            parent: request.parent,
            steps: step_rows(plan),
        };
        // Group-committed with other runs being started; answered once durable.
        let outcome = self.creator.create(run).await?;
        if matches!(outcome, CreateOutcome::Created(_)) {
            self.metrics.run_started(&plan.name);
        }
        self.wake.notify_one();
        Ok(outcome)
    }
}

/// The step rows of a new run: every main step (its dependencies by name) and every
/// `on_failure` step (dormant until the run fails).
pub fn step_rows(plan: &WorkflowPlan) -> Vec<NewStep> {
    let name =
        |steps: &[StepPlan], id: &braid_dsl::plan::StepId| steps.get(id.0).map(|s| s.name.clone());
    let mut rows = Vec::with_capacity(plan.steps.len() + plan.on_failure.len());
    for step in &plan.steps {
        let mut row = NewStep::main(step.name.clone())
            .after(step.deps.iter().filter_map(|d| name(&plan.steps, d)))
            .attempts(step.retry.attempts);
        if let Some(c) = &step.compensate {
            row = row.compensated(c.retry.attempts);
        }
        rows.push(row);
    }
    let on_failure_key = |name: String| format!("{ON_FAILURE_PREFIX}{name}");
    for step in &plan.on_failure {
        rows.push(
            NewStep::on_failure(on_failure_key(step.name.clone()))
                .after(
                    step.deps
                        .iter()
                        .filter_map(|d| name(&plan.on_failure, d))
                        .map(on_failure_key),
                )
                .attempts(step.retry.attempts),
        );
    }
    rows
}
