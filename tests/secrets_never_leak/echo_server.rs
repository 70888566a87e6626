//! A local API that echoes every request back (body, query and headers, in its response body
//! and headers; `/reject` in a 400 error body), with an OAuth2 token endpoint, recording what it
//! received.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};

/// The server's record.
#[derive(Default)]
pub struct EchoServer {
    /// Every request, as `PATH?QUERY`, headers and body in one text.
    received: Mutex<Vec<String>>,
    /// Access tokens issued.
    issued: Mutex<Vec<String>>,
}

impl EchoServer {
    /// Starts the server; returns it and its base URL.
    pub async fn start() -> (Arc<EchoServer>, String) {
        let server = Arc::new(EchoServer::default());
        let app = Router::new().fallback(answer).with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (server, format!("http://{addr}"))
    }

    /// Everything received, as one text.
    pub fn received(&self) -> String {
        self.received.lock().expect("lock").join("\n")
    }

    /// The access tokens issued.
    pub fn issued(&self) -> Vec<String> {
        self.issued.lock().expect("lock").clone()
    }
}

async fn answer(
    State(server): State<Arc<EchoServer>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut header_map = Map::new();
    for (name, value) in &headers {
        let value = value.to_str().unwrap_or("").to_string();
        header_map.insert(name.to_string(), Value::String(value));
    }
    server.received.lock().expect("lock").push(format!(
        "{uri} {} {text}",
        Value::Object(header_map.clone())
    ));
    if uri.path() == "/token" {
        let token = format!("access-{}", uuid::Uuid::new_v4().simple());
        server.issued.lock().expect("lock").push(token.clone());
        let answer = json!({ "access_token": token, "token_type": "bearer", "expires_in": 3600 });
        return (StatusCode::OK, axum::Json(answer)).into_response();
    }
    let echo = json!({
        "query": uri.query(),
        "headers": header_map,
        "body": serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
    });
    if uri.path() == "/reject" {
        let error = json!({ "error": "rejected", "echo": echo });
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    let mut response = (StatusCode::OK, axum::Json(echo)).into_response();
    for (from, to) in [
        ("authorization", "x-echo-authorization"),
        ("x-secret", "x-echo-secret"),
    ] {
        if let Some(value) = headers.get(from).and_then(|v| v.to_str().ok()) {
            if let Ok(value) = HeaderValue::from_str(value) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(to), value);
            }
        }
    }
    response
}
