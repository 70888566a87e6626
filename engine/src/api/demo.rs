//! A stand-in partner API under `/demo/`, so a newcomer can watch a run call HTTP endpoints
//! and retry through a failure on one machine without internet.
//!
//! `ANY /demo/flaky/...` answers `503` to the first request of each `Idempotency-Key` and
//! echoes the request after that; every other `/demo/...` path echoes at once. The echo is
//! `{"path", "method", "body", "attempt"}`.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Requests seen per idempotency key (bounded: cleared when it grows large).
fn seen() -> &'static Mutex<HashMap<String, u32>> {
    static SEEN: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    SEEN.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The demo partner.
pub async fn partner(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let attempt = {
        let mut seen = seen().lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 10_000 {
            seen.clear();
        }
        let n = seen.entry(format!("{} {key}", uri.path())).or_default();
        *n += 1;
        *n
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let echo =
        json!({ "path": uri.path(), "method": method.as_str(), "body": body, "attempt": attempt });
    if uri.path().starts_with("/demo/flaky") && attempt == 1 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "error": "the demo partner fails every first attempt", "attempt": attempt }),
            ),
        );
    }
    (StatusCode::OK, Json(echo))
}
