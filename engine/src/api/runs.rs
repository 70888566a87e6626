//! `/api/runs`: listing, showing, cancelling, retrying and signalling runs.

use super::workflows::parse_json_body;
use super::{ApiError, ApiState};
use crate::store::{RunDetail, RunFilter, RunStatus};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The query of `GET /api/runs`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    workflow: Option<String>,
    status: Option<String>,
    /// Created at or after: RFC 3339, or milliseconds since the epoch.
    from: Option<String>,
    /// Created before.
    to: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Runs, newest first, a page at a time.
pub async fn list(
    State(state): State<Arc<ApiState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            s.parse::<RunStatus>()
                .map_err(|_| ApiError::BadRequest(format!("`{s}` is not a run status")))
        })
        .transpose()?;
    let filter = RunFilter {
        workflow: q.workflow,
        status,
        created_from: q
            .from
            .as_deref()
            .map(|t| parse_time(t, "from"))
            .transpose()?,
        created_to: q.to.as_deref().map(|t| parse_time(t, "to")).transpose()?,
        limit: q.limit,
        cursor: q.cursor,
    };
    let page = state.engine.store.list_runs(&filter).await?;
    Ok(Json(
        json!({ "runs": page.runs, "next_cursor": page.next_cursor }),
    ))
}

fn parse_time(text: &str, what: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "`{what}` must be an RFC 3339 time or milliseconds since the epoch"
            ))
        })
}

/// One run with its steps (each with its attempts) and its event timeline.
pub async fn show(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let detail = state.engine.store.get_run_detail(&id).await?;
    Ok(Json(run_json(detail)))
}

/// The API's view of a run.
fn run_json(detail: RunDetail) -> Value {
    let RunDetail {
        run,
        steps,
        attempts,
        events,
    } = detail;
    let steps: Vec<Value> = steps
        .into_iter()
        .map(|s| {
            let mine: Vec<_> = attempts.iter().filter(|a| a.key == s.key).collect();
            let mut v = json!(s);
            v["attempts"] = json!(mine);
            v
        })
        .collect();
    let mut v = json!(run);
    v["steps"] = json!(steps);
    v["events"] = json!(events);
    v
}

/// Cancels a run that has not finished.
pub async fn cancel(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.engine.store.cancel_run(&id).await?;
    state.engine.wake();
    let run = state.engine.store.load_run(&id).await?;
    Ok(Json(json!({ "run_id": id, "status": run.status })))
}

/// Retries a failed or `compensation_failed` run from where it failed.
pub async fn retry(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.engine.store.retry_run(&id).await?;
    state.engine.wake();
    let run = state.engine.store.load_run(&id).await?;
    Ok(Json(json!({ "run_id": id, "status": run.status })))
}

/// Sends a signal (the body is its payload) to a run.
pub async fn signal(
    State(state): State<Arc<ApiState>>,
    Path((id, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let payload = if body.is_empty() {
        Value::Null
    } else {
        parse_json_body(&body)?
    };
    let signal = state.engine.store.signal(&id, &name, payload).await?;
    state.engine.wake();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "run_id": id, "signal": name, "signal_id": signal })),
    ))
}
