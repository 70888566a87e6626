//! One module per subcommand. Each returns the process exit code, or an error for usage and IO
//! problems (exit 2).

pub mod check;
pub mod graph;
pub mod migrate;
pub mod run;
pub mod secret;

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
