//! Retry policies: what a `retry { … }` block means, how partial blocks are resolved field by
//! field, and the pure arithmetic the engine uses to schedule attempts.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Engine default: total attempts, the first included.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// Engine default: the first wait of the exponential backoff, in milliseconds.
pub const DEFAULT_BACKOFF_INITIAL_MS: u64 = 1_000;
/// Engine default: the multiplier of the exponential backoff per retry.
pub const DEFAULT_BACKOFF_FACTOR: f64 = 2.0;
/// Engine default: the cap on one wait of the exponential backoff, in milliseconds.
pub const DEFAULT_BACKOFF_MAX_MS: u64 = 60_000;
/// Engine default jitter.
pub const DEFAULT_JITTER: Jitter = Jitter::Full;
/// Engine default error classes that are retried: `[429, 5xx, timeout, network]`.
pub const DEFAULT_RETRY_ON: &[ErrorClass] = &[
    ErrorClass::Status(429),
    ErrorClass::Range(5),
    ErrorClass::Timeout,
    ErrorClass::Network,
];
/// Engine default per-attempt timeout of step functions (control steps have none), in ms.
pub const DEFAULT_STEP_TIMEOUT_MS: u64 = 30_000;

/// A fully resolved retry policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Total attempts, the first included (at least 1).
    pub attempts: u32,
    /// How long to wait between attempts.
    pub backoff: BackoffPolicy,
    /// How the wait is randomised.
    pub jitter: Jitter,
    /// Which failures are retried.
    pub on: Vec<ErrorClass>,
}

/// The wait between attempts, before jitter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackoffPolicy {
    /// The same wait every time.
    Fixed {
        /// The wait in milliseconds.
        ms: u64,
    },
    /// `initial * factor^(retry - 1)`, capped at `max`.
    Exponential {
        /// The first wait in milliseconds.
        initial_ms: u64,
        /// The multiplier per retry (at least 1).
        factor: f64,
        /// The cap on one wait in milliseconds.
        max_ms: u64,
    },
}

/// How a wait is randomised, so that many runs failing together do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Jitter {
    /// The exact wait.
    None,
    /// Uniform in `[0, wait)`.
    Full,
    /// `wait / 2` plus uniform in `[0, wait / 2)`.
    Equal,
}

impl Jitter {
    /// Every jitter with its name as written.
    pub const ALL: &'static [(&'static str, Jitter)] = &[
        ("none", Jitter::None),
        ("full", Jitter::Full),
        ("equal", Jitter::Equal),
    ];
}

/// An error class in `on [..]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// One HTTP status, `429`.
    Status(u16),
    /// A range of statuses by first digit: `Range(5)` is `5xx`.
    Range(u8),
    /// The attempt timed out.
    Timeout,
    /// A connection, DNS or TLS failure.
    Network,
    /// The step's `expect` was false.
    Expect,
    /// Any failure at all.
    Any,
}

/// What actually went wrong in a failed attempt, as the engine classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Failure {
    /// The call answered with a non-success HTTP status.
    Status(u16),
    /// The attempt timed out.
    Timeout,
    /// A connection, DNS or TLS failure.
    Network,
    /// The step's `expect` was false.
    Expect,
    /// Anything else (an evaluation error, a failed child run, …); only `any` retries it.
    Other,
}

impl ErrorClass {
    /// The named classes with their names as written.
    pub const NAMED: &'static [(&'static str, ErrorClass)] = &[
        ("timeout", ErrorClass::Timeout),
        ("network", ErrorClass::Network),
        ("expect", ErrorClass::Expect),
        ("any", ErrorClass::Any),
    ];

    /// Whether `failure` belongs to this class.
    pub fn matches(&self, failure: &Failure) -> bool {
        match (self, failure) {
            (ErrorClass::Any, _) => true,
            (ErrorClass::Status(s), Failure::Status(f)) => s == f,
            (ErrorClass::Range(d), Failure::Status(f)) => f / 100 == u16::from(*d),
            (ErrorClass::Timeout, Failure::Timeout)
            | (ErrorClass::Network, Failure::Network)
            | (ErrorClass::Expect, Failure::Expect) => true,
            _ => false,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorClass::Status(s) => write!(f, "{s}"),
            ErrorClass::Range(d) => write!(f, "{d}xx"),
            ErrorClass::Timeout => f.write_str("timeout"),
            ErrorClass::Network => f.write_str("network"),
            ErrorClass::Expect => f.write_str("expect"),
            ErrorClass::Any => f.write_str("any"),
        }
    }
}

/// A `retry { … }` block as written: every field optional, so a step can change one field and
/// inherit the rest from its connection, the workflow's `defaults` and the engine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryOverride {
    /// `attempts N`
    pub attempts: Option<u32>,
    /// `backoff …`
    pub backoff: Option<BackoffOverride>,
    /// `jitter …`
    pub jitter: Option<Jitter>,
    /// `on [..]`
    pub on: Option<Vec<ErrorClass>>,
}

/// A backoff as written; the arguments of `exponential(…)` may each be omitted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackoffOverride {
    /// `fixed(D)`
    Fixed {
        /// The wait in milliseconds.
        ms: u64,
    },
    /// `exponential(initial: D, factor: F, max: D)`
    Exponential {
        /// `initial:`
        initial_ms: Option<u64>,
        /// `factor:`
        factor: Option<f64>,
        /// `max:`
        max_ms: Option<u64>,
    },
}

impl RetryOverride {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.attempts.is_none()
            && self.backoff.is_none()
            && self.jitter.is_none()
            && self.on.is_none()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: DEFAULT_ATTEMPTS,
            backoff: BackoffPolicy::Exponential {
                initial_ms: DEFAULT_BACKOFF_INITIAL_MS,
                factor: DEFAULT_BACKOFF_FACTOR,
                max_ms: DEFAULT_BACKOFF_MAX_MS,
            },
            jitter: DEFAULT_JITTER,
            on: DEFAULT_RETRY_ON.to_vec(),
        }
    }
}

impl RetryPolicy {
    /// Resolves a policy field by field from `layers`, most specific first (step, connection,
    /// workflow defaults), falling back to the engine defaults.
    ///
    /// The first layer with a `backoff` decides its kind. If that is `exponential(…)` with some
    /// arguments left out, they come from the next layers that are also exponential, then from
    /// the engine defaults — so `exponential(initial: 5s)` keeps a connection's `max`.
    pub fn resolve(layers: &[&RetryOverride]) -> RetryPolicy {
        let engine = RetryPolicy::default();
        let attempts = layers
            .iter()
            .find_map(|l| l.attempts)
            .unwrap_or(engine.attempts);
        let jitter = layers
            .iter()
            .find_map(|l| l.jitter)
            .unwrap_or(engine.jitter);
        let on = layers
            .iter()
            .find_map(|l| l.on.clone())
            .unwrap_or(engine.on);
        let first = layers.iter().position(|l| l.backoff.is_some());
        let backoff = match first.and_then(|i| layers[i].backoff.map(|b| (i, b))) {
            None => engine.backoff,
            Some((_, BackoffOverride::Fixed { ms })) => BackoffPolicy::Fixed { ms },
            Some((i, BackoffOverride::Exponential { .. })) => {
                let (mut initial, mut factor, mut max) = (None, None, None);
                for layer in &layers[i..] {
                    if let Some(BackoffOverride::Exponential {
                        initial_ms,
                        factor: f,
                        max_ms,
                    }) = layer.backoff
                    {
                        initial = initial.or(initial_ms);
                        factor = factor.or(f);
                        max = max.or(max_ms);
                    }
                }
                BackoffPolicy::Exponential {
                    initial_ms: initial.unwrap_or(DEFAULT_BACKOFF_INITIAL_MS),
                    factor: factor.unwrap_or(DEFAULT_BACKOFF_FACTOR),
                    max_ms: max.unwrap_or(DEFAULT_BACKOFF_MAX_MS),
                }
            }
        };
        RetryPolicy {
            attempts: attempts.max(1),
            backoff,
            jitter,
            on,
        }
    }

    /// The wait in milliseconds before attempt number `attempt` (1-based: attempt 1 is the
    /// first try and has no wait; attempt 2 is the first retry). `random` is a uniform sample
    /// in `[0, 1)` used for jitter (values outside are clamped), so the function stays pure.
    pub fn delay_before_attempt(&self, attempt: u32, random: f64) -> u64 {
        if attempt <= 1 {
            return 0;
        }
        let retry = attempt - 2; // 0 for the first retry
        let base = match self.backoff {
            BackoffPolicy::Fixed { ms } => ms,
            BackoffPolicy::Exponential {
                initial_ms,
                factor,
                max_ms,
            } => {
                // Computed in f64 and capped, so large attempt numbers saturate instead of
                // overflowing.
                let wait = initial_ms as f64 * factor.max(1.0).powf(f64::from(retry));
                if !wait.is_finite() || wait >= max_ms as f64 {
                    max_ms
                } else {
                    wait as u64
                }
            }
        };
        let random = if random.is_nan() {
            0.0
        } else {
            random.clamp(0.0, 1.0 - f64::EPSILON)
        };
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => (base as f64 * random) as u64,
            Jitter::Equal => {
                let half = base / 2;
                half + ((base - half) as f64 * random) as u64
            }
        }
    }

    /// Whether a failure of this kind is retried (given attempts remain).
    pub fn retries_on(&self, failure: &Failure) -> bool {
        self.on.iter().any(|c| c.matches(failure))
    }

    /// Whether attempt `failed_attempt` (1-based) failing with `failure` leads to another attempt.
    pub fn should_retry(&self, failed_attempt: u32, failure: &Failure) -> bool {
        failed_attempt < self.attempts && self.retries_on(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(initial_ms: u64, factor: f64, max_ms: u64) -> BackoffPolicy {
        BackoffPolicy::Exponential {
            initial_ms,
            factor,
            max_ms,
        }
    }

    #[test]
    fn engine_defaults_are_the_documented_ones() {
        let p = RetryPolicy::resolve(&[]);
        assert_eq!(p.attempts, 3);
        assert_eq!(p.backoff, exp(1_000, 2.0, 60_000));
        assert_eq!(p.jitter, Jitter::Full);
        assert_eq!(
            p.on,
            vec![
                ErrorClass::Status(429),
                ErrorClass::Range(5),
                ErrorClass::Timeout,
                ErrorClass::Network
            ]
        );
    }

    #[test]
    fn resolution_takes_each_field_from_the_most_specific_layer() {
        let step = RetryOverride {
            attempts: Some(10),
            ..Default::default()
        };
        let connection = RetryOverride {
            attempts: Some(4),
            backoff: Some(BackoffOverride::Fixed { ms: 3_000 }),
            ..Default::default()
        };
        let defaults = RetryOverride {
            attempts: Some(5),
            jitter: Some(Jitter::None),
            backoff: Some(BackoffOverride::Fixed { ms: 9 }),
            on: Some(vec![ErrorClass::Any]),
        };
        let p = RetryPolicy::resolve(&[&step, &connection, &defaults]);
        assert_eq!(p.attempts, 10, "step wins");
        assert_eq!(
            p.backoff,
            BackoffPolicy::Fixed { ms: 3_000 },
            "connection beats defaults"
        );
        assert_eq!(
            p.jitter,
            Jitter::None,
            "defaults when neither step nor connection says"
        );
        assert_eq!(p.on, vec![ErrorClass::Any]);

        let p = RetryPolicy::resolve(&[
            &RetryOverride::default(),
            &RetryOverride::default(),
            &defaults,
        ]);
        assert_eq!(p.attempts, 5);
        assert_eq!(p.backoff, BackoffPolicy::Fixed { ms: 9 });
    }

    #[test]
    fn partial_exponential_fills_from_lower_exponential_layers_then_engine() {
        let step = RetryOverride {
            backoff: Some(BackoffOverride::Exponential {
                initial_ms: Some(5_000),
                factor: None,
                max_ms: None,
            }),
            ..Default::default()
        };
        let fixed = RetryOverride {
            backoff: Some(BackoffOverride::Fixed { ms: 1 }),
            ..Default::default()
        };
        let defaults = RetryOverride {
            backoff: Some(BackoffOverride::Exponential {
                initial_ms: Some(1),
                factor: None,
                max_ms: Some(600_000),
            }),
            ..Default::default()
        };
        let p = RetryPolicy::resolve(&[&step, &fixed, &defaults]);
        assert_eq!(p.backoff, exp(5_000, 2.0, 600_000));
    }

    #[test]
    fn exponential_delays_grow_and_cap() {
        let p = RetryPolicy {
            jitter: Jitter::None,
            ..RetryPolicy::default()
        };
        let delays: Vec<u64> = (1..=9).map(|a| p.delay_before_attempt(a, 0.5)).collect();
        assert_eq!(
            delays,
            vec![0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
        assert_eq!(p.delay_before_attempt(u32::MAX, 0.5), 60_000, "no overflow");
        assert_eq!(p.delay_before_attempt(0, 0.5), 0);
    }

    #[test]
    fn fixed_delay_and_jitter() {
        let mut p = RetryPolicy {
            backoff: BackoffPolicy::Fixed { ms: 1_000 },
            jitter: Jitter::None,
            ..Default::default()
        };
        assert_eq!(p.delay_before_attempt(2, 0.9), 1_000);
        p.jitter = Jitter::Full;
        assert_eq!(p.delay_before_attempt(2, 0.0), 0);
        assert_eq!(p.delay_before_attempt(2, 0.25), 250);
        assert!(
            p.delay_before_attempt(2, 1.0) < 1_000,
            "random is clamped below 1"
        );
        assert_eq!(p.delay_before_attempt(2, f64::NAN), 0);
        p.jitter = Jitter::Equal;
        assert_eq!(p.delay_before_attempt(2, 0.0), 500);
        assert_eq!(p.delay_before_attempt(2, 0.5), 750);
        assert!(p.delay_before_attempt(2, 0.999_999) < 1_000);
    }

    #[test]
    fn classes_match_failures() {
        assert!(ErrorClass::Status(429).matches(&Failure::Status(429)));
        assert!(!ErrorClass::Status(429).matches(&Failure::Status(428)));
        assert!(ErrorClass::Range(5).matches(&Failure::Status(503)));
        assert!(!ErrorClass::Range(5).matches(&Failure::Status(404)));
        assert!(!ErrorClass::Range(5).matches(&Failure::Timeout));
        assert!(ErrorClass::Timeout.matches(&Failure::Timeout));
        assert!(ErrorClass::Network.matches(&Failure::Network));
        assert!(ErrorClass::Expect.matches(&Failure::Expect));
        assert!(!ErrorClass::Expect.matches(&Failure::Other));
        assert!(ErrorClass::Any.matches(&Failure::Other));
        assert!(ErrorClass::Any.matches(&Failure::Status(400)));
    }

    #[test]
    fn default_policy_retries_transient_failures_only() {
        let p = RetryPolicy::default();
        assert!(p.retries_on(&Failure::Status(429)));
        assert!(p.retries_on(&Failure::Status(502)));
        assert!(p.retries_on(&Failure::Timeout));
        assert!(p.retries_on(&Failure::Network));
        assert!(!p.retries_on(&Failure::Status(404)));
        assert!(!p.retries_on(&Failure::Expect));
        assert!(!p.retries_on(&Failure::Other));
        assert!(p.should_retry(1, &Failure::Timeout));
        assert!(p.should_retry(2, &Failure::Timeout));
        assert!(
            !p.should_retry(3, &Failure::Timeout),
            "three attempts in all"
        );
    }

    #[test]
    fn classes_display_as_written() {
        let shown: Vec<String> = DEFAULT_RETRY_ON.iter().map(|c| c.to_string()).collect();
        assert_eq!(shown, ["429", "5xx", "timeout", "network"]);
    }
}
