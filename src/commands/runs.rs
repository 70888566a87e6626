//! The operator commands: `braid workflows`, `braid start`, `braid runs …`, against a running
//! server (`--server`, `BRAID_SERVER`). Tables for people, `--json` for scripts.

use super::client::{json_arg, Client, ServerArgs};
use anyhow::Context;
use serde_json::Value;
use std::process::ExitCode;

/// Arguments of `braid workflows`.
#[derive(clap::Args)]
pub struct WorkflowsArgs {
    #[command(flatten)]
    server: ServerArgs,
}

/// Arguments of `braid start`.
#[derive(clap::Args)]
pub struct StartArgs {
    /// The workflow to start.
    workflow: String,
    /// The run's input: JSON text, or `@file`.
    #[arg(long, default_value = "{}")]
    input: String,
    #[command(flatten)]
    server: ServerArgs,
}

/// Arguments of `braid runs`.
#[derive(clap::Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    command: RunsCommand,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Subcommand)]
enum RunsCommand {
    /// Runs, newest first.
    List {
        /// Only this workflow's runs.
        #[arg(long)]
        workflow: Option<String>,
        /// Only runs with this status.
        #[arg(long)]
        status: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// A run's steps, attempts and timeline.
    Show {
        /// The run's id.
        id: String,
    },
    /// Retries a failed run from where it failed.
    Retry {
        /// The run's id.
        id: String,
    },
    /// Cancels a run.
    Cancel {
        /// The run's id.
        id: String,
    },
    /// Sends a signal to a run.
    Signal {
        /// The run's id.
        id: String,
        /// The signal's name.
        name: String,
        /// The payload: JSON text, or `@file`.
        #[arg(long, default_value = "null")]
        data: String,
    },
}

/// Runs `braid workflows`.
pub async fn workflows(args: WorkflowsArgs) -> anyhow::Result<ExitCode> {
    let answer = Client::new(&args.server)?
        .get("/api/workflows", &[])
        .await?;
    if args.server.json {
        return print_json(&answer);
    }
    let rows: Vec<Vec<String>> = list(&answer, "workflows")
        .iter()
        .map(|w| {
            let triggers: Vec<String> = list(w, "triggers")
                .iter()
                .map(|t| match text(t, "kind").as_str() {
                    "webhook" => format!("webhook {} {}", text(t, "method"), text(t, "path")),
                    _ => format!("cron {} ({})", text(t, "schedule"), text(t, "timezone")),
                })
                .collect();
            vec![
                text(w, "name"),
                list(w, "steps").len().to_string(),
                triggers.join(", "),
                text(w, "description"),
            ]
        })
        .collect();
    print_table(&["WORKFLOW", "STEPS", "TRIGGERS", "DESCRIPTION"], &rows);
    for problem in list(&answer, "problems") {
        eprintln!("\n{}:\n{}", text(problem, "file"), text(problem, "message"));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `braid start`.
pub async fn start(args: StartArgs) -> anyhow::Result<ExitCode> {
    let input = json_arg(&args.input).context("--input")?;
    let path = format!("/api/workflows/{}/runs", args.workflow);
    let answer = Client::new(&args.server)?.post(&path, Some(&input)).await?;
    if args.server.json {
        return print_json(&answer);
    }
    println!("{}", text(&answer, "run_id"));
    Ok(ExitCode::SUCCESS)
}

/// Runs `braid runs …`.
pub async fn runs(args: RunsArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server)?;
    let json = args.server.json;
    let answer = match args.command {
        RunsCommand::List {
            workflow,
            status,
            limit,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(workflow.map(|w| ("workflow", w)));
            query.extend(status.map(|s| ("status", s)));
            let answer = client.get("/api/runs", &query).await?;
            if !json {
                print_runs(&answer);
                return Ok(ExitCode::SUCCESS);
            }
            answer
        }
        RunsCommand::Show { id } => {
            let answer = client.get(&format!("/api/runs/{id}"), &[]).await?;
            if !json {
                print_run(&answer);
                return Ok(ExitCode::SUCCESS);
            }
            answer
        }
        RunsCommand::Retry { id } => client.post(&format!("/api/runs/{id}/retry"), None).await?,
        RunsCommand::Cancel { id } => client.post(&format!("/api/runs/{id}/cancel"), None).await?,
        RunsCommand::Signal { id, name, data } => {
            let payload = json_arg(&data).context("--data")?;
            client
                .post(&format!("/api/runs/{id}/signals/{name}"), Some(&payload))
                .await?
        }
    };
    if json {
        return print_json(&answer);
    }
    println!(
        "{} {}",
        text(&answer, "run_id"),
        answer
            .get("status")
            .or_else(|| answer.get("signal"))
            .and_then(Value::as_str)
            .unwrap_or("ok")
    );
    Ok(ExitCode::SUCCESS)
}

fn print_runs(answer: &Value) {
    let rows: Vec<Vec<String>> = list(answer, "runs")
        .iter()
        .map(|r| {
            vec![
                text(r, "id"),
                text(r, "workflow"),
                text(r, "status"),
                time(r.get("created")),
                duration(r.get("started"), r.get("finished")),
            ]
        })
        .collect();
    print_table(&["RUN", "WORKFLOW", "STATUS", "CREATED", "TOOK"], &rows);
    if let Some(cursor) = answer.get("next_cursor").and_then(Value::as_str) {
        eprintln!("(more: --json shows next_cursor {cursor})");
    }
}

fn print_run(run: &Value) {
    println!("run       {}", text(run, "id"));
    println!("workflow  {}", text(run, "workflow"));
    println!("status    {}", text(run, "status"));
    println!("created   {}", time(run.get("created")));
    println!("input     {}", compact(run.get("input")));
    if let Some(output) = run.get("output").filter(|v| !v.is_null()) {
        println!("output    {}", compact(Some(output)));
    }
    if let Some(error) = run.get("error").filter(|v| !v.is_null()) {
        println!("error     {}", compact(Some(error)));
    }
    println!();
    let mut rows = Vec::new();
    for step in list(run, "steps") {
        rows.push(vec![
            text(step, "key"),
            text(step, "status"),
            format!("{}/{}", step["attempt"], step["max_attempts"]),
            time(step.get("started")),
            duration(step.get("started"), step.get("finished")),
            step.get("error")
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ]);
        for attempt in list(step, "attempts") {
            rows.push(vec![
                format!("  #{}", attempt["number"]),
                text(attempt, "outcome"),
                attempt["attempt"].to_string(),
                time(attempt.get("started")),
                duration(attempt.get("started"), attempt.get("finished")),
                attempt
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ]);
        }
    }
    print_table(
        &["STEP", "STATUS", "ATTEMPT", "STARTED", "TOOK", "ERROR"],
        &rows,
    );
    println!("\ntimeline");
    let rows: Vec<Vec<String>> = list(run, "events")
        .iter()
        .map(|e| {
            vec![
                time(e.get("at")),
                text(e, "kind"),
                text(e, "step_key"),
                e.get("data")
                    .filter(|d| !d.is_null())
                    .map(|d| compact(Some(d)))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    print_table(&["AT", "EVENT", "STEP", "DETAIL"], &rows);
}

fn print_json(value: &Value) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(ExitCode::SUCCESS)
}

/// Left-aligned columns, the last one unpadded.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let text: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    c.to_string()
                } else {
                    format!("{c:<width$}", width = widths[i])
                }
            })
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Compact JSON, cut to keep tables readable.
fn compact(value: Option<&Value>) -> String {
    let text = value.map(Value::to_string).unwrap_or_default();
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(119).collect::<String>())
    } else {
        text
    }
}

/// Milliseconds since the epoch as a UTC time.
fn time(ms: Option<&Value>) -> String {
    ms.and_then(Value::as_i64)
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}

fn duration(from: Option<&Value>, to: Option<&Value>) -> String {
    match (from.and_then(Value::as_i64), to.and_then(Value::as_i64)) {
        (Some(a), Some(b)) => format!("{} ms", b - a),
        _ => String::new(),
    }
}
