//! OAuth2 against a real local token endpoint whose tokens expire, and an API that checks them.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use braid_stdlib::http::oauth2::{Grant, MemoryTokenStore, OAuth2Config, StoredToken, TokenStore};
use braid_stdlib::http::{
    build_request, AuthConfig, ConnectionConfig, ErrorClass, HttpClient, Target,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Auth {
    issued: u32,
    valid: HashSet<String>,
    expires_in: i64,
    refresh_tokens_seen: Vec<String>,
}

type Shared = Arc<Mutex<Auth>>;

async fn serve(expires_in: i64) -> (String, Shared) {
    let state: Shared = Arc::new(Mutex::new(Auth {
        expires_in,
        ..Default::default()
    }));
    let app = Router::new()
        .route("/token", post(|State(s): State<Shared>, Form(form): Form<HashMap<String, String>>| async move {
            if form.get("client_secret").map(String::as_str) != Some("cs-secret") {
                return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"})));
            }
            // A small delay widens the window in which concurrent callers could double-refresh.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut a = s.lock().unwrap();
            a.issued += 1;
            let token = format!("tok-{}", a.issued);
            a.valid.insert(token.clone());
            let mut answer = json!({"access_token": token, "token_type": "bearer", "expires_in": a.expires_in});
            if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
                a.refresh_tokens_seen.push(form.get("refresh_token").cloned().unwrap_or_default());
                answer["refresh_token"] = json!(format!("rt-{}", a.issued + 1));
            }
            (StatusCode::OK, Json(answer))
        }))
        .route("/data", get(|State(s): State<Shared>, headers: HeaderMap| async move {
            let token = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").trim_start_matches("Bearer ").to_string();
            if s.lock().unwrap().valid.contains(&token) {
                (StatusCode::OK, Json(json!({"ok": true, "token": token})))
            } else {
                (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid token"})))
            }
        }))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), state)
}

fn target(base: &str, grant: Grant, secret: &str) -> Target {
    Target::Connection(Arc::new(ConnectionConfig {
        name: "crm".into(),
        base_url: base.into(),
        auth: AuthConfig::OAuth2(OAuth2Config {
            token_url: format!("{base}/token"),
            client_id: "client-1".into(),
            client_secret: secret.into(),
            grant,
        }),
        headers: vec![],
        rate_limit: None,
    }))
}

async fn get_data(
    client: &HttpClient,
    target: Target,
) -> Result<Value, braid_stdlib::http::CallError> {
    let req = build_request(
        "get",
        target,
        Some(&json!("/data")),
        &BTreeMap::new(),
        "k",
        Duration::from_secs(5),
    )?;
    client.call(&req).await
}

fn credentials() -> Grant {
    Grant::ClientCredentials {
        scopes: vec!["read".into()],
    }
}

#[tokio::test]
async fn concurrent_calls_share_one_token_request() {
    let (base, state) = serve(3600).await;
    let client = HttpClient::default();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (client, target) = (client.clone(), target(&base, credentials(), "cs-secret"));
            tokio::spawn(async move { get_data(&client, target).await })
        })
        .collect();
    for call in calls {
        assert_eq!(
            call.await.expect("task").expect("2xx")["body"]["token"],
            "tok-1"
        );
    }
    assert_eq!(state.lock().unwrap().issued, 1);
}

#[tokio::test]
async fn tokens_about_to_expire_are_refreshed_before_use() {
    // 30 s left is inside the 60 s refresh margin: every call needs a new token.
    let (base, state) = serve(30).await;
    let client = HttpClient::default();
    get_data(&client, target(&base, credentials(), "cs-secret"))
        .await
        .expect("first");
    get_data(&client, target(&base, credentials(), "cs-secret"))
        .await
        .expect("second");
    assert_eq!(state.lock().unwrap().issued, 2);
    // A long-lived token is reused.
    let (base, state) = serve(3600).await;
    get_data(&client, target(&base, credentials(), "cs-secret"))
        .await
        .expect("first");
    get_data(&client, target(&base, credentials(), "cs-secret"))
        .await
        .expect("second");
    assert_eq!(state.lock().unwrap().issued, 1);
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries() {
    let (base, state) = serve(3600).await;
    let store = Arc::new(MemoryTokenStore::default());
    let client = HttpClient::default().with_token_store(store.clone());
    get_data(&client, target(&base, credentials(), "cs-secret"))
        .await
        .expect("first");
    // The API revokes the token before it expires.
    state.lock().unwrap().valid.clear();
    let answer = get_data(&client, target(&base, credentials(), "cs-secret"))
        .await
        .expect("retried with a new token");
    assert_eq!(answer["body"]["token"], "tok-2");
    assert_eq!(state.lock().unwrap().issued, 2);
    // A token that keeps being refused is a 401 error, after exactly one refresh.
    state.lock().unwrap().valid.clear();
    let before = state.lock().unwrap().issued;
    state.lock().unwrap().expires_in = 3600;
    let _ = get_data(&client, target(&base, credentials(), "cs-secret")).await;
    assert_eq!(state.lock().unwrap().issued, before + 1);
}

#[tokio::test]
async fn rotated_refresh_tokens_are_persisted_and_used() {
    let (base, state) = serve(30).await;
    let store = Arc::new(MemoryTokenStore::default());
    let client = HttpClient::default().with_token_store(store.clone());
    let grant = || Grant::RefreshToken {
        refresh_token: "rt-configured".into(),
    };
    get_data(&client, target(&base, grant(), "cs-secret"))
        .await
        .expect("first");
    get_data(&client, target(&base, grant(), "cs-secret"))
        .await
        .expect("second");
    assert_eq!(
        state.lock().unwrap().refresh_tokens_seen,
        vec!["rt-configured".to_string(), "rt-2".to_string()]
    );
    let saved: Option<StoredToken> = store.load(&format!("{base}/token client-1")).await;
    assert_eq!(saved.and_then(|t| t.refresh_token).as_deref(), Some("rt-3"));
}

#[tokio::test]
async fn token_endpoint_errors_are_classified_without_secrets() {
    let (base, _) = serve(3600).await;
    let e = get_data(
        &HttpClient::default(),
        target(&base, credentials(), "wrong-secret-value"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.class, ErrorClass::Status(401));
    assert!(e.message.contains("token endpoint"), "{}", e.message);
    let shown = format!("{e} {e:?} {}", e.to_json());
    assert!(!shown.contains("wrong-secret-value"), "{shown}");
}

/// A store shared with another process that holds the refresh lease and saves its token soon.
struct LeasedElsewhere {
    inner: MemoryTokenStore,
    released_at: tokio::time::Instant,
}

#[async_trait::async_trait]
impl TokenStore for LeasedElsewhere {
    async fn load(&self, key: &str) -> Option<StoredToken> {
        if tokio::time::Instant::now() >= self.released_at {
            // The other process saved its token and gave the lease back.
            return Some(StoredToken {
                access_token: "tok-from-elsewhere".into(),
                expires_at_ms: None,
                refresh_token: None,
            });
        }
        self.inner.load(key).await
    }
    async fn save(&self, key: &str, token: &StoredToken) {
        self.inner.save(key, token).await
    }
    async fn acquire_refresh(&self, _key: &str, _holder: &str, _ttl: Duration) -> bool {
        tokio::time::Instant::now() >= self.released_at
    }
}

#[tokio::test]
async fn a_refresh_leased_elsewhere_is_waited_for_not_repeated() {
    let (base, state) = serve(3600).await;
    let store = Arc::new(LeasedElsewhere {
        inner: MemoryTokenStore::default(),
        released_at: tokio::time::Instant::now() + Duration::from_millis(300),
    });
    let client = HttpClient::default().with_token_store(store);
    state
        .lock()
        .unwrap()
        .valid
        .insert("tok-from-elsewhere".into());
    let answer = get_data(&client, target(&base, credentials(), "cs-secret"))
        .await
        .expect("2xx");
    assert_eq!(answer["body"]["token"], "tok-from-elsewhere");
    assert_eq!(state.lock().unwrap().issued, 0, "no request of its own");
}
