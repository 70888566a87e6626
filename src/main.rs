//! The `braid` command: check, graph and run workflows, serve them, and operate a server.

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Braid: durable workflows for business-system integrations.
#[derive(Parser)]
#[command(name = "braid", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile workflow files or directories and report diagnostics.
    Check(commands::check::CheckArgs),
    /// Print a workflow's step graph as Graphviz dot or Mermaid.
    Graph(commands::graph::GraphArgs),
    /// Run one workflow to completion (or resume an interrupted run).
    Run(commands::run::RunArgs),
    /// Apply the store's schema migrations.
    Migrate(commands::migrate::MigrateArgs),
    /// Run the service: webhooks, cron, the HTTP API and the executor.
    Serve(commands::serve::ServeArgs),
    /// List the workflows a server serves (and the files it could not load).
    Workflows(commands::runs::WorkflowsArgs),
    /// Start a run on a server.
    Start(commands::runs::StartArgs),
    /// List, show, retry, cancel and signal runs on a server.
    Runs(commands::runs::RunsArgs),
    /// Manage the encrypted secrets `secret("NAME")` reads: set, list, delete, key.
    Secret(commands::secret::SecretArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Check(args) => commands::check::run(args),
        Command::Graph(args) => commands::graph::run(args),
        Command::Run(args) => block_on(commands::run::run(args)),
        Command::Migrate(args) => block_on(commands::migrate::run(args)),
        Command::Serve(args) => block_on(commands::serve::run(args)),
        Command::Workflows(args) => block_on(commands::runs::workflows(args)),
        Command::Start(args) => block_on(commands::runs::start(args)),
        Command::Runs(args) => block_on(commands::runs::runs(args)),
        Command::Secret(args) => block_on(commands::secret::run(args)),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            // The server refused: like a failed run, exit 1; anything else is usage or IO.
            if err.downcast_ref::<commands::client::ApiFailure>().is_some() {
                commands::exit_failure()
            } else {
                commands::exit_usage()
            }
        }
    }
}

/// Runs an async command on a multi-threaded runtime.
fn block_on(
    command: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(command)
}
