//! The PostgreSQL store: several engine processes may share one database. Claims lock the
//! step and run rows they take with `FOR NO KEY UPDATE SKIP LOCKED`, so claimers never wait
//! for each other; every state change locks its run's row first, so the changes of one run
//! are serialised.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;

mod kept;

use super::validate::validate_steps;
use super::*;
use crate::clock::Clock;
use kept::Kept;

/// The database of this module's copy of the shared body.
type Db = sqlx::Postgres;
/// A connection, as the shared body runs statements on it.
type Conn = sqlx::PgConnection;
/// A write transaction, as the shared body's `Tx` holds it.
type DbTx = sqlx::Transaction<'static, Db>;
/// The store the shared body implements [`Store`] for.
type This = PostgresStore;
/// Which backend this is.
const BACKEND: Backend = Backend::Postgres;

/// What claim queries end with: lock the rows taken, skip rows another claimer holds.
macro_rules! claim_lock {
    () => {
        " FOR NO KEY UPDATE OF s, r SKIP LOCKED"
    };
}

/// What a read of rows about to be changed, that may pass over busy ones, ends with: lock
/// the rows read, skipping rows another transaction holds.
macro_rules! skip_locked {
    () => {
        " FOR NO KEY UPDATE SKIP LOCKED"
    };
}

/// What a read of a row about to be changed ends with: lock it until the transaction ends.
macro_rules! lock_rows {
    () => {
        " FOR NO KEY UPDATE"
    };
}

/// The PostgreSQL implementation of [`Store`].
pub struct PostgresStore {
    pool: sqlx::PgPool,
    /// Connections kept out of the pool between group commits.
    kept: Kept,
    clock: Arc<dyn Clock>,
    url: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .finish()
    }
}

/// How long a pooled connection may sit unused before it is pinged on acquire.
const IDLE_BEFORE_PING: std::time::Duration = std::time::Duration::from_secs(10);

impl PostgresStore {
    /// Connects to the PostgreSQL database at `url`, applying migrations unless
    /// `options.migrate` is false.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let shown = super::redact_url(url);
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("{shown}: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // A connection in steady use is known to be alive (and a broken one is dropped
            // when it is returned to the pool): only one that sat idle is pinged before use,
            // instead of a round trip to the server on every acquire.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Unavailable(m) => StoreError::Unavailable(format!("{shown}: {m}")),
                other => other,
            })?;
        let store = PostgresStore {
            kept: Kept::new(pool.clone(), IDLE_BEFORE_PING),
            pool,
            clock: options.clock.clone(),
            url: shown,
        };
        if options.migrate {
            store.run_migrations().await?;
        }
        Ok(store)
    }

    /// Starts a write transaction (READ COMMITTED; rows are locked as they are changed).
    async fn begin_write(&self) -> Result<Tx, StoreError> {
        self.kept.relieve();
        Ok(Tx::new(self.pool.begin().await?, None))
    }

    /// A transaction for creating runs: as [`PostgresStore::begin_write`], writes do not
    /// queue for one connection here.
    async fn begin_creation(
        &self,
        _runs: &[&NewRun],
        _ids: &[String],
        _now: i64,
    ) -> Result<Began<Tx, Outcomes>, StoreError> {
        Ok(Began::Alone(self.begin_write().await?))
    }

    /// A transaction for a claim: as [`PostgresStore::begin_write`], claimers skip each
    /// other's rows here instead of queueing.
    async fn begin_claim(
        &self,
        _worker_id: &str,
        _now: i64,
        _limit: u32,
        _lease_ms: i64,
    ) -> Result<Began<Tx, Vec<Claimed>>, StoreError> {
        Ok(Began::Alone(self.begin_write().await?))
    }

    /// Never: writers do not wait for each other here (except on the same rows).
    fn writer_wanted(&self) -> bool {
        false
    }

    /// Starts a read transaction that sees one snapshot.
    async fn begin_read(&self) -> Result<sqlx::Transaction<'static, Db>, StoreError> {
        self.kept.relieve();
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?)
    }

    /// The pool for single-statement reads.
    fn read_pool(&self) -> &sqlx::Pool<Db> {
        &self.pool
    }

    /// Applies `migrations/postgres` (under sqlx's advisory lock, so concurrent starts are
    /// safe).
    async fn run_migrations(&self) -> Result<(), StoreError> {
        let mut migrator = sqlx::migrate!("../migrations/postgres");
        // Migrations only ever add (tables, columns with defaults, indexes, functions under new
        // names) or drop an index, so an engine older than the database keeps working beside
        // newer ones during a rolling upgrade, and may be restarted: it ignores the migrations
        // it does not know.
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool (once the kept connections are back in it: closing waits for them).
    async fn close_pools(&self) {
        self.kept.clear();
        self.pool.close().await;
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
include!("postgres/batch.rs");
