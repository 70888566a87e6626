//! Test helpers shared by Braid's suites (never a dependency of the product): a recording
//! HTTP server on 127.0.0.1 ([`Recorder`]), a fresh PostgreSQL schema per test
//! ([`fresh_postgres_url`]) and a TCP proxy that can take a database away ([`Proxy`]).

mod postgres;
mod proxy;
mod recorder;

pub use postgres::{fresh_postgres_url, postgres_url};
pub use proxy::Proxy;
pub use recorder::{Call, Recorder, Reply};

/// Milliseconds since the Unix epoch, by the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
