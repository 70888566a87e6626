//! A workflow built from the language's features survives a hostile partner API on a local
//! server: an OAuth2 token endpoint, 429 with `Retry-After`, 503, 200 with an error in the
//! body, a response slower than the timeout, and each pagination style — and every repeated
//! call is recognisable by its idempotency key.

use crate::on_both_stores;
use crate::support::{Backend, Harness, Recorder, Reply, T0};
use braid_engine::store::RunStatus;
use serde_json::json;

on_both_stores!(a_workflow_survives_a_hostile_partner);

fn workflow(base: &str) -> String {
    format!(
        r#"connection partner {{
          base_url "{base}"
          auth oauth2_client_credentials {{
            token_url "{base}/oauth/token"
            client_id "braid"
            client_secret "not-so-secret"
            scopes ["orders"]
          }}
          timeout 300ms
          retry {{ attempts 4 backoff fixed(1s) jitter none on [429, 5xx, timeout, network, expect] }}
        }}

        workflow hostile {{
          step limited = http.get(partner, "/limited")
          step flaky = http.post(partner, "/flaky", body: {{ after: limited.body.n }})
          step lying = http.get(partner, "/lying") {{ after flaky  expect lying.body.ok == true }}
          step slow = http.get(partner, "/slow") {{ after lying }}
          step by_link = http.paginate(partner, "/link", style: "link", items: "data")
          step by_cursor = http.paginate(partner, "/cursor", style: "cursor", cursor_path: "next", items: "data")
          step by_number = http.paginate(partner, "/numbered", style: "page_number", items: "data")
          step by_offset = http.paginate(partner, "/offset", style: "offset", limit: 2, items: "data")
          output {{
            slow: slow.body.fast,
            link: by_link.items, cursor: by_cursor.items, number: by_number.items, offset: by_offset.items,
          }}
        }}"#
    )
}

async fn a_workflow_survives_a_hostile_partner(backend: Backend) {
    let (server, base) = Recorder::start().await;
    server.script(
        "/oauth/token",
        [Reply::status(
            200,
            json!({ "access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600 }),
        )],
    );
    server.script(
        "/limited",
        [
            Reply::status(429, json!({ "error": "slow down" })).header("Retry-After", "5"),
            Reply::status(200, json!({ "n": 7 })),
        ],
    );
    server.script(
        "/flaky",
        [Reply::status(503, json!({})), Reply::status(200, json!({}))],
    );
    server.script(
        "/lying",
        [
            Reply::status(200, json!({ "ok": false, "error": "quota exceeded" })),
            Reply::status(200, json!({ "ok": true })),
        ],
    );
    server.script(
        "/slow",
        [
            Reply::status(200, json!({ "fast": false })).after_ms(1_000),
            Reply::status(200, json!({ "fast": true })),
        ],
    );
    server.script(
        "/link",
        [
            Reply::status(200, json!({ "data": [1, 2] }))
                .header("Link", &format!("<{base}/link?page=2>; rel=\"next\"")),
            Reply::status(200, json!({ "data": [3] })),
        ],
    );
    server.script(
        "/cursor",
        [
            Reply::status(200, json!({ "data": ["a"], "next": "c2" })),
            Reply::status(200, json!({ "data": ["b"], "next": null })),
        ],
    );
    server.script(
        "/numbered",
        [
            Reply::status(200, json!({ "data": [10] })),
            Reply::status(200, json!({ "data": [] })),
        ],
    );
    server.script(
        "/offset",
        [
            Reply::status(200, json!({ "data": [1, 2] })),
            Reply::status(200, json!({ "data": [3] })),
        ],
    );
    let h = Harness::new(backend, &workflow(&base)).await;
    let id = h.start("hostile", json!({})).await;
    h.drain().await;
    // The 429 asked for 5 s, more than the 1 s backoff.
    let limited = h
        .detail(&id)
        .await
        .steps
        .into_iter()
        .find(|s| s.key == "limited")
        .expect("limited");
    assert_eq!(limited.ready_at, Some(T0 + 5_000));
    for _ in 0..20 {
        if h.status(&id).await.is_terminal() {
            break;
        }
        h.advance(1_000).await;
    }
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:#?}", run.error);
    assert_eq!(
        run.output,
        Some(json!({
            "slow": true, "link": [1, 2, 3], "cursor": ["a", "b"], "number": [10], "offset": [1, 2, 3],
        }))
    );
    assert_eq!(
        server.calls_to("/oauth/token").len(),
        1,
        "one token for every call"
    );
    for call in server.calls().iter().filter(|c| c.path != "/oauth/token") {
        let auth = call
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str());
        assert_eq!(auth, Some("Bearer tok-1"), "{}", call.path);
    }
    // Each step's repeated calls carry one key, and different steps carry different keys.
    let mut keys = Vec::new();
    for step in ["limited", "flaky", "lying", "slow"] {
        let calls = server.calls_to(&format!("/{step}"));
        assert_eq!(calls.len(), 2, "{step} was tried twice");
        let expected = Some(format!("{id}/{step}"));
        assert!(
            calls.iter().all(|c| c.idempotency_key == expected),
            "{step}"
        );
        keys.push(expected);
    }
    keys.dedup();
    assert_eq!(keys.len(), 4);
    let slow = h
        .detail(&id)
        .await
        .attempts
        .into_iter()
        .find(|a| a.key == "slow")
        .expect("attempt");
    assert_eq!(
        slow.error.as_ref().and_then(|e| e.get("class")),
        Some(&json!("timeout"))
    );
}
