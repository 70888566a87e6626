// Shared store body: reading runs, steps and their history (never changes anything).

/// The default and the largest page of [`Store::list_runs`].
const PAGE_DEFAULT: u32 = 50;
const PAGE_MAX: u32 = 1000;

impl This {
    /// [`Store::load_run`].
    async fn load_run_once(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        let row = query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = $1"
        ))
        .bind(run_id)
        .fetch_optional(self.read_pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("run {run_id}")))?;
        run_record(&row)
    }

    /// [`Store::load_results`].
    async fn load_results_once(
        &self,
        run_id: &str,
        keys: &[String],
    ) -> Result<Vec<StepResult>, StoreError> {
        let mut results = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(INSERT_CHUNK) {
            let mut q = QueryBuilder::new(
                "SELECT key, status, output, error, item_index FROM steps WHERE run_id = ",
            );
            q.push_bind(run_id).push(" AND key IN (");
            let mut list = q.separated(", ");
            for k in chunk {
                list.push_bind(k.as_str());
            }
            q.push(")");
            let rows = q
                .build()
                .persistent(cached(chunk.len()))
                .fetch_all(self.read_pool())
                .await?;
            for row in rows {
                results.push(step_result(&row)?);
            }
        }
        Ok(results)
    }

    /// [`Store::load_children`].
    async fn load_children_once(
        &self,
        run_id: &str,
        parent_key: &str,
    ) -> Result<Vec<StepResult>, StoreError> {
        let rows = query(
            "SELECT key, status, output, error, item_index FROM steps \
             WHERE run_id = $1 AND parent_key = $2 ORDER BY item_index",
        )
        .bind(run_id)
        .bind(parent_key)
        .fetch_all(self.read_pool())
        .await?;
        rows.iter().map(step_result).collect()
    }

    /// [`Store::list_runs`].
    async fn list_runs_once(&self, filter: &RunFilter) -> Result<RunPage, StoreError> {
        let limit = filter.limit.unwrap_or(PAGE_DEFAULT).clamp(1, PAGE_MAX);
        let mut q = QueryBuilder::new(concat!("SELECT ", run_columns!(), " FROM runs WHERE 1 = 1"));
        if let Some(workflow) = &filter.workflow {
            q.push(" AND workflow = ").push_bind(workflow.clone());
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(from) = filter.created_from {
            q.push(" AND created >= ").push_bind(from);
        }
        if let Some(to) = filter.created_to {
            q.push(" AND created < ").push_bind(to);
        }
        if let Some(cursor) = &filter.cursor {
            let (created, id) = parse_cursor(cursor)?;
            q.push(" AND (created < ")
                .push_bind(created)
                .push(" OR (created = ")
                .push_bind(created)
                .push(" AND id < ")
                .push_bind(id)
                .push("))");
        }
        q.push(" ORDER BY created DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = q.build().fetch_all(self.read_pool()).await?;
        let mut runs = rows.iter().map(run_record).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if runs.len() > limit as usize {
            runs.truncate(limit as usize);
            runs.last().map(|r| format!("{}:{}", r.created, r.id))
        } else {
            None
        };
        Ok(RunPage { runs, next_cursor })
    }

    /// [`Store::get_run_detail`]: one snapshot of the run, its steps, attempts and events.
    async fn run_detail_once(&self, run_id: &str) -> Result<RunDetail, StoreError> {
        let mut tx = self.begin_read().await?;
        let row = query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = $1"
        ))
        .bind(run_id)
        .fetch_optional(&mut tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("run {run_id}")))?;
        let run = run_record(&row)?;
        let steps = query(concat!(
            "SELECT ",
            step_columns!(),
            " FROM steps s WHERE s.run_id = $1 \
             ORDER BY s.started IS NULL, s.started, s.item_index, s.key"
        ))
        .bind(run_id)
        .fetch_all(&mut tx)
        .await?
        .iter()
        .map(step_record)
        .collect::<Result<Vec<_>, _>>()?;
        let attempts = query(
            "SELECT key, number, attempt, worker, started, finished, outcome, error \
             FROM attempts WHERE run_id = $1 ORDER BY key, number",
        )
        .bind(run_id)
        .fetch_all(&mut tx)
        .await?
        .iter()
        .map(|r| {
            Ok(AttemptRecord {
                key: r.try_get("key")?,
                number: to_u32(r.try_get("number")?, "number")?,
                attempt: to_u32(r.try_get("attempt")?, "attempt")?,
                worker: r.try_get("worker")?,
                started: r.try_get("started")?,
                finished: r.try_get("finished")?,
                outcome: r.try_get("outcome")?,
                error: parse_json(r.try_get("error")?, "attempt error")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let events = query(
            "SELECT id, run_id, at, kind, step_key, data FROM events WHERE run_id = $1 ORDER BY id",
        )
        .bind(run_id)
        .fetch_all(&mut tx)
        .await?
        .iter()
        .map(|r| {
            Ok(EventRecord {
                id: r.try_get("id")?,
                run_id: r.try_get("run_id")?,
                at: r.try_get("at")?,
                kind: r.try_get("kind")?,
                step_key: r.try_get("step_key")?,
                data: parse_json(r.try_get("data")?, "event data")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit().await?;
        Ok(RunDetail {
            run,
            steps,
            attempts,
            events,
        })
    }

    /// [`Store::count_active_runs`].
    async fn count_active_once(&self, workflow: &str) -> Result<u64, StoreError> {
        let n: i64 = query_scalar(concat!(
            "SELECT COUNT(*) FROM runs WHERE workflow = $1 AND status NOT IN ",
            terminal_runs!()
        ))
        .bind(workflow)
        .fetch_one(self.read_pool())
        .await?;
        Ok(n.max(0) as u64)
    }

    /// [`Store::ping`].
    async fn ping_once(&self) -> Result<(), StoreError> {
        query("SELECT 1").execute(self.read_pool()).await?;
        Ok(())
    }

    /// [`Store::stats`]: one snapshot.
    async fn stats_once(&self, now: i64) -> Result<StoreStats, StoreError> {
        let mut tx = self.begin_read().await?;
        let due: i64 =
            query_scalar("SELECT COUNT(*) FROM steps WHERE due_at <= $1 AND status <> 'running'")
                .bind(now)
                .fetch_one(&mut tx)
                .await?;
        let mut runs = Vec::new();
        for row in
            query("SELECT workflow, status, COUNT(*) AS n FROM runs GROUP BY workflow, status")
                .fetch_all(&mut tx)
                .await?
        {
            runs.push((
                row.try_get("workflow")?,
                row.try_get::<String, _>("status")?.parse()?,
                row.try_get::<i64, _>("n")?.max(0) as u64,
            ));
        }
        let mut last_success = Vec::new();
        for row in query(
            "SELECT workflow, MAX(finished) AS at FROM runs WHERE status = 'succeeded' \
             GROUP BY workflow",
        )
        .fetch_all(&mut tx)
        .await?
        {
            if let Some(at) = row.try_get::<Option<i64>, _>("at")? {
                last_success.push((row.try_get("workflow")?, at));
            }
        }
        tx.commit().await?;
        Ok(StoreStats {
            due_steps: due.max(0) as u64,
            runs,
            last_success,
        })
    }

    /// [`Store::get_workflow_version`].
    async fn get_version_once(&self, hash: &str) -> Result<Option<WorkflowVersion>, StoreError> {
        let row = query("SELECT hash, name, plan, created FROM workflow_versions WHERE hash = $1")
            .bind(hash)
            .fetch_optional(self.read_pool())
            .await?;
        row.map(|r| {
            Ok(WorkflowVersion {
                hash: r.try_get("hash")?,
                name: r.try_get("name")?,
                plan_json: r.try_get("plan")?,
                created: r.try_get("created")?,
            })
        })
        .transpose()
    }
}

/// A step row's result part.
fn step_result(row: &Row) -> Result<StepResult, StoreError> {
    Ok(StepResult {
        key: row.try_get("key")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        output: parse_json(row.try_get("output")?, "step output")?,
        error: parse_json(row.try_get("error")?, "step error")?,
        item_index: row
            .try_get::<Option<i64>, _>("item_index")?
            .map(|i| to_u32(i, "item_index"))
            .transpose()?,
    })
}

/// Reads a [`RunPage::next_cursor`]: `created:id`.
fn parse_cursor(cursor: &str) -> Result<(i64, String), StoreError> {
    cursor
        .split_once(':')
        .and_then(|(created, id)| Some((created.parse().ok()?, id.to_string())))
        .ok_or_else(|| StoreError::Invalid(format!("`{cursor}` is not a page cursor")))
}
