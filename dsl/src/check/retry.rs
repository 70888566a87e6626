//! `retry { … }` blocks: their options, keyword values and error classes, turned into a
//! [`RetryOverride`] to be resolved field by field later.

use super::context::Cx;
use super::options::{keyword_value, positive_count, unknown_option, Once};
use super::suggest::suggest;
use crate::ast::{Backoff, ErrorClassLit, RetryBlock, RetryOption};
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::{BackoffOverride, ErrorClass, Jitter, RetryOverride};
use crate::span::FileId;

const RETRY_OPTIONS: &[&str] = &["attempts", "backoff", "jitter", "on"];

/// Checks a retry block; invalid fields are reported and left unset.
pub(crate) fn check_retry(cx: &mut Cx<'_>, file: FileId, block: &RetryBlock) -> RetryOverride {
    let mut out = RetryOverride::default();
    let mut once = Once::default();
    for option in &block.options {
        let span = option.span;
        match &option.node {
            RetryOption::Attempts(n) => {
                if once.first(cx, file, "attempts", span) {
                    out.attempts = positive_count(cx, file, "attempts", n);
                }
            }
            RetryOption::Backoff(backoff) => {
                if once.first(cx, file, "backoff", span) {
                    out.backoff = check_backoff(cx, file, backoff);
                }
            }
            RetryOption::Jitter(id) => {
                if once.first(cx, file, "jitter", span) {
                    out.jitter = keyword_value(cx, file, "jitter", id, Jitter::ALL);
                }
            }
            RetryOption::On(classes) => {
                if once.first(cx, file, "on", span) {
                    let mut list: Vec<ErrorClass> = Vec::with_capacity(classes.len());
                    for class in classes {
                        if let Some(c) = check_class(cx, file, &class.node, class.span) {
                            if !list.contains(&c) {
                                list.push(c);
                            }
                        }
                    }
                    out.on = Some(list);
                }
            }
            RetryOption::Unknown(id) => unknown_option(cx, file, id, "`retry`", RETRY_OPTIONS),
        }
    }
    out
}

fn check_backoff(cx: &mut Cx<'_>, file: FileId, backoff: &Backoff) -> Option<BackoffOverride> {
    match backoff {
        Backoff::Fixed(d) => Some(BackoffOverride::Fixed { ms: d.millis }),
        Backoff::Exponential {
            initial,
            factor,
            max,
        } => {
            if let Some(f) = factor {
                if !f.node.is_finite() || f.node < 1.0 {
                    cx.report(
                        Diagnostic::error(
                            Code::InvalidNumber,
                            file,
                            f.span,
                            "the backoff factor must be at least 1",
                        )
                        .with_label("waits would shrink")
                        .with_hint("use `fixed(D)` for equal waits"),
                    );
                    return None;
                }
            }
            if let (Some(i), Some(m)) = (initial, max) {
                if i.millis > m.millis {
                    cx.report(
                        Diagnostic::error(
                            Code::InvalidNumber,
                            file,
                            m.span,
                            "the backoff `max` is shorter than `initial`",
                        )
                        .with_label("shorter than the first wait")
                        .with_secondary(file, i.span, "initial wait"),
                    );
                    return None;
                }
            }
            Some(BackoffOverride::Exponential {
                initial_ms: initial.as_ref().map(|d| d.millis),
                factor: factor.as_ref().map(|f| f.node),
                max_ms: max.as_ref().map(|d| d.millis),
            })
        }
        Backoff::Unknown(id) => {
            keyword_value::<()>(
                cx,
                file,
                "backoff",
                id,
                &[("fixed", ()), ("exponential", ())],
            );
            None
        }
    }
}

fn check_class(
    cx: &mut Cx<'_>,
    file: FileId,
    class: &ErrorClassLit,
    span: crate::span::Span,
) -> Option<ErrorClass> {
    let hint = "error classes: a status (`429`), a range (`4xx`, `5xx`), `timeout`, `network`, `expect`, `any`";
    let (message, label, suggestion) = match class {
        ErrorClassLit::Status(s) if (100..=599).contains(s) => return Some(ErrorClass::Status(*s)),
        ErrorClassLit::Range(d) if (1..=5).contains(d) => return Some(ErrorClass::Range(*d)),
        ErrorClassLit::Named(name) => {
            if let Some((_, c)) = ErrorClass::NAMED.iter().find(|(n, _)| n == name) {
                return Some(*c);
            }
            let names: Vec<&str> = ErrorClass::NAMED.iter().map(|(n, _)| *n).collect();
            let suggestion =
                suggest(name, names.iter().copied()).map(|b| format!("did you mean `{b}`? "));
            (
                format!("unknown error class `{name}`"),
                "not an error class",
                suggestion,
            )
        }
        ErrorClassLit::Status(s) => (
            format!("`{s}` is not an HTTP status"),
            "statuses are 100–599",
            None,
        ),
        ErrorClassLit::Range(d) => (
            format!("`{d}xx` is not a status range"),
            "ranges are 1xx–5xx",
            None,
        ),
    };
    cx.report(
        Diagnostic::error(Code::InvalidErrorClass, file, span, message)
            .with_label(label)
            .with_hint(format!("{}{hint}", suggestion.unwrap_or_default())),
    );
    None
}
