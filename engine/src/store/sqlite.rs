//! The SQLite store: one database file in WAL mode, one write connection (writers queue in
//! the process instead of spinning on `SQLITE_BUSY`; each write transaction starts with
//! `BEGIN IMMEDIATE`, so another process's writer makes it wait for the busy timeout rather
//! than fail on a lock upgrade) and a pool of read connections.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

use super::Synchronous;
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

use super::validate::validate_steps;
use super::*;
use crate::clock::Clock;

/// The database of this module's copy of the shared body.
type Db = sqlx::Sqlite;
/// A connection of [`Db`].
type Conn = sqlx::SqliteConnection;
/// The store the shared body implements [`Store`] for.
type This = SqliteStore;
/// Which backend this is.
const BACKEND: Backend = Backend::Sqlite;

/// What claim queries end with: nothing, SQLite has a single writer.
macro_rules! claim_lock {
    () => {
        ""
    };
}

/// What a read of rows about to be changed, that may pass over busy ones, ends with:
/// nothing, SQLite has a single writer.
macro_rules! skip_locked {
    () => {
        ""
    };
}

/// What a read of a row about to be changed ends with: nothing, SQLite has a single writer.
macro_rules! lock_rows {
    () => {
        ""
    };
}

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    writer: sqlx::SqlitePool,
    reader: sqlx::SqlitePool,
    clock: Arc<dyn Clock>,
    url: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("url", &self.url)
            .finish()
    }
}

/// Settings read from a `sqlite://` URL, with Braid's own parameters taken out.
#[derive(Debug, PartialEq)]
struct SqliteUrl {
    /// The URL to hand to sqlx.
    url: String,
    synchronous: Option<Synchronous>,
    busy_timeout: Option<Duration>,
    in_memory: bool,
}

/// Splits Braid's `synchronous` and `busy_timeout` parameters off a `sqlite:` URL.
fn parse_url(url: &str) -> Result<SqliteUrl, StoreError> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let mut synchronous = None;
    let mut busy_timeout = None;
    let mut in_memory = base.contains(":memory:");
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "synchronous" => {
                synchronous = Some(match v.to_ascii_lowercase().as_str() {
                    "full" => Synchronous::Full,
                    "normal" => Synchronous::Normal,
                    other => {
                        return Err(StoreError::Invalid(format!(
                            "synchronous={other}: use full or normal"
                        )))
                    }
                })
            }
            "busy_timeout" => {
                let ms: u64 = v.parse().map_err(|_| {
                    StoreError::Invalid(format!("busy_timeout={v}: milliseconds expected"))
                })?;
                busy_timeout = Some(Duration::from_millis(ms));
            }
            _ => {
                if k == "mode" && v == "memory" {
                    in_memory = true;
                }
                kept.push(pair);
            }
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(SqliteUrl {
        url,
        synchronous,
        busy_timeout,
        in_memory,
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the SQLite database at `url` (`sqlite://path`), applying
    /// migrations unless `options.migrate` is false.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let parsed = parse_url(url)?;
        let synchronous = match options
            .synchronous
            .or(parsed.synchronous)
            .unwrap_or(Synchronous::Full)
        {
            Synchronous::Full => SqliteSynchronous::Full,
            Synchronous::Normal => SqliteSynchronous::Normal,
        };
        let connect = SqliteConnectOptions::from_str(&parsed.url)
            .map_err(|e| StoreError::Invalid(format!("{url}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(parsed.busy_timeout.unwrap_or(options.busy_timeout))
            .foreign_keys(true)
            .statement_cache_capacity(256);
        // A connection to a local file does not go stale: no ping (a round trip to the
        // connection's worker thread) before every use.
        let writer_options = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout);
        let (writer, reader) = if parsed.in_memory {
            // Every connection to `:memory:` is a database of its own: share one.
            let pool = writer_options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(connect)
                .await?;
            (pool.clone(), pool)
        } else {
            let writer = writer_options.connect_with(connect.clone()).await?;
            let reader = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(options.max_connections.max(1))
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            (writer, reader)
        };
        let store = SqliteStore {
            writer,
            reader,
            clock: options.clock.clone(),
            url: url.to_string(),
        };
        if options.migrate {
            store.run_migrations().await?;
        }
        Ok(store)
    }

    /// Starts a write transaction holding the database's write lock from its first
    /// statement.
    async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(Tx::new(self.writer.begin_with("BEGIN IMMEDIATE").await?))
    }

    /// Starts a read transaction: one consistent snapshot (WAL).
    async fn begin_read(&self) -> Result<sqlx::Transaction<'static, Db>, StoreError> {
        Ok(self.reader.begin().await?)
    }

    /// The pool for single-statement reads.
    fn read_pool(&self) -> &sqlx::Pool<Db> {
        &self.reader
    }

    /// Applies `migrations/sqlite`.
    async fn run_migrations(&self) -> Result<(), StoreError> {
        let mut migrator = sqlx::migrate!("../migrations/sqlite");
        // Migrations only ever add (tables, columns with defaults, indexes), so an engine
        // older than the database keeps working beside newer ones during a rolling upgrade,
        // and may be restarted: it ignores the migrations it does not know.
        migrator.set_ignore_missing(true);
        migrator.run(&self.writer).await?;
        Ok(())
    }

    /// Closes both pools.
    async fn close_pools(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

// The shared body of SQL (see `shared/common.rs`).
include!("shared/common.rs");
include!("shared/create.rs");
include!("shared/claim.rs");
include!("shared/complete.rs");
include!("shared/progress.rs");
include!("shared/control.rs");
include!("shared/reads.rs");
include!("shared/kv.rs");
include!("shared/ticks.rs");
include!("shared/rate_limits.rs");
include!("shared/store_impl.rs");

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn braid_parameters_are_taken_out() {
        let p =
            parse_url("sqlite://data/braid.db?synchronous=normal&mode=rwc&busy_timeout=250").ok();
        assert_eq!(
            p,
            Some(SqliteUrl {
                url: "sqlite://data/braid.db?mode=rwc".into(),
                synchronous: Some(Synchronous::Normal),
                busy_timeout: Some(Duration::from_millis(250)),
                in_memory: false,
            })
        );
        assert!(parse_url("sqlite://x.db?synchronous=off").is_err());
        assert!(parse_url("sqlite::memory:")
            .map(|p| p.in_memory)
            .unwrap_or(false));
    }
}
