//! Braid's engine: the store (SQLite and PostgreSQL), the durable executor, triggers and the
//! HTTP API.
pub mod api;
pub mod clock;
pub mod crypto;
mod derived_id;
pub mod executor;
pub mod http_client;
pub mod loader;
pub mod metrics;
pub mod rate_limits;
pub mod redact;
pub mod runtime;
pub mod secret_store;
pub mod service;
pub mod store;
pub mod token_store;
pub mod triggers;
