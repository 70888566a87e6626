//! `braid run FILE`: one workflow run to completion on the same store `serve` uses.

use super::{exit_failure, print_diagnostics};
use anyhow::{bail, Context};
use braid_engine::clock::SystemClock;
use braid_engine::crypto::Sealer;
use braid_engine::executor::{Engine, ExecutorConfig, Progress, StartRequest};
use braid_engine::secret_store::load_stored_secrets;
use braid_engine::store::{self, RunStatus, StoreOptions};
use braid_stdlib::compile::{compile, load_paths};
use serde_json::Value;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `braid run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The workflow file (or a directory holding the project).
    #[arg(required_unless_present = "resume")]
    path: Option<PathBuf>,
    /// Which workflow to run; required when the project has several.
    #[arg(long)]
    workflow: Option<String>,
    /// The run's input: JSON text, or `@file` to read it from a file.
    #[arg(long, default_value = "{}")]
    input: String,
    /// Continue an interrupted run instead of starting one.
    #[arg(long, value_name = "RUN_ID")]
    resume: Option<String>,
    /// The store: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "BRAID_DATABASE_URL", default_value = "sqlite://braid.db")]
    db: String,
    /// How long a claimed step stays this process's without a heartbeat: after a crash, the
    /// next process takes the step back once this has passed (`500ms`, `30s`, `1m`).
    #[arg(long, env = "BRAID_LEASE", default_value = "30s", value_parser = humantime::parse_duration)]
    lease: Duration,
}

/// Runs `braid run`.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // The id comes first, so a supervisor that kills this process can resume the run.
    let run_id = args
        .resume
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    eprintln!("run {run_id}");

    let plans = match &args.path {
        Some(path) => {
            let sources = load_paths(std::slice::from_ref(path)).context("loading workflows")?;
            let output = compile(&sources);
            if output.diagnostics.iter().any(|d| d.is_error()) {
                print_diagnostics(&sources, &output.diagnostics);
                return Ok(exit_failure());
            }
            output.project.workflows
        }
        None => Default::default(),
    };
    let store = store::open(&args.db, &StoreOptions::default())
        .await
        .context("opening the store")?;
    let stored_secrets = load_stored_secrets(store.as_ref(), &Sealer::from_env())
        .await
        .context("loading the stored secrets")?;
    let engine = Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        stored_secrets,
        ExecutorConfig {
            lease: args.lease,
            ..ExecutorConfig::default()
        },
    );
    engine.load_workflows(plans.values().cloned());

    if args.resume.is_none() {
        let plan = match &args.workflow {
            Some(name) => engine
                .workflow(name)
                .with_context(|| format!("no workflow named `{name}`"))?,
            None if plans.len() == 1 => plans
                .values()
                .next()
                .map(|p| Arc::new(p.clone()))
                .context("a workflow")?,
            None => bail!(
                "several workflows; choose one with --workflow: {}",
                plans.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        };
        let input = read_input(&args.input)?;
        engine
            .start_run(
                &plan,
                StartRequest {
                    id: Some(run_id.clone()),
                    input,
                    ..Default::default()
                },
            )
            .await
            .context("starting the run")?;
    } else {
        store
            .load_run(&run_id)
            .await
            .with_context(|| format!("run {run_id}"))?;
    }

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let progress = engine.subscribe();
    let worker = tokio::spawn(engine.clone().run(stopped, Duration::from_secs(5)));
    let printer = tokio::spawn(print_progress(progress, run_id.clone()));
    let run = loop {
        let run = store.load_run(&run_id).await.context("reading the run")?;
        if run.status.is_terminal() {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = stop.send(true);
    let _ = worker.await;
    printer.abort();

    if run.status == RunStatus::Succeeded {
        println!(
            "{}",
            serde_json::to_string_pretty(&run.output.unwrap_or(Value::Null))?
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("run {run_id} {}", run.status);
        if let Some(error) = run.error {
            eprintln!("{}", serde_json::to_string_pretty(&error)?);
        }
        Ok(exit_failure())
    }
}

fn read_input(arg: &str) -> anyhow::Result<Value> {
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading input from `{path}`"))?
        }
        None => arg.to_string(),
    };
    serde_json::from_str(&text).context("the input is not valid JSON")
}

/// Prints one line per step event; on a terminal, in colour.
async fn print_progress(mut events: tokio::sync::broadcast::Receiver<Progress>, run_id: String) {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    while let Ok(p) = events.recv().await {
        if p.run_id != run_id {
            continue;
        }
        let (mark, paint) = match p.event {
            "succeeded" => ("✓", "32"),
            "failed" => ("✗", "31"),
            "retry" => ("↻", "33"),
            "wait" => ("…", "36"),
            "skipped" => ("-", "90"),
            "spawn" => ("⇉", "36"),
            _ => ("▶", "0"),
        };
        let detail = p.message.map(|m| format!(": {m}")).unwrap_or_default();
        let line = format!(
            "{mark} {} (attempt {}) {}{detail}",
            p.key, p.attempt, p.event
        );
        if color {
            eprintln!("\x1b[{paint}m{line}\x1b[0m");
        } else {
            eprintln!("{line}");
        }
    }
}
