//! Braid's standard library: the catalog of callable functions and their signatures, the pure
//! functions, `http.*` with auth, OAuth2, pagination and rate limits, and webhook signature
//! schemes. It knows neither the store nor the scheduler.
pub mod catalog;
pub mod compile;
mod functions;
pub mod http;
pub mod webhook;
