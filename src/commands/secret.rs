//! `braid secret set|list|delete|key`: the engine's secret store, encrypted with
//! `BRAID_SECRET_KEY`.

use anyhow::{bail, Context};
use braid_engine::crypto::{generate_key, Sealer};
use braid_engine::secret_store::SecretStore;
use braid_engine::store::{self, StoreOptions};
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

/// Arguments of `braid secret`.
#[derive(clap::Args)]
pub struct SecretArgs {
    #[command(subcommand)]
    command: SecretCommand,
}

#[derive(clap::Subcommand)]
enum SecretCommand {
    /// Store a secret read from standard input (a trailing newline is dropped); needs
    /// BRAID_SECRET_KEY.
    Set {
        /// The name `secret("NAME")` reads.
        name: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// List the names of the stored secrets (never their values).
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// Delete a stored secret.
    Delete {
        /// The secret's name.
        name: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Print a fresh random key to use as BRAID_SECRET_KEY.
    Key,
}

/// The store, as `braid run` takes it.
#[derive(clap::Args)]
struct DbArg {
    /// The store: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "BRAID_DATABASE_URL", default_value = "sqlite://braid.db")]
    db: String,
}

/// Runs `braid secret …`.
pub async fn run(args: SecretArgs) -> anyhow::Result<ExitCode> {
    let sealer = Sealer::from_env();
    match args.command {
        SecretCommand::Key => {
            println!("{}", generate_key());
            eprintln!("set it as BRAID_SECRET_KEY for every braid process using the store; a lost key cannot be recovered");
        }
        SecretCommand::Set { name, db } => {
            braid_engine::secret_store::validate_name(&name)?;
            if !sealer.encrypts() {
                bail!(braid_engine::secret_store::SecretStoreError::NoKey);
            }
            let value = read_value()?;
            let store = open(&db.db).await?;
            SecretStore::new(store.as_ref(), &sealer)
                .set(&name, &value)
                .await
                .with_context(|| format!("storing secret `{name}`"))?;
            eprintln!("secret `{name}` stored");
        }
        SecretCommand::List { db } => {
            let store = open(&db.db).await?;
            let names = SecretStore::new(store.as_ref(), &sealer)
                .names()
                .await
                .context("listing secrets")?;
            if names.is_empty() {
                eprintln!("no secrets stored");
            }
            for name in names {
                println!("{name}");
            }
        }
        SecretCommand::Delete { name, db } => {
            let store = open(&db.db).await?;
            let existed = SecretStore::new(store.as_ref(), &sealer)
                .delete(&name)
                .await
                .with_context(|| format!("deleting secret `{name}`"))?;
            if !existed {
                bail!("no secret named `{name}` is stored");
            }
            eprintln!("secret `{name}` deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn open(url: &str) -> anyhow::Result<std::sync::Arc<dyn store::Store>> {
    store::open(url, &StoreOptions::default())
        .await
        .context("opening the store")
}

/// The secret's value from standard input, without one trailing newline; empty is refused.
fn read_value() -> anyhow::Result<String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("enter the value, then a newline and Ctrl-D:");
    }
    let mut bytes = Vec::new();
    stdin
        .read_to_end(&mut bytes)
        .context("reading the value from standard input")?;
    let mut value =
        String::from_utf8(bytes).context("the value on standard input is not UTF-8 text")?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        bail!("the value on standard input is empty; nothing was stored");
    }
    Ok(value)
}
