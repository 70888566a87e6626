// PostgreSQL only (included into `postgres.rs` after the shared body): a group commit's
// statements written for the whole batch at once, with arrays as parameters. Each statement
// costs the server and the engine a round trip, a parse-bind-execute and an executor start
// whatever it changes; per completion those cost more than the rows changed. So the common
// case — a main step succeeded and hands off to its dependents — is one call for every
// such completion of the batch (a function of the schema, `migrations/postgres/0006_*`, that
// locks, writes and commits in one round trip), not four statements per completion.

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

impl This {
    /// Records every completion of `batch` that is a success of a main step (not a
    /// `for_each` item) or the output of its run, held by its worker, in a run whose main
    /// stage goes on, in one call of `braid_record_successes_v1` (see its migration): one
    /// round trip, one transaction of its own. As [`apply`] would, one after the other in
    /// batch order: the attempt closed, the step finished and numbered in the order of
    /// completion, its dependents counted down, those left with no open dependency made
    /// ready, and with `lease_ms` the first of each completion's taken by its worker
    /// (`running`, its new attempt's row); an output ends its run (`succeeded`) and wakes the
    /// parent run's step waiting for it; a run left with nothing made ready is refreshed
    /// (it may be waiting) — with their history. Returns what it recorded; the other
    /// completions (lost leases, failures, waits, other phases, a run that failed or was
    /// cancelled) are left to [`apply`].
    async fn record_successes(
        &self,
        batch: &[Completion],
        lease_ms: Option<i64>,
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
        let now = self.clock.now_ms();
        let lease_until = lease_ms.map(|lease| now.saturating_add(lease));
        let texts = |f: fn(&Completion) -> &String| -> Vec<String> {
            successes.iter().map(|(_, done, ..)| f(done).clone()).collect()
        };
        let rows = query("SELECT * FROM braid_record_successes_v1($1, $2, $3, $4, $5, $6, $7, $8)")
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
            .fetch_all(&self.kept)
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
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("a batch has no completion {ord}"))
                    })?;
                recorded.push(Recorded { index, next: None });
                run = Some((
                    row.try_get("workflow")?,
                    row.try_get("version_hash")?,
                    row.try_get::<String, _>("run_status")?.parse()?,
                ));
                continue;
            }
            let (Some(this), Some((workflow, version_hash, status))) =
                (recorded.last_mut(), &run)
            else {
                return Err(StoreError::Corrupt(format!(
                    "a dependent made ready by completion {ord}, which was not recorded"
                )));
            };
            if row.try_get::<bool, _>("taken")? {
                let until = lease_until.ok_or_else(|| {
                    StoreError::Corrupt(
                        "a step was taken by a completion that hands none off".into(),
                    )
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
}
