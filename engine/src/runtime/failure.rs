//! What a failed attempt means under the step's retry policy.

use braid_dsl::plan::{Failure, RetryPolicy};
use serde_json::{json, Value};
use std::time::Duration;

/// A failed attempt: its class for the retry policy, the error to store, and any wait the
/// server asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFailure {
    /// The class `retry { on [...] }` matches against.
    pub class: Failure,
    /// The error as stored and shown: `{class, message, ...}` (already redacted).
    pub error: Value,
    /// `Retry-After`, when the server sent one.
    pub retry_after: Option<Duration>,
}

impl StepFailure {
    /// A failure of `class` with a plain message.
    pub fn new(class: Failure, kind: &str, message: impl Into<String>) -> Self {
        StepFailure {
            class,
            error: json!({ "class": kind, "message": message.into() }),
            retry_after: None,
        }
    }

    /// The stored message.
    pub fn message(&self) -> &str {
        self.error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// What to do after failed attempt number `attempt` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again at this time (epoch milliseconds).
    RetryAt(i64),
    /// Give up: the step has failed.
    GiveUp,
}

/// Decides whether and when to retry. The wait is the policy's backoff for the next attempt
/// (`random` in [0, 1) drives jitter), lengthened to at least what `Retry-After` asked.
pub fn decide(
    policy: &RetryPolicy,
    attempt: u32,
    failure: &StepFailure,
    now_ms: i64,
    random: f64,
) -> Decision {
    if !policy.should_retry(attempt, &failure.class) {
        return Decision::GiveUp;
    }
    let backoff = policy.delay_before_attempt(attempt + 1, random);
    let asked = failure.retry_after.map_or(0, |d| d.as_millis() as u64);
    let wait = backoff.max(asked).min(i64::MAX as u64 / 2) as i64;
    Decision::RetryAt(now_ms.saturating_add(wait))
}

#[cfg(test)]
mod tests {
    use super::*;
    use braid_dsl::plan::{BackoffPolicy, ErrorClass, Jitter};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            backoff: BackoffPolicy::Fixed { ms: 1_000 },
            jitter: Jitter::None,
            on: vec![
                ErrorClass::Status(429),
                ErrorClass::Range(5),
                ErrorClass::Timeout,
            ],
        }
    }

    #[test]
    fn retries_matching_classes_until_attempts_run_out() {
        let f = StepFailure::new(Failure::Status(503), "status", "down");
        assert_eq!(
            decide(&policy(), 1, &f, 10_000, 0.5),
            Decision::RetryAt(11_000)
        );
        assert_eq!(
            decide(&policy(), 2, &f, 10_000, 0.5),
            Decision::RetryAt(11_000)
        );
        assert_eq!(decide(&policy(), 3, &f, 10_000, 0.5), Decision::GiveUp);
        let not_retried = StepFailure::new(Failure::Status(400), "status", "bad");
        assert_eq!(decide(&policy(), 1, &not_retried, 0, 0.5), Decision::GiveUp);
    }

    #[test]
    fn retry_after_lengthens_the_wait_but_never_shortens_it() {
        let mut f = StepFailure::new(Failure::Status(429), "status", "slow down");
        f.retry_after = Some(Duration::from_secs(30));
        assert_eq!(decide(&policy(), 1, &f, 0, 0.5), Decision::RetryAt(30_000));
        f.retry_after = Some(Duration::from_millis(10));
        assert_eq!(decide(&policy(), 1, &f, 0, 0.5), Decision::RetryAt(1_000));
    }
}
