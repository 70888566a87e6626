// Shared store body: recording what happened to claimed steps (group commit).

/// The claimed step a completion is about, as stored.
struct Held {
    phase: Phase,
    parent_key: Option<String>,
    claimed_from: Option<String>,
    /// The run's workflow and plan, for a hand-off taken without reading the run again.
    workflow: String,
    version_hash: String,
}

/// What recording one completion did.
struct Applied {
    report: CompletionReport,
    /// Steps of the run it made ready.
    ready: MadeReady,
}

impl Applied {
    fn lost() -> Self {
        Applied {
            report: CompletionReport::LeaseLost,
            ready: MadeReady::default(),
        }
    }

    fn done(ready: MadeReady) -> Self {
        Applied {
            report: CompletionReport::Applied,
            ready,
        }
    }
}

/// A completion recorded ahead of the others, in a transaction of its own, by the
/// backend's batched path (`record_successes`).
struct Recorded {
    /// Its place in the batch.
    index: usize,
    /// The step its worker took next, if any.
    next: Option<Claimed>,
}

impl This {
    /// [`Store::complete_handing_off`]: with `lease_ms`, each completion's worker also takes
    /// one of the steps it made ready. The backend's batched path records what it can first,
    /// committed on its own (each completion is atomic by itself; none depends on another
    /// being written with it); the rest follow in one transaction, in batch order — all, or a
    /// prefix when an urgent write waits.
    async fn complete_batch(
        &self,
        batch: &[Completion],
        lease_ms: Option<i64>,
    ) -> Result<Vec<(CompletionReport, Option<Claimed>)>, StoreError> {
        let mut ahead: Vec<Option<Option<Claimed>>> = batch.iter().map(|_| None).collect();
        for recorded in with_retries!(self.record_successes(batch, lease_ms))? {
            ahead[recorded.index] = Some(recorded.next);
        }
        let leftovers: Vec<&Completion> = batch
            .iter()
            .zip(&ahead)
            .filter(|(_, recorded)| recorded.is_none())
            .map(|(completion, _)| completion)
            .collect();
        let mut rest = if leftovers.is_empty() {
            Vec::new()
        } else {
            with_retries!(self.complete_once(&leftovers, lease_ms))?
        }
        .into_iter();
        let mut results = Vec::with_capacity(batch.len());
        for recorded in ahead {
            match recorded {
                Some(next) => results.push((CompletionReport::Applied, next)),
                None => match rest.next() {
                    Some(result) => results.push(result),
                    // The rest was cut short: what follows leads the next batch.
                    None => break,
                },
            }
        }
        Ok(results)
    }

    /// [`This::complete_batch`]'s transaction, one try: the completions one after the other
    /// (all, or a prefix when an urgent write waits).
    async fn complete_once(
        &self,
        batch: &[&Completion],
        lease_ms: Option<i64>,
    ) -> Result<Vec<(CompletionReport, Option<Claimed>)>, StoreError> {
        let now = self.clock.now_ms();
        let mut tx = self.begin_write().await?;
        let began = std::time::Instant::now();
        let mut run_ids: Vec<&str> = batch.iter().map(|c| c.run_id.as_str()).collect();
        run_ids.sort_unstable();
        run_ids.dedup();
        lock_runs(&mut tx, &run_ids).await?;
        // The hand-offs' leases, when completions hand off.
        let until = lease_ms.map(|lease| now.saturating_add(lease));
        let mut refresh: Vec<&str> = Vec::new();
        let mut results = Vec::with_capacity(batch.len());
        for completion in batch.iter().copied() {
            let applied = apply(&mut tx, completion, now, until).await?;
            let MadeReady { keys, first, taken } = applied.ready;
            let next = match (until, first, keys.first()) {
                _ if taken.is_some() => taken,
                (Some(until), Some(candidate), _) => {
                    match take(&mut tx, candidate, &completion.worker_id, now, until).await? {
                        Taken::Claimed(claimed) => Some(*claimed),
                        Taken::Settled(_) => None,
                    }
                }
                (Some(until), None, Some(key)) => {
                    take_ready(
                        &mut tx,
                        &completion.run_id,
                        key,
                        &completion.worker_id,
                        now,
                        until,
                    )
                    .await?
                }
                (None, Some(candidate), _) if candidate.opening => {
                    open(&mut tx, &candidate.run_id, &candidate.key, now).await?;
                    None
                }
                _ => None,
            };
            // A run that just got a ready step is running; any other may now be waiting.
            if applied.report == CompletionReport::Applied && keys.is_empty() {
                refresh.push(&completion.run_id);
            }
            results.push((applied.report, next));
            // A waiting urgent write (a webhook's run, on SQLite) goes first: the rest of the
            // batch is for the next transaction.
            if self.writer_wanted() && began.elapsed() >= HOLD_BEFORE_YIELDING {
                break;
            }
        }
        refresh.sort_unstable();
        refresh.dedup();
        for run_id in refresh {
            refresh_run_status(&mut tx, run_id, now).await?;
        }
        tx.commit().await?;
        Ok(results)
    }
}

/// The step a completion is about, as its worker holds it, with its run: `$1` run, `$2`
/// key, `$3` worker, `$4` attempt.
macro_rules! held_step {
    () => {
        "SELECT s.phase, s.parent_key, s.claimed_from, r.status, r.stage, r.parent_run_id, \
         r.parent_step_key, r.workflow, r.version_hash FROM steps s JOIN runs r ON r.id = s.run_id \
         WHERE s.run_id = $1 AND s.key = $2 AND s.status = 'running' AND s.lease_owner = $3 \
         AND s.attempt = $4"
    };
}

/// The attempt a completion closes, as a writing CTE (PostgreSQL): `$1` run, `$2` key, `$3`
/// worker, `$4` attempt, `$5` now, `$6` outcome, `$7` error.
macro_rules! close_held_attempt {
    () => {
        "WITH closed AS (UPDATE attempts SET finished = $5, outcome = $6, error = $7 \
         WHERE run_id = $1 AND key = $2 AND finished IS NULL AND EXISTS (SELECT 1 FROM steps \
         WHERE run_id = $1 AND key = $2 AND status = 'running' AND lease_owner = $3 \
         AND attempt = $4 AND claimed_from IS DISTINCT FROM 'waiting'))"
    };
}

/// The order of completion, which compensation reverses within the run: one past the
/// largest number of any run. (The run's row is locked, so no other transaction completes a
/// step of it meanwhile; steps of different runs may share a number.)
macro_rules! next_completion {
    () => {
        "(SELECT COALESCE(MAX(completed_seq), 0) + 1 FROM steps WHERE completed_seq IS NOT NULL)"
    };
}

/// How an outcome that ends its step leaves it: status, output and error, as
/// [`finish_step`] writes them.
struct Ending<'o> {
    status: StepStatus,
    output: &'o Value,
    error: Option<&'o Value>,
}

/// The output of a step that ended without one.
static NO_OUTPUT: Value = Value::Null;

impl<'o> Ending<'o> {
    /// The ending of `outcome` when it ends the step whatever its run's state: a success or
    /// a failure (a late one is kept too, see [`settle_late`]).
    fn of(outcome: &'o Outcome) -> Option<Self> {
        match outcome {
            Outcome::Succeeded { output } => Some(Ending {
                status: StepStatus::Succeeded,
                output,
                error: None,
            }),
            Outcome::Failed { error, .. } => Some(Ending {
                status: StepStatus::Failed,
                output: &NO_OUTPUT,
                error: Some(error),
            }),
            _ => None,
        }
    }
}

/// Records one completion and its consequences.
/// With `lease_until`, the worker takes one of the dependents the completion makes ready.
async fn apply(
    c: &mut Tx,
    done: &Completion,
    now: i64,
    lease_until: Option<i64>,
) -> Result<Applied, StoreError> {
    let taker = lease_until.map(|until| Taker {
        worker_id: &done.worker_id,
        until,
    });
    let error = match &done.outcome {
        Outcome::Failed { error, .. } | Outcome::Retry { error, .. } => Some(error),
        _ => None,
    };
    // The step as its worker holds it (none: the lease was lost), with its run. On
    // PostgreSQL the same statement also closes the attempt, under the conditions of
    // [`close_attempt`] below (`'waiting'` is [`FROM_WAIT`]), and, when the outcome ends the
    // step, finishes it as [`finish_step`] does: one round trip for all three.
    let closes_too = BACKEND == Backend::Postgres;
    let ending = Ending::of(&done.outcome);
    let finishes_too = closes_too && ending.is_some();
    let sql = match (closes_too, finishes_too) {
        (true, true) => concat!(
            close_held_attempt!(),
            ", finished AS (UPDATE steps SET status = $8, output = $9, error = $7, completed_seq = ",
            next_completion!(),
            ", lease_owner = NULL, lease_expires_at = NULL, due_at = NULL, finished = $5, \
             updated = $5 WHERE run_id = $1 AND key = $2 AND status = 'running' \
             AND lease_owner = $3 AND attempt = $4 \
             RETURNING run_id, phase, parent_key, claimed_from) \
             SELECT s.phase, s.parent_key, s.claimed_from, r.status, r.stage, r.parent_run_id, \
             r.parent_step_key, r.workflow, r.version_hash FROM finished s \
             JOIN runs r ON r.id = s.run_id"
        ),
        (true, false) => concat!(close_held_attempt!(), " ", held_step!()),
        (false, _) => held_step!(),
    };
    let mut read = query(sql)
        .bind(&done.run_id)
        .bind(&done.key)
        .bind(&done.worker_id)
        .bind(i64::from(done.attempt));
    if closes_too {
        read = read
            .bind(now)
            .bind(done.outcome.name())
            .bind(json_text_opt(error));
    }
    if let (true, Some(ending)) = (finishes_too, &ending) {
        read = read
            .bind(ending.status.as_str())
            .bind(json_text(ending.output));
    }
    let row = read.fetch_optional(c.conn()).await?;
    let Some(row) = row else {
        return Ok(Applied::lost());
    };
    let held = Held {
        phase: row.try_get::<String, _>("phase")?.parse()?,
        parent_key: row.try_get("parent_key")?,
        claimed_from: row.try_get("claimed_from")?,
        workflow: row.try_get("workflow")?,
        version_hash: row.try_get("version_hash")?,
    };
    let run = run_state(&row)?;
    let (run_id, key) = (done.run_id.as_str(), done.key.as_str());
    if !closes_too && held.claimed_from.as_deref() != Some(FROM_WAIT) {
        close_attempt(c, run_id, key, now, done.outcome.name(), error).await?;
    }
    // A success or a failure is kept whatever the run's state (a late success may need
    // compensating).
    if let Some(ending) = &ending {
        finish_step(c, run_id, key, ending, now, finishes_too).await?;
    }
    if !run.stage.admits(run.status, held.phase) {
        settle_late(c, &run, run_id, key, &done.outcome, now).await?;
        return Ok(Applied::done(MadeReady::default()));
    }
    let mut ready = MadeReady::default();
    match &done.outcome {
        Outcome::Succeeded { .. } => {
            if held.phase == Phase::Compensation {
                mark_compensated(c, run_id, key, StepStatus::Compensated, now).await?;
            }
            ready = step_done(c, &run, run_id, key, &held, now, taker).await?;
            if matches!(held.phase, Phase::Compensation | Phase::OnFailure) {
                advance_failure(c, run_id, now).await?;
            }
        }
        Outcome::Skipped => {
            let skipped = Ending {
                status: StepStatus::Skipped,
                output: &NO_OUTPUT,
                error: None,
            };
            finish_step(c, run_id, key, &skipped, now, false).await?;
            ready = step_done(c, &run, run_id, key, &held, now, taker).await?;
            if matches!(held.phase, Phase::Compensation | Phase::OnFailure) {
                advance_failure(c, run_id, now).await?;
            }
        }
        Outcome::Failed {
            error,
            continue_on_error,
        } => {
            let item = held.parent_key.is_some();
            match held.phase {
                // An item's failure is its parent's to judge, once every item is done.
                Phase::Main | Phase::Output if item || *continue_on_error => {
                    ready = step_done(c, &run, run_id, key, &held, now, taker).await?;
                }
                Phase::Main | Phase::Output => fail_run(c, run_id, key, error, now).await?,
                Phase::Compensation => {
                    mark_compensated(c, run_id, key, StepStatus::CompensationFailed, now).await?;
                    ready = step_done(c, &run, run_id, key, &held, now, taker).await?;
                    advance_failure(c, run_id, now).await?;
                }
                Phase::OnFailure => {
                    ready = step_done(c, &run, run_id, key, &held, now, taker).await?;
                    advance_failure(c, run_id, now).await?;
                }
            }
        }
        Outcome::Retry { error, ready_at } => {
            query(
                "UPDATE steps SET status = 'retrying', error = $3, ready_at = $4, due_at = $4, \
                 lease_owner = NULL, lease_expires_at = NULL, updated = $5 \
                 WHERE run_id = $1 AND key = $2",
            )
            .bind(run_id)
            .bind(key)
            .bind(json_text(error))
            .bind(*ready_at)
            .bind(now)
            .execute(c.conn())
            .await?;
            let data = serde_json::json!({ "attempt": done.attempt, "error": error, "ready_at": ready_at });
            event(c, run_id, now, "step_retrying", Some(key), Some(&data)).await?;
        }
        Outcome::Wait {
            ready_at,
            state,
            waiting_for,
        } => {
            // What it waits for may have happened already (a signal sent, a child run ended
            // while the step was being evaluated): then it is due at once.
            let happened = match waiting_for {
                Some(WaitFor::Signal(name)) => signal_pending(c, run_id, name).await?,
                Some(WaitFor::Run(child)) => run_finished(c, child).await?,
                None => false,
            };
            let due = if happened { Some(now) } else { *ready_at };
            query(
                "UPDATE steps SET status = 'waiting', ready_at = $3, due_at = $3, state = $4, \
                 waiting_for = $5, lease_owner = NULL, lease_expires_at = NULL, updated = $6 \
                 WHERE run_id = $1 AND key = $2",
            )
            .bind(run_id)
            .bind(key)
            .bind(due)
            .bind(json_text_opt(state.as_ref()))
            .bind(waiting_for.as_ref().map(WaitFor::encode))
            .bind(now)
            .execute(c.conn())
            .await?;
            let data = serde_json::json!({
                "until": ready_at,
                "for": waiting_for.as_ref().map(WaitFor::encode),
            });
            event(c, run_id, now, "step_waiting", Some(key), Some(&data)).await?;
        }
        Outcome::Spawn {
            children,
            concurrency,
            state,
        } => spawn(c, run_id, key, children, *concurrency, state.as_ref(), now).await?,
        Outcome::RunOutput { output } => {
            let succeeded = Ending {
                status: StepStatus::Succeeded,
                output,
                error: None,
            };
            finish_step(c, run_id, key, &succeeded, now, false).await?;
            query(
                "UPDATE runs SET status = 'succeeded', stage = 'done', output = $2, \
                 finished = $3, updated = $3 WHERE id = $1",
            )
            .bind(run_id)
            .bind(json_text(output))
            .bind(now)
            .execute(c.conn())
            .await?;
            event(c, run_id, now, "run_succeeded", None, None).await?;
            wake_parent(c, run.parent.as_ref(), now).await?;
        }
    }
    Ok(Applied::done(ready))
}

/// A completion that came back after its run stopped admitting its phase (the run failed or
/// was cancelled meanwhile): a result is kept (a succeeded step may need compensating), but
/// nothing new starts from it.
async fn settle_late(
    c: &mut Tx,
    run: &RunState,
    run_id: &str,
    key: &str,
    outcome: &Outcome,
    now: i64,
) -> Result<(), StoreError> {
    // A success or a failure was finished already, as any is (see [`Ending::of`]).
    if Ending::of(outcome).is_none() {
        settle_skipped(c, run_id, key, now).await?;
    }
    if run.stage == Stage::Failing {
        advance_failure(c, run_id, now).await?;
    }
    Ok(())
}

/// Sets a step's final status, output and error, and its place in the order of completion
/// (unless `row_written`: the statement that read the step did it), and records it in the
/// history.
async fn finish_step(
    c: &mut Tx,
    run_id: &str,
    key: &str,
    ending: &Ending<'_>,
    now: i64,
    row_written: bool,
) -> Result<(), StoreError> {
    if !row_written {
        query(concat!(
            "UPDATE steps SET status = $3, output = $4, error = $5, completed_seq = ",
            next_completion!(),
            ", lease_owner = NULL, lease_expires_at = NULL, due_at = NULL, \
             finished = $6, updated = $6 WHERE run_id = $1 AND key = $2"
        ))
        .bind(run_id)
        .bind(key)
        .bind(ending.status.as_str())
        .bind(json_text(ending.output))
        .bind(json_text_opt(ending.error))
        .bind(now)
        .execute(c.conn())
        .await?;
    }
    let data = ending.error.map(|e| serde_json::json!({ "error": e }));
    let kind = match ending.status {
        StepStatus::Succeeded => "step_succeeded",
        StepStatus::Skipped => "step_skipped",
        _ => "step_failed",
    };
    event(c, run_id, now, kind, Some(key), data.as_ref()).await
}

/// `for_each`: creates the items (those of an earlier try of the run are kept), opens up to
/// `concurrency` of them, and makes the parent wait for all.
async fn spawn(
    c: &mut Tx,
    run_id: &str,
    key: &str,
    children: &[NewStep],
    concurrency: u32,
    state: Option<&Value>,
    now: i64,
) -> Result<(), StoreError> {
    let rows: Vec<(&str, StepRow)> = children
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let row = StepRow {
                key: s.key.clone(),
                phase: Phase::Main,
                status: StepStatus::Pending,
                deps: Vec::new(),
                max_attempts: s.max_attempts.max(1),
                has_compensation: false,
                compensation_max_attempts: 1,
                idempotency_key: s.idempotency_key.clone(),
                parent_key: Some(key.to_string()),
                item_index: Some(i as u32),
            };
            (run_id, row)
        })
        .collect();
    insert_step_rows(c, &rows, now).await?;
    let open: i64 = query_scalar(
        "SELECT COUNT(*) FROM steps WHERE run_id = $1 AND parent_key = $2 \
         AND status NOT IN ('succeeded', 'failed', 'skipped', 'compensated', 'compensation_failed')",
    )
    .bind(run_id)
    .bind(key)
    .fetch_one(c.conn())
    .await?;
    let slots = if concurrency == 0 {
        i64::MAX
    } else {
        i64::from(concurrency)
    };
    query(
        "UPDATE steps SET status = 'ready', ready_at = $3, due_at = $3, updated = $3 \
         WHERE run_id = $1 AND key IN (SELECT key FROM steps WHERE run_id = $1 \
         AND parent_key = $2 AND status = 'pending' ORDER BY item_index LIMIT $4)",
    )
    .bind(run_id)
    .bind(key)
    .bind(now)
    .bind(slots)
    .execute(c.conn())
    .await?;
    // The parent counts its open items in `deps_open`; the last one to finish wakes it.
    query(
        "UPDATE steps SET status = 'waiting', state = $3, waiting_for = 'children', \
         concurrency = $4, deps_open = $5, ready_at = $6, due_at = $6, lease_owner = NULL, \
         lease_expires_at = NULL, updated = $7 WHERE run_id = $1 AND key = $2",
    )
    .bind(run_id)
    .bind(key)
    .bind(json_text_opt(state))
    .bind(i64::from(concurrency))
    .bind(open)
    .bind((open == 0).then_some(now))
    .bind(now)
    .execute(c.conn())
    .await?;
    let data = serde_json::json!({ "items": children.len(), "concurrency": concurrency });
    event(c, run_id, now, "step_spawned", Some(key), Some(&data)).await
}

/// Whether run `run_id` has an unconsumed signal `name`.
async fn signal_pending(c: &mut Tx, run_id: &str, name: &str) -> Result<bool, StoreError> {
    let found: Option<i64> = query_scalar(
        "SELECT id FROM signals WHERE run_id = $1 AND name = $2 AND consumed_by_step IS NULL LIMIT 1",
    )
    .bind(run_id)
    .bind(name)
    .fetch_optional(c.conn())
    .await?;
    Ok(found.is_some())
}

/// Whether run `run_id` has finished.
async fn run_finished(c: &mut Tx, run_id: &str) -> Result<bool, StoreError> {
    let status: Option<String> = query_scalar("SELECT status FROM runs WHERE id = $1")
        .bind(run_id)
        .fetch_optional(c.conn())
        .await?;
    Ok(match status {
        Some(s) => s.parse::<RunStatus>()?.is_terminal(),
        None => false,
    })
}

/// Shows a run of the main stage as `running` while any step is ready or running, and as
/// `waiting` while every open step waits for a timer, a signal or a child run.
async fn refresh_run_status(c: &mut Tx, run_id: &str, now: i64) -> Result<(), StoreError> {
    query(
        "UPDATE runs SET status = CASE WHEN EXISTS (SELECT 1 FROM steps WHERE run_id = $1 \
         AND status IN ('ready', 'running')) THEN 'running' ELSE 'waiting' END, updated = $2 \
         WHERE id = $1 AND stage = 'main' AND status IN ('running', 'waiting')",
    )
    .bind(run_id)
    .bind(now)
    .execute(c.conn())
    .await?;
    Ok(())
}
