//! Connections kept out of the PostgreSQL pool between group commits.
//!
//! sqlx tests every connection handed back to its pool with a round trip to the server (a
//! `ping`, in a task of its own). A group commit is one statement (`record_successes`), a
//! round trip of its own; handing its connection back would add another, and the wake-ups of
//! the task making it, to every batch. So group commits run on a kept connection and keep it
//! again when the statement ends without error; any other goes back to the pool, which tests
//! it before it is used again. (Reads kept this way measured slower, not faster: see
//! docs/benchmarks.md, stop 15.)

use crate::store::sql::{Executor, Query, Row};
use crate::store::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A connection out of the pool, with when it left the pool.
struct Out {
    conn: PoolConnection<Postgres>,
    since: Instant,
    /// Whether it was taken from the kept ones (not lent by the pool just now).
    was_kept: bool,
}

/// A kept connection, with when its last statement ended.
struct Idle {
    out: Out,
    used: Instant,
}

/// The pool, and the connections kept out of it.
pub(super) struct Kept {
    pool: PgPool,
    /// The connections kept.
    conns: Mutex<Vec<Idle>>,
    /// The most kept at once: a few, and never more than half the pool.
    cap: usize,
    /// How long a kept connection may sit unused and still be taken without a test.
    idle: Duration,
}

/// The most connections kept: as many as group commits write side by side, with one to
/// spare.
const MOST_KEPT: usize = 4;

impl Kept {
    /// Keeps connections of `pool`: up to half the most it opens (at least one), each taken
    /// again without a test if it was used within `idle`.
    pub(super) fn new(pool: PgPool, idle: Duration) -> Self {
        let most = pool.options().get_max_connections();
        let half = usize::try_from(most / 2).unwrap_or(MOST_KEPT);
        Kept {
            pool,
            conns: Mutex::new(Vec::new()),
            cap: half.clamp(1, MOST_KEPT),
            idle,
        }
    }

    /// A connection: a kept one used recently (so known to be alive), else one from the
    /// pool.
    async fn acquire(&self) -> Result<Out, StoreError> {
        let kept = self.conns().pop();
        match kept {
            Some(idle) if idle.used.elapsed() < self.idle => Ok(Out {
                was_kept: true,
                ..idle.out
            }),
            // One that sat unused goes back to the pool, which tests it before it is used.
            _ => self.lent().await,
        }
    }

    /// A connection lent by the pool.
    async fn lent(&self) -> Result<Out, StoreError> {
        Ok(Out {
            conn: self.pool.acquire().await?,
            since: Instant::now(),
            was_kept: false,
        })
    }

    /// Keeps `out`, whose statement just ended without error, unless enough are kept or it
    /// has been out of the pool for the pool's `max_lifetime`: handed back, the pool closes
    /// it and opens another, as it does with the connections it lends.
    fn keep(&self, out: Out) {
        let lifetime = self.pool.options().get_max_lifetime();
        if lifetime.is_some_and(|most| out.since.elapsed() >= most) {
            return;
        }
        let mut conns = self.conns();
        if conns.len() < self.cap {
            conns.push(Idle {
                out,
                used: Instant::now(),
            });
        }
    }

    /// Hands the kept connections back when the pool has none idle and may open no more: a
    /// transaction about to wait for a connection must not wait for one idling here.
    pub(super) fn relieve(&self) {
        let full = self.pool.size() >= self.pool.options().get_max_connections();
        if full && self.pool.num_idle() == 0 {
            self.conns().clear();
        }
    }

    /// Hands every kept connection back (before the pool closes: closing waits for them).
    pub(super) fn clear(&self) {
        self.conns().clear();
    }

    /// The kept connections, also after a panic elsewhere (the list holds no invariant a
    /// panic could break).
    fn conns(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs statements on a kept connection. A kept connection the server has closed meanwhile
/// (a restart, a fail-over, an administrator) fails its next statement; the statement then
/// runs again, once, on a connection the pool lends. The first try may have run on the server
/// all the same (the connection can break while the server runs it), so a statement run here
/// must be one that may run twice: the group commit's call is (a completion it already
/// recorded no longer matches a held step, and is left to the rest of the batch).
impl Executor for &Kept {
    async fn fetch_rows(self, query: &Query<'_>) -> Result<Vec<Row>, StoreError> {
        let mut out = self.acquire().await?;
        let rows = match (&mut *out.conn).fetch_rows(query).await {
            Err(StoreError::Unavailable(_)) if out.was_kept => {
                out = self.lent().await?;
                (&mut *out.conn).fetch_rows(query).await?
            }
            done => done?,
        };
        self.keep(out);
        Ok(rows)
    }

    async fn execute_query(self, query: &Query<'_>) -> Result<u64, StoreError> {
        let mut out = self.acquire().await?;
        let changed = match (&mut *out.conn).execute_query(query).await {
            Err(StoreError::Unavailable(_)) if out.was_kept => {
                out = self.lent().await?;
                (&mut *out.conn).execute_query(query).await?
            }
            done => done?,
        };
        self.keep(out);
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::query;
    use sqlx::postgres::PgPoolOptions;

    async fn pool(max: u32) -> PgPool {
        pool_with(PgPoolOptions::new().max_connections(max)).await
    }

    async fn pool_with(options: PgPoolOptions) -> PgPool {
        options
            .acquire_timeout(Duration::from_secs(2))
            .connect(&braid_testkit::fresh_postgres_url().await)
            .await
            .expect("connect")
    }

    async fn backend(kept: &Kept) -> i64 {
        let rows = query("SELECT pg_backend_pid()::int8 AS pid")
            .fetch_all(kept)
            .await
            .expect("pid");
        rows[0].try_get("pid").expect("pid column")
    }

    #[tokio::test]
    async fn statements_that_run_alone_keep_their_connection() {
        let kept = Kept::new(pool(8).await, Duration::from_secs(10));
        let first = backend(&kept).await;
        assert_eq!(kept.conns().len(), 1);
        assert_eq!(
            backend(&kept).await,
            first,
            "the kept connection is used again"
        );
        // A connection whose statement failed goes back to the pool.
        assert!(query("SELECT no_such_column")
            .fetch_all(&kept)
            .await
            .is_err());
        assert_eq!(kept.conns().len(), 0);
    }

    #[tokio::test]
    async fn a_connection_unused_too_long_goes_back_to_the_pool() {
        let kept = Kept::new(pool(8).await, Duration::ZERO);
        backend(&kept).await;
        let after_first = Instant::now();
        let acquired = kept.acquire().await.expect("acquire");
        assert!(
            acquired.since >= after_first,
            "lent by the pool afresh, not taken from the kept ones"
        );
    }

    #[tokio::test]
    async fn a_connection_out_for_the_pools_lifetime_goes_back_to_it() {
        let lifetime = Duration::from_millis(20);
        let options = PgPoolOptions::new().max_lifetime(lifetime);
        let kept = Kept::new(pool_with(options).await, Duration::from_secs(10));
        let first = backend(&kept).await;
        assert_eq!(kept.conns().len(), 1);
        tokio::time::sleep(lifetime * 2).await;
        assert_eq!(
            backend(&kept).await,
            first,
            "still kept when the statement began"
        );
        assert_eq!(kept.conns().len(), 0, "handed back once past its lifetime");
    }

    #[tokio::test]
    async fn a_kept_connection_the_server_closed_is_replaced_without_an_error() {
        let pool = pool(8).await;
        let kept = Kept::new(pool.clone(), Duration::from_secs(10));
        let first = backend(&kept).await;
        let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1::int)")
            .bind(first)
            .fetch_one(&pool)
            .await
            .expect("terminate");
        assert!(ended);
        let second = backend(&kept).await;
        assert_ne!(second, first, "the closed connection is not used again");
        assert_eq!(kept.conns().len(), 1);
    }

    #[tokio::test]
    async fn a_transaction_does_not_wait_for_a_kept_connection() {
        // Two connections in all: one kept, one in a transaction; a second transaction
        // gets the kept one instead of timing out.
        let pool = pool(2).await;
        let kept = Kept::new(pool.clone(), Duration::from_secs(10));
        backend(&kept).await;
        let _held = pool.begin().await.expect("first transaction");
        assert_eq!(kept.conns().len(), 1);
        kept.relieve();
        assert_eq!(kept.conns().len(), 0);
        pool.begin().await.expect("second transaction");
    }
}
