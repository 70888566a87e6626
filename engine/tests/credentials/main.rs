//! Credentials on SQLite and on PostgreSQL: OAuth2 tokens cached in the store and shared by
//! engines, refreshed before expiry by one process at a time, sealed at rest; and the engine's
//! secret store.

#[allow(dead_code)]
#[path = "../behaviour/support.rs"]
mod support;

mod oauth2;
mod secrets;
mod token_server;
