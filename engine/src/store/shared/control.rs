// Shared store body: what operators and other runs do to a run — cancel, retry, signal.

impl This {
    /// [`Store::cancel_run`], one try.
    async fn cancel_once(&self, run_id: &str) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let mut tx = self.begin_write().await?;
        let run = lock_run(&mut tx, run_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("run {run_id}")))?;
        if run.status.is_terminal() {
            return Err(StoreError::Conflict(format!(
                "run {run_id} has already finished ({})",
                run.status
            )));
        }
        cancel_tree(&mut tx, run_id, now).await?;
        wake_parent(&mut tx, run.parent.as_ref(), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Store::retry_run`], one try.
    async fn retry_once(&self, run_id: &str) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let mut tx = self.begin_write().await?;
        let run = lock_run(&mut tx, run_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("run {run_id}")))?;
        match run.status {
            RunStatus::Failed => retry_failed(&mut tx, run_id, now).await?,
            RunStatus::CompensationFailed => retry_compensations(&mut tx, run_id, now).await?,
            other => {
                return Err(StoreError::Conflict(format!(
                "run {run_id} is {other}: only a failed or compensation_failed run can be retried"
            )))
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// [`Store::signal`], one try.
    async fn signal_once(
        &self,
        run_id: &str,
        name: &str,
        payload: &Value,
    ) -> Result<i64, StoreError> {
        let now = self.clock.now_ms();
        let mut tx = self.begin_write().await?;
        let run = lock_run(&mut tx, run_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("run {run_id}")))?;
        if run.status.is_terminal() {
            return Err(StoreError::Conflict(format!(
                "run {run_id} has finished ({}) and takes no signals",
                run.status
            )));
        }
        let id: i64 = query_scalar(
            "INSERT INTO signals (run_id, name, payload, at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(run_id)
        .bind(name)
        .bind(json_text(payload))
        .bind(now)
        .fetch_one(tx.conn())
        .await?;
        query(
            "UPDATE steps SET ready_at = $3, due_at = $3, updated = $3 \
             WHERE run_id = $1 AND status = 'waiting' AND waiting_for = $2",
        )
        .bind(run_id)
        .bind(WaitFor::Signal(name.to_string()).encode())
        .bind(now)
        .execute(tx.conn())
        .await?;
        let data = serde_json::json!({ "name": name, "signal": id });
        event(&mut tx, run_id, now, "signal_received", None, Some(&data)).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// [`Store::consume_signal`], one try.
    async fn consume_signal_once(
        &self,
        run_id: &str,
        key: &str,
        name: &str,
    ) -> Result<Option<Value>, StoreError> {
        let now = self.clock.now_ms();
        let mut tx = self.begin_write().await?;
        let taken: Option<String> = query_scalar(
            "SELECT payload FROM signals WHERE run_id = $1 AND name = $2 \
             AND consumed_by_step = $3 ORDER BY id LIMIT 1",
        )
        .bind(run_id)
        .bind(name)
        .bind(key)
        .fetch_optional(tx.conn())
        .await?;
        let payload = match taken {
            Some(p) => Some(p),
            None => {
                query_scalar(
                    "UPDATE signals SET consumed_by_step = $3, consumed_at = $4 \
                     WHERE id IN (SELECT id FROM signals WHERE run_id = $1 AND name = $2 \
                     AND consumed_by_step IS NULL ORDER BY id LIMIT 1) \
                     AND consumed_by_step IS NULL RETURNING payload",
                )
                .bind(run_id)
                .bind(name)
                .bind(key)
                .bind(now)
                .fetch_optional(tx.conn())
                .await?
            }
        };
        tx.commit().await?;
        parse_json(payload, "signal payload")
    }
}

/// Cancels a run and, depth first, its unfinished child runs: open steps are skipped;
/// running attempts may finish, but nothing new starts.
async fn cancel_tree(c: &mut Tx, run_id: &str, now: i64) -> Result<(), StoreError> {
    let mut pending = vec![run_id.to_string()];
    while let Some(id) = pending.pop() {
        let changed = query(concat!(
            "UPDATE runs SET status = 'cancelled', stage = 'done', finished = $2, updated = $2 \
             WHERE id = $1 AND status NOT IN ",
            terminal_runs!()
        ))
        .bind(&id)
        .bind(now)
        .execute(c.conn())
        .await?
        .rows_affected();
        if changed == 0 {
            continue;
        }
        query(
            "UPDATE steps SET status = 'skipped', output = 'null', ready_at = NULL, \
             due_at = NULL, finished = $2, updated = $2 WHERE run_id = $1 \
             AND status IN ('pending', 'ready', 'retrying', 'waiting', 'dormant')",
        )
        .bind(&id)
        .bind(now)
        .execute(c.conn())
        .await?;
        event(c, &id, now, "run_cancelled", None, None).await?;
        let children: Vec<String> = query_scalar(concat!(
            "SELECT id FROM runs WHERE parent_run_id = $1 AND status NOT IN ",
            terminal_runs!()
        ))
        .bind(&id)
        .fetch_all(c.conn())
        .await?;
        pending.extend(children);
    }
    Ok(())
}

/// Retrying a failed run: every main step that did not succeed (or was undone) runs again,
/// succeeded steps keep their results; compensations of the earlier try are forgotten and the
/// `on_failure` steps are dormant again.
async fn retry_failed(c: &mut Tx, run_id: &str, now: i64) -> Result<(), StoreError> {
    // Items of steps that run again: the succeeded ones are kept and not run again.
    query(
        "DELETE FROM steps WHERE run_id = $1 AND parent_key IS NOT NULL AND status <> 'succeeded' \
         AND parent_key IN (SELECT key FROM steps WHERE run_id = $1 AND parent_key IS NULL \
         AND status <> 'succeeded')",
    )
    .bind(run_id)
    .execute(c.conn())
    .await?;
    query("DELETE FROM step_deps WHERE run_id = $1 AND key LIKE '~%'")
        .bind(run_id)
        .execute(c.conn())
        .await?;
    query("DELETE FROM steps WHERE run_id = $1 AND phase = 'compensation'")
        .bind(run_id)
        .execute(c.conn())
        .await?;
    query(
        "UPDATE steps SET status = CASE WHEN phase = 'on_failure' THEN 'dormant' ELSE 'pending' END, \
         attempt = 0, output = NULL, error = NULL, state = NULL, waiting_for = NULL, \
         ready_at = NULL, due_at = NULL, lease_owner = NULL, lease_expires_at = NULL, \
         completed_seq = NULL, finished = NULL, updated = $2 \
         WHERE run_id = $1 AND parent_key IS NULL \
         AND (status <> 'succeeded' OR phase = 'on_failure')",
    )
    .bind(run_id)
    .bind(now)
    .execute(c.conn())
    .await?;
    // `$output` depends on the last steps only (see `new_step_rows`); a step before them
    // that runs again while they keep their success (it had failed with `on_error
    // continue`) must be done before it too.
    query(
        "INSERT INTO step_deps (run_id, key, dep_key) SELECT run_id, $2, key FROM steps \
         WHERE run_id = $1 AND phase = 'main' AND parent_key IS NULL AND status <> 'succeeded' \
         ON CONFLICT DO NOTHING",
    )
    .bind(run_id)
    .bind(OUTPUT_KEY)
    .execute(c.conn())
    .await?;
    query(
        "UPDATE steps SET deps_open = (SELECT COUNT(*) FROM step_deps d JOIN steps t \
         ON t.run_id = d.run_id AND t.key = d.dep_key WHERE d.run_id = steps.run_id \
         AND d.key = steps.key AND t.status <> 'succeeded') \
         WHERE run_id = $1 AND status IN ('pending', 'dormant')",
    )
    .bind(run_id)
    .execute(c.conn())
    .await?;
    query(
        "UPDATE steps SET status = 'ready', ready_at = $2, due_at = $2 \
         WHERE run_id = $1 AND status = 'pending' AND deps_open <= 0",
    )
    .bind(run_id)
    .bind(now)
    .execute(c.conn())
    .await?;
    query(
        "UPDATE runs SET status = 'running', stage = 'main', output = NULL, error = NULL, \
         finished = NULL, updated = $2 WHERE id = $1",
    )
    .bind(run_id)
    .bind(now)
    .execute(c.conn())
    .await?;
    event(c, run_id, now, "run_retried", None, None).await
}

/// Retrying a `compensation_failed` run: the compensations that failed run again; the run
/// then ends `failed` (or `compensation_failed` again).
async fn retry_compensations(c: &mut Tx, run_id: &str, now: i64) -> Result<(), StoreError> {
    query(
        "UPDATE steps SET status = 'succeeded', updated = $2 WHERE run_id = $1 \
         AND status = 'compensation_failed'",
    )
    .bind(run_id)
    .bind(now)
    .execute(c.conn())
    .await?;
    query(
        "UPDATE steps SET status = 'ready', attempt = 0, error = NULL, output = NULL, \
         ready_at = $2, due_at = $2, completed_seq = NULL, finished = NULL, updated = $2 \
         WHERE run_id = $1 AND phase = 'compensation' AND status = 'failed'",
    )
    .bind(run_id)
    .bind(now)
    .execute(c.conn())
    .await?;
    query(
        "UPDATE runs SET status = 'compensating', stage = 'compensating', finished = NULL, \
         updated = $2 WHERE id = $1",
    )
    .bind(run_id)
    .bind(now)
    .execute(c.conn())
    .await?;
    event(c, run_id, now, "run_retried", None, None).await
}
