//! The pure expression evaluator: expressions over `serde_json::Value` scopes.
//!
//! Null rules: field access and indexing on `null` give `null`; interpolating `null` into a
//! string is an error, so a call never goes to `/orders/null`.

use crate::span::Span;
use chrono::{DateTime, Utc};

/// What the evaluator needs from the world: configuration, secrets, and the recorded
/// non-deterministic values (`now()`, `uuid()`), so a resumed run sees the same ones.
pub trait Host: Send + Sync {
    /// `env("NAME")`: plain configuration.
    fn env(&self, name: &str) -> Option<String>;
    /// `secret("NAME")`: a secret value.
    fn secret(&self, name: &str) -> Option<String>;
    /// The current time, as recorded for this evaluation.
    fn now(&self) -> DateTime<Utc>;
    /// A fresh (or recorded) UUID v4 string.
    fn uuid(&self) -> String;
}

/// The class of an evaluation error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalErrorKind {
    /// An operator or function got a value of the wrong type.
    Type,
    /// `null` interpolated into a string.
    NullInterpolation,
    /// Division or remainder by zero, or arithmetic overflow.
    Arithmetic,
    /// A name not bound in scope at run time (the checker normally prevents this).
    UnboundName,
    /// `env()` or `secret()` named something not set.
    MissingVariable,
    /// A function failed on its input (bad JSON for `json_decode`, bad time format, …).
    Function,
}

/// A typed evaluation error; never a panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{message}")]
pub struct EvalError {
    /// The class of error.
    pub kind: EvalErrorKind,
    /// A sentence for the user (never containing a secret's value).
    pub message: String,
    /// The expression that failed, when known.
    pub span: Option<Span>,
}

impl EvalError {
    /// An error of `kind` with `message` and no span yet.
    pub fn new(kind: EvalErrorKind, message: impl Into<String>) -> Self {
        EvalError {
            kind,
            message: message.into(),
            span: None,
        }
    }

    /// Attaches `span` unless one is already set (the innermost span wins).
    pub fn at(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }
}

mod evaluator;
mod ops;
mod scope;

pub use evaluator::{EvaluatedArgs, Evaluator, MAX_CALL_DEPTH};
pub use ops::{json_equal, type_name};
pub use scope::Scope;
