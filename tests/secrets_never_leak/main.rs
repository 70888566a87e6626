//! A secret never leaks. Secrets are planted in the environment and with `braid secret set`; a
//! real `braid run` sends them (bearer, basic, OAuth2 client secret, body, header, query) to a
//! local API that echoes them back in its response body and headers and in a 400 error body.
//! Then every byte of the SQLite database, every command's stdout and stderr, and the run's
//! output are searched for each secret, in the clear and in base64: none may be there. Then a
//! real `braid serve` on the same store runs the workflow again from the API, and every API
//! answer (workflows, runs, each run's detail, metrics) and its logs are searched too.

mod echo_server;
#[path = "../support/mod.rs"]
mod support;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use echo_server::EchoServer;
use std::path::Path;
use std::process::{Output, Stdio};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const WORKFLOWS: &str = r#"
connection bearer_api {
  base_url env("E2E_BASE")
  auth bearer(secret("BRAID_E2E_ENV_TOKEN"))
}

connection basic_api {
  base_url env("E2E_BASE")
  auth basic("e2e-user", secret("STORED_PASSWORD"))
}

connection oauth_api {
  base_url env("E2E_BASE")
  auth oauth2_client_credentials {
    token_url env("E2E_TOKEN_URL")
    client_id "e2e-client"
    client_secret secret("OAUTH_CLIENT_SECRET")
  }
}

workflow leak {
  step plain = http.post(bearer_api, "/echo",
      body: { token: secret("BRAID_E2E_ENV_TOKEN"), stored: secret("STORED_PASSWORD"),
              b64: base64_encode(secret("STORED_PASSWORD")) },
      headers: { "X-Secret": secret("STORED_PASSWORD") })
  step basic = http.get(basic_api, "/echo")
  step oauth = http.get(oauth_api, "/echo", query: { key: secret("BRAID_E2E_ENV_TOKEN") })
  step rejected = http.post(bearer_api, "/reject", body: { token: secret("STORED_PASSWORD") }) {
    retry { attempts 2 backoff fixed(50ms) on [400] }
    on_error continue
  }
  step garbled = transform(number(secret("STORED_PASSWORD"))) { on_error continue }
  output { plain: plain, basic: basic, oauth: oauth, rejected: rejected, garbled: garbled }
}

workflow leak_when {
  step guarded = transform(1) { when parse_time(secret("BRAID_E2E_ENV_TOKEN")) != null }
}

workflow leak_fail {
  step rejected = http.post(oauth_api, "/reject",
      body: { token: secret("BRAID_E2E_ENV_TOKEN"), stored: secret("STORED_PASSWORD") }) {
    retry { attempts 1 }
  }
}
"#;

/// The `braid` binary with a clean environment for the secret and store variables.
fn braid(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_braid"));
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        // Were the binary to log, everything it logs is searched too.
        .env("RUST_LOG", "trace")
        .env_remove("BRAID_SECRET_KEY")
        .env_remove("BRAID_DATABASE_URL")
        .stdin(Stdio::null());
    command
}

/// Runs `command` with `input` on its standard input.
async fn with_stdin(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn braid");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).await.expect("write");
    drop(stdin);
    child.wait_with_output().await.expect("braid")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every byte of every file in `dir` (the database, its `-wal` and `-shm`).
fn files_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        let is_workflow = path.extension().is_some_and(|e| e == "braid");
        if !is_workflow {
            bytes.extend(std::fs::read(&path).unwrap_or_default());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_leak_into_the_store_logs_or_output() {
    let (server, base) = EchoServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("braid.db").display());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let env_secret = format!("env-secret-{tag}");
    let stored_secret = format!("stored-secret-{tag}");
    let client_secret = format!("client-secret-{tag}");
    let mut outputs: Vec<(String, Output)> = Vec::new();

    let key = braid(dir.path(), &["secret", "key"])
        .output()
        .await
        .expect("braid secret key");
    assert!(key.status.success(), "{}", text(&key.stderr));
    let key_text = text(&key.stdout).trim().to_string();
    assert!(key_text.len() >= 40, "a key: {key_text}");

    for (name, value) in [
        ("STORED_PASSWORD", &stored_secret),
        ("OAUTH_CLIENT_SECRET", &client_secret),
    ] {
        let mut set = braid(dir.path(), &["secret", "set", name, "--db", &db]);
        set.env("BRAID_SECRET_KEY", &key_text);
        let out = with_stdin(set, &format!("{value}\n")).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        outputs.push((format!("secret set {name}"), out));
    }
    let list = braid(dir.path(), &["secret", "list", "--db", &db])
        .output()
        .await
        .expect("braid secret list");
    assert_eq!(
        text(&list.stdout),
        "OAUTH_CLIENT_SECRET\nSTORED_PASSWORD\n",
        "{}",
        text(&list.stderr)
    );
    outputs.push(("secret list".into(), list));

    let file = dir.path().join("leak.braid");
    std::fs::write(&file, WORKFLOWS).expect("write workflows");
    let run = |workflow: &str| {
        let mut command = braid(
            dir.path(),
            &["run", "leak.braid", "--workflow", workflow, "--db", &db],
        );
        command
            .env("BRAID_SECRET_KEY", &key_text)
            .env("BRAID_E2E_ENV_TOKEN", &env_secret)
            .env("E2E_BASE", &base)
            .env("E2E_TOKEN_URL", format!("{base}/token"));
        command
    };
    let ok = run("leak").output().await.expect("braid run leak");
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let output: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("output JSON");
    outputs.push(("run leak".into(), ok));
    let failed = run("leak_fail")
        .output()
        .await
        .expect("braid run leak_fail");
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));
    assert!(
        text(&failed.stderr).contains("400"),
        "{}",
        text(&failed.stderr)
    );
    outputs.push(("run leak_fail".into(), failed));
    let when = run("leak_when")
        .output()
        .await
        .expect("braid run leak_when");
    assert_eq!(when.status.code(), Some(1), "{}", text(&when.stderr));
    assert!(
        text(&when.stderr).contains("RFC 3339"),
        "{}",
        text(&when.stderr)
    );
    outputs.push(("run leak_when".into(), when));

    // The secrets were really sent: otherwise finding none proves nothing.
    let received = server.received();
    let basic = B64.encode(format!("e2e-user:{stored_secret}"));
    for sent in [&env_secret, &stored_secret, &client_secret, &basic] {
        assert!(received.contains(sent.as_str()), "`{sent}` was not sent");
    }
    // And echoed back: masked in the output.
    assert_eq!(output["plain"]["body"]["body"]["token"], "***");
    assert_eq!(output["plain"]["body"]["body"]["b64"], "***");
    assert_eq!(output["plain"]["headers"]["x-echo-secret"], "***");
    assert_eq!(
        output["plain"]["headers"]["x-echo-authorization"],
        "Bearer ***"
    );
    assert_eq!(
        output["basic"]["headers"]["x-echo-authorization"],
        "Basic ***"
    );
    assert_eq!(
        output["oauth"]["headers"]["x-echo-authorization"],
        "Bearer ***"
    );
    assert_eq!(output["oauth"]["body"]["query"], "key=***");
    assert_eq!(output["rejected"], serde_json::Value::Null);

    // The same store served: a run from the API, then every answer the API gives.
    let serve_env = [
        ("BRAID_SECRET_KEY", key_text.as_str()),
        ("BRAID_E2E_ENV_TOKEN", env_secret.as_str()),
        ("E2E_BASE", base.as_str()),
        ("E2E_TOKEN_URL", &format!("{base}/token")),
        ("RUST_LOG", "debug"),
    ];
    let serve = support::Serve::start(dir.path(), &db, &[], &serve_env).await;
    let http = reqwest::Client::new();
    let started: serde_json::Value = http
        .post(format!("{}/api/workflows/leak/runs", serve.url))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let id = started["run_id"].as_str().expect("run_id").to_string();
    support::wait_until(
        &http,
        &format!("{}/api/runs/{id}", serve.url),
        std::time::Duration::from_secs(30),
        |r| r["status"] == "succeeded",
    )
    .await;
    let mut answers = Vec::new();
    let runs: serde_json::Value = http
        .get(format!("{}/api/runs?limit=100", serve.url))
        .send()
        .await
        .expect("runs")
        .json()
        .await
        .expect("json");
    let mut paths = vec![
        "/api/workflows".to_string(),
        "/api/runs?limit=100".into(),
        "/metrics".into(),
    ];
    for run in runs["runs"].as_array().expect("runs") {
        paths.push(format!("/api/runs/{}", run["id"].as_str().expect("id")));
    }
    assert!(paths.len() >= 7, "every run is read: {paths:?}");
    for path in &paths {
        let body = http
            .get(format!("{}{path}", serve.url))
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
        answers.push((path.clone(), body.to_vec()));
    }
    let serve_logs = serve.logs();
    assert!(
        serve_logs.contains("DEBUG"),
        "the logs were read at debug level"
    );
    serve.terminate(std::time::Duration::from_secs(20)).await;

    let issued = server.issued();
    assert_eq!(issued.len(), 1, "one OAuth2 token for every run");
    let mut needles = Vec::new();
    for secret in [&env_secret, &stored_secret, &client_secret, &issued[0]] {
        needles.push(secret.clone());
        needles.push(B64.encode(secret));
    }
    needles.push(basic);
    // Not even a part of a secret: all three share this tag.
    needles.push(tag[..16].to_string());
    let database = files_bytes(dir.path());
    assert!(database.len() > 4096, "the database was read");
    let mut leaks = Vec::new();
    for needle in &needles {
        if contains(&database, needle) {
            leaks.push(format!("`{needle}` in the database files"));
        }
        for (what, out) in &outputs {
            if contains(&out.stdout, needle) || contains(&out.stderr, needle) {
                leaks.push(format!("`{needle}` in the output of `braid {what}`"));
            }
        }
        if serve_logs.contains(needle.as_str()) {
            leaks.push(format!("`{needle}` in the logs of `braid serve`"));
        }
        for (path, body) in &answers {
            if contains(body, needle) {
                leaks.push(format!("`{needle}` in the answer to GET {path}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_set_needs_a_key_and_a_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("braid.db").display());
    let no_key = with_stdin(
        braid(dir.path(), &["secret", "set", "NAME", "--db", &db]),
        "value\n",
    )
    .await;
    assert_eq!(no_key.status.code(), Some(2));
    let message = text(&no_key.stderr);
    assert!(message.contains("BRAID_SECRET_KEY is not set"), "{message}");
    assert!(message.contains("braid secret key"), "{message}");

    let mut empty = braid(dir.path(), &["secret", "set", "NAME", "--db", &db]);
    empty.env("BRAID_SECRET_KEY", "a-test-key");
    let empty = with_stdin(empty, "\n").await;
    assert_eq!(empty.status.code(), Some(2));
    assert!(
        text(&empty.stderr).contains("empty"),
        "{}",
        text(&empty.stderr)
    );

    let mut set = braid(dir.path(), &["secret", "set", "NAME", "--db", &db]);
    set.env("BRAID_SECRET_KEY", "a-test-key");
    assert!(with_stdin(set, "v-1\r\n").await.status.success());
    let delete = braid(dir.path(), &["secret", "delete", "NAME", "--db", &db])
        .output()
        .await
        .expect("delete");
    assert!(delete.status.success(), "{}", text(&delete.stderr));
    let again = braid(dir.path(), &["secret", "delete", "NAME", "--db", &db])
        .output()
        .await
        .expect("delete again");
    assert_eq!(again.status.code(), Some(2));
    let list = braid(dir.path(), &["secret", "list", "--db", &db])
        .output()
        .await
        .expect("list");
    assert!(list.stdout.is_empty());
}
