//! `braid migrate`: apply the store's schema migrations.

use anyhow::Context;
use braid_engine::store::{self, StoreOptions};
use std::process::ExitCode;

/// Arguments of `braid migrate`.
#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The store: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "BRAID_DATABASE_URL", default_value = "sqlite://braid.db")]
    db: String,
}

/// Runs `braid migrate`.
pub async fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let options = StoreOptions {
        migrate: false,
        ..StoreOptions::default()
    };
    let store = store::open(&args.db, &options)
        .await
        .context("opening the store")?;
    store.migrate().await.context("applying migrations")?;
    eprintln!("migrations applied");
    Ok(ExitCode::SUCCESS)
}
