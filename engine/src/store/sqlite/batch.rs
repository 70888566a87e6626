// SQLite only (included into `sqlite.rs` after the shared body): its side of what PostgreSQL
// writes for a whole group commit at once (`postgres/batch.rs`). Here statements run on the
// calling thread, without round trips, and there are no array parameters: a statement per
// completion costs little.

/// Nothing to lock: SQLite has one writer, so the changes of a run are serialised anyway.
async fn lock_runs(_c: &mut Tx, _sorted_ids: &[&str]) -> Result<(), StoreError> {
    Ok(())
}

/// Appends history entries, in their order, in statements of [`CACHED_ROWS`] rows: a group
/// commit appends hundreds of entries, and preparing a statement of hundreds of rows costs
/// more than running it.
async fn insert_events(c: &mut Conn, events: &[PendingEvent]) -> Result<(), StoreError> {
    for chunk in events.chunks(CACHED_ROWS) {
        let mut q = QueryBuilder::new("INSERT INTO events (run_id, at, kind, step_key, data) ");
        q.push_values(chunk, |mut b, e| {
            b.push_bind(e.run_id.as_str())
                .push_bind(e.at)
                .push_bind(e.kind.as_str())
                .push_bind(e.step_key.as_deref())
                .push_bind(e.data.as_deref());
        });
        q.build().execute(&mut *c).await?;
    }
    Ok(())
}

impl This {
    /// Records nothing ahead: every completion goes through [`apply`], one after the other,
    /// in the batch's one transaction.
    async fn record_successes(
        &self,
        _batch: &[Completion],
        _lease_ms: Option<i64>,
    ) -> Result<Vec<Recorded>, StoreError> {
        Ok(Vec::new())
    }
}
