// Shared store body: the [`Store`] trait, each write re-run on contention.

#[async_trait]
impl Store for This {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.run_migrations().await
    }

    async fn close(&self) {
        self.close_pools().await;
    }

    async fn put_workflow_version(
        &self,
        hash: &str,
        name: &str,
        plan_json: &str,
    ) -> Result<bool, StoreError> {
        with_retries!(self.put_version_once(hash, name, plan_json))
    }

    async fn get_workflow_version(
        &self,
        hash: &str,
    ) -> Result<Option<WorkflowVersion>, StoreError> {
        self.get_version_once(hash).await
    }

    async fn create_run(&self, run: NewRun) -> Result<CreateOutcome, StoreError> {
        validate_steps(&run.steps)?;
        with_retries!(self.create_run_once(&run))
    }

    async fn create_runs(
        &self,
        runs: &[NewRun],
    ) -> Result<Vec<Result<CreateOutcome, StoreError>>, StoreError> {
        // A run with invalid steps gets its error alone; the others are created together.
        let checked: Vec<Result<(), StoreError>> =
            runs.iter().map(|r| validate_steps(&r.steps)).collect();
        let valid: Vec<&NewRun> = runs
            .iter()
            .zip(&checked)
            .filter(|(_, c)| c.is_ok())
            .map(|(r, _)| r)
            .collect();
        let mut created = if valid.is_empty() {
            Vec::new()
        } else {
            with_retries!(self.create_runs_once(&valid))?
        }
        .into_iter();
        Ok(checked
            .into_iter()
            .map(|c| match c {
                Ok(()) => created
                    .next()
                    .unwrap_or_else(|| Err(StoreError::Conflict("the run was not created".into()))),
                Err(e) => Err(e),
            })
            .collect())
    }

    async fn load_run(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        self.load_run_once(run_id).await
    }

    async fn load_results(
        &self,
        run_id: &str,
        keys: &[String],
    ) -> Result<Vec<StepResult>, StoreError> {
        self.load_results_once(run_id, keys).await
    }

    async fn load_children(
        &self,
        run_id: &str,
        parent_key: &str,
    ) -> Result<Vec<StepResult>, StoreError> {
        self.load_children_once(run_id, parent_key).await
    }

    async fn claim(
        &self,
        worker_id: &str,
        now: i64,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        with_retries!(self.claim_once(worker_id, now, limit, lease_ms))
    }

    async fn renew_leases(
        &self,
        worker_id: &str,
        steps: &[StepRef],
        until: i64,
    ) -> Result<Vec<StepRef>, StoreError> {
        with_retries!(self.renew_once(worker_id, steps, until))
    }

    async fn release(&self, worker_id: &str, unstarted: &[StepRef]) -> Result<u64, StoreError> {
        with_retries!(self.release_once(worker_id, unstarted))
    }

    async fn next_wake_at(&self) -> Result<Option<i64>, StoreError> {
        self.next_wake_at_once().await
    }

    async fn complete(&self, batch: Vec<Completion>) -> Result<Vec<CompletionReport>, StoreError> {
        let results = self.complete_batch(&batch, None).await?;
        Ok(results.into_iter().map(|(report, _)| report).collect())
    }

    async fn complete_handing_off(
        &self,
        batch: &[Completion],
        lease_ms: i64,
    ) -> Result<Vec<(CompletionReport, Option<Claimed>)>, StoreError> {
        self.complete_batch(batch, Some(lease_ms)).await
    }

    async fn cancel_run(&self, run_id: &str) -> Result<(), StoreError> {
        with_retries!(self.cancel_once(run_id))
    }

    async fn retry_run(&self, run_id: &str) -> Result<(), StoreError> {
        with_retries!(self.retry_once(run_id))
    }

    async fn signal(&self, run_id: &str, name: &str, payload: Value) -> Result<i64, StoreError> {
        with_retries!(self.signal_once(run_id, name, &payload))
    }

    async fn consume_signal(
        &self,
        run_id: &str,
        key: &str,
        name: &str,
    ) -> Result<Option<Value>, StoreError> {
        with_retries!(self.consume_signal_once(run_id, key, name))
    }

    async fn claim_tick(&self, trigger_key: &str, scheduled_at: i64) -> Result<bool, StoreError> {
        with_retries!(self.claim_tick_once(trigger_key, scheduled_at))
    }

    async fn set_tick_run(
        &self,
        trigger_key: &str,
        scheduled_at: i64,
        run_id: &str,
    ) -> Result<(), StoreError> {
        with_retries!(self.set_tick_run_once(trigger_key, scheduled_at, run_id))
    }

    async fn skip_tick(
        &self,
        trigger_key: &str,
        scheduled_at: i64,
        note: &str,
    ) -> Result<bool, StoreError> {
        with_retries!(self.skip_tick_once(trigger_key, scheduled_at, note))
    }

    async fn pending_ticks(&self, trigger_key: &str) -> Result<Vec<i64>, StoreError> {
        self.pending_ticks_once(trigger_key).await
    }

    async fn last_tick(&self, trigger_key: &str) -> Result<Option<TickRecord>, StoreError> {
        self.last_tick_once(trigger_key).await
    }

    async fn count_active_runs(&self, workflow: &str) -> Result<u64, StoreError> {
        self.count_active_once(workflow).await
    }

    async fn kv_get(&self, namespace: &str, key: &str) -> Result<Option<KvEntry>, StoreError> {
        self.kv_get_once(namespace, key).await
    }

    async fn kv_put(&self, namespace: &str, key: &str, value: &str) -> Result<(), StoreError> {
        with_retries!(self.kv_put_once(namespace, key, value))
    }

    async fn kv_compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<bool, StoreError> {
        with_retries!(self.kv_cas_once(namespace, key, expected, new))
    }

    async fn kv_delete(&self, namespace: &str, key: &str) -> Result<bool, StoreError> {
        with_retries!(self.kv_delete_once(namespace, key))
    }

    async fn kv_list(&self, namespace: &str) -> Result<Vec<(String, KvEntry)>, StoreError> {
        self.kv_list_once(namespace).await
    }

    async fn reserve_rate_slot(
        &self,
        key: &str,
        now: i64,
        interval_ms: i64,
    ) -> Result<i64, StoreError> {
        with_retries!(self.reserve_rate_slot_once(key, now, interval_ms))
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<RunPage, StoreError> {
        self.list_runs_once(filter).await
    }

    async fn get_run_detail(&self, run_id: &str) -> Result<RunDetail, StoreError> {
        self.run_detail_once(run_id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.ping_once().await
    }

    async fn stats(&self, now: i64) -> Result<StoreStats, StoreError> {
        self.stats_once(now).await
    }
}
