// Shared store body, part 1: helpers every operation uses. The files of `store/shared/` are
// `include!`d into both `sqlite.rs` and `postgres.rs`, where `Conn`, `DbTx`, `This`, `BACKEND`
// and the lock macros are defined: one body of SQL (with `$n` placeholders), written against
// `store/sql`, serves both databases.

use super::creation_queue::{Began, CreationQueue, Outcomes};
use super::sql::{query, query_scalar, QueryBuilder, Row};

/// How often an operation aborted for contention (deadlock, serialization failure, busy
/// database) is re-run before the caller sees [`StoreError::Contention`].
const CONTENTION_TRIES: u32 = 8;

/// Runs `$op` (an expression giving a future of `Result<_, StoreError>`) again while the
/// database aborts it for contention, with a short growing pause in between.
macro_rules! with_retries {
    ($op:expr) => {{
        let mut tries = 0u32;
        loop {
            match $op.await {
                Err(e) if e.is_contention() && tries + 1 < CONTENTION_TRIES => {
                    tries += 1;
                    let jitter = u64::from(rand::random::<u8>() % 8);
                    tokio::time::sleep(std::time::Duration::from_millis(
                        (1u64 << tries.min(6)) + jitter,
                    ))
                    .await;
                }
                other => break other,
            }
        }
    }};
}

/// The columns of a step row that [`step_record`] reads, prefixed for a query on `steps s`.
macro_rules! step_columns {
    () => {
        "s.key, s.phase, s.status, s.attempt, s.max_attempts, s.deps_open, s.has_compensation, \
         s.output, s.error, s.state, s.waiting_for, s.ready_at, s.lease_owner, \
         s.lease_expires_at, s.completed_seq, s.idempotency_key, s.parent_key, s.item_index, \
         s.created, s.updated, s.started, s.finished"
    };
}

/// The statuses a run has finished in, as an SQL list.
macro_rules! terminal_runs {
    () => {
        "('succeeded', 'failed', 'compensation_failed', 'cancelled')"
    };
}

/// The columns of a run row that [`run_record`] reads.
macro_rules! run_columns {
    () => {
        "id, workflow, version_hash, status, input, output, error, trigger_data, dedupe_key, \
         parent_run_id, parent_step_key, created, updated, started, finished"
    };
}

/// JSON text of a value, as stored.
fn json_text(value: &Value) -> String {
    value.to_string()
}

/// JSON text of an optional value.
fn json_text_opt(value: Option<&Value>) -> Option<String> {
    value.map(json_text)
}

/// Reads stored JSON text back.
fn parse_json(text: Option<String>, what: &str) -> Result<Option<Value>, StoreError> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{what}: {e}"))))
        .transpose()
}

/// A stored count or index as `u32` (never negative when written by the store).
fn to_u32(n: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} = {n}")))
}

/// The parent of a child run, from a row with `parent_run_id` and `parent_step_key`.
fn parent_ref(row: &Row) -> Result<Option<ParentRef>, StoreError> {
    Ok(
        match (
            row.try_get::<Option<String>, _>("parent_run_id")?,
            row.try_get::<Option<String>, _>("parent_step_key")?,
        ) {
            (Some(run_id), Some(step_key)) => Some(ParentRef { run_id, step_key }),
            _ => None,
        },
    )
}

/// The state of a run, from a row with `status`, `stage` and the parent columns.
fn run_state(row: &Row) -> Result<RunState, StoreError> {
    Ok(RunState {
        status: row.try_get::<String, _>("status")?.parse()?,
        stage: row.try_get::<String, _>("stage")?.parse()?,
        parent: parent_ref(row)?,
    })
}

/// A run row as a [`RunRecord`].
fn run_record(row: &Row) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: row.try_get("id")?,
        workflow: row.try_get("workflow")?,
        version_hash: row.try_get("version_hash")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        input: parse_json(row.try_get("input")?, "run input")?.unwrap_or(Value::Null),
        output: parse_json(row.try_get("output")?, "run output")?,
        error: parse_json(row.try_get("error")?, "run error")?,
        trigger: parse_json(row.try_get("trigger_data")?, "run trigger")?,
        dedupe_key: row.try_get("dedupe_key")?,
        parent: parent_ref(row)?,
        created: row.try_get("created")?,
        updated: row.try_get("updated")?,
        started: row.try_get("started")?,
        finished: row.try_get("finished")?,
    })
}

/// A step row (read with [`step_columns!`]) as a [`StepRecord`].
fn step_record(row: &Row) -> Result<StepRecord, StoreError> {
    Ok(StepRecord {
        key: row.try_get("key")?,
        phase: row.try_get::<String, _>("phase")?.parse()?,
        status: row.try_get::<String, _>("status")?.parse()?,
        attempt: to_u32(row.try_get("attempt")?, "attempt")?,
        max_attempts: to_u32(row.try_get("max_attempts")?, "max_attempts")?,
        deps_open: row.try_get("deps_open")?,
        has_compensation: row.try_get("has_compensation")?,
        output: parse_json(row.try_get("output")?, "step output")?,
        error: parse_json(row.try_get("error")?, "step error")?,
        state: parse_json(row.try_get("state")?, "step state")?,
        waiting_for: row
            .try_get::<Option<String>, _>("waiting_for")?
            .as_deref()
            .and_then(WaitFor::decode),
        ready_at: row.try_get("ready_at")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        completed_seq: row.try_get("completed_seq")?,
        idempotency_key: row.try_get("idempotency_key")?,
        parent_key: row.try_get("parent_key")?,
        item_index: row
            .try_get::<Option<i64>, _>("item_index")?
            .map(|i| to_u32(i, "item_index"))
            .transpose()?,
        created: row.try_get("created")?,
        updated: row.try_get("updated")?,
        started: row.try_get("started")?,
        finished: row.try_get("finished")?,
    })
}

/// How long a transaction that can stop early (a group commit, a claim) keeps the writer
/// once an urgent write waits: long enough that it still carries a useful amount of work
/// (each transaction costs a disk flush), short next to a webhook's patience.
const HOLD_BEFORE_YIELDING: std::time::Duration = std::time::Duration::from_millis(1);

/// Multi-row INSERTs of at most this many rows stay prepared in the connection's statement
/// cache; larger ones (a different SQL text for every row count, each a large prepared
/// statement) are prepared for one use, so batches of every size do not fill the cache.
const CACHED_ROWS: usize = 16;

/// Whether a multi-row statement of `rows` rows is kept prepared.
fn cached(rows: usize) -> bool {
    rows <= CACHED_ROWS
}

/// A history entry waiting for its transaction to commit.
struct PendingEvent {
    run_id: String,
    at: i64,
    kind: String,
    step_key: Option<String>,
    data: Option<String>,
}

/// A write transaction with the history entries it appends. The entries are written
/// together, in the order they were made, just before the transaction commits: one statement
/// for a whole group commit instead of one per change. On SQLite it also writes, before its
/// `COMMIT`, the run creations waiting for the writer (see [`join_creations`]).
struct Tx {
    inner: DbTx,
    events: Vec<PendingEvent>,
    creations: Option<Arc<CreationQueue>>,
}

impl Tx {
    /// A transaction; with `creations`, it also takes in, when it commits, the creations
    /// waiting there.
    fn new(inner: DbTx, creations: Option<&Arc<CreationQueue>>) -> Self {
        Tx {
            inner,
            events: Vec::new(),
            creations: creations.cloned(),
        }
    }

    /// The connection, to run statements on.
    fn conn(&mut self) -> &mut Conn {
        &mut self.inner
    }

    /// Writes the waiting creations and the pending history entries, then commits; the
    /// creations' callers are answered once their runs are durable.
    async fn commit(mut self) -> Result<(), StoreError> {
        let joined = match self.creations.take() {
            Some(queue) => join_creations(&mut self, &queue).await?,
            None => Vec::new(),
        };
        let events = std::mem::take(&mut self.events);
        // In chunks small enough to stay prepared: a group commit appends hundreds of
        // entries, and preparing a statement of hundreds of rows costs more than running it.
        for chunk in events.chunks(CACHED_ROWS) {
            let mut q = QueryBuilder::new("INSERT INTO events (run_id, at, kind, step_key, data) ");
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.run_id.as_str())
                    .push_bind(e.at)
                    .push_bind(e.kind.as_str())
                    .push_bind(e.step_key.as_deref())
                    .push_bind(e.data.as_deref());
            });
            q.build().execute(self.conn()).await?;
        }
        self.inner.commit().await?;
        for (reply, outcomes) in joined {
            // A caller that stopped waiting has nothing to be told.
            let _ = reply.send(outcomes);
        }
        Ok(())
    }

    /// Abandons the transaction and its history entries.
    async fn rollback(self) -> Result<(), StoreError> {
        self.inner.rollback().await?;
        Ok(())
    }
}

/// Writes the run creations waiting in `queue` into `tx`, each as [`insert_runs`] would in a
/// transaction of its own, and returns who to answer after the commit. They share the
/// transaction's flush to disk instead of waiting for it and then flushing their own. They
/// are written inside a savepoint: if one fails, the transaction's own work stands, and the
/// creations, dropped unanswered, are written by their callers alone (which then see their
/// own error).
async fn join_creations(
    tx: &mut Tx,
    queue: &CreationQueue,
) -> Result<Vec<(tokio::sync::oneshot::Sender<Outcomes>, Outcomes)>, StoreError> {
    let waiting = queue.take_all();
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let events = tx.events.len();
    query("SAVEPOINT joined_creations")
        .execute(tx.conn())
        .await?;
    let mut answers = Vec::with_capacity(waiting.len());
    for creation in waiting {
        let runs: Vec<&NewRun> = creation.runs.iter().collect();
        match insert_runs(tx, &runs, &creation.ids, creation.now).await {
            Ok(outcomes) => answers.push((creation.reply, outcomes)),
            Err(e) => {
                tracing::debug!(error = %e, "run creations taken into another transaction failed; their callers write them alone");
                tx.events.truncate(events);
                query("ROLLBACK TO joined_creations")
                    .execute(tx.conn())
                    .await?;
                answers.clear();
                break;
            }
        }
    }
    query("RELEASE joined_creations").execute(tx.conn()).await?;
    Ok(answers)
}

/// Appends an entry to a run's history (written when the transaction commits).
async fn event(
    c: &mut Tx,
    run_id: &str,
    at: i64,
    kind: &str,
    step_key: Option<&str>,
    data: Option<&Value>,
) -> Result<(), StoreError> {
    c.events.push(PendingEvent {
        run_id: run_id.to_string(),
        at,
        kind: kind.to_string(),
        step_key: step_key.map(str::to_string),
        data: json_text_opt(data),
    });
    Ok(())
}

/// Where a run is, as the state-changing operations need it. On PostgreSQL reading it locks
/// the run's row, so the changes of one run are serialised (SQLite has one writer anyway).
#[derive(Debug, Clone)]
struct RunState {
    status: RunStatus,
    stage: Stage,
    parent: Option<ParentRef>,
}

/// Reads (and on PostgreSQL locks) a run's state; `None` if there is no such run.
async fn lock_run(c: &mut Tx, run_id: &str) -> Result<Option<RunState>, StoreError> {
    let row = query(concat!(
        "SELECT status, stage, parent_run_id, parent_step_key FROM runs WHERE id = $1",
        lock_rows!()
    ))
    .bind(run_id)
    .fetch_optional(c.conn())
    .await?;
    row.as_ref().map(run_state).transpose()
}
