// Shared store body: claiming due steps with a lease, renewing and releasing leases.

/// The status a claimed step had, kept in `steps.claimed_from` so that a step handed back
/// on shutdown returns to it and a lost lease of a woken step is not counted as an attempt.
const FROM_WAIT: &str = "waiting";

/// The columns a claim reads of a step and its run, for `steps s JOIN runs r`.
macro_rules! candidate_columns {
    () => {
        concat!(
            candidate_step_columns!(),
            ", r.workflow, r.version_hash, r.status AS run_status, r.stage"
        )
    };
}

/// What became of a step a worker tried to take.
enum Taken {
    /// It is the worker's now.
    Claimed(Box<Claimed>),
    /// It may no longer run (its run failed or was cancelled): it was skipped. Carries the
    /// run's id when the run is failing, so its failure can move on.
    Settled(Option<String>),
}

/// The columns a claim reads of a step (with its run's, in [`candidate_columns!`]); also
/// what a completion reads of the dependents it may make ready. For a query on `steps s`.
macro_rules! candidate_step_columns {
    () => {
        "s.run_id, s.key, s.phase, s.status, s.attempt, s.max_attempts, s.state, s.waiting_for, \
         s.idempotency_key, s.parent_key, s.item_index, s.claimed_from"
    };
}

/// A step that may be taken, with what taking it needs to know of its run.
struct Candidate {
    run_id: String,
    key: String,
    status: StepStatus,
    phase: Phase,
    attempt: i64,
    max_attempts: i64,
    state: Option<String>,
    waiting_for: Option<String>,
    idempotency_key: Option<String>,
    parent_key: Option<String>,
    item_index: Option<i64>,
    claimed_from: Option<String>,
    workflow: String,
    version_hash: String,
    run_status: RunStatus,
    stage: Stage,
    /// Its row still waits for the completion that made it ready (one dependency open, not
    /// yet `ready`): taking it also opens it.
    opening: bool,
}

/// What a candidate needs of its run.
struct CandidateRun<'a> {
    workflow: &'a str,
    version_hash: &'a str,
    status: RunStatus,
    stage: Stage,
}

impl Candidate {
    /// From a row read with [`candidate_columns!`].
    fn read(row: &Row) -> Result<Self, StoreError> {
        let workflow: String = row.try_get("workflow")?;
        let version_hash: String = row.try_get("version_hash")?;
        let run = CandidateRun {
            workflow: &workflow,
            version_hash: &version_hash,
            status: row.try_get::<String, _>("run_status")?.parse()?,
            stage: row.try_get::<String, _>("stage")?.parse()?,
        };
        Self::of_run(row, &run)
    }

    /// From a row with [`candidate_step_columns!`], of `run`.
    fn of_run(row: &Row, run: &CandidateRun) -> Result<Self, StoreError> {
        Ok(Candidate {
            run_id: row.try_get("run_id")?,
            key: row.try_get("key")?,
            status: row.try_get::<String, _>("status")?.parse()?,
            phase: row.try_get::<String, _>("phase")?.parse()?,
            attempt: row.try_get("attempt")?,
            max_attempts: row.try_get("max_attempts")?,
            state: row.try_get("state")?,
            waiting_for: row.try_get("waiting_for")?,
            idempotency_key: row.try_get("idempotency_key")?,
            parent_key: row.try_get("parent_key")?,
            item_index: row.try_get("item_index")?,
            claimed_from: row.try_get("claimed_from")?,
            workflow: run.workflow.to_string(),
            version_hash: run.version_hash.to_string(),
            run_status: run.status,
            stage: run.stage,
            opening: false,
        })
    }

    /// The step as its taker holds it once taken (its `attempt` the one taken, `resumed`
    /// from a wait or a new one), leased until `lease_until`.
    fn claimed(self, resumed: bool, lease_until: i64) -> Result<Claimed, StoreError> {
        Ok(Claimed {
            run_id: self.run_id,
            workflow: self.workflow,
            version_hash: self.version_hash,
            key: self.key,
            phase: self.phase,
            attempt: to_u32(self.attempt, "attempt")?,
            max_attempts: to_u32(self.max_attempts, "max_attempts")?,
            resumed_from_wait: resumed,
            state: parse_json(self.state, "step state")?,
            waiting_for: self.waiting_for.as_deref().and_then(WaitFor::decode),
            idempotency_key: self.idempotency_key,
            parent_key: self.parent_key,
            item_index: self.item_index.map(|i| to_u32(i, "item_index")).transpose()?,
            lease_expires_at: lease_until,
        })
    }
}

/// The number of the next attempt of step `$2` of run `$1`.
macro_rules! next_attempt_number {
    () => {
        "(SELECT COALESCE(MAX(number), 0) + 1 FROM attempts WHERE run_id = $1 AND key = $2)"
    };
}

/// The statement that makes a step `running` for a worker: `$1` run, `$2` key, `$3` the status
/// it was claimed from, `$4` worker, `$5` lease end, `$6` attempt, `$7` now, `$8` 1 if the
/// attempt is new, `$9` 1 if its last dependency closes with it ([`Candidate::opening`]).
macro_rules! take_step {
    () => {
        "UPDATE steps SET status = 'running', claimed_from = $3, lease_owner = $4, \
         lease_expires_at = $5, due_at = $5, attempt = $6, \
         attempts_total = attempts_total + $8, started = COALESCE(started, $7), updated = $7, \
         deps_open = deps_open - $9, ready_at = CASE WHEN $9 = 1 THEN $7 ELSE ready_at END \
         WHERE run_id = $1 AND key = $2"
    };
}

/// Takes `candidate` for `worker_id` until `lease_until`: a new attempt (with its attempt
/// row) unless it was only waiting.
async fn take(
    c: &mut Tx,
    mut candidate: Candidate,
    worker_id: &str,
    now: i64,
    lease_until: i64,
) -> Result<Taken, StoreError> {
    let (run_id, key) = (candidate.run_id.as_str(), candidate.key.as_str());
    let lost_lease = candidate.status == StepStatus::Running;
    if lost_lease {
        // Its worker died (or hung) mid-attempt: that attempt is over.
        close_attempt(c, run_id, key, now, "lost", Some(&interrupted())).await?;
    }
    if !candidate.stage.admits(candidate.run_status, candidate.phase) {
        // The run failed or was cancelled while this step ran on a worker that then died:
        // nothing of it may start again.
        settle_skipped(c, run_id, key, now).await?;
        let failing = candidate.stage == Stage::Failing;
        return Ok(Taken::Settled(failing.then_some(candidate.run_id)));
    }
    let resumed = candidate.status == StepStatus::Waiting
        || (lost_lease && candidate.claimed_from.as_deref() == Some(FROM_WAIT));
    let mut attempt = to_u32(candidate.attempt, "attempt")?;
    if !resumed {
        attempt += 1;
    }
    // A new attempt gets its row: on PostgreSQL in the statement that takes the step (one
    // round trip fewer), on SQLite (no writing CTEs) just before it.
    let together = BACKEND == Backend::Postgres && !resumed;
    if !resumed && !together {
        query(
            // A subquery in VALUES, not `INSERT … SELECT`: SQLite copies a SELECT from the
            // table being inserted into through a temporary table first (twice the time).
            concat!(
                "INSERT INTO attempts (run_id, key, number, attempt, worker, started) \
                 VALUES ($1, $2, ",
                next_attempt_number!(),
                ", $3, $4, $5)"
            ),
        )
        .bind(run_id)
        .bind(key)
        .bind(i64::from(attempt))
        .bind(worker_id)
        .bind(now)
        .execute(c.conn())
        .await?;
    }
    let from = match (lost_lease, &candidate.claimed_from) {
        (true, Some(from)) => from.as_str(),
        (true, None) => StepStatus::Ready.as_str(),
        (false, _) => candidate.status.as_str(),
    };
    query(if together {
        concat!(
            "WITH new_attempt AS (INSERT INTO attempts (run_id, key, number, attempt, worker, \
             started) VALUES ($1, $2, ",
            next_attempt_number!(),
            ", $6, $4, $7)) ",
            take_step!()
        )
    } else {
        take_step!()
    })
    .bind(run_id)
    .bind(key)
    .bind(from)
    .bind(worker_id)
    .bind(lease_until)
    .bind(i64::from(attempt))
    .bind(now)
    .bind(i64::from(!resumed))
    .bind(i64::from(candidate.opening))
    .execute(c.conn())
    .await?;
    let run_status = candidate.run_status;
    started(c, run_id, key, attempt, worker_id, resumed, run_status, now).await?;
    candidate.attempt = i64::from(attempt);
    Ok(Taken::Claimed(Box::new(
        candidate.claimed(resumed, lease_until)?,
    )))
}

/// Records that a worker took step `key` of run `run_id` (`attempt`; `resumed` from a
/// wait, or a new attempt), and shows the run as running if it was not.
#[allow(clippy::too_many_arguments)]
async fn started(
    c: &mut Tx,
    run_id: &str,
    key: &str,
    attempt: u32,
    worker_id: &str,
    resumed: bool,
    run_status: RunStatus,
    now: i64,
) -> Result<(), StoreError> {
    let kind = if resumed {
        "step_resumed"
    } else {
        "step_started"
    };
    let data = serde_json::json!({ "attempt": attempt, "worker": worker_id });
    event(c, run_id, now, kind, Some(key), Some(&data)).await?;
    if matches!(run_status, RunStatus::Pending | RunStatus::Waiting) {
        query(
            "UPDATE runs SET status = 'running', started = COALESCE(started, $2), \
             updated = $2 WHERE id = $1 AND status IN ('pending', 'waiting')",
        )
        .bind(run_id)
        .bind(now)
        .execute(c.conn())
        .await?;
    }
    Ok(())
}

/// Takes step `key` of run `run_id` if it is ready: the hand-off of a step a completion just
/// made ready to the worker that completed it, in the same transaction.
async fn take_ready(
    c: &mut Tx,
    run_id: &str,
    key: &str,
    worker_id: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<Claimed>, StoreError> {
    let row = query(concat!(
        "SELECT ",
        candidate_columns!(),
        " FROM steps s JOIN runs r ON r.id = s.run_id \
         WHERE s.run_id = $1 AND s.key = $2 AND s.status = 'ready'"
    ))
    .bind(run_id)
    .bind(key)
    .fetch_optional(c.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(
        match take(c, Candidate::read(&row)?, worker_id, now, lease_until).await? {
            Taken::Claimed(claimed) => Some(*claimed),
            Taken::Settled(_) => None,
        },
    )
}

/// Takes up to `limit` steps due at `now` for `worker_id`, with leases of `lease_ms`. A due
/// step that may no longer run (its run failed or was cancelled) is skipped instead, and a
/// failing run's failure moves on. Stops early, once it has held the writer for
/// `HOLD_BEFORE_YIELDING`, when `yield_early` says an urgent write waits: the rest stay due
/// for the next claim.
async fn claim_due(
    tx: &mut Tx,
    worker_id: &str,
    now: i64,
    limit: u32,
    lease_ms: i64,
    yield_early: impl Fn() -> bool,
) -> Result<Vec<Claimed>, StoreError> {
    let began = std::time::Instant::now();
    let rows = query(concat!(
        "SELECT ",
        candidate_columns!(),
        " FROM steps s JOIN runs r ON r.id = s.run_id \
         WHERE s.due_at <= $1 ORDER BY s.due_at LIMIT $2",
        claim_lock!()
    ))
    .bind(now)
    .bind(i64::from(limit.max(1)))
    .fetch_all(tx.conn())
    .await?;
    let lease_until = now.saturating_add(lease_ms);
    let mut claimed = Vec::with_capacity(rows.len());
    let mut failing: Vec<String> = Vec::new();
    for row in &rows {
        match take(tx, Candidate::read(row)?, worker_id, now, lease_until).await? {
            Taken::Claimed(step) => claimed.push(*step),
            Taken::Settled(Some(run_id)) => failing.push(run_id),
            Taken::Settled(None) => {}
        }
        if yield_early() && began.elapsed() >= HOLD_BEFORE_YIELDING {
            break;
        }
    }
    failing.sort();
    failing.dedup();
    for run_id in &failing {
        advance_failure(tx, run_id, now).await?;
    }
    Ok(claimed)
}

impl This {
    /// [`Store::claim`], one try.
    async fn claim_once(
        &self,
        worker_id: &str,
        now: i64,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        // Most wake-ups of a busy executor find nothing due: the step a completion made ready
        // went to the worker that completed it. A read answers those without a write
        // transaction, which on SQLite would queue for the one writer.
        if !matches!(self.next_wake_at_once().await?, Some(due) if due <= now) {
            return Ok(Vec::new());
        }
        let mut tx = match self.begin_claim(worker_id, now, limit, lease_ms).await? {
            Began::Joined(claimed) => return Ok(claimed),
            Began::Alone(tx) => tx,
        };
        let claimed = claim_due(&mut tx, worker_id, now, limit, lease_ms, || {
            self.writer_wanted()
        })
        .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// [`Store::renew_leases`], one try: one statement per [`RENEW_CHUNK`] steps, so a
    /// heartbeat costs a round trip or two however many steps are in flight.
    async fn renew_once(
        &self,
        worker_id: &str,
        steps: &[StepRef],
        until: i64,
    ) -> Result<Vec<StepRef>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut renewed = Vec::with_capacity(steps.len());
        for chunk in steps.chunks(RENEW_CHUNK) {
            let sql = renew_sql(chunk.len());
            let mut query = query(&sql)
                .persistent(cached(chunk.len()))
                .bind(worker_id)
                .bind(until);
            for step in chunk {
                query = query.bind(&step.run_id).bind(&step.key);
            }
            for row in query.fetch_all(tx.conn()).await? {
                renewed.push(StepRef {
                    run_id: row.try_get("run_id")?,
                    key: row.try_get("key")?,
                });
            }
        }
        tx.commit().await?;
        Ok(renewed)
    }

    /// [`Store::release`], one try.
    async fn release_once(
        &self,
        worker_id: &str,
        unstarted: &[StepRef],
    ) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        let mut tx = self.begin_write().await?;
        let mut handed_back = 0;
        for step in unstarted {
            let from: Option<Option<String>> = query_scalar(
                "SELECT claimed_from FROM steps WHERE run_id = $1 AND key = $2 \
                 AND status = 'running' AND lease_owner = $3",
            )
            .bind(&step.run_id)
            .bind(&step.key)
            .bind(worker_id)
            .fetch_optional(tx.conn())
            .await?;
            let Some(from) = from else { continue };
            let from = from.unwrap_or_else(|| StepStatus::Ready.as_str().to_string());
            let counted = i64::from(from != FROM_WAIT);
            if counted == 1 {
                query("DELETE FROM attempts WHERE run_id = $1 AND key = $2 AND finished IS NULL")
                    .bind(&step.run_id)
                    .bind(&step.key)
                    .execute(tx.conn())
                    .await?;
            }
            query(
                "UPDATE steps SET status = $3, attempt = attempt - $4, \
                 attempts_total = attempts_total - $4, lease_owner = NULL, \
                 lease_expires_at = NULL, due_at = COALESCE(ready_at, $5), updated = $5 \
                 WHERE run_id = $1 AND key = $2",
            )
            .bind(&step.run_id)
            .bind(&step.key)
            .bind(&from)
            .bind(counted)
            .bind(now)
            .execute(tx.conn())
            .await?;
            handed_back += 1;
        }
        // Whatever else this worker holds is interrupted: let the next start take it at once.
        // A running step is due when its lease ends, so the due index finds the leases not
        // yet run out (there is no index by owner: every step taken would write to it).
        query(
            "UPDATE steps SET lease_expires_at = $2, due_at = $2 \
             WHERE due_at > $2 AND lease_owner = $1 AND status = 'running'",
        )
        .bind(worker_id)
        .bind(now)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(handed_back)
    }

    /// [`Store::next_wake_at`].
    async fn next_wake_at_once(&self) -> Result<Option<i64>, StoreError> {
        query_scalar("SELECT MIN(due_at) FROM steps WHERE due_at IS NOT NULL")
            .fetch_one(self.read_pool())
            .await
    }
}

/// The most steps whose leases one statement renews (two parameters each).
const RENEW_CHUNK: usize = 200;

/// The renewal of `n` leases: `$1` the worker, `$2` the new expiry, then each step's run id
/// and key. A row another transaction holds is skipped rather than waited for: it is this
/// worker's own completion being written (nothing else locks a running step whose lease has
/// not run out), and waiting for it while holding the rows already renewed is how a heartbeat
/// and a group commit deadlock.
fn renew_sql(n: usize) -> String {
    let pairs: Vec<String> = (0..n)
        .map(|i| format!("(${}, ${})", 3 + 2 * i, 4 + 2 * i))
        .collect();
    format!(
        concat!(
            "UPDATE steps SET lease_expires_at = $2, due_at = $2 WHERE (run_id, key) IN \
             (SELECT run_id, key FROM steps WHERE lease_owner = $1 AND status = 'running' \
             AND (run_id, key) IN (VALUES {}) ",
            skip_locked!(),
            ") RETURNING run_id, key"
        ),
        pairs.join(", ")
    )
}

/// The error of an attempt cut short by a crash or a lost lease.
fn interrupted() -> Value {
    serde_json::json!({
        "class": "interrupted",
        "message": "the attempt was interrupted (its engine process stopped or lost its lease)",
    })
}

/// Closes a step's open attempt row with `outcome`.
async fn close_attempt(
    c: &mut Tx,
    run_id: &str,
    key: &str,
    now: i64,
    outcome: &str,
    error: Option<&Value>,
) -> Result<(), StoreError> {
    query(
        "UPDATE attempts SET finished = $3, outcome = $4, error = $5 \
         WHERE run_id = $1 AND key = $2 AND finished IS NULL",
    )
    .bind(run_id)
    .bind(key)
    .bind(now)
    .bind(outcome)
    .bind(json_text_opt(error))
    .execute(c.conn())
    .await?;
    Ok(())
}

/// Marks a step that may no longer run as skipped.
async fn settle_skipped(c: &mut Tx, run_id: &str, key: &str, now: i64) -> Result<(), StoreError> {
    query(
        "UPDATE steps SET status = 'skipped', output = 'null', lease_owner = NULL, \
         lease_expires_at = NULL, due_at = NULL, finished = $3, updated = $3 \
         WHERE run_id = $1 AND key = $2",
    )
    .bind(run_id)
    .bind(key)
    .bind(now)
    .execute(c.conn())
    .await?;
    event(c, run_id, now, "step_skipped", Some(key), None).await
}
