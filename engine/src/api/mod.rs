//! The HTTP surface of `braid serve`: webhooks, the JSON API under `/api`, health, readiness
//! and metrics. Handlers are thin: they check the request, call the engine or the store, and
//! turn the result (or a [`ApiError`]) into a response.

mod auth;
mod demo;
mod error;
mod health;
mod runs;
mod webhooks;
mod workflows;

pub use error::ApiError;

use crate::executor::Engine;
use crate::loader::Problem;
use crate::triggers::cron::CronScheduler;
use axum::routing::{get, post};
use axum::Router;
use std::sync::{Arc, RwLock};

/// The OpenAPI document of the JSON API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What every handler shares.
pub struct ApiState {
    /// The engine runs are started on and read from.
    pub engine: Arc<Engine>,
    /// Files and workflows that are not served (or serve a previous version), and why.
    pub problems: RwLock<Vec<Problem>>,
    /// With a token, `/api` requires `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// The largest webhook body accepted, in bytes.
    pub max_body: usize,
    /// The cron scheduler, whose lag `/metrics` shows.
    pub cron: Option<Arc<CronScheduler>>,
}

impl ApiState {
    /// Replaces the list of problems shown by `/api/workflows`.
    pub fn set_problems(&self, problems: Vec<Problem>) {
        *self.problems.write().unwrap_or_else(|e| e.into_inner()) = problems;
    }

    fn problems(&self) -> Vec<Problem> {
        self.problems
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The whole HTTP application.
pub fn router(state: Arc<ApiState>) -> Router {
    let api = Router::new()
        .route("/workflows", get(workflows::list))
        .route("/workflows/{name}/runs", post(workflows::start))
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(runs::show))
        .route("/runs/{id}/cancel", post(runs::cancel))
        .route("/runs/{id}/retry", post(runs::retry))
        .route("/runs/{id}/signals/{name}", post(runs::signal))
        .route("/openapi.json", get(health::openapi))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .nest("/api", api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/demo/{*rest}", axum::routing::any(demo::partner))
        .fallback(webhooks::receive)
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::OPENAPI;

    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.0.3");
        let paths = doc["paths"].as_object().expect("paths");
        for path in [
            "/api/workflows",
            "/api/workflows/{name}/runs",
            "/api/runs",
            "/api/runs/{id}",
            "/api/runs/{id}/cancel",
            "/api/runs/{id}/retry",
            "/api/runs/{id}/signals/{name}",
            "/api/openapi.json",
            "/healthz",
            "/readyz",
            "/metrics",
            "/{webhook}",
        ] {
            assert!(paths.contains_key(path), "{path} is not described");
        }
        // Every reference points at a schema that exists.
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let text = OPENAPI.to_string();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(schemas.contains_key(name), "missing schema {name}");
        }
    }
}
