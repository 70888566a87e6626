//! OAuth2 tokens in the store: one fetch for two engines, refresh shortly before expiry, a
//! rotated refresh token that survives a restart, one refresher at a time, sealed at rest.

use crate::on_both_stores;
use crate::support::{compile, Backend, Harness, TestStore, T0};
use crate::token_server::TokenServer;
use braid_engine::clock::{Clock, ManualClock};
use braid_engine::crypto::Sealer;
use braid_engine::executor::{Engine, ExecutorConfig, StartRequest};
use braid_engine::redact::Redactor;
use braid_engine::store::{self, RunStatus, Store, StoreOptions};
use braid_engine::token_store::{KvTokenStore, LEASE_NAMESPACE, TOKEN_NAMESPACE};
use braid_stdlib::http::oauth2::{Grant, OAuth2Config, TokenStore};
use braid_stdlib::http::{build_request, AuthConfig, ConnectionConfig, HttpClient, Target};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

on_both_stores!(
    two_engines_on_one_store_fetch_one_token,
    a_token_is_refreshed_shortly_before_it_expires,
    a_rotated_refresh_token_survives_a_restart,
    one_holder_at_a_time_refreshes_a_token,
);

/// A workflow calling the token-protected API once per run.
fn workflow(base: &str, grant: &str) -> String {
    let auth = match grant {
        "refresh" => format!(
            r#"oauth2_refresh_token {{ token_url "{base}/token" client_id "client-1" client_secret "cs-secret" refresh_token "rt-configured" }}"#
        ),
        _ => format!(
            r#"oauth2_client_credentials {{ token_url "{base}/token" client_id "client-1" client_secret "cs-secret" scopes ["read"] }}"#
        ),
    };
    format!(
        r#"connection api {{
             base_url "{base}"
             auth {auth}
           }}
           workflow fetch {{
             step data = http.get(api, "/data")
             output data.body
           }}"#
    )
}

/// A second engine process on the harness's store, with its own connections and token cache.
async fn second_engine(h: &Harness, text: &str, worker: &str, in_flight: usize) -> Arc<Engine> {
    let store = h.location.open(h.clock.clone()).await;
    let config = ExecutorConfig {
        worker_id: worker.to_string(),
        max_in_flight: in_flight,
        ..ExecutorConfig::default()
    };
    let engine = Engine::new(store, h.clock.clone(), HashMap::new(), config);
    engine.load_workflows(compile(text));
    engine
}

async fn start(engine: &Arc<Engine>) -> String {
    let plan = engine.workflow("fetch").expect("workflow");
    engine
        .start_run(&plan, StartRequest::default())
        .await
        .expect("start")
        .run_id()
        .to_string()
}

async fn two_engines_on_one_store_fetch_one_token(backend: Backend) {
    let (server, base) = TokenServer::start(3600, Duration::from_millis(300)).await;
    let text = workflow(&base, "credentials");
    let location = TestStore::new(backend).await;
    let clock = Arc::new(ManualClock::new(T0));
    let h = Harness::on(location, &text, clock, "engine-a").await;
    // One step at a time per engine: each engine's first step needs a token at the same moment.
    let a = second_engine(&h, &text, "engine-a1", 1).await;
    let b = second_engine(&h, &text, "engine-b1", 1).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(start(&a).await);
    }
    let (ran_a, ran_b) = tokio::join!(a.drain(), b.drain());
    let (ran_a, ran_b) = (ran_a.expect("drain a"), ran_b.expect("drain b"));
    assert!(
        ran_a > 0 && ran_b > 0,
        "both engines ran steps: {ran_a} {ran_b}"
    );
    {
        let log = server.log();
        assert_eq!(log.issued.len(), 1, "one token fetch for both engines");
        assert_eq!(log.used.len(), 6);
        assert!(log.used.iter().all(|t| *t == log.issued[0]));
    }
    for id in &ids {
        let run = h.run(id).await;
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
        // The API echoed the token back; the engine masked it.
        assert_eq!(run.output, Some(json!({ "ok": true, "token": "***" })));
    }
    let stored = h
        .store
        .kv_list(TOKEN_NAMESPACE)
        .await
        .expect("kv")
        .into_iter()
        .map(|(_, e)| e.value)
        .collect::<Vec<_>>();
    assert_eq!(stored.len(), 1, "one cached token in the store");
}

async fn a_token_is_refreshed_shortly_before_it_expires(backend: Backend) {
    // 63 s of validity: usable for three seconds, then inside the 60 s refresh margin.
    let (server, base) = TokenServer::start(63, Duration::ZERO).await;
    let text = workflow(&base, "credentials");
    let h = Harness::new(backend, &text).await;
    let b = second_engine(&h, &text, "engine-b", 8).await;
    let first = h.start("fetch", json!({})).await;
    h.drain().await;
    let second = start(&b).await;
    b.drain().await.expect("drain");
    assert_eq!(
        server.log().issued.len(),
        1,
        "the other engine reused the token"
    );
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    let third = start(&b).await;
    b.drain().await.expect("drain");
    for id in [&first, &second, &third] {
        assert_eq!(h.status(id).await, RunStatus::Succeeded);
    }
    let log = server.log();
    assert_eq!(log.issued.len(), 2, "refreshed once");
    assert_eq!(
        log.used,
        vec![
            log.issued[0].clone(),
            log.issued[0].clone(),
            log.issued[1].clone()
        ]
    );
    let old = log.issued[0].clone();
    drop(log);
    assert!(
        server.valid(&old),
        "the old token had not expired when it was replaced"
    );
}

async fn a_rotated_refresh_token_survives_a_restart(backend: Backend) {
    // 30 s of validity is inside the refresh margin: every call refreshes.
    let (server, base) = TokenServer::start(30, Duration::ZERO).await;
    let h = Harness::new(backend, &workflow(&base, "refresh")).await;
    let first = h.start("fetch", json!({})).await;
    h.drain().await;
    // The engine process stops; a new one starts on the same store.
    let h = h.restart("worker-2").await;
    let second = h.start("fetch", json!({})).await;
    h.drain().await;
    assert_eq!(h.status(&first).await, RunStatus::Succeeded);
    assert_eq!(h.status(&second).await, RunStatus::Succeeded);
    let log = server.log();
    assert_eq!(
        log.refresh_tokens_seen,
        vec!["rt-configured".to_string(), log.refresh_issued[0].clone()],
        "the restarted engine used the rotated refresh token from the store"
    );
}

async fn one_holder_at_a_time_refreshes_a_token(backend: Backend) {
    let location = TestStore::new(backend).await;
    let clock = Arc::new(ManualClock::new(T0));
    let store = location.open(clock.clone()).await;
    let tokens = KvTokenStore::new(
        store.clone(),
        Sealer::new(None),
        clock.clone(),
        Redactor::new(),
    );
    let ttl = Duration::from_secs(45);
    assert!(tokens.acquire_refresh("k", "p1", ttl).await);
    assert!(!tokens.acquire_refresh("k", "p2", ttl).await, "held by p1");
    assert!(tokens.acquire_refresh("other", "p2", ttl).await, "per key");
    // Giving back someone else's lease does nothing.
    tokens.release_refresh("k", "p2").await;
    assert!(!tokens.acquire_refresh("k", "p2", ttl).await);
    tokens.release_refresh("k", "p1").await;
    assert!(tokens.acquire_refresh("k", "p2", ttl).await, "given back");
    // A holder that died: its lease runs out and another takes over.
    clock.advance(45_001);
    assert!(tokens.acquire_refresh("k", "p3", ttl).await, "expired");
    assert!(!tokens.acquire_refresh("k", "p2", ttl).await);
    assert_eq!(
        store.kv_list(LEASE_NAMESPACE).await.expect("kv").len(),
        2,
        "one lease entry per key"
    );
}

/// A request for the token-protected API of `base`.
fn data_request(base: &str) -> braid_stdlib::http::HttpRequest {
    let target = Target::Connection(Arc::new(ConnectionConfig {
        name: "api".into(),
        base_url: base.into(),
        auth: AuthConfig::OAuth2(OAuth2Config {
            token_url: format!("{base}/token"),
            client_id: "client-1".into(),
            client_secret: "cs-secret".into(),
            grant: Grant::RefreshToken {
                refresh_token: "rt-configured".into(),
            },
        }),
        headers: vec![],
        rate_limit: None,
    }));
    build_request(
        "get",
        target,
        Some(&json!("/data")),
        &BTreeMap::new(),
        "k",
        Duration::from_secs(5),
    )
    .expect("request")
}

/// Every byte of the SQLite database in `dir` (main file, `-wal`, `-shm`).
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        bytes.extend(std::fs::read(entry.path()).unwrap_or_default());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Runs two token fetches (one rotating the refresh token) through a token store sealed with
/// `key`; returns the raw database bytes (open, then closed) and the token texts issued.
async fn tokens_at_rest(key: Option<&str>) -> (Vec<u8>, Vec<String>) {
    let (server, base) = TokenServer::start(30, Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("braid.db").display());
    let store: Arc<dyn Store> = store::open(&url, &StoreOptions::default())
        .await
        .expect("open");
    let clock: Arc<dyn Clock> = Arc::new(braid_engine::clock::SystemClock);
    let sealer = Sealer::new(key);
    let client = HttpClient::default().with_token_store(Arc::new(KvTokenStore::new(
        store.clone(),
        sealer.clone(),
        clock.clone(),
        Redactor::new(),
    )));
    for _ in 0..2 {
        client.call(&data_request(&base)).await.expect("call");
    }
    // A fresh process opening the store reads the sealed token back.
    let reopened = KvTokenStore::new(store.clone(), sealer, clock, Redactor::new());
    let cached = reopened
        .load(&format!("{base}/token client-1"))
        .await
        .expect("token in the store");
    let mut bytes = database_bytes(dir.path());
    store.close().await;
    bytes.extend(database_bytes(dir.path()));
    let log = server.log();
    assert_eq!(cached.access_token, log.issued[1]);
    assert_eq!(cached.refresh_token.as_ref(), Some(&log.refresh_issued[1]));
    let mut texts = log.issued.clone();
    texts.extend(log.refresh_issued.clone());
    (bytes, texts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_tokens_never_appear_in_the_sqlite_file() {
    let (bytes, texts) = tokens_at_rest(Some("test-key-for-sealing")).await;
    assert!(bytes.len() > 4096, "read the database");
    for text in &texts {
        assert!(
            !contains(&bytes, text),
            "`{text}` found in the database bytes"
        );
    }
    // The search itself works: without a key the same tokens are there in the clear.
    let (bytes, texts) = tokens_at_rest(None).await;
    assert!(
        texts.iter().any(|t| contains(&bytes, t)),
        "unsealed tokens are visible to the byte search"
    );
}
