//! Webhook deliveries: any path a `trigger webhook` declares.
//!
//! Order of checks, each answered before anything is stored: the path (404), the method (405),
//! the body's size (413), the signature on the raw body (401), the JSON (400), the input
//! against the workflow's `input` (400, naming the field). Then the run is stored and only
//! then answered: `202 {"run_id"}` (with `"duplicate": true` for a repeated delivery), or for
//! `respond sync(D)` the output once the run ends within D. A store that cannot be reached is
//! a 503, and nothing was stored.

use super::workflows::parse_json_body;
use super::{ApiError, ApiState};
use crate::executor::{Engine, StartRequest};
use crate::runtime::host::EngineHost;
use crate::store::{CreateOutcome, RunStatus};
use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use braid_dsl::ast::Expr;
use braid_dsl::eval::{Evaluator, Scope};
use braid_dsl::plan::{Encoding, HmacAlgorithm, Respond, TriggerPlan, VerifyPlan, WorkflowPlan};
use braid_stdlib::catalog::std_library;
use braid_stdlib::webhook::{self, HmacConfig, Scheme};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Headers never stored with a run's trigger data: credentials.
const WITHHELD_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// The webhook trigger at `path`, with its workflow.
fn find(engine: &Engine, path: &str) -> Option<(Arc<WorkflowPlan>, TriggerPlan)> {
    engine.workflows().into_iter().find_map(|plan| {
        let trigger = plan
            .triggers
            .iter()
            .find(|t| matches!(t, TriggerPlan::Webhook { path: p, .. } if p == path))?
            .clone();
        Some((plan, trigger))
    })
}

/// Receives a delivery on any path not served otherwise.
pub async fn receive(
    State(state): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept(&state, method, uri, headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn accept(
    state: &ApiState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = uri.path();
    let (plan, trigger) = find(&state.engine, path)
        .ok_or_else(|| ApiError::NotFound(format!("no webhook or API route at `{path}`")))?;
    let TriggerPlan::Webhook {
        method: expected,
        verify,
        dedupe,
        respond,
        ..
    } = &trigger
    else {
        return Err(ApiError::NotFound(format!("no webhook at `{path}`")));
    };
    if method.as_str() != expected.as_str() {
        return Err(ApiError::MethodNotAllowed(format!(
            "`{path}` takes {}, not {method}",
            expected.as_str()
        )));
    }
    let raw = to_bytes(body, state.max_body).await.map_err(|_| {
        ApiError::TooLarge(format!(
            "the body is larger than the {} bytes this server accepts",
            state.max_body
        ))
    })?;
    let engine = &state.engine;
    let host = EngineHost::new(
        engine.secrets.clone(),
        engine.redactor.clone(),
        chrono::Utc::now(),
        "webhook",
    );
    let ev = Evaluator::new(std_library(), &host, &plan.mappings);
    let header_pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    if let Some(verify) = verify {
        let scheme = scheme(verify, &ev)?;
        webhook::verify(&scheme, &header_pairs, &raw, chrono::Utc::now()).map_err(|e| {
            if e.is_request_error() {
                ApiError::Unauthorized(e.to_string())
            } else {
                ApiError::Internal(format!("webhook `{path}` is misconfigured: {e}"))
            }
        })?;
    }
    let input = if method == Method::GET {
        json!({})
    } else {
        parse_json_body(&raw)?
    };
    let trigger_data = trigger_data(path, &method, &header_pairs, uri.query());
    let dedupe_key = match dedupe {
        Some(expr) => dedupe_key(expr, &ev, &input, &trigger_data)?,
        None => None,
    };
    let outcome = engine
        .start_run(
            &plan,
            StartRequest {
                input,
                trigger: Some(trigger_data),
                dedupe_key,
                ..StartRequest::default()
            },
        )
        .await?;
    let duplicate = matches!(outcome, CreateOutcome::Duplicate(_));
    let run_id = outcome.run_id().to_string();
    tracing::info!(workflow = %plan.name, run_id = %run_id, duplicate, "webhook accepted");
    match respond {
        Respond::Sync(ms) => Ok(wait_for_output(engine, &run_id, Duration::from_millis(*ms)).await),
        Respond::Async => {
            let mut body = json!({ "run_id": run_id });
            if duplicate {
                body["duplicate"] = json!(true);
            }
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
    }
}

/// The signature scheme of a `verify` form, its secret evaluated.
fn scheme(verify: &VerifyPlan, ev: &Evaluator) -> Result<Scheme, ApiError> {
    let secret = |expr: &Expr| -> Result<String, ApiError> {
        match ev.eval(expr, &Scope::new()) {
            Ok(Value::String(s)) => Ok(s),
            Ok(_) => Err(ApiError::Internal(
                "the webhook secret is not a string".into(),
            )),
            Err(e) => Err(ApiError::Internal(format!(
                "the webhook secret: {}",
                e.message
            ))),
        }
    };
    Ok(match verify {
        VerifyPlan::Hmac {
            algorithm,
            secret: s,
            header,
            encoding,
            prefix,
        } => {
            let algorithm = match algorithm {
                HmacAlgorithm::Sha1 => webhook::Algorithm::Sha1,
                HmacAlgorithm::Sha256 => webhook::Algorithm::Sha256,
                HmacAlgorithm::Sha512 => webhook::Algorithm::Sha512,
            };
            let encoding = match encoding {
                Encoding::Hex => webhook::Encoding::Hex,
                Encoding::Base64 => webhook::Encoding::Base64,
            };
            let config = HmacConfig::new(algorithm, secret(s)?, header.clone(), encoding);
            Scheme::Hmac(match prefix {
                Some(p) => config.with_prefix(p.clone()),
                None => config,
            })
        }
        VerifyPlan::Stripe { secret: s } => Scheme::stripe(secret(s)?),
        VerifyPlan::StandardWebhooks { secret: s } => Scheme::standard_webhooks(secret(s)?),
    })
}

/// What a run can read as `trigger`: the request's headers (lower-case names, credentials
/// withheld), its query and path.
fn trigger_data(
    path: &str,
    method: &Method,
    headers: &[(String, String)],
    query: Option<&str>,
) -> Value {
    let mut header_map = Map::new();
    for (k, v) in headers {
        let k = k.to_ascii_lowercase();
        if !WITHHELD_HEADERS.contains(&k.as_str()) {
            header_map.insert(k, Value::String(v.clone()));
        }
    }
    let query: Map<String, Value> = url_pairs(query.unwrap_or(""))
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({ "webhook": path, "method": method.as_str(), "headers": header_map, "query": query })
}

/// The `k=v` pairs of a query string, percent-decoded.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The delivery's de-duplication key; `None` when the expression gives `null`.
fn dedupe_key(
    expr: &Expr,
    ev: &Evaluator,
    input: &Value,
    trigger: &Value,
) -> Result<Option<String>, ApiError> {
    let scope = Scope::new()
        .with("input", input.clone())
        .with("trigger", trigger.clone());
    match ev.eval(expr, &scope) {
        Ok(Value::Null) => Ok(None),
        Ok(Value::String(s)) => Ok(Some(s)),
        Ok(other) => Ok(Some(other.to_string())),
        Err(e) => Err(ApiError::BadRequest(format!(
            "the delivery's dedupe key: {}",
            e.message
        ))),
    }
}

/// `respond sync(D)`: the output once the run ends within `limit`, else `202` with its id.
async fn wait_for_output(engine: &Engine, run_id: &str, limit: Duration) -> Response {
    let deadline = tokio::time::Instant::now() + limit;
    let mut pause = Duration::from_millis(5);
    loop {
        match engine.store.load_run(run_id).await {
            Ok(run) if run.status == RunStatus::Succeeded => {
                return (
                    StatusCode::OK,
                    Json(json!({ "run_id": run_id, "status": run.status, "output": run.output })),
                )
                    .into_response()
            }
            Ok(run) if run.status.is_terminal() => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "run_id": run_id, "status": run.status, "error": run.error })),
                )
                    .into_response()
            }
            Ok(_) | Err(_) if tokio::time::Instant::now() >= deadline => {
                return (
                    StatusCode::ACCEPTED,
                    Json(json!({ "run_id": run_id, "status": "running" })),
                )
                    .into_response()
            }
            _ => {}
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
