//! `GET /api/workflows` and `POST /api/workflows/{name}/runs`.

use super::{ApiError, ApiState};
use crate::executor::StartRequest;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use braid_dsl::plan::{TriggerPlan, WorkflowPlan};
use serde_json::{json, Value};
use std::sync::Arc;

/// Every served workflow, and the files and workflows that are not served and why.
pub async fn list(State(state): State<Arc<ApiState>>) -> Json<Value> {
    let workflows: Vec<Value> = state
        .engine
        .workflows()
        .iter()
        .map(|p| describe(p))
        .collect();
    Json(json!({ "workflows": workflows, "problems": state.problems() }))
}

/// What the API shows of a workflow.
fn describe(plan: &WorkflowPlan) -> Value {
    let inputs: Vec<Value> = plan
        .inputs
        .iter()
        .map(|i| json!({ "name": i.name, "type": i.ty.name(), "optional": i.optional, "default": i.default.is_some() }))
        .collect();
    let triggers: Vec<Value> = plan
        .triggers
        .iter()
        .map(|t| match t {
            TriggerPlan::Cron {
                schedule,
                timezone,
                overlap,
                catchup,
                ..
            } => json!({
                "kind": "cron", "schedule": schedule.as_str(), "timezone": timezone,
                "overlap": overlap, "catchup": catchup,
            }),
            TriggerPlan::Webhook {
                path,
                method,
                verify,
                respond,
                ..
            } => json!({
                "kind": "webhook", "path": path, "method": method.as_str(),
                "verified": verify.is_some(), "respond": respond,
            }),
        })
        .collect();
    let version = serde_json::to_string(plan)
        .map(|json| crate::store::plan_hash(&json))
        .unwrap_or_default();
    json!({
        "name": plan.name,
        "version": version,
        "description": plan.description,
        "file": plan.file,
        "inputs": inputs,
        "triggers": triggers,
        "steps": plan.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
    })
}

/// Starts a run with the body as its input; answers `201 {"run_id"}` once it is stored.
pub async fn start(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let plan = state
        .engine
        .workflow(&name)
        .ok_or_else(|| ApiError::NotFound(format!("no workflow named `{name}`")))?;
    let input = parse_json_body(&body)?;
    let outcome = state
        .engine
        .start_run(
            &plan,
            StartRequest {
                input,
                trigger: Some(json!({ "api": true })),
                ..StartRequest::default()
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "run_id": outcome.run_id() })),
    ))
}

/// A request body as JSON; an empty body is `{}`.
pub fn parse_json_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))
}
