// PostgreSQL only (included into `postgres.rs` after the shared body): a group commit's
// statements written for the whole batch at once, with arrays as parameters. Each statement
// costs the server and the engine a round trip, a parse-bind-execute and an executor start
// whatever it changes; per completion those cost more than the rows changed. So the common
// case — a main step succeeded and hands off to its dependents — is one statement for every
// such completion of the batch, not four per completion.

/// Locks the runs `sorted_ids` (sorted, no repeats) in that order, in one statement, so that
/// two transactions locking sets of runs never wait for each other in a circle. (The rows are
/// locked as the sort returns them: `FOR NO KEY UPDATE` applies above the `ORDER BY`.)
async fn lock_runs(c: &mut Tx, sorted_ids: &[&str]) -> Result<(), StoreError> {
    let ids: Vec<String> = sorted_ids.iter().map(|id| id.to_string()).collect();
    query(concat!(
        "SELECT id FROM runs WHERE id = ANY($1) ORDER BY id",
        lock_rows!()
    ))
    .bind(ids)
    .execute(c.conn())
    .await?;
    Ok(())
}

/// Appends history entries in one statement, in their order (identities are given as the
/// rows are inserted, in the order of `ord`).
async fn insert_events(c: &mut Conn, events: &[PendingEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&PendingEvent) -> Option<String>| -> Vec<Option<String>> {
        events.iter().map(f).collect()
    };
    query(
        "INSERT INTO events (run_id, at, kind, step_key, data) \
         SELECT run_id, at, kind, step_key, data FROM unnest($1::text[], $2::int8[], \
         $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS e(run_id, at, kind, step_key, \
         data, ord) ORDER BY ord",
    )
    .bind(column(|e| Some(e.run_id.clone())))
    .bind(events.iter().map(|e| e.at).collect::<Vec<i64>>())
    .bind(column(|e| Some(e.kind.clone())))
    .bind(column(|e| e.step_key.clone()))
    .bind(column(|e| e.data.clone()))
    .execute(c)
    .await?;
    Ok(())
}

/// Records, in one statement, every completion of `batch` that is a success of a main step
/// (not a `for_each` item) held by its worker, in a run whose main stage goes on: as
/// [`apply`] would, one after the other in batch order — the attempt closed, the step
/// finished and numbered in the order of completion, its dependents counted down, those left
/// with no open dependency made ready, and with `lease_until` the first of each completion's
/// taken by its worker (`running`, its new attempt's row) — with their history. Returns what
/// it recorded; the other completions (lost leases, failures, waits, other phases, a run that
/// failed or was cancelled) are left to [`apply`]. The runs must be locked.
async fn record_successes(
    c: &mut Tx,
    batch: &[Completion],
    now: i64,
    lease_until: Option<i64>,
) -> Result<Vec<Recorded>, StoreError> {
    let successes: Vec<(usize, &Completion, &Value)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, done)| match &done.outcome {
            Outcome::Succeeded { output } => Some((i, done, output)),
            _ => None,
        })
        .collect();
    if successes.is_empty() {
        return Ok(Vec::new());
    }
    let texts = |f: fn(&Completion) -> &String| -> Vec<String> {
        successes.iter().map(|(_, done, _)| f(done).clone()).collect()
    };
    let rows = query(RECORD_SUCCESSES)
        .bind(texts(|d| &d.run_id))
        .bind(texts(|d| &d.key))
        .bind(texts(|d| &d.worker_id))
        .bind(
            successes
                .iter()
                .map(|(_, done, _)| i64::from(done.attempt))
                .collect::<Vec<i64>>(),
        )
        .bind(
            successes
                .iter()
                .map(|(_, _, output)| json_text(output))
                .collect::<Vec<String>>(),
        )
        .bind(now)
        .bind(lease_until)
        .fetch_all(c.conn())
        .await?;
    // One row per completion recorded and dependent it made ready (or one alone, if none).
    let mut recorded: Vec<Recorded> = Vec::new();
    for row in &rows {
        let ord: i64 = row.try_get("ord")?;
        let index = usize::try_from(ord - 1)
            .ok()
            .and_then(|at| successes.get(at))
            .map(|(index, _, _)| *index)
            .ok_or_else(|| StoreError::Corrupt(format!("a batch has no completion {ord}")))?;
        if recorded.last().is_none_or(|r| r.index != index) {
            recorded.push(Recorded {
                index,
                next: None,
                made_ready: false,
            });
        }
        let Some(this) = recorded.last_mut() else {
            continue;
        };
        if row.try_get::<Option<String>, _>("key")?.is_none() {
            continue;
        }
        this.made_ready = true;
        if row.try_get::<Option<bool>, _>("taken")? == Some(true) {
            let (workflow, version_hash): (String, String) =
                (row.try_get("workflow")?, row.try_get("version_hash")?);
            let run = CandidateRun {
                workflow: &workflow,
                version_hash: &version_hash,
                status: row.try_get::<String, _>("run_status")?.parse()?,
                stage: Stage::Main,
            };
            let until = lease_until.ok_or_else(|| {
                StoreError::Corrupt("a step was taken by a completion that hands none off".into())
            })?;
            this.next = Some(Candidate::of_run(row, &run)?.claimed(false, until)?);
        }
    }
    Ok(recorded)
}

/// The statement of [`record_successes`]: `$1`–`$5` the completions' runs, keys, workers,
/// attempts and outputs (JSON text), `$6` now, `$7` the hand-offs' lease end (NULL: none is
/// handed off). Completions are numbered by their place in the arrays (`ord`), which orders
/// their completion numbers within a run and their history. Each row changes once: the steps
/// finished are `running`, the dependents counted down never are (a step runs only once all
/// its dependencies are done).
const RECORD_SUCCESSES: &str = concat!(
    "WITH done AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], \
     $5::text[]) WITH ORDINALITY AS d(run_id, key, worker, attempt, output, ord)), \
     held AS (SELECT d.ord, d.run_id, d.key, d.worker, d.output, s.claimed_from, \
     r.status AS run_status, r.workflow, r.version_hash FROM done d \
     JOIN steps s ON s.run_id = d.run_id AND s.key = d.key JOIN runs r ON r.id = d.run_id \
     WHERE s.status = 'running' AND s.lease_owner = d.worker AND s.attempt = d.attempt \
     AND s.phase = 'main' AND s.parent_key IS NULL AND r.stage = 'main' \
     AND r.status NOT IN ",
    terminal_runs!(),
    "), closed AS (UPDATE attempts a SET finished = $6, outcome = 'succeeded', error = NULL \
     FROM held h WHERE a.run_id = h.run_id AND a.key = h.key AND a.finished IS NULL \
     AND h.claimed_from IS DISTINCT FROM 'waiting'), \
     finished AS (UPDATE steps s SET status = 'succeeded', output = h.output, error = NULL, \
     completed_seq = (SELECT COALESCE(MAX(completed_seq), 0) FROM steps \
     WHERE completed_seq IS NOT NULL) + h.ord, lease_owner = NULL, lease_expires_at = NULL, \
     due_at = NULL, finished = $6, updated = $6 FROM held h \
     WHERE s.run_id = h.run_id AND s.key = h.key AND s.status = 'running' \
     AND s.lease_owner = h.worker RETURNING h.ord, s.run_id, s.key, h.worker), \
     hits AS (SELECT sd.run_id, sd.key, COUNT(*) AS n, MAX(f.ord) AS closer FROM finished f \
     JOIN step_deps sd ON sd.run_id = f.run_id AND sd.dep_key = f.key \
     GROUP BY sd.run_id, sd.key), \
     opening AS (SELECT h.run_id, h.key, h.closer FROM hits h \
     JOIN steps t ON t.run_id = h.run_id AND t.key = h.key \
     WHERE t.status = 'pending' AND t.deps_open <= h.n), \
     taking AS (SELECT DISTINCT ON (o.closer) o.run_id, o.key, f.worker FROM opening o \
     JOIN finished f ON f.ord = o.closer WHERE $7::int8 IS NOT NULL ORDER BY o.closer, o.key), \
     changed AS (UPDATE steps s SET deps_open = s.deps_open - h.n, \
     status = CASE WHEN tk.key IS NOT NULL THEN 'running' \
     WHEN o.key IS NOT NULL THEN 'ready' ELSE s.status END, \
     ready_at = CASE WHEN o.key IS NOT NULL THEN $6 ELSE s.ready_at END, \
     due_at = CASE WHEN tk.key IS NOT NULL THEN $7 WHEN o.key IS NOT NULL THEN $6 \
     ELSE s.due_at END, \
     lease_owner = CASE WHEN tk.key IS NOT NULL THEN tk.worker ELSE s.lease_owner END, \
     lease_expires_at = CASE WHEN tk.key IS NOT NULL THEN $7 ELSE s.lease_expires_at END, \
     claimed_from = CASE WHEN tk.key IS NOT NULL THEN 'ready' ELSE s.claimed_from END, \
     attempt = s.attempt + CASE WHEN tk.key IS NOT NULL THEN 1 ELSE 0 END, \
     attempts_total = s.attempts_total + CASE WHEN tk.key IS NOT NULL THEN 1 ELSE 0 END, \
     started = CASE WHEN tk.key IS NOT NULL THEN COALESCE(s.started, $6) ELSE s.started END, \
     updated = $6 \
     FROM hits h LEFT JOIN opening o ON o.run_id = h.run_id AND o.key = h.key \
     LEFT JOIN taking tk ON tk.run_id = h.run_id AND tk.key = h.key \
     WHERE s.run_id = h.run_id AND s.key = h.key AND s.status <> 'running' \
     RETURNING ",
    candidate_step_columns!(),
    ", h.closer, o.key IS NOT NULL AS opened, tk.worker AS taker), \
     new_attempts AS (INSERT INTO attempts (run_id, key, number, attempt, worker, started) \
     SELECT c.run_id, c.key, (SELECT COALESCE(MAX(a.number), 0) + 1 FROM attempts a \
     WHERE a.run_id = c.run_id AND a.key = c.key), c.attempt, c.taker, $6 FROM changed c \
     WHERE c.taker IS NOT NULL), \
     run_started AS (UPDATE runs SET status = 'running', started = COALESCE(started, $6), \
     updated = $6 WHERE id IN (SELECT run_id FROM changed WHERE taker IS NOT NULL) \
     AND status IN ('pending', 'waiting')), \
     history AS (INSERT INTO events (run_id, at, kind, step_key, data) \
     SELECT e.run_id, $6, e.kind, e.key, e.data FROM (\
     SELECT f.ord, 0 AS seq, f.run_id, 'step_succeeded' AS kind, f.key, NULL::text AS data \
     FROM finished f \
     UNION ALL SELECT c.closer, 1, c.run_id, 'step_ready', c.key, NULL FROM changed c \
     WHERE c.opened \
     UNION ALL SELECT c.closer, 2, c.run_id, 'step_started', c.key, \
     '{\"attempt\":' || c.attempt || ',\"worker\":' || to_json(c.taker)::text || '}' \
     FROM changed c WHERE c.taker IS NOT NULL) e ORDER BY e.ord, e.seq, e.key) \
     SELECT f.ord, f.run_id, h.workflow, h.version_hash, h.run_status, c.key, \
     c.taker IS NOT NULL AS taken, c.status, c.phase, c.attempt, c.max_attempts, c.state, \
     c.waiting_for, c.idempotency_key, c.parent_key, c.item_index, c.claimed_from \
     FROM finished f JOIN held h ON h.ord = f.ord \
     LEFT JOIN changed c ON c.closer = f.ord AND c.opened ORDER BY f.ord, c.key"
);
