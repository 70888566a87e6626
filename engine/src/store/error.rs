//! What can go wrong in the store, sorted by what the caller should do about it.

/// An error from the store.
///
/// The HTTP API maps [`StoreError::Unavailable`] and [`StoreError::Contention`] to 503 (try
/// again later), [`StoreError::NotFound`] to 404, [`StoreError::Conflict`] to 409 and
/// [`StoreError::Invalid`] to 400; the rest are 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or failed to do IO: connection refused or lost, pool
    /// timed out, disk error. Transient from the caller's point of view.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database aborted a transaction to resolve contention (deadlock, serialization
    /// failure, database busy) more times than the store retries it internally.
    #[error("store contention: {0}")]
    Contention(String),
    /// The run, step or other record asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request contradicts the current state, e.g. cancelling a finished run.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request itself is malformed, e.g. a step depending on an unknown step.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Stored data could not be read back (bad JSON, unknown status): a bug or tampering.
    #[error("corrupt store data: {0}")]
    Corrupt(String),
    /// Applying the schema migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other database error (a bug in a query, a violated constraint).
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Whether the caller may simply try again later (the API answers 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Contention(_))
    }

    /// Whether the transaction was aborted because of contention and can be re-run at once.
    pub(crate) fn is_contention(&self) -> bool {
        matches!(self, StoreError::Contention(_))
    }
}

/// How a database error should be treated.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    Contention,
    Unavailable,
    Other,
}

/// Classifies a PostgreSQL SQLSTATE.
fn classify_postgres(code: &str) -> Class {
    match code {
        // serialization_failure, deadlock_detected, lock_not_available
        "40001" | "40P01" | "55P03" => Class::Contention,
        // 08 connection exception, 53 insufficient resources, 57P0x operator intervention
        // (shutdown), 58 system error
        c if c.starts_with("08")
            || c.starts_with("53")
            || c.starts_with("57P0")
            || c.starts_with("58") =>
        {
            Class::Unavailable
        }
        _ => Class::Other,
    }
}

/// Classifies a SQLite (extended) result code.
fn classify_sqlite(code: &str) -> Class {
    match code.parse::<i64>().map(|n| n & 0xff) {
        // SQLITE_BUSY, SQLITE_LOCKED
        Ok(5 | 6) => Class::Contention,
        // SQLITE_IOERR, SQLITE_NOMEM, SQLITE_FULL, SQLITE_CANTOPEN
        Ok(7 | 10 | 13 | 14) => Class::Unavailable,
        _ => Class::Other,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &e {
            E::Io(_)
            | E::Tls(_)
            | E::PoolTimedOut
            | E::PoolClosed
            | E::WorkerCrashed
            | E::Protocol(_)
            | E::Configuration(_) => StoreError::Unavailable(e.to_string()),
            E::RowNotFound => StoreError::NotFound(e.to_string()),
            E::ColumnDecode { .. }
            | E::Decode(_)
            | E::ColumnNotFound(_)
            | E::TypeNotFound { .. } => StoreError::Corrupt(e.to_string()),
            E::Migrate(m) => StoreError::Migration(m.to_string()),
            E::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let class = if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    classify_sqlite(&code)
                } else {
                    classify_postgres(&code)
                };
                match class {
                    Class::Contention => StoreError::Contention(e.to_string()),
                    Class::Unavailable => StoreError::Unavailable(e.to_string()),
                    Class::Other if db.is_unique_violation() => StoreError::Conflict(e.to_string()),
                    Class::Other => StoreError::Database(e.to_string()),
                }
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match &e {
            E::SqliteFailure(failure, _) => {
                match classify_sqlite(&failure.extended_code.to_string()) {
                    Class::Contention => StoreError::Contention(e.to_string()),
                    Class::Unavailable => StoreError::Unavailable(e.to_string()),
                    // SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE
                    Class::Other if matches!(failure.extended_code, 1555 | 2067) => {
                        StoreError::Conflict(e.to_string())
                    }
                    Class::Other => StoreError::Database(e.to_string()),
                }
            }
            E::FromSqlConversionFailure(..)
            | E::IntegralValueOutOfRange(..)
            | E::Utf8Error(_)
            | E::InvalidColumnIndex(_)
            | E::InvalidColumnName(_)
            | E::InvalidColumnType(..) => StoreError::Corrupt(e.to_string()),
            E::InvalidPath(_) => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(inner) => match StoreError::from(inner) {
                StoreError::Database(m) => StoreError::Migration(m),
                other => other,
            },
            other => StoreError::Migration(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(classify_postgres("40P01"), Class::Contention);
        assert_eq!(classify_postgres("08006"), Class::Unavailable);
        assert_eq!(classify_postgres("57P01"), Class::Unavailable);
        assert_eq!(classify_postgres("23505"), Class::Other);
        assert_eq!(classify_sqlite("517"), Class::Contention); // SQLITE_BUSY_SNAPSHOT
        assert_eq!(classify_sqlite("10"), Class::Unavailable);
        assert_eq!(classify_sqlite("266"), Class::Unavailable); // SQLITE_IOERR_READ
        assert_eq!(classify_sqlite("2067"), Class::Other); // SQLITE_CONSTRAINT_UNIQUE
    }

    #[test]
    fn pool_timeouts_are_unavailable() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(matches!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::NotFound(_)
        ));
    }
}
