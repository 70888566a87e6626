//! An HTTP server on 127.0.0.1 that records every request and answers from a script.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Call {
    /// `POST`, `GET`, …
    pub method: String,
    /// The URL path.
    pub path: String,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// The JSON body (`null` when there was none or it was not JSON).
    pub body: Value,
    /// Every header, lower-case names.
    pub headers: Vec<(String, String)>,
    /// When it arrived (ms since the epoch).
    pub received_at: i64,
    /// When the answer was sent (ms since the epoch); `None` while it is being answered.
    pub answered_at: Option<i64>,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Value,
    /// How long to wait before answering.
    pub delay: Duration,
}

impl Reply {
    /// An answer with `status` and a JSON body.
    pub fn status(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body,
            delay: Duration::ZERO,
        }
    }

    /// The same answer with a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same answer, sent after `ms` milliseconds.
    pub fn after_ms(mut self, ms: u64) -> Self {
        self.delay = Duration::from_millis(ms);
        self
    }
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    script: HashMap<String, VecDeque<Reply>>,
    default_delay: Duration,
    in_flight: usize,
    max_in_flight: usize,
    in_flight_by_path: HashMap<String, usize>,
    max_in_flight_same_path: usize,
    in_flight_by_key: HashMap<String, usize>,
    max_in_flight_same_key: usize,
    /// Idempotency keys that had two requests in flight at once.
    overlapping_keys: Vec<String>,
}

/// The server: records requests, answers scripted replies per path, then
/// `200 {"path", "n", "echo"}` (`n` counts the calls to that path).
pub struct Recorder {
    inner: Mutex<Inner>,
    count: watch::Sender<usize>,
}

impl Recorder {
    /// Starts a server; returns it and its base URL (`http://127.0.0.1:PORT`).
    pub async fn start() -> (Arc<Recorder>, String) {
        let recorder = Arc::new(Recorder {
            inner: Mutex::new(Inner::default()),
            count: watch::channel(0).0,
        });
        let app = Router::new().fallback(answer).with_state(recorder.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (recorder, format!("http://{addr}"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues answers for `path`, used in order before the default answer.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.lock()
            .script
            .entry(path.to_string())
            .or_default()
            .extend(replies);
    }

    /// Makes unscripted answers wait `ms` milliseconds.
    pub fn set_default_delay(&self, ms: u64) {
        self.lock().default_delay = Duration::from_millis(ms);
    }

    /// Every request so far, in order of arrival.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The requests to `path`.
    pub fn calls_to(&self, path: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path == path)
            .collect()
    }

    /// The paths requested, in order.
    pub fn paths(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.path).collect()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }

    /// The most requests to one path that were being answered at the same time (two attempts
    /// of one step at once, when each step has a path of its own).
    pub fn max_in_flight_same_path(&self) -> usize {
        self.lock().max_in_flight_same_path
    }

    /// The most requests with one idempotency key that were being answered at the same time:
    /// two attempts of one step at once, however many runs share the step's path.
    pub fn max_in_flight_same_key(&self) -> usize {
        self.lock().max_in_flight_same_key
    }

    /// The idempotency keys that had two requests in flight at once (each listed once per
    /// overlap).
    pub fn overlapping_keys(&self) -> Vec<String> {
        self.lock().overlapping_keys.clone()
    }

    /// Waits until at least `n` requests have arrived; false after `limit`.
    pub async fn wait_for_calls(&self, n: usize, limit: Duration) -> bool {
        let mut rx = self.count.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

async fn answer(
    State(recorder): State<Arc<Recorder>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (index, n, reply) = {
        let mut inner = recorder.lock();
        inner.calls.push(Call {
            method: method.to_string(),
            path: path.clone(),
            idempotency_key: idempotency_key.clone(),
            body: body.clone(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            received_at: crate::now_ms(),
            answered_at: None,
        });
        let index = inner.calls.len() - 1;
        let n = inner.calls.iter().filter(|c| c.path == path).count();
        let delay = inner.default_delay;
        let reply = inner
            .script
            .get_mut(&path)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| {
                Reply::status(200, json!({ "path": path, "n": n, "echo": body }))
                    .after_ms(delay.as_millis() as u64)
            });
        inner.in_flight += 1;
        inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
        let same = inner.in_flight_by_path.entry(path.clone()).or_default();
        *same += 1;
        let same = *same;
        inner.max_in_flight_same_path = inner.max_in_flight_same_path.max(same);
        if let Some(key) = &idempotency_key {
            let same = inner.in_flight_by_key.entry(key.clone()).or_default();
            *same += 1;
            let same = *same;
            inner.max_in_flight_same_key = inner.max_in_flight_same_key.max(same);
            if same > 1 {
                inner.overlapping_keys.push(key.clone());
            }
        }
        (index, n, reply)
    };
    let _ = n;
    // Counted out when answered, or when the client goes away and the server drops this
    // handler mid-answer: either way the request is no longer in flight.
    let _in_flight = InFlight {
        recorder: &recorder,
        index,
        path: &path,
        key: idempotency_key.as_deref(),
    };
    recorder.count.send_modify(|c| *c += 1);
    tokio::time::sleep(reply.delay).await;
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(reply.body),
    )
        .into_response();
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// A request being answered; dropping it counts the request out.
struct InFlight<'a> {
    recorder: &'a Recorder,
    index: usize,
    path: &'a str,
    key: Option<&'a str>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut inner = self.recorder.lock();
        inner.in_flight = inner.in_flight.saturating_sub(1);
        if let Some(same) = inner.in_flight_by_path.get_mut(self.path) {
            *same = same.saturating_sub(1);
        }
        if let Some(key) = self.key {
            if let Some(same) = inner.in_flight_by_key.get_mut(key) {
                *same = same.saturating_sub(1);
                if *same == 0 {
                    inner.in_flight_by_key.remove(key);
                }
            }
        }
        inner.calls[self.index].answered_at = Some(crate::now_ms());
    }
}
