//! The `braid` command: check and graph workflows (and, as the engine grows, run and serve them).

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
        Command::Secret(args) => block_on(commands::secret::run(args)),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            commands::exit_usage()
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
