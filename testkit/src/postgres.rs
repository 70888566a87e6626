//! A schema of its own for each test on the test PostgreSQL server.

/// The PostgreSQL server the suites use: `BRAID_TEST_POSTGRES_URL`, else the local one.
pub fn postgres_url() -> String {
    std::env::var("BRAID_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A URL to a new, empty schema on the test PostgreSQL server. Fails the test (never skips
/// it) when the server cannot be reached.
pub async fn fresh_postgres_url() -> String {
    use sqlx::Connection;
    let base = postgres_url();
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {base} is unreachable ({e}); run scripts/ensure-postgres")
        });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if !SWEPT.swap(true, std::sync::atomic::Ordering::Relaxed) {
        drop_stale_schemas(&mut conn, now).await;
    }
    let schema = format!("t_{now}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// Whether this process has dropped the stale schemas of earlier test runs yet.
static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Schemas older than this belong to test runs that are over (none runs for hours).
const STALE_AFTER_SECS: u64 = 6 * 3600;

/// Drops the schemas earlier test runs left behind (`t_<created>_<id>`, created more than
/// [`STALE_AFTER_SECS`] ago), so the test database does not grow with every run. Best effort:
/// another process may be dropping the same ones.
async fn drop_stale_schemas(conn: &mut sqlx::PgConnection, now: u64) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT schema_name::text FROM information_schema.schemata WHERE schema_name LIKE 't\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for name in names {
        let created = name.split('_').nth(1).and_then(|s| s.parse::<u64>().ok());
        if created.is_some_and(|c| c + STALE_AFTER_SECS < now) {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .execute(&mut *conn)
                .await;
        }
    }
}
