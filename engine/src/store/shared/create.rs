// Shared store body: creating runs and their step rows.

/// Rows per multi-row INSERT, well below both databases' limit on bound parameters.
const INSERT_CHUNK: usize = 200;

impl This {
    /// [`Store::create_run`], one try.
    async fn create_run_once(&self, run: &NewRun) -> Result<CreateOutcome, StoreError> {
        self.create_runs_once(&[run])
            .await?
            .pop()
            .unwrap_or_else(|| Err(StoreError::Conflict("the run was not created".into())))
    }

    /// [`Store::create_runs`], one try: every run in one transaction (on SQLite, possibly the
    /// one holding the writer: see `begin_creation`), each statement covering many runs. Runs
    /// are taken in order, so a run with the workflow and dedupe key (or the id) of an earlier
    /// run of the batch is that run's duplicate. An error of a statement fails the whole batch
    /// and nothing is written.
    async fn create_runs_once(&self, runs: &[&NewRun]) -> Result<Outcomes, StoreError> {
        let now = self.clock.now_ms();
        // Time-ordered ids: the rows of the runs in flight (keyed by run id) then share the
        // last pages of each table and index, so a transaction rewrites fewer pages than
        // with random ids scattered over the whole file.
        let ids: Vec<String> = runs
            .iter()
            .map(|r| {
                r.id.clone()
                    .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
            })
            .collect();
        // Callers wait for this commit to answer (a webhook's `202`).
        let mut tx = match self.begin_creation(runs, &ids, now).await? {
            Began::Joined(outcomes) => return Ok(outcomes),
            Began::Alone(tx) => tx,
        };
        let outcomes = insert_runs(&mut tx, runs, &ids, now).await?;
        if outcomes
            .iter()
            .any(|o| matches!(o, Ok(CreateOutcome::Created(_))))
        {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(outcomes)
    }
}

/// Writes runs, `ids[i]` being the id of `runs[i]`, with their steps and `run_created`
/// entries; a run whose id, or workflow and dedupe key, is taken (also by an earlier run of
/// the batch) is that run's duplicate. An error of a statement is the error of them all.
async fn insert_runs(
    tx: &mut Tx,
    runs: &[&NewRun],
    ids: &[String],
    now: i64,
) -> Result<Outcomes, StoreError> {
    let mut inserted = std::collections::HashSet::with_capacity(runs.len());
    let numbered: Vec<(&String, &&NewRun)> = ids.iter().zip(runs).collect();
    for chunk in numbered.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::new(
            "INSERT INTO runs (id, workflow, version_hash, status, stage, input, \
             trigger_data, dedupe_key, parent_run_id, parent_step_key, created, updated) ",
        );
        q.push_values(chunk, |mut b, (id, run)| {
            b.push_bind(id.as_str())
                .push_bind(run.workflow.as_str())
                .push_bind(run.version_hash.as_str())
                .push_bind("pending")
                .push_bind("main")
                .push_bind(json_text(&run.input))
                .push_bind(json_text_opt(run.trigger.as_ref()))
                .push_bind(run.dedupe_key.as_deref())
                .push_bind(run.parent.as_ref().map(|p| p.run_id.as_str()))
                .push_bind(run.parent.as_ref().map(|p| p.step_key.as_str()))
                .push_bind(now)
                .push_bind(now);
        });
        q.push(" ON CONFLICT DO NOTHING RETURNING id");
        let rows: Vec<String> = q
            .build_query_scalar()
            .persistent(cached(chunk.len()))
            .fetch_all(tx.conn())
            .await?;
        inserted.extend(rows);
    }
    let mut outcomes = Vec::with_capacity(runs.len());
    let mut created: Vec<(&str, &NewRun)> = Vec::with_capacity(runs.len());
    for (id, run) in &numbered {
        // The first run of the batch with an id holds it; a later one is its duplicate.
        if inserted.remove(id.as_str()) {
            created.push((id.as_str(), run));
            outcomes.push(Ok(CreateOutcome::Created((*id).clone())));
            continue;
        }
        // The same id (a child run started again after a crash) or the same delivery.
        let existing: Option<String> = query_scalar(
            "SELECT id FROM runs WHERE id = $1 OR (workflow = $2 AND dedupe_key = $3) \
             ORDER BY created LIMIT 1",
        )
        .bind(id.as_str())
        .bind(&run.workflow)
        .bind(&run.dedupe_key)
        .fetch_optional(tx.conn())
        .await?;
        outcomes.push(
            existing
                .map(CreateOutcome::Duplicate)
                .ok_or_else(|| StoreError::Conflict(format!("run {id} could not be created"))),
        );
    }
    let rows: Vec<(&str, StepRow)> = created
        .iter()
        .flat_map(|(id, run)| new_step_rows(run).into_iter().map(move |r| (*id, r)))
        .collect();
    insert_step_rows(tx, &rows, now).await?;
    // Written with the commit, all in one statement.
    for (id, run) in &created {
        let data = serde_json::json!({ "workflow": run.workflow, "version": run.version_hash });
        event(tx, id, now, "run_created", None, Some(&data)).await?;
    }
    Ok(outcomes)
}

/// A step row to insert.
struct StepRow {
    key: String,
    phase: Phase,
    status: StepStatus,
    deps: Vec<String>,
    max_attempts: u32,
    has_compensation: bool,
    compensation_max_attempts: u32,
    idempotency_key: Option<String>,
    parent_key: Option<String>,
    item_index: Option<u32>,
}

/// The rows of a new run: its steps, ready when they have no dependencies (`on_failure`
/// steps dormant), and the `$output` step, which starts once every main step is done.
///
/// `$output` depends on the main steps no other main step depends on: a step starts only once
/// its dependencies are done, so when those last steps are done, so is every step before them.
/// (Depending on every step cost each step's completion a write to `$output`'s row.)
fn new_step_rows(run: &NewRun) -> Vec<StepRow> {
    let mut rows: Vec<StepRow> = run
        .steps
        .iter()
        .map(|s| StepRow {
            key: s.key.clone(),
            phase: s.phase,
            status: match (s.phase, s.deps.is_empty()) {
                (Phase::OnFailure, _) => StepStatus::Dormant,
                (_, true) => StepStatus::Ready,
                (_, false) => StepStatus::Pending,
            },
            deps: s.deps.clone(),
            max_attempts: s.max_attempts.max(1),
            has_compensation: s.has_compensation,
            compensation_max_attempts: s.compensation_max_attempts.max(1),
            idempotency_key: s.idempotency_key.clone(),
            parent_key: None,
            item_index: None,
        })
        .collect();
    let main = || run.steps.iter().filter(|s| s.phase == Phase::Main);
    let depended_on: std::collections::HashSet<&str> = main()
        .flat_map(|s| s.deps.iter().map(String::as_str))
        .collect();
    let last: Vec<String> = main()
        .filter(|s| !depended_on.contains(s.key.as_str()))
        .map(|s| s.key.clone())
        .collect();
    rows.push(StepRow {
        key: OUTPUT_KEY.to_string(),
        phase: Phase::Output,
        status: if last.is_empty() {
            StepStatus::Ready
        } else {
            StepStatus::Pending
        },
        deps: last,
        max_attempts: 1,
        has_compensation: false,
        compensation_max_attempts: 1,
        idempotency_key: None,
        parent_key: None,
        item_index: None,
    });
    rows
}

/// Inserts step rows, `(run id, row)`, of one run or several, with their dependency edges;
/// ready rows are due now. A row that exists already (a `for_each` item of an earlier try of
/// the run) is kept as it is.
async fn insert_step_rows(
    c: &mut Tx,
    rows: &[(&str, StepRow)],
    now: i64,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::new(
            "INSERT INTO steps (run_id, key, phase, status, max_attempts, deps_open, \
             has_compensation, compensation_max_attempts, idempotency_key, parent_key, \
             item_index, ready_at, due_at, created, updated) ",
        );
        q.push_values(chunk, |mut b, (run_id, r)| {
            let due = (r.status == StepStatus::Ready).then_some(now);
            b.push_bind(*run_id)
                .push_bind(r.key.as_str())
                .push_bind(r.phase.as_str())
                .push_bind(r.status.as_str())
                .push_bind(i64::from(r.max_attempts))
                .push_bind(r.deps.len() as i64)
                .push_bind(r.has_compensation)
                .push_bind(i64::from(r.compensation_max_attempts))
                .push_bind(r.idempotency_key.as_deref())
                .push_bind(r.parent_key.as_deref())
                .push_bind(r.item_index.map(i64::from))
                .push_bind(due)
                .push_bind(due)
                .push_bind(now)
                .push_bind(now);
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build()
            .persistent(cached(chunk.len()))
            .execute(c.conn())
            .await?;
    }
    let deps: Vec<(&str, &str, &str)> = rows
        .iter()
        .flat_map(|(run_id, r)| {
            r.deps
                .iter()
                .map(move |d| (*run_id, r.key.as_str(), d.as_str()))
        })
        .collect();
    for chunk in deps.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::new("INSERT INTO step_deps (run_id, key, dep_key) ");
        q.push_values(chunk, |mut b, (run_id, key, dep)| {
            b.push_bind(*run_id).push_bind(*key).push_bind(*dep);
        });
        q.build()
            .persistent(cached(chunk.len()))
            .execute(c.conn())
            .await?;
    }
    Ok(())
}
