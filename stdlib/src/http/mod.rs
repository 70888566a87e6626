//! `http.*`: building a request from a step's evaluated arguments, sending it with the
//! connection's credentials and the step's idempotency key, and turning the answer into
//! `{status, headers, body}` or a classified [`CallError`].
//!

mod client;
mod error;
pub mod oauth2;
mod paginate;
mod rate_limit;
mod request;
mod response;

pub use client::HttpClient;
pub use error::{parse_retry_after, CallError, ErrorClass};
pub use paginate::{next_link, PaginateOptions, Style as PaginationStyle, DEFAULT_MAX_PAGES};
pub use rate_limit::{RateLimit, RateLimitStore, RateLimiter};
pub use request::{build_request, AuthConfig, Body, ConnectionConfig, HttpRequest, Target};
pub use response::DEFAULT_MAX_RESPONSE_BYTES;
