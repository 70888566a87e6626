//! A real OAuth2 token endpoint on 127.0.0.1 whose tokens expire, and an API (`/data`) that
//! accepts only tokens it issued and not yet expired, recording which token each call used.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the server has done.
#[derive(Default)]
pub struct Log {
    /// Tokens issued, in order.
    pub issued: Vec<String>,
    /// Refresh tokens handed out, in order.
    pub refresh_issued: Vec<String>,
    /// The refresh token of each refresh grant, in order.
    pub refresh_tokens_seen: Vec<String>,
    /// The token each `/data` call carried, in order.
    pub used: Vec<String>,
    expiry: HashMap<String, Instant>,
}

/// The token endpoint and API.
pub struct TokenServer {
    log: Mutex<Log>,
    expires_in: i64,
    delay: Duration,
    tag: String,
}

impl TokenServer {
    /// Starts a server issuing tokens valid for `expires_in` seconds, each after `delay`.
    pub async fn start(expires_in: i64, delay: Duration) -> (Arc<TokenServer>, String) {
        let server = Arc::new(TokenServer {
            log: Mutex::default(),
            expires_in,
            delay,
            tag: uuid::Uuid::new_v4().simple().to_string(),
        });
        let app = Router::new()
            .route("/token", post(token))
            .route("/data", get(data))
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (server, format!("http://{addr}"))
    }

    /// What happened so far.
    pub fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().expect("lock")
    }

    /// Whether `token` is one this server issued and it has not expired.
    pub fn valid(&self, token: &str) -> bool {
        self.log()
            .expiry
            .get(token)
            .is_some_and(|at| *at > Instant::now())
    }
}

async fn token(
    State(server): State<Arc<TokenServer>>,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<serde_json::Value>) {
    if form.get("client_secret").map(String::as_str) != Some("cs-secret") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        );
    }
    // A delay widens the window in which two processes could both refresh.
    tokio::time::sleep(server.delay).await;
    let mut log = server.log();
    let n = log.issued.len() + 1;
    let token = format!("access-{}-{n}", server.tag);
    log.issued.push(token.clone());
    let expires_at = Instant::now() + Duration::from_secs(server.expires_in as u64);
    log.expiry.insert(token.clone(), expires_at);
    let mut answer =
        json!({ "access_token": token, "token_type": "bearer", "expires_in": server.expires_in });
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        let seen = form.get("refresh_token").cloned().unwrap_or_default();
        log.refresh_tokens_seen.push(seen);
        let rotated = format!("refresh-{}-{n}", server.tag);
        log.refresh_issued.push(rotated.clone());
        answer["refresh_token"] = json!(rotated);
    }
    (StatusCode::OK, Json(answer))
}

async fn data(
    State(server): State<Arc<TokenServer>>,
    headers: HeaderMap,
) -> (StatusCode, Json<serde_json::Value>) {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim_start_matches("Bearer ")
        .to_string();
    let valid = server.valid(&token);
    server.log().used.push(token.clone());
    if valid {
        // The token is echoed back: the engine must mask it in the step's output.
        (StatusCode::OK, Json(json!({ "ok": true, "token": token })))
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid token" })),
        )
    }
}
