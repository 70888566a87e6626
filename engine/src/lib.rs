//! Braid's engine: the store (SQLite and PostgreSQL), the durable executor, triggers and the
//! HTTP API.
pub mod crypto;
pub mod redact;
pub mod runtime;
