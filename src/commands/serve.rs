//! `braid serve`: the long-lived service (see `braid_engine::service`).

use anyhow::Context;
use braid_engine::service::{self, ServeConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `braid serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The folder of `.braid` files to serve (reloaded when files change).
    #[arg(long, env = "BRAID_WORKFLOWS", default_value = "./workflows")]
    workflows: PathBuf,
    /// The store: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "BRAID_DATABASE_URL", default_value = "sqlite://braid.db")]
    db: String,
    /// Where to listen. Beyond 127.0.0.1 only with BRAID_API_TOKEN set.
    #[arg(long, env = "BRAID_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// How long a claimed step stays this process's without a heartbeat.
    #[arg(long, env = "BRAID_LEASE", default_value = "30s", value_parser = humantime::parse_duration)]
    lease: Duration,
    /// On SIGTERM, how long running attempts may take to finish.
    #[arg(long, env = "BRAID_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    grace: Duration,
    /// The largest webhook body accepted, in bytes.
    #[arg(long, env = "BRAID_MAX_BODY", default_value_t = 1024 * 1024)]
    max_body: usize,
    /// Database connections this process keeps open (several processes on one PostgreSQL:
    /// keep their sum under the server's `max_connections`).
    #[arg(long, env = "BRAID_DB_CONNECTIONS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    db_connections: u32,
    /// Log format.
    #[arg(long, value_enum, default_value_t = super::LogFormat::Human)]
    log_format: super::LogFormat,
}

/// Runs `braid serve` until SIGTERM or Ctrl-C.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    super::init_logging(args.log_format);
    let mut config = ServeConfig::new(args.workflows, args.db, args.listen);
    config.api_token = std::env::var("BRAID_API_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    config.lease = args.lease;
    config.grace = args.grace;
    config.max_body = args.max_body;
    config.db_connections = args.db_connections;
    service::serve(config, stop_signal())
        .await
        .context("braid serve")?;
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGTERM or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
