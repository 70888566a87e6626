// Shared store body, part 1: helpers every operation uses. The files of `store/shared/` are
// `include!`d into both `sqlite.rs` and `postgres.rs`, where `Conn`, `DbTx`, `This`, `BACKEND`
// and the lock macros are defined: one body of SQL (with `$n` placeholders), written against
// `store/sql`, serves both databases.

use super::joining::{Began, Joinable, Outcomes, WaitingClaim, WaitingCreation};
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
/// for a whole group commit instead of one per change. On SQLite it also does, before its
/// `COMMIT`, the run creations and claims waiting for the writer (see [`join_waiting`]).
struct Tx {
    inner: DbTx,
    events: Vec<PendingEvent>,
    joinable: Option<Arc<Joinable>>,
}

impl Tx {
    /// A transaction; with `joinable`, it also takes in, when it commits, the writes
    /// waiting there.
    fn new(inner: DbTx, joinable: Option<&Arc<Joinable>>) -> Self {
        Tx {
            inner,
            events: Vec::new(),
            joinable: joinable.cloned(),
        }
    }

    /// The connection, to run statements on.
    fn conn(&mut self) -> &mut Conn {
        &mut self.inner
    }

    /// Does the waiting writes and writes the pending history entries, then commits; the
    /// waiting writes' callers are answered once what they wrote is durable.
    async fn commit(mut self) -> Result<(), StoreError> {
        let joined = match self.joinable.take() {
            Some(waiting) => join_waiting(&mut self, &waiting).await?,
            None => Joined::default(),
        };
        let events = std::mem::take(&mut self.events);
        insert_events(self.conn(), &events).await?;
        self.inner.commit().await?;
        // A caller that stopped waiting has nothing to be told.
        for (reply, outcomes) in joined.creations {
            let _ = reply.send(outcomes);
        }
        for (reply, claimed) in joined.claims {
            let _ = reply.send(claimed);
        }
        Ok(())
    }

    /// Abandons the transaction and its history entries.
    async fn rollback(self) -> Result<(), StoreError> {
        self.inner.rollback().await?;
        Ok(())
    }
}

/// What the writes taken into a transaction returned, to send their callers after the commit.
#[derive(Default)]
struct Joined {
    creations: Vec<(tokio::sync::oneshot::Sender<Outcomes>, Outcomes)>,
    claims: Vec<(tokio::sync::oneshot::Sender<Vec<Claimed>>, Vec<Claimed>)>,
}

/// Does the writes waiting in `waiting` in `tx`: the run creations, each as [`insert_runs`]
/// would in a transaction of its own, then the claims (which may take the new runs' first
/// steps), each as [`claim_due`] would. They share the transaction's flush to disk instead of
/// waiting for it and then flushing their own. They are done inside a savepoint: if one
/// fails, the transaction's own work stands, and the waiting writes, dropped unanswered, are
/// done by their callers alone (which then see their own error).
async fn join_waiting(tx: &mut Tx, waiting: &Joinable) -> Result<Joined, StoreError> {
    let creations = waiting.creations.take_all();
    let claims = waiting.claims.take_all();
    if creations.is_empty() && claims.is_empty() {
        return Ok(Joined::default());
    }
    let events = tx.events.len();
    query("SAVEPOINT joined").execute(tx.conn()).await?;
    match do_joined(tx, creations, claims).await {
        Ok(joined) => {
            query("RELEASE joined").execute(tx.conn()).await?;
            Ok(joined)
        }
        Err(e) => {
            tracing::debug!(error = %e, "writes taken into another transaction failed; their callers do them alone");
            tx.events.truncate(events);
            query("ROLLBACK TO joined").execute(tx.conn()).await?;
            query("RELEASE joined").execute(tx.conn()).await?;
            Ok(Joined::default())
        }
    }
}

/// The body of [`join_waiting`], inside its savepoint.
async fn do_joined(
    tx: &mut Tx,
    creations: Vec<WaitingCreation>,
    claims: Vec<WaitingClaim>,
) -> Result<Joined, StoreError> {
    let mut joined = Joined::default();
    for creation in creations {
        let runs: Vec<&NewRun> = creation.runs.iter().collect();
        let outcomes = insert_runs(tx, &runs, &creation.ids, creation.now).await?;
        joined.creations.push((creation.reply, outcomes));
    }
    for claim in claims {
        let taken = claim_due(
            tx,
            &claim.worker_id,
            claim.now,
            claim.limit,
            claim.lease_ms,
            || false,
        )
        .await?;
        joined.claims.push((claim.reply, taken));
    }
    Ok(joined)
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
