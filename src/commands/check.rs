//! `braid check PATH...`: compile and report.

use super::{exit_failure, print_diagnostics};
use anyhow::Context;
use braid_dsl::render;
use braid_stdlib::compile::{compile, load_paths};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `braid check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Files or directories of `.braid` files (directories are searched recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format of the diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also list the environment variables and secrets the workflows read (for deploy checks).
    #[arg(long)]
    requirements: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Source snippets on stderr.
    Human,
    /// A JSON array on stdout.
    Json,
}

/// Runs `braid check`.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let sources = load_paths(&args.paths).context("loading workflows")?;
    let output = compile(&sources);
    let errors = output.diagnostics.iter().filter(|d| d.is_error()).count();
    match args.format {
        Format::Json => {
            let json = render::to_json(&sources, &output.diagnostics);
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
        Format::Human => {
            print_diagnostics(&sources, &output.diagnostics);
            let files = sources.files.len();
            let workflows = output.project.workflows.len();
            if errors == 0 {
                eprintln!("checked {files} file(s): {workflows} workflow(s), no errors");
            } else {
                eprintln!("checked {files} file(s): {errors} error(s)");
            }
        }
    }
    if args.requirements {
        let env: Vec<_> = output.project.required_env.iter().cloned().collect();
        let secrets: Vec<_> = output.project.required_secrets.iter().cloned().collect();
        println!("{}", serde_json::json!({ "env": env, "secrets": secrets }));
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        exit_failure()
    })
}
