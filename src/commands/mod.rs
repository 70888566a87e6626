//! One module per subcommand. Each returns the process exit code, or an error for usage and IO
//! problems (exit 2).

pub mod check;
pub mod client;
pub mod graph;
pub mod migrate;
pub mod run;
pub mod runs;
pub mod secret;
pub mod serve;

use braid_dsl::diagnostic::Diagnostic;
use braid_dsl::render;
use braid_dsl::SourceMap;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Exit code for a usage or IO error (2, as clap uses for usage errors).
pub fn exit_usage() -> ExitCode {
    ExitCode::from(2)
}

/// Exit code when the input has errors (diagnostics, a failed run).
pub fn exit_failure() -> ExitCode {
    ExitCode::from(1)
}

/// Prints diagnostics on stderr with source snippets (coloured when stderr is a terminal).
pub fn print_diagnostics(sources: &SourceMap, diagnostics: &[Diagnostic]) {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    eprint!("{}", render::to_human(sources, diagnostics, color));
}

/// How `braid serve` writes its logs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Logs through `tracing` on stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
