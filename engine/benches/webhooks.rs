//! Webhook to durable `202` on SQLite (`synchronous=FULL`), against the store's raw commit
//! latency on the same file, measured in the same run.
//!
//! `cargo bench -p braid-engine --bench webhooks [-- plain|signed|ingest] [--quick] [--headline]`
//! (`--headline`: 1,000/s only, no ramp to the sustained maximum) starts the real
//! service in this process (`braid_engine::service::serve` on 127.0.0.1, its own runtime),
//! then drives it from an open-loop load generator (its own runtime): requests are sent on a
//! fixed schedule whatever the answers do, and each latency runs from the request's *scheduled*
//! send time to its `202`, so queueing is never hidden (no coordinated omission).
//!
//! It prints Markdown tables:
//!
//! * baselines: the median of a one-row write transaction (`kv_put`) and of one `create_run`
//!   on the same SQLite file, the server idle; one webhook at a time (closed loop);
//! * the baseline under load: one-row write transactions on the same schedule as the
//!   webhooks (1,000/s for 10 s, open loop), the server idle: the disk's own latency
//!   distribution, a floor for the webhooks' (each `202` waits for a flush);
//! * per webhook (`plain`: unsigned; `signed`: HMAC-SHA256 with a dedupe key), 1,000
//!   requests/s for 10 s: p50/p90/p99/max;
//! * the sustained maximum: the rate is raised step by step (5 s each) until p99 exceeds 50 ms
//!   or a request fails; the highest rate that held is reported.
//!
//! Each run stores one `transform` step, which the executor carries out meanwhile, so creating
//! runs competes with claiming and completing steps for the one SQLite writer, as in service.
//! A diagnostic third case (`ingest`) serves the same router and engine on a SQLite file of its
//! own *without* running the executor: what creating runs costs when nothing else writes.

mod support;

use braid_engine::api::{self, ApiState};
use braid_engine::clock::SystemClock;
use braid_engine::executor::{Engine, ExecutorConfig};
use braid_engine::service::{serve, ServeConfig};
use braid_engine::store::{self, NewRun, NewStep, Store, StoreOptions};
use braid_stdlib::webhook::{sign_request, Algorithm, Encoding, HmacConfig, Scheme};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const HMAC_SECRET: &str = "bench-hmac-secret";

const WORKFLOWS: &str = r#"
workflow plain {
  input { id: int }
  trigger webhook "/hooks/plain"
  step echo = transform(input.id + 1)
}

workflow signed {
  input { id: int }
  trigger webhook "/hooks/signed" {
    verify hmac { algorithm sha256 secret secret("BENCH_HMAC_SECRET") header "X-Signature" encoding hex prefix "sha256=" }
    dedupe input.id
  }
  step echo = transform(input.id + 1)
}
"#;

/// The p99 above which a rate is not sustained.
const P99_LIMIT: Duration = Duration::from_millis(50);
/// A request not answered within this counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests outstanding at once; a request due beyond this counts as an error (not sent).
const MAX_OUTSTANDING: usize = 4000;

fn hmac() -> Scheme {
    Scheme::Hmac(
        HmacConfig::new(Algorithm::Sha256, HMAC_SECRET, "X-Signature", Encoding::Hex)
            .with_prefix("sha256="),
    )
}

/// Latency figures of one load step.
struct Stats {
    rate: u32,
    sent: usize,
    errors: usize,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    first_error: Option<String>,
}

impl Stats {
    fn holds(&self) -> bool {
        self.errors == 0 && self.p99 <= P99_LIMIT
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// The load generator's requests.
struct Target {
    http: reqwest::Client,
    base: String,
    scheme: Option<Scheme>,
    path: &'static str,
}

impl Target {
    /// One delivery with a fresh `id`; the status, or what went wrong.
    async fn deliver(&self, id: u64) -> Result<(), String> {
        let body = json!({ "id": id }).to_string().into_bytes();
        let mut request = self
            .http
            .post(format!("{}{}", self.base, self.path))
            .header("content-type", "application/json");
        if let Some(scheme) = &self.scheme {
            for (k, v) in sign_request(scheme, &body, chrono::Utc::now(), "bench").expect("sign") {
                request = request.header(k, v);
            }
        }
        let response = request
            .body(body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("body: {e}"))?;
        if status != reqwest::StatusCode::ACCEPTED {
            return Err(format!("{status}: {text}"));
        }
        Ok(())
    }
}

/// The send times of `n` requests, `interval` apart from `start`, each handed over when it
/// comes. A thread of its own keeps the schedule: tokio's timers fire on a 1 ms grid, which
/// sent a request up to a millisecond after its time and counted that as the server's latency;
/// a thread's sleep is accurate to tens of microseconds.
fn schedule(
    start: Instant,
    interval: Duration,
    n: usize,
) -> tokio::sync::mpsc::UnboundedReceiver<Instant> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for i in 0..n {
            let at = start + interval * i as u32;
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if tx.send(at).is_err() {
                return;
            }
        }
    });
    rx
}

/// One request of an open loop: given a fresh id, the request's outcome.
type Request = Arc<
    dyn Fn(u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// Webhook deliveries to `target`, as an open loop's requests.
fn deliveries(target: &Arc<Target>) -> Request {
    let target = target.clone();
    Arc::new(move |id| {
        let target = target.clone();
        Box::pin(async move { target.deliver(id).await })
    })
}

/// One-row write transactions (`kv_put`) on `store`, as an open loop's requests: the disk's
/// own latency under the same schedule as the webhooks.
fn commits(store: &Arc<dyn Store>) -> Request {
    let store = store.clone();
    Arc::new(move |id| {
        let store = store.clone();
        Box::pin(async move {
            support::one_row_commit(store.as_ref(), id)
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// Sends `rate` requests per second for `secs` seconds on a fixed schedule; each latency is
/// measured from the request's scheduled time.
async fn open_loop(send: &Request, next_id: &mut u64, rate: u32, secs: u32) -> Stats {
    let n = (rate * secs) as usize;
    let interval = Duration::from_secs(1) / rate;
    let outstanding = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut due = schedule(Instant::now() + Duration::from_millis(20), interval, n);
    let mut tasks = Vec::with_capacity(n);
    let mut dropped = 0;
    while let Some(at) = due.recv().await {
        if outstanding.load(std::sync::atomic::Ordering::Relaxed) >= MAX_OUTSTANDING {
            dropped += 1;
            continue;
        }
        outstanding.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request = send(*next_id);
        let outstanding = outstanding.clone();
        *next_id += 1;
        tasks.push(tokio::spawn(async move {
            let result = request.await;
            let latency = at.elapsed();
            outstanding.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            (latency, result)
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    let mut errors = dropped;
    let mut first_error =
        (dropped > 0).then(|| format!("{dropped} not sent: too many outstanding"));
    for task in tasks {
        let (latency, result) = task.await.expect("task");
        match result {
            Ok(()) => latencies.push(latency),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    latencies.sort();
    Stats {
        rate,
        sent: n,
        errors,
        p50: percentile(&latencies, 0.50),
        p90: percentile(&latencies, 0.90),
        p99: percentile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        first_error,
    }
}

/// Median of `n` single `create_run` calls (a run of one step) on `store`.
async fn raw_create(store: &dyn Store, n: usize) -> Duration {
    let hash = "bench-raw-create";
    store
        .put_workflow_version(hash, "raw", "{}")
        .await
        .expect("version");
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let run = NewRun {
            id: None,
            workflow: "raw".into(),
            version_hash: hash.into(),
            input: json!({ "id": 1 }),
            trigger: None,
            dedupe_key: None,
            parent: None,
            steps: vec![NewStep::main("echo")],
        };
        let t = Instant::now();
        store.create_run(run).await.expect("create");
        times.push(t.elapsed());
    }
    times.sort();
    times[n / 2]
}

/// Median of `n` webhooks sent one after the other (closed loop: no queue).
async fn one_at_a_time(target: &Target, next_id: &mut u64, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        target.deliver(*next_id).await.expect("idle webhook");
        *next_id += 1;
        times.push(t.elapsed());
    }
    times.sort();
    times[n / 2]
}

/// Waits until the executor has carried out every step that is due; returns how many were
/// due when it began, and how long they took.
async fn drained(store: &dyn Store) -> (u64, Duration) {
    let began = Instant::now();
    let deadline = began + Duration::from_secs(300);
    let mut backlog = None;
    loop {
        let now = chrono::Utc::now().timestamp_millis();
        let stats = store.stats(now).await.expect("stats");
        let due = *backlog.get_or_insert(stats.due_steps);
        if stats.due_steps == 0 || Instant::now() > deadline {
            return (due, began.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The service's router and engine on `db`, the executor not running: nothing but webhook
/// deliveries writes to the store. Serves until `stopped`.
async fn ingest_only(db: String, listen: SocketAddr, stopped: tokio::sync::oneshot::Receiver<()>) {
    let store = store::open(&db, &StoreOptions::default())
        .await
        .expect("open");
    let engine = Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        HashMap::new(),
        ExecutorConfig::default(),
    );
    let mut sources = braid_dsl::SourceMap::new();
    sources.add("hooks.braid", WORKFLOWS);
    let out = braid_stdlib::compile::compile(&sources);
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    engine.load_workflows(out.project.workflows.into_values());
    let state = Arc::new(ApiState {
        engine,
        problems: RwLock::new(Vec::new()),
        token: None,
        max_body: 1024 * 1024,
        cron: None,
    });
    let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
    store.close().await;
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

fn row(label: &str, s: &Stats) -> String {
    format!(
        "| {label} | {}/s | {} | {} | {} | {} | {} | {} |",
        s.rate,
        s.sent,
        s.errors,
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(s.max)
    )
}

/// Waits until `GET base/readyz` answers.
async fn ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the service did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The headline (1,000/s) and the ramp for one webhook; `store` (when the executor runs) is
/// drained between steps. Returns the headline and the highest rate that held.
async fn measure(
    label: &str,
    target: &Arc<Target>,
    store: Option<&dyn Store>,
    next_id: &mut u64,
    headline_secs: u32,
    step_secs: Option<u32>,
) -> (Stats, Option<u32>) {
    let send = deliveries(target);
    let headline = open_loop(&send, next_id, 1000, headline_secs).await;
    println!("{}", row(&format!("{label} (headline)"), &headline));
    if let Some(e) = &headline.first_error {
        eprintln!("{label} at 1000/s: first error: {e}");
    }
    if let Some(store) = store {
        // Accepting faster than the executor carries runs out leaves a backlog (stored, so
        // nothing is lost): how much, and how long it takes to catch up.
        let (backlog, took) = drained(store).await;
        println!(
            "executor after the headline: {backlog} steps still due, carried out in {:.1} s",
            took.as_secs_f64()
        );
    }
    let Some(step_secs) = step_secs else {
        return (headline, None);
    };
    let mut best: Option<u32> = None;
    for rate in [
        50, 100, 250, 500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000,
    ] {
        let s = open_loop(&send, next_id, rate, step_secs).await;
        println!("{}", row(&format!("{label} ramp"), &s));
        if let Some(store) = store {
            drained(store).await;
        }
        if !s.holds() {
            if let Some(e) = &s.first_error {
                eprintln!("{label} at {rate}/s: first error: {e}");
            }
            break;
        }
        best = Some(rate);
    }
    (headline, best)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let which: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let want = |name: &str| which.is_empty() || which.iter().any(|w| *w == name);
    let headline_secs = if quick { 3 } else { 10 };
    // `--headline`: no ramp to the sustained maximum (A/B comparisons of the p99).
    let step_secs = (!args.iter().any(|a| a == "--headline")).then_some(if quick { 2 } else { 5 });

    // The service's secrets come from the environment; set before any thread starts.
    std::env::set_var("BENCH_HMAC_SECRET", HMAC_SECRET);
    let dir = tempfile::tempdir().expect("tempdir");
    let workflows = dir.path().join("workflows");
    std::fs::create_dir(&workflows).expect("mkdir");
    std::fs::write(workflows.join("hooks.braid"), WORKFLOWS).expect("write");
    let db = format!("sqlite://{}", dir.path().join("braid.db").display());
    let ingest_db = format!("sqlite://{}", dir.path().join("ingest.db").display());
    let listen = free_port();
    let ingest_listen = free_port();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_ingest, ingest_stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServeConfig::new(workflows, db.clone(), listen);
    let ingest = want("ingest");
    let ingest_db_server = ingest_db.clone();
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            if ingest {
                tokio::spawn(ingest_only(ingest_db_server, ingest_listen, ingest_stopped));
            }
            serve(config, async {
                let _ = stopped.await;
            })
            .await
        })
    });

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    client.block_on(async {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(MAX_OUTSTANDING)
            .build()
            .expect("client");
        let base = format!("http://{listen}");
        ready(&http, &base).await;
        let store = store::open(&db, &StoreOptions::default())
            .await
            .expect("open the same SQLite file");
        let commit = support::raw_commit(store.as_ref(), 300).await;
        let create = raw_create(store.as_ref(), 300).await;
        let mut next_id = 1u64;

        let target = |scheme: Option<Scheme>, path: &'static str, base: &str| {
            Arc::new(Target {
                http: http.clone(),
                base: base.to_string(),
                scheme,
                path,
            })
        };
        let mut cases: Vec<(&str, Arc<Target>, bool)> = Vec::new();
        if want("plain") {
            cases.push(("`plain`", target(None, "/hooks/plain", &base), true));
        }
        if want("signed") {
            cases.push(("`signed`", target(Some(hmac()), "/hooks/signed", &base), true));
        }
        if ingest {
            let ingest_base = format!("http://{ingest_listen}");
            ready(&http, &ingest_base).await;
            cases.push((
                "`plain`, executor not running",
                target(None, "/hooks/plain", &ingest_base),
                false,
            ));
        }

        println!("Baselines, same SQLite file (synchronous=FULL), server idle:\n");
        println!("| what | median |");
        println!("| --- | --- |");
        println!(
            "| one-row write transaction (`kv_put`) | {} ({:.0} commits/s) |",
            ms(commit),
            1.0 / commit.as_secs_f64()
        );
        println!(
            "| one `create_run` (run + 2 step rows + event) | {} |",
            ms(create)
        );
        for (label, target, executor) in &cases {
            let idle = one_at_a_time(target, &mut next_id, 200).await;
            println!("| one {label} webhook at a time (closed loop) | {} |", ms(idle));
            if *executor {
                drained(store.as_ref()).await;
            }
        }

        println!(
            "\nOpen loop, latency from the scheduled send to the `202` (limit: p99 {}):\n",
            ms(P99_LIMIT)
        );
        println!("| webhook | rate | requests | errors | p50 | p90 | p99 | max |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        // The baseline under the same schedule: what the disk's flushes alone cost at 1,000/s.
        let disk = open_loop(&commits(&store), &mut next_id, 1000, headline_secs).await;
        println!(
            "{}",
            row("baseline: one-row write transaction (`kv_put`), server idle", &disk)
        );
        let mut summary = Vec::new();
        for (label, target, executor) in &cases {
            let drain = executor.then_some(store.as_ref());
            let (headline, best) =
                measure(label, target, drain, &mut next_id, headline_secs, step_secs).await;
            summary.push((label, headline, best));
        }
        println!("\nSummary:\n");
        println!("| webhook | p99 at 1,000/s | p99 ÷ raw commit | p99 ÷ baseline p99 at 1,000/s | sustained max (p99 ≤ 50 ms, no errors) | max ÷ raw commit rate |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for (label, headline, best) in summary {
            let best_text = match (step_secs, best) {
                (None, _) => "not measured".to_string(),
                (Some(_), None) => "below 50/s".to_string(),
                (Some(_), Some(b)) => format!("{b}/s"),
            };
            let ratio = best.map_or("-".to_string(), |b| {
                format!("{:.2}×", f64::from(b) * commit.as_secs_f64())
            });
            println!(
                "| {label} | {} | {:.1}× | {:.1}× | {best_text} | {ratio} |",
                ms(headline.p99),
                headline.p99.as_secs_f64() / commit.as_secs_f64(),
                headline.p99.as_secs_f64() / disk.p99.as_secs_f64()
            );
        }
        store.close().await;
    });
    let _ = stop_ingest.send(());
    let _ = stop.send(());
    server
        .join()
        .expect("server thread")
        .expect("the service stopped cleanly");
}
