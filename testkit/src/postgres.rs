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
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}
