//! Carrying out steps of real compiled workflows: control steps, transforms, and HTTP calls to a
//! local server — with secrets masked in what would be stored.

use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use braid_dsl::eval::{Evaluator, Scope};
use braid_dsl::plan::{Failure, WorkflowPlan};
use braid_dsl::SourceMap;
use braid_engine::redact::Redactor;
use braid_engine::runtime::call::{perform, prepare, Context, Control, Prepared};
use braid_engine::runtime::host::{EngineHost, Secrets};
use braid_engine::runtime::input;
use braid_stdlib::catalog::std_library;
use braid_stdlib::http::HttpClient;
use chrono::Utc;
use serde_json::{json, Value};
use std::collections::HashMap;

fn compile(text: &str) -> WorkflowPlan {
    let mut sources = SourceMap::new();
    sources.add("test.braid", text);
    let out = braid_stdlib::compile::compile(&sources);
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    out.project
        .workflows
        .into_values()
        .next()
        .expect("one workflow")
}

const NOW_MS: i64 = 1_700_000_000_000;

/// Prepares step `name` of `plan` with `scope`.
fn prepare_step(plan: &WorkflowPlan, name: &str, scope: &Scope, host: &EngineHost) -> Prepared {
    let step = plan.step(name).expect("step");
    let ev = Evaluator::new(std_library(), host, &plan.mappings);
    let cx = Context {
        plan,
        ev: &ev,
        library: std_library(),
        idempotency_key: format!("run-1/{name}"),
        timeout_ms: step.timeout_ms,
        now_ms: NOW_MS,
    };
    prepare(&cx, &step.function, &step.call, scope)
}

fn host(redactor: &Redactor, secrets: &[(&str, &str)]) -> EngineHost {
    let stored = secrets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<HashMap<_, _>>();
    EngineHost::new(Secrets::new(stored), redactor.clone(), Utc::now(), "run-1")
}

#[test]
fn control_steps_say_what_to_wait_for() {
    let plan = compile(
        r#"workflow w {
          input { order: string }
          step a = sleep(5m)
          step b = wait_signal("approve", timeout: 2d)
          step c = workflow.run("w", input: { order: input.order })
          step d = sleep_until("2030-01-01T00:00:00Z")
          step e = transform({ n: len(input.order), up: upper(input.order) })
        }"#,
    );
    let redactor = Redactor::new();
    let host = host(&redactor, &[]);
    let scope = Scope::new().with("input", json!({ "order": "ab" }));
    let get = |name| match prepare_step(&plan, name, &scope, &host) {
        Prepared::Control(c) => c,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(get("a"), Control::SleepUntil(NOW_MS + 300_000));
    assert_eq!(
        get("b"),
        Control::WaitSignal {
            name: "approve".into(),
            deadline: Some(NOW_MS + 172_800_000)
        }
    );
    assert_eq!(
        get("c"),
        Control::RunChild {
            workflow: "w".into(),
            input: json!({ "order": "ab" })
        }
    );
    assert_eq!(get("d"), Control::SleepUntil(1_893_456_000_000));
    match prepare_step(&plan, "e", &scope, &host) {
        Prepared::Done(v) => assert_eq!(v, json!({ "n": 2, "up": "AB" })),
        other => panic!("{other:?}"),
    }
}

#[test]
fn evaluation_errors_fail_the_step_with_their_kind() {
    let plan =
        compile(r#"workflow w { step a = http.get("https://x.example/orders/${input.id}") }"#);
    let redactor = Redactor::new();
    match prepare_step(
        &plan,
        "a",
        &Scope::new().with("input", json!({})),
        &host(&redactor, &[]),
    ) {
        Prepared::Failed(f) => {
            assert_eq!(f.class, Failure::Other);
            assert_eq!(f.error["class"], "null_interpolation", "{}", f.error);
        }
        other => panic!("a call must never go to /orders/null: {other:?}"),
    }
}

#[test]
fn inputs_are_checked_and_defaults_filled() {
    let plan = compile(
        r#"workflow w { input { id: int note: string? tags: array = ["new"] } step a = transform(input) }"#,
    );
    let redactor = Redactor::new();
    let host = host(&redactor, &[]);
    let ev = Evaluator::new(std_library(), &host, &plan.mappings);
    let ok = input::validate(&plan, json!({ "id": 7, "extra": true }), &ev).expect("valid");
    assert_eq!(
        ok,
        json!({ "id": 7, "note": null, "tags": ["new"], "extra": true })
    );
    let e = input::validate(&plan, json!({ "id": "7" }), &ev).expect_err("wrong type");
    assert_eq!(
        (e.field.as_str(), e.message.as_str()),
        ("id", "expected int, got string")
    );
    let e = input::validate(&plan, json!({}), &ev).expect_err("missing");
    assert_eq!(e.field, "id");
    assert_eq!(
        input::validate(&plan, json!([1]), &ev)
            .expect_err("not an object")
            .field,
        "$"
    );
}

#[tokio::test]
async fn http_steps_call_the_connection_and_mask_echoed_secrets() {
    let app = Router::new().route(
        "/deals",
        post(|headers: HeaderMap, Json(body): Json<Value>| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            Json(json!({ "id": "D-1", "seen_auth": auth, "seen_key": key, "got": body }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    std::env::set_var("BRAID_RT_CRM_URL", &base);
    let plan = compile(
        r#"connection crm {
             base_url env("BRAID_RT_CRM_URL")
             auth bearer(secret("BRAID_RT_CRM_TOKEN"))
           }
           workflow w {
             input { number: string }
             step deal = http.post(crm, "/deals", body: { name: "Order " + input.number })
           }"#,
    );
    let redactor = Redactor::new();
    let host = host(&redactor, &[("BRAID_RT_CRM_TOKEN", "tok-very-secret")]);
    let scope = Scope::new().with("input", json!({ "number": "1001" }));
    let Prepared::Http(request) = prepare_step(&plan, "deal", &scope, &host) else {
        panic!("an HTTP request")
    };
    let response = perform(&HttpClient::default(), &request, None, &redactor)
        .await
        .expect("2xx");
    assert_eq!(response["status"], 200);
    assert_eq!(response["body"]["got"], json!({ "name": "Order 1001" }));
    assert_eq!(response["body"]["seen_key"], "run-1/deal");
    // The API echoed the token back; what the engine would store has it masked.
    assert_eq!(response["body"]["seen_auth"], "Bearer ***");
    assert!(!response.to_string().contains("tok-very-secret"));
}
