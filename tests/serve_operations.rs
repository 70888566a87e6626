//! Operating `braid serve` end to end: API access with and without the token, the operator
//! CLI, a restart in the middle of a run, reloading changed workflows while runs keep their
//! version, and a graceful stop on SIGTERM. On SQLite and on PostgreSQL where the store matters.

mod support;

use braid_testkit::{fresh_postgres_url, Recorder, Reply};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use support::{sqlite_url, wait_until, Serve};

/// Runs `braid ARGS` against `serve`; returns (exit code, stdout, stderr).
fn cli(serve: &Serve, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_braid"))
        .args(args)
        .env("BRAID_SERVER", &serve.url)
        .env_remove("BRAID_API_TOKEN")
        .output()
        .expect("run braid");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn run_status(http: &reqwest::Client, serve: &Serve, id: &str, status: &str) -> Value {
    let url = format!("{}/api/runs/{id}", serve.url);
    wait_until(http, &url, Duration::from_secs(30), |r| {
        r["status"] == status
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_needs_the_token_when_one_is_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("w.braid"),
        r#"workflow w { trigger webhook "/hooks/w" {}  step s = transform(1) }"#,
    )
    .expect("write");
    let db = sqlite_url(dir.path());
    let serve = Serve::start(dir.path(), &db, &[], &[("BRAID_API_TOKEN", "t0ken")]).await;
    let http = reqwest::Client::new();
    let api = format!("{}/api/workflows", serve.url);
    let without = http.get(&api).send().await.expect("send");
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    let body: Value = without.json().await.expect("json");
    assert!(body["error"]
        .as_str()
        .unwrap_or_default()
        .contains("Bearer"));
    let wrong = http
        .get(&api)
        .bearer_auth("nope")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let with = http
        .get(&api)
        .bearer_auth("t0ken")
        .send()
        .await
        .expect("send");
    assert_eq!(with.status(), StatusCode::OK);
    // Health, metrics and webhooks are not behind the token.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = http
            .get(format!("{}{path}", serve.url))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let hook = http
        .post(format!("{}/hooks/w", serve.url))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(hook.status(), StatusCode::ACCEPTED);
    // The CLI sends the token from BRAID_API_TOKEN.
    let (code, _, stderr) = cli(&serve, &["workflows"]);
    assert_eq!(code, 1, "{stderr}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_braid"))
        .args(["workflows", "--json"])
        .env("BRAID_SERVER", &serve.url)
        .env("BRAID_API_TOKEN", "t0ken")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"w\""));
    serve.kill().await;

    // Beyond loopback without a token: refused before listening.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_braid"))
        .args(["serve", "--listen", "0.0.0.0:0", "--db", &db])
        .arg("--workflows")
        .arg(dir.path())
        .env_remove("BRAID_API_TOKEN")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BRAID_API_TOKEN"));
}

fn nap_workflow(base: &str) -> String {
    format!(
        r#"workflow nap {{
          input {{ who: string }}
          step first = transform("hi " + input.who)
          step nap = sleep(2s) {{ after first }}
          step call = http.post("{base}/after-nap", body: {{ greeting: first }}) {{ after nap }}
          output {{ greeting: first, called: call.status }}
        }}
        workflow gate {{
          step approval = wait_signal("approve", timeout: 1h)
          step check = http.post("{base}/check", body: approval) {{ retry {{ attempts 1 }} }}
          output approval
        }}"#
    )
}

async fn restart_and_cli(db: String) {
    let (server, base) = Recorder::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("w.braid"), nap_workflow(&base)).expect("write");
    let serve = Serve::start(dir.path(), &db, &[], &[]).await;
    let http = reqwest::Client::new();

    let (code, id, stderr) = cli(&serve, &["start", "nap", "--input", r#"{"who": "Ada"}"#]);
    assert_eq!(code, 0, "{stderr}");
    let id = id.trim().to_string();
    run_status(&http, &serve, &id, "waiting").await;
    serve.kill().await;
    assert!(server.calls().is_empty());

    let serve = Serve::start(dir.path(), &db, &[], &[]).await;
    let run = run_status(&http, &serve, &id, "succeeded").await;
    assert_eq!(
        run["output"],
        json!({ "greeting": "hi Ada", "called": 200 })
    );
    assert_eq!(server.calls_to("/after-nap").len(), 1);

    let (code, shown, _) = cli(&serve, &["runs", "show", &id]);
    assert_eq!(code, 0);
    for expected in [
        "succeeded",
        "first",
        "nap",
        "call",
        "timeline",
        "step_waiting",
        "run_succeeded",
    ] {
        assert!(
            shown.contains(expected),
            "`{expected}` missing from:\n{shown}"
        );
    }
    let (code, listed, _) = cli(&serve, &["runs", "list", "--workflow", "nap", "--json"]);
    assert_eq!(code, 0);
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed["runs"][0]["id"], json!(id));

    // Signal, fail, retry; cancel.
    server.script("/check", [Reply::status(500, json!({ "error": "down" }))]);
    let (_, gate, _) = cli(&serve, &["start", "gate"]);
    let gate = gate.trim().to_string();
    run_status(&http, &serve, &gate, "waiting").await;
    let (code, _, stderr) = cli(
        &serve,
        &[
            "runs",
            "signal",
            &gate,
            "approve",
            "--data",
            r#"{"by": "ann"}"#,
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    run_status(&http, &serve, &gate, "failed").await;
    let (code, _, stderr) = cli(&serve, &["runs", "retry", &gate]);
    assert_eq!(code, 0, "{stderr}");
    let run = run_status(&http, &serve, &gate, "succeeded").await;
    assert_eq!(run["output"], json!({ "by": "ann" }));
    assert_eq!(server.calls_to("/check").len(), 2);
    let (code, _, stderr) = cli(&serve, &["runs", "retry", &gate]);
    assert_eq!(code, 1, "a succeeded run cannot be retried: {stderr}");
    assert!(stderr.contains("409"), "{stderr}");

    let (_, other, _) = cli(&serve, &["start", "gate"]);
    let other = other.trim().to_string();
    let (code, _, _) = cli(&serve, &["runs", "cancel", &other]);
    assert_eq!(code, 0);
    run_status(&http, &serve, &other, "cancelled").await;
    let (code, _, stderr) = cli(&serve, &["runs", "show", "no-such-run"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("404"), "{stderr}");
    serve.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_restart_and_operator_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    restart_and_cli(sqlite_url(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_and_operator_cli() {
    restart_and_cli(fresh_postgres_url().await).await;
}

fn versioned(version: &str, extra: &str) -> String {
    format!(
        r#"workflow versioned {{
          step wait = wait_signal("go")
          step tag = transform("{version}") {{ after wait }}
          output tag
          {extra}
        }}"#
    )
}

async fn write_later(path: &Path, text: &str) {
    // A new modification time even on coarse file systems.
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(path, text).expect("write");
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    let _ = file.set_modified(std::time::SystemTime::now() + Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_workflows_are_reloaded_and_runs_keep_their_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("v.braid");
    std::fs::write(&file, versioned("v1", "")).expect("write");
    let serve = Serve::start(dir.path(), &sqlite_url(dir.path()), &[], &[]).await;
    let http = reqwest::Client::new();
    let (_, old, _) = cli(&serve, &["start", "versioned"]);
    let old = old.trim().to_string();
    run_status(&http, &serve, &old, "waiting").await;

    let api = format!("{}/api/workflows", serve.url);
    let version = |w: &Value| {
        w["workflows"][0]["version"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let first = version(
        &http
            .get(&api)
            .send()
            .await
            .expect("get")
            .json::<Value>()
            .await
            .expect("json"),
    );
    write_later(&file, &versioned("v2", "")).await;
    wait_until(&http, &api, Duration::from_secs(20), |w| {
        version(w) != first
    })
    .await;
    // The new version is what new runs get…
    let (_, new, _) = cli(&serve, &["start", "versioned"]);
    let new = new.trim().to_string();
    cli(&serve, &["runs", "signal", &new, "go"]);
    let run = run_status(&http, &serve, &new, "succeeded").await;
    assert_eq!(run["output"], json!("v2"));
    // …while the run started before keeps v1.
    cli(&serve, &["runs", "signal", &old, "go"]);
    let run = run_status(&http, &serve, &old, "succeeded").await;
    assert_eq!(run["output"], json!("v1"));
    assert_ne!(old, new);

    // A broken change keeps v2 serving and shows the error.
    write_later(&file, &versioned("v3", "step broken = transform(")).await;
    let workflows = wait_until(&http, &api, Duration::from_secs(20), |w| {
        w["problems"].as_array().is_some_and(|p| !p.is_empty())
    })
    .await;
    let problem = &workflows["problems"][0];
    assert_eq!(problem["serving_previous"], json!(true));
    assert!(
        problem["message"]
            .as_str()
            .unwrap_or_default()
            .contains("error"),
        "{problem}"
    );
    let (_, id, _) = cli(&serve, &["start", "versioned"]);
    let id = id.trim().to_string();
    cli(&serve, &["runs", "signal", &id, "go"]);
    let run = run_status(&http, &serve, &id, "succeeded").await;
    assert_eq!(run["output"], json!("v2"));
    serve.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_running_attempts_finish() {
    let (server, base) = Recorder::start().await;
    server.script(
        "/slow",
        [Reply::status(200, json!({ "ok": true })).after_ms(1500)],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("w.braid"),
        format!(
            r#"workflow slow {{
              step call = http.post("{base}/slow")
              step next = http.post("{base}/next") {{ after call }}
            }}"#
        ),
    )
    .expect("write");
    let db = sqlite_url(dir.path());
    let serve = Serve::start(dir.path(), &db, &["--grace", "10s"], &[]).await;
    let (_, id, _) = cli(&serve, &["start", "slow"]);
    let id = id.trim().to_string();
    assert!(server.wait_for_calls(1, Duration::from_secs(20)).await);
    assert!(serve.terminate(Duration::from_secs(20)).await, "clean exit");
    let store = braid_engine::store::open(&db, &Default::default())
        .await
        .expect("open");
    let detail = store.get_run_detail(&id).await.expect("detail");
    let call = detail.steps.iter().find(|s| s.key == "call").expect("call");
    assert_eq!(
        call.status.as_str(),
        "succeeded",
        "the running attempt finished"
    );
    assert_eq!(server.calls_to("/slow").len(), 1);
    store.close().await;

    let serve = Serve::start(dir.path(), &db, &[], &[]).await;
    let http = reqwest::Client::new();
    run_status(&http, &serve, &id, "succeeded").await;
    assert_eq!(
        server.calls_to("/slow").len(),
        1,
        "not called again after the restart"
    );
    assert_eq!(server.calls_to("/next").len(), 1);
    serve.kill().await;
}

async fn cron_ticks(db: String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("tick.braid"),
        r#"workflow tick {
          trigger cron "* * * * * *" { overlap allow catchup none input { at: now() } }
          step at = transform(input.at)
          output at
        }"#,
    )
    .expect("write");
    let http = reqwest::Client::new();
    let serve = Serve::start(dir.path(), &db, &[], &[]).await;
    let runs = format!("{}/api/runs?workflow=tick&status=succeeded", serve.url);
    wait_until(&http, &runs, Duration::from_secs(20), |p| {
        p["runs"].as_array().is_some_and(|r| r.len() >= 3)
    })
    .await;
    serve.kill().await;
    let serve = Serve::start(dir.path(), &db, &[], &[]).await;
    let runs = format!("{}/api/runs?workflow=tick&status=succeeded", serve.url);
    let before: Value = http
        .get(&runs)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let seen = before["runs"].as_array().map_or(0, Vec::len);
    let page = wait_until(&http, &runs, Duration::from_secs(20), |p| {
        p["runs"].as_array().is_some_and(|r| r.len() >= seen + 2)
    })
    .await;
    let mut ticks: Vec<String> = page["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["output"].as_str().unwrap_or_default().to_string())
        .collect();
    let all = ticks.len();
    ticks.sort();
    ticks.dedup();
    assert_eq!(
        ticks.len(),
        all,
        "every tick fired once, across a restart: {ticks:?}"
    );
    serve.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cron_on_a_seconds_schedule() {
    let dir = tempfile::tempdir().expect("tempdir");
    cron_ticks(sqlite_url(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cron_on_a_seconds_schedule() {
    cron_ticks(fresh_postgres_url().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_runs_attempts_and_token_expiry() {
    let (server, base) = Recorder::start().await;
    server.script(
        "/oauth/token",
        [Reply::status(
            200,
            json!({ "access_token": "tok", "expires_in": 3600 }),
        )],
    );
    server.script("/orders", [Reply::status(503, json!({}))]);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("m.braid"),
        format!(
            r#"connection partner {{
              base_url "{base}"
              auth oauth2_client_credentials {{ token_url "{base}/oauth/token" client_id "c" client_secret "s" }}
            }}
            workflow measured {{
              step call = http.post(partner, "/orders") {{ retry {{ attempts 2 backoff fixed(100ms) }} }}
            }}"#
        ),
    )
    .expect("write");
    let serve = Serve::start(dir.path(), &sqlite_url(dir.path()), &[], &[]).await;
    let http = reqwest::Client::new();
    let (code, id, stderr) = cli(&serve, &["start", "measured"]);
    assert_eq!(code, 0, "{stderr}");
    run_status(&http, &serve, id.trim(), "succeeded").await;
    let text = http
        .get(format!("{}/metrics", serve.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for expected in [
        "braid_runs_started_total{workflow=\"measured\"} 1",
        "braid_runs{workflow=\"measured\",status=\"succeeded\"} 1",
        "braid_step_attempts_total{workflow=\"measured\",status=\"retry\"} 1",
        "braid_step_retries_total{workflow=\"measured\"} 1",
        "braid_step_duration_seconds_count{workflow=\"measured\"}",
        "braid_queue_depth 0",
        "braid_seconds_since_last_success{workflow=\"measured\"}",
        "braid_oauth_token_expiry_seconds{connection=\"partner\"} 3",
    ] {
        assert!(text.contains(expected), "`{expected}` missing from\n{text}");
    }
    serve.kill().await;
}

/// The README's first run: the example folder served as it is, a webhook starts `hello`, its
/// first call meets the demo partner's injected 503, the retry succeeds, and `braid runs show`
/// tells the story.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_first_run_works_offline() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(&examples, &sqlite_url(dir.path()), &[], &[]).await;
    let http = reqwest::Client::new();
    let answer: Value = http
        .post(format!("{}/hooks/hello", serve.url))
        .header("X-Delivery-Id", "first")
        .json(&json!({ "name": "Ada", "partner": format!("{}/demo", serve.url) }))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let id = answer["run_id"].as_str().expect("run_id").to_string();
    let run = run_status(&http, &serve, &id, "succeeded").await;
    assert_eq!(
        run["output"],
        json!({ "greeting": "Hello, Ada!", "attempts_needed": 2 })
    );
    let (code, shown, _) = cli(&serve, &["runs", "show", &id]);
    assert_eq!(code, 0);
    assert!(shown.contains("503 Service Unavailable"), "{shown}");
    let workflows: Value = http
        .get(format!("{}/api/workflows", serve.url))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    // The examples needing credentials are listed with what they miss.
    let problems = workflows["problems"].as_array().expect("problems");
    assert!(problems.iter().all(|p| p["message"]
        .as_str()
        .unwrap_or_default()
        .contains("not set")));
    serve.kill().await;
}
