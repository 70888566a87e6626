//! The SQLite store: one database file in WAL mode, one write connection (writers queue in
//! the process instead of spinning on `SQLITE_BUSY`; each write transaction starts with
//! `BEGIN IMMEDIATE`, so another process's writer makes it wait for the busy timeout rather
//! than fail on a lock upgrade) and a pool of read connections. Statements run on the
//! calling thread (see `sql/sqlite.rs`).

use std::time::Duration;

use super::Synchronous;
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

use super::joining::Queued;
use super::sql::sqlite::{Checkpointer, Opener, ReadTx, Readers, WriteTx, Writer};
use super::validate::validate_steps;
use super::*;
use crate::clock::Clock;

/// A connection, as the shared body runs statements on it.
type Conn = rusqlite::Connection;
/// A write transaction, as the shared body's `Tx` holds it.
type DbTx = WriteTx;
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
    writer: Writer,
    gate: WriterGate,
    /// Run creations and claims waiting for the writer, which the transaction holding it
    /// takes in.
    joinable: Arc<Joinable>,
    reader: Readers,
    _checkpointer: Checkpointer,
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

/// Settings read from a `sqlite:` URL.
#[derive(Debug, PartialEq)]
struct SqliteUrl {
    /// The database as an SQLite URI filename (`file:path?mode=…`).
    uri: String,
    synchronous: Option<Synchronous>,
    busy_timeout: Option<Duration>,
}

/// Reads a `sqlite://path` (or `sqlite:path`) URL: Braid's `synchronous` and `busy_timeout`
/// parameters, and SQLite's own URI parameters (`mode`, `vfs`, `immutable`…), passed on.
fn parse_url(url: &str) -> Result<SqliteUrl, StoreError> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let path = base
        .strip_prefix("sqlite://")
        .or_else(|| base.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Invalid(format!("{url}: a sqlite:// URL expected")))?;
    let mut kept = Vec::new();
    let mut synchronous = None;
    let mut busy_timeout = None;
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
            _ => kept.push(pair),
        }
    }
    if path.is_empty() || path == ":memory:" || kept.contains(&"mode=memory") {
        // Each of the store's connections would see a database of its own.
        return Err(StoreError::Invalid(format!(
            "{url}: an in-memory SQLite database is not supported; use a file, e.g. sqlite://braid.db"
        )));
    }
    // A URI filename: `%`, `?` and `#` in the path are escaped.
    let mut uri = String::from("file:");
    for ch in path.chars() {
        match ch {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3F"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    if !kept.is_empty() {
        uri.push('?');
        uri.push_str(&kept.join("&"));
    }
    Ok(SqliteUrl {
        uri,
        synchronous,
        busy_timeout,
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
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        let opener = Opener {
            uri: parsed.uri,
            synchronous,
            busy_timeout: parsed.busy_timeout.unwrap_or(options.busy_timeout),
        };
        let writer = Writer::open(&opener)?;
        let store = SqliteStore {
            writer,
            _checkpointer: Checkpointer::start(&opener)?,
            gate: WriterGate::default(),
            joinable: Arc::default(),
            reader: Readers::new(opener, options.max_connections as usize),
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
        self.gate.clear().await;
        Ok(Tx::new(self.writer.begin().await?, Some(&self.joinable)))
    }

    /// A transaction for creating `runs` (with `ids`, at `now`), ahead of the writes not yet
    /// started, asking the one under way to finish early (see [`WriterGate`]) — and to write
    /// the runs before its own `COMMIT`. Whichever comes first: that transaction commits the
    /// runs (their outcomes are returned), or the writer is free and the transaction is this
    /// creation's own.
    async fn begin_creation(
        &self,
        runs: &[&NewRun],
        ids: &[String],
        now: i64,
    ) -> Result<Began<Tx, Outcomes>, StoreError> {
        let _waiting = self.gate.enter();
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queued = self.joinable.creations.push(WaitingCreation {
            runs: runs.iter().map(|r| (*r).clone()).collect(),
            ids: ids.to_vec(),
            now,
            reply,
        });
        // Ahead of the writes waiting at the gate: straight to the writer.
        join_or_begin(queued, answer, || async {
            Ok(Tx::new(self.writer.begin().await?, Some(&self.joinable)))
        })
        .await
    }

    /// A transaction for a claim (of up to `limit` steps due at `now` for `worker_id`, leases
    /// of `lease_ms`), or the claim done: whichever comes first, the transaction holding the
    /// writer takes the claim in before its `COMMIT` (the steps taken are returned), or the
    /// writer is free and the transaction is this claim's own.
    async fn begin_claim(
        &self,
        worker_id: &str,
        now: i64,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Began<Tx, Vec<Claimed>>, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queued = self.joinable.claims.push(WaitingClaim {
            worker_id: worker_id.to_string(),
            now,
            limit,
            lease_ms,
            reply,
        });
        join_or_begin(queued, answer, || self.begin_write()).await
    }

    /// Whether an urgent write waits for the writer: a transaction that can stop early (a
    /// group commit, a claim) then does, after `HOLD_BEFORE_YIELDING`.
    fn writer_wanted(&self) -> bool {
        self.gate.wanted()
    }

    /// Starts a read transaction: one consistent snapshot (WAL).
    async fn begin_read(&self) -> Result<ReadTx<'_>, StoreError> {
        self.reader.begin()
    }

    /// The pool for single-statement reads.
    fn read_pool(&self) -> &Readers {
        &self.reader
    }

    /// Applies `migrations/sqlite`.
    async fn run_migrations(&self) -> Result<(), StoreError> {
        // Migrations only ever add (tables, columns with defaults, indexes) or drop an index,
        // so an engine older than the database keeps working beside newer ones during a
        // rolling upgrade, and may be restarted: it ignores the migrations it does not know.
        super::sql::sqlite::migrate(&self.writer, &sqlx::migrate!("../migrations/sqlite")).await
    }

    /// Refuses later operations and closes the idle read connections.
    async fn close_pools(&self) {
        self.writer.close();
        self.reader.close();
    }
}

/// Waits for whichever comes first for a queued write: the transaction under way does it
/// (what it returned is sent on `answer` after the commit), or `begin` gives the write a
/// transaction of its own.
async fn join_or_begin<W, R, F>(
    queued: Queued<'_, W>,
    mut answer: tokio::sync::oneshot::Receiver<R>,
    begin: impl Fn() -> F,
) -> Result<Began<Tx, R>, StoreError>
where
    F: std::future::Future<Output = Result<Tx, StoreError>>,
{
    tokio::select! {
        biased;
        joined = &mut answer => {
            if let Ok(done) = joined {
                return Ok(Began::Joined(done));
            }
        }
        began = begin() => {
            if queued.take_back().is_some() {
                return Ok(Began::Alone(began?));
            }
            // The transaction before took the write in: its answer is on its way.
            drop(began);
            if let Ok(done) = answer.await {
                return Ok(Began::Joined(done));
            }
        }
    }
    // Taken in by a transaction that failed: done here, alone.
    Ok(Began::Alone(begin().await?))
}

/// Urgent writes first. SQLite has one writer, and the executor's transactions (a group
/// commit of many completions, a claim of many steps) hold it for milliseconds: a webhook's
/// run, whose `202` waits for its commit, would queue behind each of them. While an urgent
/// write waits, no other write starts, and one under way that can stop early (a group commit,
/// a claim) does so once it has held the writer for `HOLD_BEFORE_YIELDING`; so a run's
/// creation waits only for the writes already queued for the connection, each cut short.
#[derive(Default)]
struct WriterGate {
    /// Urgent writes waiting for the writer connection.
    urgent: std::sync::atomic::AtomicUsize,
    /// Signalled when none waits any more.
    cleared: tokio::sync::Notify,
}

impl WriterGate {
    /// Waits until no urgent write is waiting.
    async fn clear(&self) {
        loop {
            // Registered before the check, so the signal cannot fall between the two.
            let cleared = self.cleared.notified();
            if !self.wanted() {
                return;
            }
            cleared.await;
        }
    }

    /// Counts an urgent write as waiting until the guard is dropped.
    fn enter(&self) -> UrgentWaiting<'_> {
        self.urgent
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        UrgentWaiting(self)
    }

    fn wanted(&self) -> bool {
        self.urgent.load(std::sync::atomic::Ordering::SeqCst) > 0
    }
}

/// An urgent write waiting for the writer (see [`WriterGate::enter`]).
struct UrgentWaiting<'a>(&'a WriterGate);

impl Drop for UrgentWaiting<'_> {
    fn drop(&mut self) {
        if self
            .0
            .urgent
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            == 1
        {
            self.0.cleared.notify_waiters();
        }
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
include!("sqlite/batch.rs");

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
                uri: "file:data/braid.db?mode=rwc".into(),
                synchronous: Some(Synchronous::Normal),
                busy_timeout: Some(Duration::from_millis(250)),
            })
        );
        assert!(parse_url("sqlite://x.db?synchronous=off").is_err());
        assert_eq!(
            parse_url("sqlite:/tmp/a%b#c.db").map(|p| p.uri).ok(),
            Some("file:/tmp/a%25b%23c.db".into())
        );
    }

    #[test]
    fn an_in_memory_database_is_refused_with_a_reason() {
        for url in ["sqlite::memory:", "sqlite://x?mode=memory", "postgres://x"] {
            assert!(
                matches!(parse_url(url), Err(StoreError::Invalid(_))),
                "{url}"
            );
        }
    }
}

#[cfg(test)]
mod urgent_write_tests {
    use super::*;
    use serde_json::json;

    /// A group commit gives the writer up to a run creation waiting for it: it records a
    /// prefix of its batch (at least one completion), and the rest, submitted again, are
    /// recorded by the next transaction.
    // Two threads: statements run on the calling thread, so the group commit runs on one
    // while this test watches from the other.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_creation_cuts_a_group_commit_short() {
        const STEPS: usize = 2000;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(&dir).await;
        let (keys, batch) = claimed_big_run(&store, STEPS).await;
        let store = Arc::new(store);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let group = tokio::spawn({
            let (store, batch) = (store.clone(), batch.clone());
            async move { store.complete_handing_off(&batch, 60_000).await }
        });
        // Once the group commit holds the writer, a creation starts waiting for it.
        while !store.writer.in_use() {
            assert!(
                std::time::Instant::now() < deadline,
                "the group commit never began"
            );
            tokio::task::yield_now().await;
        }
        let waiting = store.gate.enter();
        let first = group.await.expect("join").expect("complete");
        drop(waiting);
        assert!(
            !first.is_empty() && first.len() < STEPS,
            "{} of {STEPS} recorded while a creation waited",
            first.len()
        );
        let rest = store
            .complete_handing_off(&batch[first.len()..], 60_000)
            .await
            .expect("complete the rest");
        assert_eq!(first.len() + rest.len(), STEPS);
        assert!(first
            .iter()
            .chain(&rest)
            .all(|(report, _)| *report == CompletionReport::Applied));
        let results = store.load_results("big", &keys).await.expect("results");
        assert_eq!(results.len(), STEPS);
        assert!(results.iter().all(|r| r.status == StepStatus::Succeeded));
    }

    /// A run of one ready step `a` (and `b` after it) of workflow `w`; a duplicate
    /// dependency of `b` (which validation would refuse) makes writing its edges fail.
    fn run_of(id: &str, deps_of_b: &[&str]) -> NewRun {
        let mut b = NewStep::main("b");
        b.deps = deps_of_b.iter().map(|d| d.to_string()).collect();
        NewRun {
            id: Some(id.into()),
            workflow: "w".into(),
            version_hash: "h".into(),
            input: json!({}),
            trigger: None,
            dedupe_key: None,
            parent: None,
            steps: vec![NewStep::main("a"), b],
        }
    }

    /// Queues the creation of `run` as a caller waiting for the writer would.
    fn wait_for_writer(
        store: &SqliteStore,
        run: NewRun,
    ) -> (
        Queued<'_, WaitingCreation>,
        tokio::sync::oneshot::Receiver<Outcomes>,
    ) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let ids = vec![run.id.clone().unwrap_or_default()];
        let queued = store.joinable.creations.push(WaitingCreation {
            runs: vec![run],
            ids,
            now: store.clock.now_ms(),
            reply,
        });
        (queued, answer)
    }

    async fn open_store(dir: &tempfile::TempDir) -> SqliteStore {
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        SqliteStore::open(&url, &StoreOptions::default())
            .await
            .expect("open")
    }

    /// Run `big` of `steps` main steps, all claimed by worker `w1`: their keys, and their
    /// successful completions.
    async fn claimed_big_run(store: &SqliteStore, steps: usize) -> (Vec<String>, Vec<Completion>) {
        let keys: Vec<String> = (0..steps).map(|i| format!("s{i}")).collect();
        let big = NewRun {
            steps: keys.iter().map(NewStep::main).collect(),
            ..run_of("big", &[])
        };
        store.create_run(big).await.expect("create");
        let now = store.clock.now_ms();
        let claimed = store
            .claim("w1", now, steps as u32, 60_000)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), steps);
        let batch = claimed
            .iter()
            .map(|c| Completion {
                run_id: c.run_id.clone(),
                key: c.key.clone(),
                worker_id: "w1".into(),
                attempt: c.attempt,
                outcome: Outcome::Succeeded { output: json!(1) },
            })
            .collect();
        (keys, batch)
    }

    /// The transaction holding the writer writes the runs waiting for it before its
    /// `COMMIT` and answers their caller once committed: one flush to disk for both.
    #[tokio::test]
    async fn a_waiting_creation_is_committed_by_the_transaction_under_way() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(&dir).await;
        let (queued, mut answer) = wait_for_writer(&store, run_of("r1", &["a"]));
        store.kv_put("ns", "k", "v").await.expect("kv_put");
        let outcomes = answer.try_recv().expect("answered by the kv_put's commit");
        assert!(matches!(
            outcomes.as_slice(),
            [Ok(CreateOutcome::Created(id))] if id == "r1"
        ));
        assert!(queued.take_back().is_none(), "taken from the queue");
        let run = store.load_run("r1").await.expect("the run is stored");
        assert_eq!(run.workflow, "w");
        let detail = store.get_run_detail("r1").await.expect("detail");
        assert_eq!(detail.steps.len(), 3, "a, b and the output step");
        assert!(detail.events.iter().any(|e| e.kind == "run_created"));
    }

    /// Claims waiting for the writer are done by the transaction under way too, after its
    /// creations: a claim taken in with a run's creation takes that run's first step.
    #[tokio::test]
    async fn a_waiting_claim_takes_the_steps_of_a_creation_joined_with_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(&dir).await;
        let (_creation, mut created) = wait_for_writer(&store, run_of("r1", &["a"]));
        let (reply, mut claimed) = tokio::sync::oneshot::channel();
        let queued = store.joinable.claims.push(WaitingClaim {
            worker_id: "w1".into(),
            now: store.clock.now_ms(),
            limit: 10,
            lease_ms: 60_000,
            reply,
        });
        store.kv_put("ns", "k", "v").await.expect("kv_put");
        assert!(created.try_recv().is_ok(), "the creation was answered");
        let taken = claimed.try_recv().expect("the claim was answered");
        let keys: Vec<(&str, &str)> = taken
            .iter()
            .map(|c| (c.run_id.as_str(), c.key.as_str()))
            .collect();
        assert_eq!(keys, vec![("r1", "a")], "only `a` is ready");
        assert!(queued.take_back().is_none(), "taken from the queue");
        let results = store
            .load_results("r1", &["a".to_string()])
            .await
            .expect("results");
        assert_eq!(results[0].status, StepStatus::Running);
    }

    /// A waiting creation that fails is undone alone: the transaction's own work is
    /// committed, the caller gets no answer (and writes its runs itself), nothing of the run
    /// is left.
    #[tokio::test]
    async fn a_failing_waiting_creation_leaves_the_transaction_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(&dir).await;
        let (_failing, failing_answer) = wait_for_writer(&store, run_of("bad", &["a", "a"]));
        store.kv_put("ns", "k", "v").await.expect("kv_put");
        assert!(
            failing_answer.await.is_err(),
            "dropped unanswered, so its caller writes it alone"
        );
        assert!(matches!(
            store.load_run("bad").await,
            Err(StoreError::NotFound(_))
        ));
        let kept = store.kv_get("ns", "k").await.expect("kv_get");
        assert_eq!(kept.map(|e| e.value), Some("v".to_string()));
        let stored: i64 = query_scalar("SELECT count(*) FROM steps")
            .fetch_one(store.read_pool())
            .await
            .expect("count");
        assert_eq!(stored, 0, "no step rows of the failed creation");
    }

    /// Runs created while group commits and claims hold the writer are all stored, each
    /// once, and the executor's work is recorded whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn creations_during_group_commits_are_all_stored() {
        const STEPS: usize = 2000;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(open_store(&dir).await);
        let (keys, batch) = claimed_big_run(&store, STEPS).await;
        let group = tokio::spawn({
            let store = store.clone();
            async move {
                let mut left = &batch[..];
                while !left.is_empty() {
                    let done = store.complete_handing_off(left, 60_000).await?;
                    left = &left[done.len()..];
                }
                Ok::<_, StoreError>(())
            }
        });
        let creations: Vec<_> = (0..50)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(
                    async move { store.create_run(run_of(&format!("r{i}"), &["a"])).await },
                )
            })
            .collect();
        for (i, c) in creations.into_iter().enumerate() {
            let outcome = c.await.expect("join").expect("create");
            assert_eq!(outcome, CreateOutcome::Created(format!("r{i}")));
        }
        group.await.expect("join").expect("group commits");
        let results = store.load_results("big", &keys).await.expect("results");
        assert!(results.iter().all(|r| r.status == StepStatus::Succeeded));
        let runs: i64 = query_scalar("SELECT count(*) FROM runs")
            .fetch_one(store.read_pool())
            .await
            .expect("count");
        assert_eq!(runs, 51);
    }
}
