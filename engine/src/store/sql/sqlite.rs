//! SQLite connections that run statements on the calling thread (rusqlite), for the SQLite
//! store: the write connection with its transactions, a pool of read connections, and the
//! schema migrations.
//!
//! A statement here takes microseconds, less than the hop to a connection's own thread and
//! back that sqlx makes for each one; a transaction's commit (a disk flush) is the one long
//! wait, and it blocks only the task that commits. Each connection is used by one task at a
//! time: the writer behind an async mutex, a reader for the duration of one synchronous call
//! or read transaction.

use super::{Cell, Executor, Param, Query, Row};
use crate::store::StoreError;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a connection to the database file is opened.
#[derive(Debug, Clone)]
pub(crate) struct Opener {
    /// The database as an SQLite URI filename (`file:…`).
    pub(crate) uri: String,
    /// `PRAGMA synchronous`: `FULL` or `NORMAL`.
    pub(crate) synchronous: &'static str,
    /// How long a statement waits for another process's lock.
    pub(crate) busy_timeout: Duration,
}

/// Prepared statements kept per connection: the shared body has about a hundred distinct
/// statements, and multi-row inserts of up to `CACHED_ROWS` rows add a few dozen.
const STATEMENT_CACHE: usize = 256;

impl Opener {
    /// Opens a connection (creating the file if needed) in WAL mode with foreign keys on.
    pub(crate) fn open(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.uri, flags)
            .map_err(|e| StoreError::Unavailable(format!("opening {}: {e}", self.uri)))?;
        conn.busy_timeout(self.busy_timeout)?;
        // Statement journals (what a statement inside a transaction needs to be undone
        // alone) in memory: on a temporary file, a large group commit spilled them to disk.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
            self.synchronous
        ))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

/// `sql` with its `$n` parameters written `?n`: SQLite's numbered form, bound by position
/// (a `$n` is a named parameter to SQLite, and finding a name's position is a linear scan).
fn numbered(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    // Byte by byte, copying the stretches between parameters whole: this runs for every
    // statement executed, and only ASCII bytes (`'`, `$`, digits) are looked at.
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut copied = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' => quoted = !quoted,
            b'$' if !quoted && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push_str(&sql[copied..i]);
                out.push('?');
                copied = i + 1;
            }
            _ => {}
        }
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

/// What running a kept statement's text needs besides SQLite's prepared statement, worked out
/// once per text and thread instead of at every execution: its numbered form, and the names
/// of its columns.
struct Shape {
    numbered: Box<str>,
    columns: std::cell::OnceCell<Arc<[String]>>,
}

/// Texts a thread keeps shapes of before starting over (the shared body has a few hundred).
const SHAPES_KEPT: usize = 1024;

thread_local! {
    static SHAPES: std::cell::RefCell<std::collections::HashMap<Box<str>, std::rc::Rc<Shape>>> =
        std::cell::RefCell::default();
}

/// The shape of a kept statement's `sql`.
fn shape(sql: &str) -> std::rc::Rc<Shape> {
    SHAPES.with(|shapes| {
        let mut shapes = shapes.borrow_mut();
        if let Some(known) = shapes.get(sql) {
            return std::rc::Rc::clone(known);
        }
        if shapes.len() >= SHAPES_KEPT {
            shapes.clear();
        }
        let made = std::rc::Rc::new(Shape {
            numbered: numbered(sql).into(),
            columns: std::cell::OnceCell::new(),
        });
        shapes.insert(sql.into(), std::rc::Rc::clone(&made));
        made
    })
}

/// The names of `stmt`'s `width` columns.
fn column_names(stmt: &rusqlite::Statement<'_>, width: usize) -> Result<Arc<[String]>, StoreError> {
    Ok((0..width)
        .map(|i| stmt.column_name(i).map(str::to_string))
        .collect::<Result<_, _>>()?)
}

/// Runs `query` on `conn`: its rows, and how many rows it changed.
fn run(conn: &Connection, query: &Query<'_>) -> Result<(Vec<Row>, u64), StoreError> {
    let kept = query.persistent.then(|| shape(&query.sql));
    let mut cached;
    let mut fresh;
    let stmt: &mut rusqlite::Statement<'_> = match &kept {
        Some(shape) => {
            cached = conn.prepare_cached(&shape.numbered)?;
            &mut cached
        }
        None => {
            fresh = conn.prepare(&numbered(&query.sql))?;
            &mut fresh
        }
    };
    let count = stmt.parameter_count();
    if count > query.params.len() {
        return Err(StoreError::Database(format!(
            "{count} parameters, {} values bound: {}",
            query.params.len(),
            query.sql
        )));
    }
    for (i, value) in query.params.iter().take(count).enumerate() {
        stmt.raw_bind_parameter(i + 1, value)?;
    }
    let width = stmt.column_count();
    // Named only if a row comes back (most writes return none), and for a kept statement
    // once.
    let mut columns: Option<Arc<[String]>> = None;
    let mut out = Vec::new();
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        let names = match &columns {
            Some(names) => Arc::clone(names),
            None => {
                let names = match kept.as_ref().and_then(|shape| shape.columns.get()) {
                    Some(names) => Arc::clone(names),
                    None => {
                        let names = column_names(row.as_ref(), width)?;
                        if let Some(shape) = &kept {
                            let _ = shape.columns.set(Arc::clone(&names));
                        }
                        names
                    }
                };
                columns = Some(Arc::clone(&names));
                names
            }
        };
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            cells.push(match row.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(n) => Cell::Int(n),
                ValueRef::Real(x) => Cell::Real(x),
                ValueRef::Text(t) => Cell::Text(
                    std::str::from_utf8(t)
                        .map_err(|e| StoreError::Corrupt(format!("text column {i}: {e}")))?
                        .to_string(),
                ),
                ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
            });
        }
        out.push(Row::new(names, cells));
    }
    drop(rows);
    Ok((out, conn.changes()))
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Int(n) => n.to_sql()?,
            Param::Text(s) => s.to_sql()?,
            Param::Bool(b) => b.to_sql()?,
            // The shared body binds arrays only in PostgreSQL's statements.
            Param::TextArray(_) | Param::IntArray(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "SQLite has no array parameters".into(),
                ))
            }
        })
    }
}

/// What SQLite statements run on: the write connection, the read pool (a connection lent
/// for the one statement), a read transaction. Each runs the statement at once, on the
/// calling thread, so its [`Executor`] future is ready when made.
trait OnConnection: Send {
    /// Runs `query` (see [`run`]).
    fn run(self, query: &Query<'_>) -> Result<(Vec<Row>, u64), StoreError>;
}

impl<T: OnConnection> Executor for T {
    fn fetch_rows(
        self,
        query: &Query<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send {
        std::future::ready(self.run(query).map(|(rows, _)| rows))
    }

    fn execute_query(
        self,
        query: &Query<'_>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        std::future::ready(self.run(query).map(|(_, changed)| changed))
    }
}

impl OnConnection for &mut Connection {
    fn run(self, query: &Query<'_>) -> Result<(Vec<Row>, u64), StoreError> {
        run(self, query)
    }
}

impl OnConnection for &Readers {
    fn run(self, query: &Query<'_>) -> Result<(Vec<Row>, u64), StoreError> {
        run(self.lend()?.conn()?, query)
    }
}

impl OnConnection for &mut ReadTx<'_> {
    fn run(self, query: &Query<'_>) -> Result<(Vec<Row>, u64), StoreError> {
        run(self.lent.conn()?, query)
    }
}

/// How often the WAL is checkpointed into the database file in the background.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// WAL pages after which a commit checkpoints by itself (SQLite's default is 1,000). Under a
/// steady stream of writes a background checkpoint never catches up with the last frame, and
/// only a checkpoint between two transactions lets the next one start the WAL over (it
/// would grow without end); by then the background has copied nearly every page, so the
/// commit that does it has little left to copy.
const CHECKPOINT_BACKSTOP_PAGES: u32 = 4_000;

/// Copies the WAL into the database file from a thread of its own, on a connection of its
/// own, every [`CHECKPOINT_EVERY`]. Left to SQLite, the commit that crosses 1,000 WAL pages
/// does it, and that commit (a webhook's run, a group of completions) waits milliseconds
/// for it. A passive checkpoint does not stop writers. The thread ends when this is dropped.
pub(crate) struct Checkpointer {
    _stop: std::sync::mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database `opener` opens.
    pub(crate) fn start(opener: &Opener) -> Result<Self, StoreError> {
        let conn = opener.open()?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("braid-checkpoint".into())
            .spawn(move || {
                // Ends when the sender is dropped (the store is gone).
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    // Busy means another connection is checkpointing: nothing to do.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        if !is_busy(&e) {
                            tracing::warn!(error = %e, "checkpointing the SQLite WAL failed");
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("starting the checkpoint thread: {e}")))?;
        Ok(Checkpointer { _stop: stop })
    }
}

/// Runs a fixed statement (transaction control) from the connection's cache.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute().map(drop)
}

/// The one write connection. Writers queue for it in the process, behind an async mutex;
/// another process's writer is waited for with async pauses, never a blocked thread.
pub(crate) struct Writer {
    conn: Arc<tokio::sync::Mutex<Connection>>,
    busy_timeout: Duration,
    closed: AtomicBool,
}

impl Writer {
    /// The write connection made by `opener`; its own busy timeout is zero, so a busy
    /// database returns at once and [`Writer::begin`] pauses without blocking a thread.
    pub(crate) fn open(opener: &Opener) -> Result<Self, StoreError> {
        let conn = opener.open()?;
        conn.busy_timeout(Duration::ZERO)?;
        conn.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_BACKSTOP_PAGES)?;
        Ok(Writer {
            conn: Arc::new(tokio::sync::Mutex::new(conn)),
            busy_timeout: opener.busy_timeout,
            closed: AtomicBool::new(false),
        })
    }

    /// Takes the connection and starts a transaction holding the database's write lock
    /// (`BEGIN IMMEDIATE`), waiting up to the busy timeout for another process's writer.
    pub(crate) async fn begin(&self) -> Result<WriteTx, StoreError> {
        let conn = self.conn.clone().lock_owned().await;
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        let deadline = Instant::now() + self.busy_timeout;
        let mut pause = Duration::from_micros(250);
        loop {
            match control(&conn, "BEGIN IMMEDIATE") {
                Ok(()) => return Ok(WriteTx { conn, open: true }),
                Err(e) if is_busy(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Refuses every later transaction.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Whether a transaction holds the connection now.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> bool {
        self.conn.try_lock().is_err()
    }
}

/// Whether SQLite answered "busy": another connection holds the lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
}

/// A write transaction on the write connection; rolled back if dropped uncommitted.
pub(crate) struct WriteTx {
    conn: tokio::sync::OwnedMutexGuard<Connection>,
    open: bool,
}

impl std::ops::Deref for WriteTx {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl WriteTx {
    /// Commits (and flushes to disk, as `synchronous` says).
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        control(&self.conn, "COMMIT")?;
        self.open = false;
        Ok(())
    }

    /// Abandons the transaction.
    pub(crate) async fn rollback(mut self) -> Result<(), StoreError> {
        self.open = false;
        control(&self.conn, "ROLLBACK")?;
        Ok(())
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            // Nothing to report to: the transaction's work is abandoned either way.
            let _ = control(&self.conn, "ROLLBACK");
        }
    }
}

/// Read connections, opened as needed and kept for reuse. A connection is lent for one
/// synchronous call or one read transaction, so no more are open than threads read at once.
pub(crate) struct Readers {
    opener: Opener,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
    closed: AtomicBool,
}

impl Readers {
    /// A pool keeping up to `keep` idle connections made by `opener`.
    pub(crate) fn new(opener: Opener, keep: usize) -> Self {
        Readers {
            opener,
            idle: Mutex::new(Vec::new()),
            keep: keep.max(1),
            closed: AtomicBool::new(false),
        }
    }

    /// Lends a connection (an idle one, else a new one).
    fn lend(&self) -> Result<Lent<'_>, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.opener.open()?,
        };
        Ok(Lent {
            readers: self,
            conn: Some(conn),
        })
    }

    /// Starts a read transaction: one snapshot of the database (WAL) for all its reads.
    pub(crate) fn begin(&self) -> Result<ReadTx<'_>, StoreError> {
        let lent = self.lend()?;
        control(lent.conn()?, "BEGIN")?;
        Ok(ReadTx { lent, open: true })
    }

    /// Closes the idle connections and refuses later reads.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A read connection on loan, returned to the pool when dropped.
struct Lent<'r> {
    readers: &'r Readers,
    conn: Option<Connection>,
}

impl Lent<'_> {
    fn conn(&self) -> Result<&Connection, StoreError> {
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("read connection already returned".into()))
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !conn.is_autocommit() || self.readers.closed.load(Ordering::Acquire) {
            return; // A connection left inside a transaction is not lent again.
        }
        let mut idle = self.readers.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.readers.keep {
            idle.push(conn);
        }
    }
}

/// A read transaction on a lent connection; ended when committed or dropped.
pub(crate) struct ReadTx<'r> {
    lent: Lent<'r>,
    open: bool,
}

impl ReadTx<'_> {
    /// Ends the transaction.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        self.open = false;
        control(self.lent.conn()?, "COMMIT")?;
        Ok(())
    }
}

impl Drop for ReadTx<'_> {
    fn drop(&mut self) {
        if self.open {
            if let Ok(conn) = self.lent.conn() {
                let _ = control(conn, "ROLLBACK");
            }
        }
    }
}

/// Applies `migrator`'s migrations that the database lacks, each in a transaction of its
/// own, keeping sqlx's bookkeeping table (`_sqlx_migrations`), so databases migrated by
/// earlier versions (through sqlx) and by this one are the same. Applied migrations this
/// version does not know are ignored (a newer engine migrated the database; see
/// `docs/operations.md` on rolling upgrades); one whose text changed is an error.
pub(crate) async fn migrate(
    writer: &Writer,
    migrator: &sqlx::migrate::Migrator,
) -> Result<(), StoreError> {
    let tx = writer.begin().await?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        );",
    )?;
    tx.commit().await?;
    for migration in migrator.iter() {
        if migration.migration_type.is_down_migration() {
            continue;
        }
        let tx = writer.begin().await?;
        let applied: Option<(Vec<u8>, bool)> = {
            let mut stmt =
                tx.prepare("SELECT checksum, success FROM _sqlx_migrations WHERE version = ?1")?;
            let mut rows = stmt.query([migration.version])?;
            match rows.next()? {
                Some(row) => Some((row.get(0)?, row.get(1)?)),
                None => None,
            }
        };
        match applied {
            Some((_, false)) => {
                return Err(StoreError::Migration(format!(
                    "migration {} was left partly applied; repair the database",
                    migration.version
                )))
            }
            Some((checksum, true)) if checksum != *migration.checksum => {
                return Err(StoreError::Migration(format!(
                    "migration {} ({}) was applied with a different text",
                    migration.version, migration.description
                )))
            }
            Some(_) => tx.rollback().await?,
            None => {
                let began = Instant::now();
                tx.execute_batch(&migration.sql).map_err(|e| {
                    StoreError::Migration(format!("migration {}: {e}", migration.version))
                })?;
                tx.execute(
                    "INSERT INTO _sqlx_migrations \
                     (version, description, success, checksum, execution_time) \
                     VALUES (?1, ?2, TRUE, ?3, ?4)",
                    rusqlite::params![
                        migration.version,
                        &*migration.description,
                        &*migration.checksum,
                        i64::try_from(began.elapsed().as_nanos()).unwrap_or(i64::MAX),
                    ],
                )?;
                tx.commit().await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::query;
    use super::*;

    #[test]
    fn parameters_are_numbered_outside_string_literals() {
        assert_eq!(
            numbered("SELECT '$1', x FROM t WHERE a = $2 AND b = $10 AND c = '$'"),
            "SELECT '$1', x FROM t WHERE a = ?2 AND b = ?10 AND c = '$'"
        );
        assert!(matches!(numbered("SELECT 1"), Cow::Borrowed(_)));
        // Text around parameters is copied whole, whatever its characters.
        assert_eq!(
            numbered("SELECT 'é$1' || $1 || 'ü', $ AS x, $3"),
            "SELECT 'é$1' || ?1 || 'ü', $ AS x, ?3"
        );
    }

    /// A writer on another connection (to SQLite's locks, the same as another process's) is
    /// waited for without blocking the thread (other tasks run meanwhile), up to the busy
    /// timeout; then the write fails as contention (the API's 503) and, once the lock is gone,
    /// writes go through again.
    #[tokio::test]
    async fn another_writer_is_waited_for_up_to_the_busy_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opener = Opener {
            uri: format!("file:{}", dir.path().join("t.db").display()),
            synchronous: "FULL",
            busy_timeout: Duration::from_millis(300),
        };
        let writer = Writer::open(&opener).expect("open");
        let other = opener.open().expect("another connection");
        other
            .execute_batch("CREATE TABLE t (x INTEGER); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .expect("the other writer holds the lock");

        let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let began = Instant::now();
        let refused = writer.begin().await;
        let waited = began.elapsed();
        assert!(
            matches!(refused, Err(StoreError::Contention(_))),
            "{:?}",
            refused.map(|_| ())
        );
        assert!(
            waited >= Duration::from_millis(300),
            "gave up after {waited:?}"
        );
        assert!(waited < Duration::from_secs(3), "waited {waited:?}");
        // This test runs on one thread: the ticker ran only because the wait did not block it.
        assert!(
            ticks.load(Ordering::Relaxed) >= 10,
            "{} ticks",
            ticks.load(Ordering::Relaxed)
        );
        ticker.abort();

        other
            .execute_batch("COMMIT")
            .expect("the other writer commits");
        let tx = writer.begin().await.expect("the lock is free again");
        tx.execute_batch("INSERT INTO t VALUES (2)")
            .expect("insert");
        tx.commit().await.expect("commit");
        let n: i64 = other
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 2);
    }

    /// Databases migrated by earlier versions, through sqlx, are taken as they are; a
    /// migration whose text changed since it was applied is refused.
    #[tokio::test]
    async fn a_database_migrated_by_sqlx_is_taken_as_it_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let pool = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .expect("sqlx opens");
        sqlx::migrate!("../migrations/sqlite")
            .run(&pool)
            .await
            .expect("sqlx migrates");
        pool.close().await;

        let opener = Opener {
            uri: format!("file:{}", path.display()),
            synchronous: "FULL",
            busy_timeout: Duration::from_secs(1),
        };
        let writer = Writer::open(&opener).expect("open");
        let migrator = sqlx::migrate!("../migrations/sqlite");
        migrate(&writer, &migrator)
            .await
            .expect("sqlx's bookkeeping is accepted");
        let mut tx = writer.begin().await.expect("begin");
        let applied = query("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| row.try_get::<i64, _>(0))
            .expect("count");
        assert_eq!(
            applied,
            migrator.iter().count() as i64,
            "nothing applied twice"
        );
        tx.execute_batch("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1")
            .expect("tamper");
        tx.commit().await.expect("commit");
        assert!(matches!(
            migrate(&writer, &migrator).await,
            Err(StoreError::Migration(_))
        ));
    }
}
