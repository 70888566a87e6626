//! Upgrading while engines run: a database migrated by a newer engine (a migration this
//! engine does not know) still opens, so an older process can restart mid-way through a
//! rolling upgrade. On SQLite and on PostgreSQL.

#[allow(dead_code)]
#[path = "behaviour/support.rs"]
mod support;

use braid_engine::clock::SystemClock;
use braid_engine::store::Backend as StoreBackend;
use std::sync::Arc;
use support::{Backend, TestStore};

/// Records a migration from the future, as a newer engine would have applied it.
async fn apply_future_migration(url: &str, backend: StoreBackend) {
    let insert = "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                  execution_time) VALUES (99999999999999, 'from a newer engine', TRUE, $1, 0)";
    let checksum = vec![0u8; 48];
    match backend {
        StoreBackend::Postgres => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query(insert)
                .bind(checksum)
                .execute(&mut conn)
                .await
                .expect("insert");
        }
        StoreBackend::Sqlite => {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
            sqlx::query(insert)
                .bind(checksum)
                .execute(&mut conn)
                .await
                .expect("insert");
        }
    }
}

async fn an_older_engine_opens_a_newer_database(backend: Backend) {
    let location = TestStore::new(backend).await;
    let store = location.open(Arc::new(SystemClock)).await;
    let kind = store.backend();
    store.close().await;
    apply_future_migration(&location.url, kind).await;
    // Opening migrates again: the unknown migration is left alone.
    let store = location.open(Arc::new(SystemClock)).await;
    store.ping().await.expect("the store answers");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_older_engine_opens_a_newer_database() {
    an_older_engine_opens_a_newer_database(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_older_engine_opens_a_newer_database() {
    an_older_engine_opens_a_newer_database(Backend::Postgres).await;
}
