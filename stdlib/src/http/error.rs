//! Errors of HTTP calls, classified the way retry policies match them.

use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// The class of a failed call, as `retry { on [...] }` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The server answered with a non-2xx status.
    Status(u16),
    /// The attempt ran out of time.
    Timeout,
    /// The connection failed (refused, reset, DNS, TLS, a broken body).
    Network,
    /// The call cannot succeed as written (bad URL, bad arguments, response too large):
    /// retrying would not help.
    Invalid,
}

impl ErrorClass {
    /// The class name used in stored errors: `status`, `timeout`, `network`, `invalid`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Status(_) => "status",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Network => "network",
            ErrorClass::Invalid => "invalid",
        }
    }
}

/// A failed call. The message never holds credentials or the URL's query string.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    /// How it failed.
    pub class: ErrorClass,
    /// What happened, for people.
    pub message: String,
    /// How long the server asked to wait (`Retry-After`), if it did.
    pub retry_after: Option<Duration>,
    /// The response, for a status error (`{status, headers, body}`), so operators can see it.
    pub response: Option<Value>,
}

impl CallError {
    /// An error of `class` with `message`.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        CallError {
            class,
            message: message.into(),
            retry_after: None,
            response: None,
        }
    }

    /// A permanent error about the call itself.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Invalid, message)
    }

    /// The error as stored with the step: `{class, status?, message, retry_after_ms?, response?}`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "class": self.class.name(), "message": self.message });
        if let ErrorClass::Status(s) = self.class {
            v["status"] = json!(s);
        }
        if let Some(d) = self.retry_after {
            v["retry_after_ms"] = json!(d.as_millis() as u64);
        }
        if let Some(r) = &self.response {
            v["response"] = r.clone();
        }
        v
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (relative to `now`; a past date is 0).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = httpdate::parse_http_date("Sun, 22 Nov 2026 10:00:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn stored_form_names_class_and_status() {
        let mut e = CallError::new(ErrorClass::Status(429), "HTTP 429");
        e.retry_after = Some(Duration::from_secs(2));
        assert_eq!(
            e.to_json(),
            json!({"class": "status", "status": 429, "message": "HTTP 429", "retry_after_ms": 2000})
        );
    }
}
