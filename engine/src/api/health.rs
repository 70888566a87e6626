//! Liveness, readiness, metrics and the OpenAPI document.

use super::{ApiError, ApiState, OPENAPI};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the store answers.
pub async fn readyz(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    state.engine.store.ping().await?;
    Ok(Json(json!({ "status": "ready" })))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<Arc<ApiState>>) -> impl IntoResponse {
    let now = state.engine.clock().now_ms();
    match state.engine.store.stats(now).await {
        Ok(stats) => state.engine.metrics.update_from_store(&stats, now),
        Err(e) => tracing::warn!(error = %e, "metrics: reading the store failed"),
    }
    for (connection, expires_at) in crate::token_store::token_expiries(&state.engine).await {
        let seconds = (expires_at - now) as f64 / 1000.0;
        state.engine.metrics.token_expires_in(&connection, seconds);
    }
    for trigger in state.cron.iter().flat_map(|c| c.stats()) {
        if let Some(lag) = trigger.last_lag_ms {
            state
                .engine
                .metrics
                .cron_fired(&trigger.workflow, lag as f64 / 1000.0);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.engine.metrics.render(),
    )
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
