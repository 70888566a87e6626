//! `braid graph FILE`: a workflow's step graph as Graphviz dot or Mermaid.

use super::{exit_failure, print_diagnostics};
use anyhow::{bail, Context};
use braid_dsl::plan::render;
use braid_stdlib::compile::{compile, load_paths};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `braid graph`.
#[derive(clap::Args)]
pub struct GraphArgs {
    /// The `.braid` file (or a directory, when connections live in other files).
    path: PathBuf,
    /// Which workflow to draw; required when the file has several.
    #[arg(long)]
    workflow: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Dot)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Graphviz dot.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

/// Runs `braid graph`.
pub fn run(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let sources = load_paths(std::slice::from_ref(&args.path)).context("loading workflows")?;
    let output = compile(&sources);
    if output.diagnostics.iter().any(|d| d.is_error()) {
        print_diagnostics(&sources, &output.diagnostics);
        return Ok(exit_failure());
    }
    let workflows = &output.project.workflows;
    let plan = match &args.workflow {
        Some(name) => match workflows.get(name) {
            Some(plan) => plan,
            None => bail!("no workflow `{name}`; found: {}", names(workflows.keys())),
        },
        None => match workflows.len() {
            1 => workflows.values().next().context("one workflow")?,
            0 => bail!("`{}` defines no workflow", args.path.display()),
            _ => bail!(
                "several workflows; choose one with --workflow: {}",
                names(workflows.keys())
            ),
        },
    };
    let text = match args.format {
        Format::Dot => render::to_dot(plan),
        Format::Mermaid => render::to_mermaid(plan),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
