//! `http.*` against a real local server on an ephemeral port: the failure modes integrations
//! meet after go-live, each classified so a retry policy can match it.

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use braid_stdlib::http::{
    build_request, AuthConfig, CallError, ConnectionConfig, ErrorClass, HttpClient, Target,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

async fn serve() -> String {
    let app = Router::new()
        .route("/echo", post(|headers: HeaderMap, Query(q): Query<HashMap<String, String>>, body: String| async move {
            let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            Json(json!({
                "idempotency_key": header("idempotency-key"),
                "authorization": header("authorization"),
                "x_api_key": header("x-api-key"),
                "content_type": header("content-type"),
                "query": q,
                "body": body,
            }))
        }))
        .route("/limited", get(|| async { (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")], "slow down") }))
        .route("/down", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "maintenance"}))) }))
        .route("/soft-error", get(|| async { Json(json!({"ok": false, "error": "invalid customer"})) }))
        .route("/slow", get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }))
        .route("/huge", get(|| async { "x".repeat(64 * 1024) }))
        .route("/text", get(|| async { "plain words" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn connection(base: &str, auth: AuthConfig) -> Target {
    Target::Connection(Arc::new(ConnectionConfig {
        name: "api".into(),
        base_url: base.into(),
        auth,
        headers: vec![("X-Client".into(), "braid-test".into())],
        rate_limit: None,
    }))
}

async fn call(
    client: &HttpClient,
    method: &str,
    target: Target,
    path: &str,
    named: Value,
) -> Result<Value, CallError> {
    let named: BTreeMap<String, Value> = named
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let req = build_request(
        method,
        target,
        Some(&json!(path)),
        &named,
        "run-1/deal",
        Duration::from_millis(500),
    )?;
    client.call(&req).await
}

#[tokio::test]
async fn sends_idempotency_key_auth_query_and_json() {
    let base = serve().await;
    let client = HttpClient::default();
    let target = connection(
        &base,
        AuthConfig::Bearer {
            token: "tok-123".into(),
        },
    );
    let first = call(
        &client,
        "post",
        target.clone(),
        "/echo",
        json!({"body": {"n": 1}, "query": {"page": 2}}),
    )
    .await
    .unwrap();
    let again = call(&client, "post", target, "/echo", json!({"body": {"n": 1}}))
        .await
        .unwrap();
    assert_eq!(first["status"], 200);
    assert_eq!(first["headers"]["content-type"], "application/json");
    let body = &first["body"];
    assert_eq!(body["idempotency_key"], "run-1/deal");
    assert_eq!(
        again["body"]["idempotency_key"], body["idempotency_key"],
        "same key on every attempt"
    );
    assert_eq!(body["authorization"], "Bearer tok-123");
    assert_eq!(body["query"], json!({"page": "2"}));
    assert_eq!(body["body"], "{\"n\":1}");
    assert_eq!(body["content_type"], "application/json");
}

#[tokio::test]
async fn basic_auth_api_keys_and_forms() {
    let base = serve().await;
    let client = HttpClient::default();
    let basic = call(
        &client,
        "post",
        connection(
            &base,
            AuthConfig::Basic {
                user: "u".into(),
                password: "p".into(),
            },
        ),
        "/echo",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(basic["body"]["authorization"], "Basic dTpw");
    let header = call(
        &client,
        "post",
        connection(
            &base,
            AuthConfig::ApiKeyHeader {
                header: "X-Api-Key".into(),
                value: "k1".into(),
            },
        ),
        "/echo",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(header["body"]["x_api_key"], "k1");
    let query = call(
        &client,
        "post",
        connection(
            &base,
            AuthConfig::ApiKeyQuery {
                param: "api_key".into(),
                value: "k2".into(),
            },
        ),
        "/echo",
        json!({"form": {"a": "b c"}}),
    )
    .await
    .unwrap();
    assert_eq!(query["body"]["query"], json!({"api_key": "k2"}));
    assert_eq!(query["body"]["body"], "a=b+c");
    assert_eq!(
        query["body"]["content_type"],
        "application/x-www-form-urlencoded"
    );
}

#[tokio::test]
async fn statuses_are_errors_with_their_class_and_retry_after() {
    let base = serve().await;
    let client = HttpClient::default();
    let e = call(
        &client,
        "get",
        connection(&base, AuthConfig::None),
        "/limited",
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.class, ErrorClass::Status(429));
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(
        e.response.as_ref().map(|r| r["body"].clone()),
        Some(json!("slow down"))
    );
    let e = call(
        &client,
        "get",
        connection(&base, AuthConfig::None),
        "/down",
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.class, ErrorClass::Status(503));
    assert_eq!(e.to_json()["response"]["body"]["error"], "maintenance");
}

#[tokio::test]
async fn a_200_with_an_error_body_is_returned_for_expect_to_judge() {
    let base = serve().await;
    let ok = call(
        &HttpClient::default(),
        "get",
        connection(&base, AuthConfig::None),
        "/soft-error",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["body"]["error"], "invalid customer");
    let text = call(
        &HttpClient::default(),
        "get",
        connection(&base, AuthConfig::None),
        "/text",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(text["body"], "plain words");
}

#[tokio::test]
async fn timeouts_refusals_and_oversized_responses() {
    let base = serve().await;
    let e = call(
        &HttpClient::default(),
        "get",
        connection(&base, AuthConfig::None),
        "/slow",
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.class, ErrorClass::Timeout);
    let e = call(
        &HttpClient::new(1024),
        "get",
        connection(&base, AuthConfig::None),
        "/huge",
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.class, ErrorClass::Invalid);
    assert!(
        e.message.contains("larger than the limit of 1024 bytes"),
        "{}",
        e.message
    );
    // A port nobody listens on: bind one, then close it.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let e = call(
        &HttpClient::default(),
        "get",
        Target::Url(format!("http://127.0.0.1:{closed}/x")),
        "",
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.class, ErrorClass::Network);
}

#[tokio::test]
async fn credentials_never_appear_in_errors() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let base = format!("http://127.0.0.1:{closed}");
    for auth in [
        AuthConfig::ApiKeyQuery {
            param: "api_key".into(),
            value: "SECRET-QUERY-KEY".into(),
        },
        AuthConfig::Bearer {
            token: "SECRET-BEARER".into(),
        },
        AuthConfig::Basic {
            user: "u".into(),
            password: "SECRET-PASSWORD".into(),
        },
    ] {
        let e = call(
            &HttpClient::default(),
            "get",
            connection(&base, auth),
            "/x?token=SECRET-IN-PATH",
            json!({}),
        )
        .await
        .unwrap_err();
        let shown = format!("{e} {e:?} {}", e.to_json());
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
