//! Braid's engine: the store (SQLite and PostgreSQL), the durable executor, triggers and the
//! HTTP API.
pub mod clock;
pub mod crypto;
pub mod executor;
pub mod redact;
pub mod runtime;
pub mod store;
pub mod triggers;
