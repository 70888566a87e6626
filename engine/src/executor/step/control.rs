//! Control steps (`sleep`, `sleep_until`, `wait_signal`, `workflow.run`): evaluated again each
//! time they are woken, they decide from the store whether their wait is over.

use super::{fatal, Engine, RunView};
use crate::executor::{StartError, StartRequest};
use crate::runtime::call::Control;
use crate::store::{Claimed, Outcome, ParentRef, RunStatus, StoreError, WaitFor};
use braid_dsl::plan::OnError;
use serde_json::{json, Value};

impl Engine {
    /// Control steps: decide from the store whether the wait is over.
    pub(super) async fn control(
        &self,
        run: &RunView<'_>,
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
                        let request = StartRequest {
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
                            Err(StartError::Store(e)) => return Err(e),
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

/// A child run's id, derived from its parent step so that starting it twice (after a crash)
/// finds the first one instead of starting another.
fn child_run_id(parent_run: &str, step_key: &str) -> String {
    crate::derived_id::derived_uuid(&format!("child:{parent_run}/{step_key}"))
}
