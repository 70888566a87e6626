// Shared store body: creating runs and their step rows.

/// Rows per multi-row INSERT, well below both databases' limit on bound parameters.
const INSERT_CHUNK: usize = 200;

impl This {
    /// [`Store::create_run`], one try.
    async fn create_run_once(&self, run: &NewRun) -> Result<CreateOutcome, StoreError> {
        let now = self.clock.now_ms();
        let id = run
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO runs (id, workflow, version_hash, status, stage, input, trigger_data, \
             dedupe_key, parent_run_id, parent_step_key, created, updated) \
             VALUES ($1, $2, $3, 'pending', 'main', $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(&run.workflow)
        .bind(&run.version_hash)
        .bind(json_text(&run.input))
        .bind(json_text_opt(run.trigger.as_ref()))
        .bind(&run.dedupe_key)
        .bind(run.parent.as_ref().map(|p| p.run_id.as_str()))
        .bind(run.parent.as_ref().map(|p| p.step_key.as_str()))
        .bind(now)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if inserted == 0 {
            // The same id (a child run started again after a crash) or the same delivery.
            let existing: Option<String> = sqlx::query_scalar(
                "SELECT id FROM runs WHERE id = $1 OR (workflow = $2 AND dedupe_key = $3) \
                 ORDER BY created LIMIT 1",
            )
            .bind(&id)
            .bind(&run.workflow)
            .bind(&run.dedupe_key)
            .fetch_optional(tx.conn())
            .await?;
            tx.rollback().await?;
            return existing
                .map(CreateOutcome::Duplicate)
                .ok_or_else(|| StoreError::Conflict(format!("run {id} could not be created")));
        }
        let rows = new_step_rows(run);
        insert_steps(&mut tx, &id, &rows, now).await?;
        let deps: Vec<(&str, &str)> = rows
            .iter()
            .flat_map(|r| r.deps.iter().map(move |d| (r.key.as_str(), d.as_str())))
            .collect();
        insert_deps(&mut tx, &id, &deps).await?;
        let data = serde_json::json!({ "workflow": run.workflow, "version": run.version_hash });
        event(&mut tx, &id, now, "run_created", None, Some(&data)).await?;
        tx.commit().await?;
        Ok(CreateOutcome::Created(id))
    }
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
/// steps dormant), and the `$output` step depending on every main step.
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
    let main: Vec<String> = run
        .steps
        .iter()
        .filter(|s| s.phase == Phase::Main)
        .map(|s| s.key.clone())
        .collect();
    rows.push(StepRow {
        key: OUTPUT_KEY.to_string(),
        phase: Phase::Output,
        status: if main.is_empty() {
            StepStatus::Ready
        } else {
            StepStatus::Pending
        },
        deps: main,
        max_attempts: 1,
        has_compensation: false,
        compensation_max_attempts: 1,
        idempotency_key: None,
        parent_key: None,
        item_index: None,
    });
    rows
}

/// Inserts step rows; ready rows are due now.
async fn insert_steps(
    c: &mut Tx,
    run_id: &str,
    rows: &[StepRow],
    now: i64,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut q = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO steps (run_id, key, phase, status, max_attempts, deps_open, \
             has_compensation, compensation_max_attempts, idempotency_key, parent_key, \
             item_index, ready_at, due_at, created, updated) ",
        );
        q.push_values(chunk, |mut b, r| {
            let due = (r.status == StepStatus::Ready).then_some(now);
            b.push_bind(run_id)
                .push_bind(r.key.clone())
                .push_bind(r.phase.as_str())
                .push_bind(r.status.as_str())
                .push_bind(i64::from(r.max_attempts))
                .push_bind(r.deps.len() as i64)
                .push_bind(r.has_compensation)
                .push_bind(i64::from(r.compensation_max_attempts))
                .push_bind(r.idempotency_key.clone())
                .push_bind(r.parent_key.clone())
                .push_bind(r.item_index.map(i64::from))
                .push_bind(due)
                .push_bind(due)
                .push_bind(now)
                .push_bind(now);
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build().execute(c.conn()).await?;
    }
    Ok(())
}

/// Inserts dependency edges `(step, dependency)`.
async fn insert_deps(c: &mut Tx, run_id: &str, deps: &[(&str, &str)]) -> Result<(), StoreError> {
    for chunk in deps.chunks(INSERT_CHUNK) {
        let mut q = sqlx::QueryBuilder::<Db>::new("INSERT INTO step_deps (run_id, key, dep_key) ");
        q.push_values(chunk, |mut b, (key, dep)| {
            b.push_bind(run_id)
                .push_bind(key.to_string())
                .push_bind(dep.to_string());
        });
        q.build().execute(c.conn()).await?;
    }
    Ok(())
}
