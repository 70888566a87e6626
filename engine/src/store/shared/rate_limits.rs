// Shared store body: connection rate-limit slots, shared by every process on the database.

impl This {
    /// [`Store::reserve_rate_slot`], one try. One upsert moves the connection's next free slot
    /// on by `interval_ms` (from `now` when the slot is already past) and returns where it
    /// ended; the reserved slot is one interval before that. PostgreSQL locks the row for the
    /// statement, so concurrent reservations from several processes queue and each gets its
    /// own slot.
    async fn reserve_rate_slot_once(
        &self,
        key: &str,
        now: i64,
        interval_ms: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let next_at: i64 = query_scalar(
            "INSERT INTO rate_limits (key, next_at, updated) VALUES ($1, $2 + $3, $2) \
             ON CONFLICT (key) DO UPDATE SET next_at = CASE WHEN rate_limits.next_at > $2 \
             THEN rate_limits.next_at ELSE $2 END + $3, updated = $2 RETURNING next_at",
        )
        .bind(key)
        .bind(now)
        .bind(interval_ms)
        .fetch_one(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(next_at - interval_ms)
    }
}
