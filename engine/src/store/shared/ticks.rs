// Shared store body: cron ticks. The primary key (trigger_key, scheduled_at) makes a claim
// succeed once across processes; `status` says what became of the tick.

impl This {
    /// [`Store::claim_tick`], one try.
    async fn claim_tick_once(
        &self,
        trigger_key: &str,
        scheduled_at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = query(
            "INSERT INTO cron_ticks (trigger_key, scheduled_at, status, fired_at) \
             VALUES ($1, $2, 'pending', $3) ON CONFLICT DO NOTHING",
        )
        .bind(trigger_key)
        .bind(scheduled_at)
        .bind(self.clock.now_ms())
        .execute(tx.conn())
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// [`Store::set_tick_run`], one try.
    async fn set_tick_run_once(
        &self,
        trigger_key: &str,
        scheduled_at: i64,
        run_id: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        query(
            "UPDATE cron_ticks SET run_id = $3, status = 'started', note = NULL \
             WHERE trigger_key = $1 AND scheduled_at = $2",
        )
        .bind(trigger_key)
        .bind(scheduled_at)
        .bind(run_id)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Store::skip_tick`], one try.
    async fn skip_tick_once(
        &self,
        trigger_key: &str,
        scheduled_at: i64,
        note: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = query(
            "UPDATE cron_ticks SET status = 'skipped', note = $3 \
             WHERE trigger_key = $1 AND scheduled_at = $2 AND status = 'pending'",
        )
        .bind(trigger_key)
        .bind(scheduled_at)
        .bind(note)
        .execute(tx.conn())
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// [`Store::pending_ticks`].
    async fn pending_ticks_once(&self, trigger_key: &str) -> Result<Vec<i64>, StoreError> {
        query_scalar(
            "SELECT scheduled_at FROM cron_ticks WHERE trigger_key = $1 AND status = 'pending' \
             ORDER BY scheduled_at",
        )
        .bind(trigger_key)
        .fetch_all(self.read_pool())
        .await
    }

    /// [`Store::last_tick`].
    async fn last_tick_once(&self, trigger_key: &str) -> Result<Option<TickRecord>, StoreError> {
        let row = query(
            "SELECT scheduled_at, fired_at, status, run_id, note FROM cron_ticks \
             WHERE trigger_key = $1 ORDER BY scheduled_at DESC LIMIT 1",
        )
        .bind(trigger_key)
        .fetch_optional(self.read_pool())
        .await?;
        row.map(|r| {
            let status: String = r.try_get("status")?;
            Ok(TickRecord {
                scheduled_at: r.try_get("scheduled_at")?,
                fired_at: r.try_get("fired_at")?,
                status: status.parse()?,
                run_id: r.try_get("run_id")?,
                note: r.try_get("note")?,
            })
        })
        .transpose()
    }
}
