// Shared store body: what a finished step sets in motion — dependents made ready, the next
// `for_each` item opened, a waiting parent woken — and a run's way through failure:
// compensation in reverse order of completion, then `on_failure`, then its final status.

/// The statuses a step is done in.
macro_rules! terminal_statuses {
    () => {
        "('succeeded', 'failed', 'skipped', 'compensated', 'compensation_failed')"
    };
}

/// The steps a completion made ready.
#[derive(Default)]
struct MadeReady {
    /// Their keys.
    keys: Vec<String>,
    /// The first of them as read by the change that made it ready, when that is all taking
    /// it needs (the hand-off then reads nothing again). On SQLite its row is not changed
    /// yet ([`Candidate::opening`]): taking it opens it in the same statement, or
    /// [`open`] does when no worker takes it.
    first: Option<Candidate>,
    /// The first of them, taken already by the completing worker (PostgreSQL: in the
    /// statement that made it ready, see [`Taker`]).
    taken: Option<Claimed>,
}

/// The worker completing a step, which takes one of the dependents the completion makes
/// ready (a hand-off), leased until `until`.
#[derive(Clone, Copy)]
struct Taker<'a> {
    worker_id: &'a str,
    until: i64,
}

/// A step is done (succeeded, skipped, or failed in a way that lets the run go on): its
/// dependents lose a dependency and start when they have none left (if the run's stage admits
/// them); an item frees its slot and the last item wakes its parent. Returns the steps that
/// became ready.
async fn step_done(
    c: &mut Tx,
    run: &RunState,
    run_id: &str,
    key: &str,
    held: &Held,
    now: i64,
    taker: Option<Taker<'_>>,
) -> Result<MadeReady, StoreError> {
    if let Some(parent) = &held.parent_key {
        return Ok(MadeReady {
            keys: item_done(c, run_id, parent, now).await?,
            ..MadeReady::default()
        });
    }
    // Dependents have the same phase, except `$output`, which the main stage admits too.
    let admits = run.stage.admits(run.status, held.phase);
    // A main step's completion changes nothing of its run before this: the run as read with
    // the step is the run its dependents are taken in. (Compensation and `on_failure` steps
    // move the run on afterwards, so theirs are read again.)
    let run_now = CandidateRun {
        workflow: &held.workflow,
        version_hash: &held.version_hash,
        status: run.status,
        stage: run.stage,
    };
    let done = Finished {
        run_id,
        key,
        admits,
        taken_as_read: (held.phase == Phase::Main).then_some(&run_now),
        taker,
        now,
    };
    let ready = if BACKEND == Backend::Postgres {
        dependents_at_once(c, &done).await?
    } else {
        dependents_one_by_one(c, &done).await?
    };
    for k in &ready.keys {
        event(c, run_id, now, "step_ready", Some(k), None).await?;
    }
    if let (Some(taken), Some(taker)) = (&ready.taken, taker) {
        let (attempt, status) = (taken.attempt, run_now.status);
        started(c, run_id, &taken.key, attempt, taker.worker_id, false, status, now).await?;
    }
    Ok(ready)
}

/// A step done, as its dependents see it.
struct Finished<'a> {
    run_id: &'a str,
    key: &'a str,
    /// Whether the run's stage lets its dependents start.
    admits: bool,
    /// The run as read with the step, when its dependents are taken in that state.
    taken_as_read: Option<&'a CandidateRun<'a>>,
    /// Who takes the first dependent made ready, if anyone does.
    taker: Option<Taker<'a>>,
    now: i64,
}

/// The dependents of a step lose a dependency, in one statement (PostgreSQL: one round
/// trip); those left with none become ready if the stage admits them. With `taken_as_read`,
/// the first of them is taken by the [`Taker`] in the same statement, or without one kept
/// for taking.
async fn dependents_at_once(c: &mut Tx, done: &Finished<'_>) -> Result<MadeReady, StoreError> {
    // With a taker, the first dependent that becomes ready (by key) is taken in the same
    // statement, its new attempt's row inserted beside it: one round trip for both. `taken`
    // says which row that is. In SET, columns read their values from before the update;
    // `first` is read before it too.
    let taking = match (done.taker, done.taken_as_read) {
        (Some(taker), Some(_)) if done.admits => Some(taker),
        _ => None,
    };
    let rows = query(concat!(
        "WITH first AS (SELECT MIN(t.key) AS key FROM step_deps d JOIN steps t \
         ON t.run_id = d.run_id AND t.key = d.key WHERE $5 AND d.run_id = $1 \
         AND d.dep_key = $2 AND t.status = 'pending' AND t.deps_open <= 1), \
         changed AS (UPDATE steps AS s SET deps_open = s.deps_open - 1, \
         status = CASE WHEN s.key = (SELECT key FROM first) THEN 'running' \
         WHEN $4 AND s.status = 'pending' AND s.deps_open <= 1 THEN 'ready' \
         ELSE s.status END, \
         ready_at = CASE WHEN $4 AND s.status = 'pending' AND s.deps_open <= 1 THEN $3 \
         ELSE s.ready_at END, \
         due_at = CASE WHEN s.key = (SELECT key FROM first) THEN $7 \
         WHEN $4 AND s.status = 'pending' AND s.deps_open <= 1 THEN $3 ELSE s.due_at END, \
         lease_owner = CASE WHEN s.key = (SELECT key FROM first) THEN $6 \
         ELSE s.lease_owner END, \
         lease_expires_at = CASE WHEN s.key = (SELECT key FROM first) THEN $7 \
         ELSE s.lease_expires_at END, \
         claimed_from = CASE WHEN s.key = (SELECT key FROM first) THEN 'ready' \
         ELSE s.claimed_from END, \
         attempt = CASE WHEN s.key = (SELECT key FROM first) THEN s.attempt + 1 \
         ELSE s.attempt END, \
         attempts_total = CASE WHEN s.key = (SELECT key FROM first) \
         THEN s.attempts_total + 1 ELSE s.attempts_total END, \
         started = CASE WHEN s.key = (SELECT key FROM first) THEN COALESCE(s.started, $3) \
         ELSE s.started END, updated = $3 \
         WHERE s.run_id = $1 AND s.key IN (SELECT key FROM step_deps WHERE run_id = $1 \
         AND dep_key = $2) \
         RETURNING s.key = (SELECT key FROM first) AS taken, ",
        candidate_step_columns!(),
        "), new_attempt AS (INSERT INTO attempts (run_id, key, number, attempt, worker, \
         started) SELECT n.run_id, n.key, (SELECT COALESCE(MAX(a.number), 0) + 1 \
         FROM attempts a WHERE a.run_id = n.run_id AND a.key = n.key), n.attempt, $6, $3 \
         FROM changed n WHERE n.taken) \
         SELECT * FROM changed"
    ))
    .bind(done.run_id)
    .bind(done.key)
    .bind(done.now)
    .bind(done.admits)
    .bind(taking.is_some())
    .bind(taking.map(|t| t.worker_id))
    .bind(taking.map(|t| t.until))
    .fetch_all(c.conn())
    .await?;
    let mut ready = MadeReady::default();
    for row in rows {
        let taken = row.try_get::<Option<bool>, _>("taken")? == Some(true);
        let status = row.try_get::<String, _>("status")?;
        if taken {
            if let (Some(run), Some(taker)) = (done.taken_as_read, taking) {
                ready.taken = Some(Candidate::of_run(&row, run)?.claimed(false, taker.until)?);
            }
        } else if status == StepStatus::Ready.as_str() {
            if let (Some(run), None, None) = (done.taken_as_read, &ready.first, taking) {
                ready.first = Some(Candidate::of_run(&row, run)?);
            }
        } else {
            continue;
        }
        ready.keys.push(row.try_get::<String, _>("key")?);
    }
    Ok(ready)
}

/// As [`dependents_at_once`], read first and then changed one by one by primary key
/// (SQLite: an `UPDATE … RETURNING` over an `IN (SELECT …)` costs three times these), and
/// the first to become ready left unchanged for its taker to open (see
/// [`MadeReady::first`]). Nothing else changes the dependents meanwhile: a pending step
/// changes only under its run's lock (SQLite has one writer), so what is read is what the
/// update changes.
async fn dependents_one_by_one(c: &mut Tx, done: &Finished<'_>) -> Result<MadeReady, StoreError> {
    let dependents = query(concat!(
        "SELECT s.deps_open, ",
        candidate_step_columns!(),
        " FROM step_deps d JOIN steps s ON s.run_id = d.run_id AND s.key = d.key \
         WHERE d.run_id = $1 AND d.dep_key = $2"
    ))
    .bind(done.run_id)
    .bind(done.key)
    .fetch_all(c.conn())
    .await?;
    let mut ready = MadeReady::default();
    for row in dependents {
        let dependent: String = row.try_get("key")?;
        let pending = row.try_get::<String, _>("status")? == StepStatus::Pending.as_str();
        let becomes_ready = done.admits && pending && row.try_get::<i64, _>("deps_open")? <= 1;
        match (becomes_ready, done.taken_as_read, &ready.first) {
            (true, Some(run), None) => {
                let mut candidate = Candidate::of_run(&row, run)?;
                candidate.status = StepStatus::Ready;
                candidate.opening = true;
                ready.first = Some(candidate);
            }
            (true, _, _) => open(c, done.run_id, &dependent, done.now).await?,
            (false, _, _) => {
                query(
                    "UPDATE steps SET deps_open = deps_open - 1, updated = $3 \
                     WHERE run_id = $1 AND key = $2",
                )
                .bind(done.run_id)
                .bind(&dependent)
                .bind(done.now)
                .execute(c.conn())
                .await?;
            }
        }
        if becomes_ready {
            ready.keys.push(dependent);
        }
    }
    Ok(ready)
}

/// Closes the last open dependency of a pending step: it is ready. (Also for the step
/// [`step_done`] left for its taker when none takes it: see [`MadeReady::first`].)
async fn open(c: &mut Tx, run_id: &str, key: &str, now: i64) -> Result<(), StoreError> {
    query(
        "UPDATE steps SET deps_open = deps_open - 1, status = 'ready', ready_at = $3, \
         due_at = $3, updated = $3 WHERE run_id = $1 AND key = $2",
    )
    .bind(run_id)
    .bind(key)
    .bind(now)
    .execute(c.conn())
    .await?;
    Ok(())
}

/// A `for_each` item is done: the next pending item takes its slot, and when none is open
/// any more the parent is woken to collect the outputs.
async fn item_done(
    c: &mut Tx,
    run_id: &str,
    parent: &str,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let ready: Vec<String> = query_scalar(
        "UPDATE steps SET status = 'ready', ready_at = $3, due_at = $3, updated = $3 \
         WHERE run_id = $1 AND key IN (SELECT key FROM steps WHERE run_id = $1 \
         AND parent_key = $2 AND status = 'pending' ORDER BY item_index LIMIT 1) \
         RETURNING key",
    )
    .bind(run_id)
    .bind(parent)
    .bind(now)
    .fetch_all(c.conn())
    .await?;
    query(
        "UPDATE steps SET deps_open = deps_open - 1, updated = $3, \
         ready_at = CASE WHEN deps_open <= 1 THEN $3 ELSE ready_at END, \
         due_at = CASE WHEN deps_open <= 1 THEN $3 ELSE due_at END \
         WHERE run_id = $1 AND key = $2 AND status = 'waiting'",
    )
    .bind(run_id)
    .bind(parent)
    .bind(now)
    .execute(c.conn())
    .await?;
    Ok(ready)
}

/// Wakes the step of a parent run that waits for a child run which just finished.
async fn wake_parent(c: &mut Tx, parent: Option<&ParentRef>, now: i64) -> Result<(), StoreError> {
    let Some(parent) = parent else { return Ok(()) };
    query(
        "UPDATE steps SET ready_at = $3, due_at = $3, updated = $3 \
         WHERE run_id = $1 AND key = $2 AND status = 'waiting'",
    )
    .bind(&parent.run_id)
    .bind(&parent.step_key)
    .bind(now)
    .execute(c.conn())
    .await?;
    Ok(())
}

/// A main step (or the output) failed for good: nothing new starts, open steps are skipped
/// (child runs they wait for are cancelled), and once running steps have finished their
/// attempts, compensation begins.
async fn fail_run(
    c: &mut Tx,
    run_id: &str,
    key: &str,
    error: &Value,
    now: i64,
) -> Result<(), StoreError> {
    let mut run_error = match error {
        Value::Object(map) => Value::Object(map.clone()),
        other => serde_json::json!({ "message": other }),
    };
    run_error["step"] = Value::String(key.to_string());
    query(
        "UPDATE runs SET status = 'compensating', stage = 'failing', error = $2, updated = $3 \
         WHERE id = $1",
    )
    .bind(run_id)
    .bind(json_text(&run_error))
    .bind(now)
    .execute(c.conn())
    .await?;
    event(c, run_id, now, "run_failing", Some(key), Some(&run_error)).await?;
    let children: Vec<Option<String>> = query_scalar(
        "UPDATE steps SET status = 'skipped', output = 'null', ready_at = NULL, due_at = NULL, \
         finished = $2, updated = $2 WHERE run_id = $1 AND phase IN ('main', 'output') \
         AND status IN ('pending', 'ready', 'retrying', 'waiting') RETURNING waiting_for",
    )
    .bind(run_id)
    .bind(now)
    .fetch_all(c.conn())
    .await?;
    for child in children.iter().flatten() {
        if let Some(WaitFor::Run(child)) = WaitFor::decode(child) {
            cancel_tree(c, &child, now).await?;
        }
    }
    advance_failure(c, run_id, now).await
}

/// Moves a failing run on as far as it can go now: from `failing` (once no main step runs)
/// to `compensating` (once every compensation is done) to `on_failure` (once every
/// `on_failure` step is done) to its final status.
async fn advance_failure(c: &mut Tx, run_id: &str, now: i64) -> Result<(), StoreError> {
    let Some(mut run) = lock_run(c, run_id).await? else {
        return Ok(());
    };
    loop {
        let open_phase = match run.stage {
            Stage::Failing => "('main', 'output')",
            Stage::Compensating => "('compensation')",
            Stage::OnFailure => "('on_failure')",
            Stage::Main | Stage::Done => return Ok(()),
        };
        let open: i64 = query_scalar(format!(
            "SELECT COUNT(*) FROM steps WHERE run_id = $1 AND phase IN {open_phase} \
             AND status NOT IN {} AND status <> 'dormant'",
            terminal_statuses!()
        ))
        .bind(run_id)
        .fetch_one(c.conn())
        .await?;
        if open > 0 {
            return Ok(());
        }
        run.stage = match run.stage {
            Stage::Failing => {
                start_compensation(c, run_id, now).await?;
                Stage::Compensating
            }
            Stage::Compensating => {
                start_on_failure(c, run_id, now).await?;
                Stage::OnFailure
            }
            _ => {
                finish_failed(c, run_id, run.parent.as_ref(), now).await?;
                return Ok(());
            }
        };
        query("UPDATE runs SET stage = $2, updated = $3 WHERE id = $1")
            .bind(run_id)
            .bind(run.stage.as_str())
            .bind(now)
            .execute(c.conn())
            .await?;
    }
}

/// Creates a compensation row for every succeeded step that has one, chained so that they
/// run one at a time in reverse order of completion.
async fn start_compensation(c: &mut Tx, run_id: &str, now: i64) -> Result<(), StoreError> {
    let rows = query(
        "SELECT key, compensation_max_attempts, idempotency_key FROM steps WHERE run_id = $1 \
         AND phase = 'main' AND status = 'succeeded' AND has_compensation \
         AND NOT EXISTS (SELECT 1 FROM steps t WHERE t.run_id = $1 \
         AND t.key = $2 || steps.key) ORDER BY completed_seq DESC",
    )
    .bind(run_id)
    .bind(COMPENSATION_PREFIX)
    .fetch_all(c.conn())
    .await?;
    let mut new_rows = Vec::with_capacity(rows.len());
    let mut previous: Option<String> = None;
    for row in rows {
        let undone: String = row.try_get("key")?;
        let key = format!("{COMPENSATION_PREFIX}{undone}");
        new_rows.push(StepRow {
            key: key.clone(),
            phase: Phase::Compensation,
            status: if previous.is_none() {
                StepStatus::Ready
            } else {
                StepStatus::Pending
            },
            deps: previous.iter().cloned().collect(),
            max_attempts: to_u32(row.try_get("compensation_max_attempts")?, "attempts")?.max(1),
            has_compensation: false,
            compensation_max_attempts: 1,
            idempotency_key: row
                .try_get::<Option<String>, _>("idempotency_key")?
                .map(|k| format!("{k}/compensate")),
            parent_key: None,
            item_index: None,
        });
        previous = Some(key);
    }
    let keys: Vec<&str> = new_rows.iter().map(|r| r.key.as_str()).collect();
    let data = serde_json::json!({ "order": keys });
    event(c, run_id, now, "compensation_started", None, Some(&data)).await?;
    let rows: Vec<(&str, StepRow)> = new_rows.into_iter().map(|r| (run_id, r)).collect();
    insert_step_rows(c, &rows, now).await
}

/// Wakes the dormant `on_failure` steps: those without dependencies become ready.
async fn start_on_failure(c: &mut Tx, run_id: &str, now: i64) -> Result<(), StoreError> {
    query(
        "UPDATE steps SET status = CASE WHEN deps_open <= 0 THEN 'ready' ELSE 'pending' END, \
         ready_at = CASE WHEN deps_open <= 0 THEN $2 ELSE NULL END, \
         due_at = CASE WHEN deps_open <= 0 THEN $2 ELSE NULL END, updated = $2 \
         WHERE run_id = $1 AND phase = 'on_failure' AND status = 'dormant'",
    )
    .bind(run_id)
    .bind(now)
    .execute(c.conn())
    .await?;
    event(c, run_id, now, "on_failure_started", None, None).await
}

/// Ends a failed run: `compensation_failed` if a compensation failed for good, else `failed`.
async fn finish_failed(
    c: &mut Tx,
    run_id: &str,
    parent: Option<&ParentRef>,
    now: i64,
) -> Result<(), StoreError> {
    let status: String = query_scalar(
        "UPDATE runs SET status = CASE WHEN EXISTS (SELECT 1 FROM steps WHERE run_id = $1 \
         AND status = 'compensation_failed') THEN 'compensation_failed' ELSE 'failed' END, \
         stage = 'done', finished = $2, updated = $2 WHERE id = $1 RETURNING status",
    )
    .bind(run_id)
    .bind(now)
    .fetch_one(c.conn())
    .await?;
    event(c, run_id, now, &format!("run_{status}"), None, None).await?;
    wake_parent(c, parent, now).await
}

/// Records on the undone step what its compensation `~key` came to.
async fn mark_compensated(
    c: &mut Tx,
    run_id: &str,
    compensation_key: &str,
    status: StepStatus,
    now: i64,
) -> Result<(), StoreError> {
    let Some(undone) = compensation_key.strip_prefix(COMPENSATION_PREFIX) else {
        return Ok(());
    };
    query("UPDATE steps SET status = $3, updated = $4 WHERE run_id = $1 AND key = $2")
        .bind(run_id)
        .bind(undone)
        .bind(status.as_str())
        .bind(now)
        .execute(c.conn())
        .await?;
    Ok(())
}
