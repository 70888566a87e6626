// Shared store body: workflow versions and the engine's key-value entries.

impl This {
    /// [`Store::put_workflow_version`], one try.
    async fn put_version_once(
        &self,
        hash: &str,
        name: &str,
        plan_json: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = query(
            "INSERT INTO workflow_versions (hash, name, plan, created) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(hash)
        .bind(name)
        .bind(plan_json)
        .bind(self.clock.now_ms())
        .execute(tx.conn())
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// [`Store::kv_get`].
    async fn kv_get_once(&self, namespace: &str, key: &str) -> Result<Option<KvEntry>, StoreError> {
        let row = query("SELECT value, updated FROM kv WHERE namespace = $1 AND key = $2")
            .bind(namespace)
            .bind(key)
            .fetch_optional(self.read_pool())
            .await?;
        row.map(|r| {
            Ok(KvEntry {
                value: r.try_get("value")?,
                updated: r.try_get("updated")?,
            })
        })
        .transpose()
    }

    /// [`Store::kv_list`].
    async fn kv_list_once(&self, namespace: &str) -> Result<Vec<(String, KvEntry)>, StoreError> {
        let rows = query("SELECT key, value, updated FROM kv WHERE namespace = $1")
            .bind(namespace)
            .fetch_all(self.read_pool())
            .await?;
        let mut entries = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("key")?,
                    KvEntry {
                        value: r.try_get("value")?,
                        updated: r.try_get("updated")?,
                    },
                ))
            })
            .collect::<Result<Vec<(String, KvEntry)>, StoreError>>()?;
        // Sorted here: PostgreSQL's collation may order text differently from SQLite's.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    /// [`Store::kv_put`], one try.
    async fn kv_put_once(&self, namespace: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        query(
            "INSERT INTO kv (namespace, key, value, updated) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, \
             updated = excluded.updated",
        )
        .bind(namespace)
        .bind(key)
        .bind(value)
        .bind(self.clock.now_ms())
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Store::kv_compare_and_swap`], one try.
    async fn kv_cas_once(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut tx = self.begin_write().await?;
        let n = match expected {
            None => query(
                "INSERT INTO kv (namespace, key, value, updated) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(namespace)
            .bind(key)
            .bind(new)
            .bind(now),
            Some(old) => query(
                "UPDATE kv SET value = $3, updated = $4 WHERE namespace = $1 AND key = $2 \
                 AND value = $5",
            )
            .bind(namespace)
            .bind(key)
            .bind(new)
            .bind(now)
            .bind(old),
        }
        .execute(tx.conn())
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// [`Store::kv_delete`], one try.
    async fn kv_delete_once(&self, namespace: &str, key: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = query("DELETE FROM kv WHERE namespace = $1 AND key = $2")
            .bind(namespace)
            .bind(key)
            .execute(tx.conn())
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }
}
