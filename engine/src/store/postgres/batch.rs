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
/// (not a `for_each` item) or the output of its run, held by its worker, in a run whose main
/// stage goes on: as [`apply`] would, one after the other in batch order — the attempt
/// closed, the step finished and numbered in the order of completion, its dependents counted
/// down, those left with no open dependency made ready, and with `lease_until` the first of
/// each completion's taken by its worker (`running`, its new attempt's row); an output ends
/// its run (`succeeded`) and wakes the parent run's step waiting for it — with their history.
/// Returns what it recorded; the other completions (lost leases, failures, waits, other
/// phases, a run that failed or was cancelled) are left to [`apply`]. The runs must be
/// locked.
async fn record_successes(
    c: &mut Tx,
    batch: &[Completion],
    now: i64,
    lease_until: Option<i64>,
) -> Result<Vec<Recorded>, StoreError> {
    let successes: Vec<(usize, &Completion, &Value, Phase)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, done)| match &done.outcome {
            Outcome::Succeeded { output } => Some((i, done, output, Phase::Main)),
            Outcome::RunOutput { output } => Some((i, done, output, Phase::Output)),
            _ => None,
        })
        .collect();
    if successes.is_empty() {
        return Ok(Vec::new());
    }
    let texts = |f: fn(&Completion) -> &String| -> Vec<String> {
        successes.iter().map(|(_, done, ..)| f(done).clone()).collect()
    };
    let rows = query(RECORD_SUCCESSES)
        .bind(texts(|d| &d.run_id))
        .bind(texts(|d| &d.key))
        .bind(texts(|d| &d.worker_id))
        .bind(
            successes
                .iter()
                .map(|(_, done, ..)| i64::from(done.attempt))
                .collect::<Vec<i64>>(),
        )
        .bind(
            successes
                .iter()
                .map(|(_, _, output, _)| json_text(output))
                .collect::<Vec<String>>(),
        )
        .bind(now)
        .bind(lease_until)
        .bind(
            successes
                .iter()
                .map(|(.., phase)| phase.as_str().to_string())
                .collect::<Vec<String>>(),
        )
        .fetch_all(c.conn())
        .await?;
    // A row per completion recorded, then a row per dependent it made ready.
    let mut recorded: Vec<Recorded> = Vec::new();
    let mut run: Option<(String, String, RunStatus)> = None;
    for row in &rows {
        let ord: i64 = row.try_get("ord")?;
        if !row.try_get::<bool, _>("dependent")? {
            let index = usize::try_from(ord - 1)
                .ok()
                .and_then(|at| successes.get(at))
                .map(|(index, ..)| *index)
                .ok_or_else(|| StoreError::Corrupt(format!("a batch has no completion {ord}")))?;
            recorded.push(Recorded {
                index,
                next: None,
                // A run that ended is not waiting; any other is once nothing is made ready.
                may_wait: !row.try_get::<bool, _>("ended")?,
            });
            run = Some((
                row.try_get("workflow")?,
                row.try_get("version_hash")?,
                row.try_get::<String, _>("run_status")?.parse()?,
            ));
            continue;
        }
        let (Some(this), Some((workflow, version_hash, status))) = (recorded.last_mut(), &run)
        else {
            return Err(StoreError::Corrupt(format!(
                "a dependent made ready by completion {ord}, which was not recorded"
            )));
        };
        this.may_wait = false;
        if row.try_get::<bool, _>("taken")? {
            let until = lease_until.ok_or_else(|| {
                StoreError::Corrupt("a step was taken by a completion that hands none off".into())
            })?;
            let run = CandidateRun {
                workflow,
                version_hash,
                status: *status,
                stage: Stage::Main,
            };
            this.next = Some(Candidate::of_run(row, &run)?.claimed(false, until)?);
        }
    }
    Ok(recorded)
}

/// The statement of [`record_successes`]: `$1`–`$5` the completions' runs, keys, workers,
/// attempts and outputs (JSON text), `$6` now, `$7` the hand-offs' lease end (NULL: none is
/// handed off), `$8` their steps' phases (`main`, or `output`: the run ends with it). Completions are numbered by their place in the arrays (`ord`), which orders
/// their completion numbers within a run and their history. Each row changes once: the steps
/// finished are `running`, the dependents counted down never are (a step runs only once all
/// its dependencies are done), a parent run's step woken is `waiting`; a run that ends has
/// no step left to take. Returns a row per completion recorded (`dependent` false), then
/// a row per dependent it made ready (`dependent` true), by `ord`.
///
/// Its plan must not depend on the tables' statistics (the statement is prepared once per
/// connection, its generic plan made when the tables may be nearly empty): rows are found by
/// primary key, each lookup a `LATERAL` subquery kept from being flattened into a join
/// (`LIMIT 1`) so that it stays an index lookup; and no two sets made here are joined with
/// each other (their sizes are unknown to the planner, which takes them for one row each and
/// would join them in nested loops, quadratic in the batch) — a completion's worker is read
/// from the array by its `ord` instead.
const RECORD_SUCCESSES: &str = concat!(
    "WITH held AS (SELECT d.ord, d.run_id, d.key, d.worker, d.output, \
     d.phase = 'output' AS ends_run, s.claimed_from, \
     r.status AS run_status, r.workflow, r.version_hash \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $8::text[]) \
     WITH ORDINALITY AS d(run_id, key, worker, attempt, output, phase, ord) \
     CROSS JOIN LATERAL (SELECT s.claimed_from FROM steps s \
     WHERE s.run_id = d.run_id AND s.key = d.key AND s.status = 'running' \
     AND s.lease_owner = d.worker AND s.attempt = d.attempt AND s.phase = d.phase \
     AND s.parent_key IS NULL LIMIT 1) s \
     CROSS JOIN LATERAL (SELECT r.status, r.workflow, r.version_hash FROM runs r \
     WHERE r.id = d.run_id AND r.stage = 'main' AND r.status NOT IN ",
    terminal_runs!(),
    " LIMIT 1) r), \
     closed AS (UPDATE attempts a SET finished = $6, outcome = 'succeeded', error = NULL \
     FROM held h WHERE a.run_id = h.run_id AND a.key = h.key AND a.finished IS NULL \
     AND h.claimed_from IS DISTINCT FROM 'waiting'), \
     finished AS (UPDATE steps s SET status = 'succeeded', output = h.output, error = NULL, \
     completed_seq = (SELECT COALESCE(MAX(completed_seq), 0) FROM steps \
     WHERE completed_seq IS NOT NULL) + h.ord, lease_owner = NULL, lease_expires_at = NULL, \
     due_at = NULL, finished = $6, updated = $6 FROM held h \
     WHERE s.run_id = h.run_id AND s.key = h.key AND s.status = 'running' \
     AND s.lease_owner = h.worker \
     RETURNING h.ord, s.run_id, s.key, h.ends_run, h.run_status, h.workflow, \
     h.version_hash), \
     ended AS (UPDATE runs r SET status = 'succeeded', stage = 'done', output = h.output, \
     finished = $6, updated = $6 FROM held h WHERE h.ends_run AND r.id = h.run_id \
     RETURNING h.ord, r.id, r.parent_run_id, r.parent_step_key), \
     woken AS (UPDATE steps p SET ready_at = $6, due_at = $6, updated = $6 FROM ended e \
     WHERE p.run_id = e.parent_run_id AND p.key = e.parent_step_key \
     AND p.status = 'waiting'), \
     hits AS (SELECT sd.run_id, sd.key, COUNT(*) AS n, MAX(f.ord) AS closer FROM finished f \
     CROSS JOIN LATERAL (SELECT sd.run_id, sd.key FROM step_deps sd \
     WHERE sd.run_id = f.run_id AND sd.dep_key = f.key OFFSET 0) sd \
     GROUP BY sd.run_id, sd.key), \
     opened AS (SELECT h.run_id, h.key, h.n, h.closer, t.opened FROM hits h \
     CROSS JOIN LATERAL (SELECT t.status = 'pending' AND t.deps_open <= h.n AS opened \
     FROM steps t WHERE t.run_id = h.run_id AND t.key = h.key AND t.status <> 'running' \
     LIMIT 1) t), \
     marked AS (SELECT o.*, o.opened AND $7::int8 IS NOT NULL AND row_number() OVER \
     (PARTITION BY o.closer, o.opened ORDER BY o.key) = 1 AS taken FROM opened o), \
     changed AS (UPDATE steps s SET deps_open = s.deps_open - m.n, \
     status = CASE WHEN m.taken THEN 'running' WHEN m.opened THEN 'ready' ELSE s.status END, \
     ready_at = CASE WHEN m.opened THEN $6 ELSE s.ready_at END, \
     due_at = CASE WHEN m.taken THEN $7 WHEN m.opened THEN $6 ELSE s.due_at END, \
     lease_owner = CASE WHEN m.taken THEN ($3::text[])[m.closer] ELSE s.lease_owner END, \
     lease_expires_at = CASE WHEN m.taken THEN $7 ELSE s.lease_expires_at END, \
     claimed_from = CASE WHEN m.taken THEN 'ready' ELSE s.claimed_from END, \
     attempt = s.attempt + CASE WHEN m.taken THEN 1 ELSE 0 END, \
     attempts_total = s.attempts_total + CASE WHEN m.taken THEN 1 ELSE 0 END, \
     started = CASE WHEN m.taken THEN COALESCE(s.started, $6) ELSE s.started END, \
     updated = $6 FROM marked m WHERE s.run_id = m.run_id AND s.key = m.key \
     AND s.status <> 'running' \
     RETURNING ",
    candidate_step_columns!(),
    ", m.closer, m.opened, m.taken), \
     new_attempts AS (INSERT INTO attempts (run_id, key, number, attempt, worker, started) \
     SELECT c.run_id, c.key, (SELECT COALESCE(MAX(a.number), 0) + 1 FROM attempts a \
     WHERE a.run_id = c.run_id AND a.key = c.key), c.attempt, ($3::text[])[c.closer], $6 \
     FROM changed c WHERE c.taken), \
     run_started AS (UPDATE runs SET status = 'running', started = COALESCE(started, $6), \
     updated = $6 WHERE id IN (SELECT run_id FROM changed WHERE taken) \
     AND id NOT IN (SELECT id FROM ended) AND status IN ('pending', 'waiting')), \
     history AS (INSERT INTO events (run_id, at, kind, step_key, data) \
     SELECT e.run_id, $6, e.kind, e.key, e.data FROM (\
     SELECT f.ord, 0 AS seq, f.run_id, 'step_succeeded' AS kind, f.key, NULL::text AS data \
     FROM finished f \
     UNION ALL SELECT c.closer, 1, c.run_id, 'step_ready', c.key, NULL FROM changed c \
     WHERE c.opened \
     UNION ALL SELECT c.closer, 2, c.run_id, 'step_started', c.key, \
     '{\"attempt\":' || c.attempt || ',\"worker\":' || to_json(($3::text[])[c.closer])::text \
     || '}' FROM changed c WHERE c.taken \
     UNION ALL SELECT e.ord, 3, e.id, 'run_succeeded', NULL, NULL FROM ended e) e \
     ORDER BY e.ord, e.seq, e.key) \
     SELECT f.ord, false AS dependent, f.ends_run AS ended, f.run_id, f.key, f.run_status, \
     f.workflow, f.version_hash, NULL AS taken, NULL AS status, NULL AS phase, NULL::int8 AS attempt, \
     NULL::int8 AS max_attempts, NULL AS state, NULL AS waiting_for, \
     NULL AS idempotency_key, NULL AS parent_key, NULL::int8 AS item_index, \
     NULL AS claimed_from FROM finished f \
     UNION ALL SELECT c.closer, true, NULL, c.run_id, c.key, NULL, NULL, NULL, c.taken, \
     c.status, c.phase, c.attempt, c.max_attempts, c.state, c.waiting_for, c.idempotency_key, \
     c.parent_key, c.item_index, c.claimed_from FROM changed c WHERE c.opened \
     ORDER BY 1, 2, 5"
);
