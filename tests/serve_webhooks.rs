//! `braid serve` end to end, on SQLite and on PostgreSQL: signed webhooks of each scheme
//! start runs; every rejection (404, 405, 401, 400, 413, 503) is answered with a message and
//! creates no run; repeated deliveries are recognised; `respond sync` answers with the output.

mod support;

use braid_stdlib::webhook::{sign_request, Algorithm, Encoding, HmacConfig, Scheme};
use braid_testkit::{fresh_postgres_url, Proxy, Recorder};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use support::{sqlite_url, wait_until, Serve};

const HMAC_SECRET: &str = "e2e-hmac-secret";
const STRIPE_SECRET: &str = "whsec_e2e_stripe";
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn workflows(base: &str) -> String {
    format!(
        r#"
workflow signed_hmac {{
  input {{ id: string }}
  trigger webhook "/hooks/hmac" {{
    verify hmac {{ algorithm sha256 secret secret("E2E_HMAC_SECRET") header "X-Signature" encoding base64 prefix "sha256=" }}
    dedupe input.id
  }}
  step call = http.post("{base}/hmac", body: {{ id: input.id }})
}}

workflow signed_stripe {{
  input {{ id: string  type: string }}
  trigger webhook "/hooks/stripe" {{ verify stripe(secret("E2E_STRIPE_SECRET")) }}
  step call = http.post("{base}/stripe", body: {{ id: input.id }})
}}

workflow signed_standard {{
  input {{ id: string }}
  trigger webhook "/hooks/standard" {{
    verify standard_webhooks(secret("E2E_STANDARD_SECRET"))
    dedupe header("webhook-id")
  }}
  step call = http.post("{base}/standard", body: {{ id: input.id }})
}}

workflow quick {{
  input {{ x: int }}
  trigger webhook "/hooks/quick" {{ respond sync(5s) }}
  step double = transform(input.x * 2)
  output {{ doubled: double }}
}}
"#
    )
}

const ENV: &[(&str, &str)] = &[
    ("E2E_HMAC_SECRET", HMAC_SECRET),
    ("E2E_STRIPE_SECRET", STRIPE_SECRET),
    ("E2E_STANDARD_SECRET", STANDARD_SECRET),
];

fn hmac() -> Scheme {
    Scheme::Hmac(
        HmacConfig::new(
            Algorithm::Sha256,
            HMAC_SECRET,
            "X-Signature",
            Encoding::Base64,
        )
        .with_prefix("sha256="),
    )
}

/// POSTs `body` to `path`, signed with `scheme` (if any).
async fn deliver(
    http: &reqwest::Client,
    serve: &Serve,
    path: &str,
    body: &[u8],
    scheme: Option<&Scheme>,
    id: &str,
) -> (StatusCode, Value) {
    let mut request = http
        .post(format!("{}{path}", serve.url))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(scheme) = scheme {
        for (k, v) in sign_request(scheme, body, chrono::Utc::now(), id).expect("sign") {
            request = request.header(k, v);
        }
    }
    let response = request.send().await.expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn run_count(http: &reqwest::Client, serve: &Serve) -> usize {
    let page: Value = http
        .get(format!("{}/api/runs?limit=1000", serve.url))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    page["runs"].as_array().map_or(0, Vec::len)
}

async fn webhooks(db: String) {
    let (server, base) = Recorder::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hooks.braid"), workflows(&base)).expect("write");
    let serve = Serve::start(dir.path(), &db, &["--max-body", "2048"], ENV).await;
    let http = reqwest::Client::new();

    // Each scheme, signed properly: accepted, stored, run.
    let stripe = Scheme::stripe(STRIPE_SECRET);
    let standard = Scheme::standard_webhooks(STANDARD_SECRET);
    let cases = [
        ("/hooks/hmac", hmac(), json!({ "id": "h1" })),
        (
            "/hooks/stripe",
            stripe.clone(),
            json!({ "id": "s1", "type": "charge.refunded" }),
        ),
        ("/hooks/standard", standard.clone(), json!({ "id": "w1" })),
    ];
    let mut runs = Vec::new();
    for (path, scheme, body) in &cases {
        let body = serde_json::to_vec(body).expect("json");
        let (status, answer) = deliver(&http, &serve, path, &body, Some(scheme), "msg_1").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{path}: {answer}");
        runs.push(answer["run_id"].as_str().expect("run_id").to_string());
    }
    for id in &runs {
        let url = format!("{}/api/runs/{id}", serve.url);
        let run = wait_until(&http, &url, Duration::from_secs(20), |r| {
            r["status"] == "succeeded"
        })
        .await;
        assert_eq!(run["steps"].as_array().map(Vec::len), Some(2), "{run:#}");
    }
    assert_eq!(server.calls().len(), 3);

    // A repeated delivery is the same run.
    let body = serde_json::to_vec(&json!({ "id": "h1" })).expect("json");
    let (status, answer) = deliver(&http, &serve, "/hooks/hmac", &body, Some(&hmac()), "x").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer, json!({ "run_id": runs[0], "duplicate": true }));
    let body = serde_json::to_vec(&json!({ "id": "w2" })).expect("json");
    let (_, again) = deliver(
        &http,
        &serve,
        "/hooks/standard",
        &body,
        Some(&standard),
        "msg_1",
    )
    .await;
    assert_eq!(
        again["run_id"].as_str(),
        Some(runs[2].as_str()),
        "same webhook-id"
    );

    // Rejections: each with a message, none creating a run.
    let before = run_count(&http, &serve).await;
    let good = serde_json::to_vec(&json!({ "id": "r1" })).expect("json");
    let wrong_secret = Scheme::Hmac(
        HmacConfig::new(
            Algorithm::Sha256,
            "not-the-secret",
            "X-Signature",
            Encoding::Base64,
        )
        .with_prefix("sha256="),
    );
    let too_big = serde_json::to_vec(&json!({ "id": "x".repeat(4096) })).expect("json");
    /// Path, body, signing scheme, expected status, a word the message must contain.
    type Rejection<'a> = (&'a str, Vec<u8>, Option<Scheme>, StatusCode, &'a str);
    let rejections: Vec<Rejection> = vec![
        (
            "/hooks/hmac",
            good.clone(),
            Some(wrong_secret),
            StatusCode::UNAUTHORIZED,
            "does not match",
        ),
        (
            "/hooks/hmac",
            good.clone(),
            None,
            StatusCode::UNAUTHORIZED,
            "X-Signature",
        ),
        (
            "/hooks/stripe",
            good.clone(),
            Some(hmac()),
            StatusCode::UNAUTHORIZED,
            "Stripe-Signature",
        ),
        (
            "/hooks/hmac",
            b"{not json".to_vec(),
            Some(hmac()),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            "/hooks/hmac",
            b"{\"idx\": 1}".to_vec(),
            Some(hmac()),
            StatusCode::BAD_REQUEST,
            "`id`",
        ),
        (
            "/hooks/hmac",
            too_big,
            Some(hmac()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        ),
        (
            "/hooks/nowhere",
            good.clone(),
            None,
            StatusCode::NOT_FOUND,
            "/hooks/nowhere",
        ),
    ];
    for (path, body, scheme, expected, says) in rejections {
        let (status, answer) = deliver(&http, &serve, path, &body, scheme.as_ref(), "m").await;
        assert_eq!(status, expected, "{path}: {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(says),
            "{path}: `{message}` should mention {says}"
        );
    }
    let wrong_method = http
        .get(format!("{}/hooks/hmac", serve.url))
        .send()
        .await
        .expect("send");
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        run_count(&http, &serve).await,
        before,
        "no rejected delivery made a run"
    );

    // `respond sync`: the output in the answer.
    let (status, answer) = deliver(&http, &serve, "/hooks/quick", b"{\"x\": 21}", None, "q").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["output"], json!({ "doubled": 42 }));
    assert!(
        serve.terminate(Duration::from_secs(20)).await,
        "clean exit on SIGTERM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_webhooks() {
    let dir = tempfile::tempdir().expect("tempdir");
    webhooks(sqlite_url(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_webhooks() {
    webhooks(fresh_postgres_url().await).await;
}

/// With the database gone, a delivery is answered 503 and nothing is stored; readiness says
/// so too; when the database is back, deliveries are accepted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_a_503_that_stores_nothing() {
    let url = fresh_postgres_url().await;
    let proxy = Proxy::start("127.0.0.1:5432".parse().expect("addr")).await;
    let proxied = url.replacen("127.0.0.1:5432", &proxy.addr.to_string(), 1);
    let (_server, base) = Recorder::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hooks.braid"), workflows(&base)).expect("write");
    let serve = Serve::start(dir.path(), &proxied, &[], ENV).await;
    let http = reqwest::Client::new();
    let body = serde_json::to_vec(&json!({ "id": "before" })).expect("json");
    let (status, _) = deliver(&http, &serve, "/hooks/hmac", &body, Some(&hmac()), "a").await;
    assert_eq!(status, StatusCode::ACCEPTED);

    proxy.cut();
    let body = serde_json::to_vec(&json!({ "id": "during" })).expect("json");
    let (status, answer) = deliver(&http, &serve, "/hooks/hmac", &body, Some(&hmac()), "b").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("nothing was stored"),
        "{answer}"
    );
    let ready = http
        .get(format!("{}/readyz", serve.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore();
    let ready = wait_until(
        &http,
        &format!("{}/readyz", serve.url),
        Duration::from_secs(30),
        |r| r["status"] == "ready",
    )
    .await;
    assert_eq!(ready["status"], "ready");
    let store = braid_engine::store::open(&url, &Default::default())
        .await
        .expect("open");
    let runs = store.list_runs(&Default::default()).await.expect("list");
    let ids: Vec<_> = runs.runs.iter().map(|r| r.input["id"].clone()).collect();
    assert_eq!(
        ids,
        vec![json!("before")],
        "the refused delivery left no run"
    );
    let body = serde_json::to_vec(&json!({ "id": "after" })).expect("json");
    let (status, _) = deliver(&http, &serve, "/hooks/hmac", &body, Some(&hmac()), "c").await;
    assert_eq!(status, StatusCode::ACCEPTED);
}
