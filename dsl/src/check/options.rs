//! Helpers shared by every option block: options given twice (E0103), unknown option names
//! (E0201), keyword values (E0202) and counts that must be positive (E0003).

use super::context::Cx;
use super::names::quoted_list;
use super::suggest::suggest;
use crate::ast::{DurationLit, Ident, Spanned};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};

/// Remembers which options of one block were given.
#[derive(Default)]
pub(crate) struct Once<'n> {
    seen: Vec<(&'n str, Span)>,
}

impl<'n> Once<'n> {
    /// True the first time `name` is seen; later times report E0103 and return false (the
    /// first occurrence is the one that counts).
    pub fn first(&mut self, cx: &mut Cx<'_>, file: FileId, name: &'n str, span: Span) -> bool {
        let here = keyword_span(span, name);
        if let Some(&(_, first)) = self.seen.iter().find(|(n, _)| *n == name) {
            cx.report(
                Diagnostic::error(
                    Code::DuplicateOption,
                    file,
                    here,
                    format!("`{name}` is given twice"),
                )
                .with_label("given again here")
                .with_secondary(file, keyword_span(first, name), "first given here")
                .with_hint("each option may appear once; remove one"),
            );
            return false;
        }
        self.seen.push((name, span));
        true
    }
}

/// The span of an option's keyword, the first bytes of the option's span.
pub(crate) fn keyword_span(option: Span, keyword: &str) -> Span {
    Span::new(
        option.start,
        (option.start + keyword.len()).min(option.end.max(option.start)),
    )
}

/// E0201 with a suggestion among the block's valid option names.
pub(crate) fn unknown_option(
    cx: &mut Cx<'_>,
    file: FileId,
    id: &Ident,
    block: &str,
    valid: &[&str],
) {
    let mut d = Diagnostic::error(
        Code::UnknownOption,
        file,
        id.span,
        format!("unknown option `{}` in {block}", id.name),
    )
    .with_label("not an option here");
    d = match suggest(&id.name, valid.iter().copied()) {
        Some(best) => d.with_hint(format!("did you mean `{best}`?")),
        None => d.with_hint(format!("{block} accepts {}", quoted_list(valid))),
    };
    cx.report(d);
}

/// A keyword value that must be one of `allowed` (E0202 otherwise).
pub(crate) fn keyword_value<T: Copy>(
    cx: &mut Cx<'_>,
    file: FileId,
    option: &str,
    id: &Ident,
    allowed: &[(&str, T)],
) -> Option<T> {
    if let Some((_, value)) = allowed.iter().find(|(name, _)| *name == id.name) {
        return Some(*value);
    }
    let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
    let close = names
        .iter()
        .find(|n| n.eq_ignore_ascii_case(&id.name))
        .copied()
        .or_else(|| suggest(&id.name, names.iter().copied()));
    let list = names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let hint = match close {
        Some(best) => format!("did you mean `{best}`? `{option}` takes one of {list}"),
        None => format!("`{option}` takes one of {list}"),
    };
    cx.report(
        Diagnostic::error(
            Code::InvalidOptionValue,
            file,
            id.span,
            format!("`{}` is not a valid `{option}`", id.name),
        )
        .with_label("invalid value")
        .with_hint(hint),
    );
    None
}

/// A count that must be at least 1 and fit in 32 bits (E0003 otherwise).
pub(crate) fn positive_count(
    cx: &mut Cx<'_>,
    file: FileId,
    what: &str,
    value: &Spanned<u64>,
) -> Option<u32> {
    match u32::try_from(value.node) {
        Ok(0) => {
            cx.report(
                Diagnostic::error(
                    Code::InvalidNumber,
                    file,
                    value.span,
                    format!("`{what}` must be at least 1"),
                )
                .with_label("zero is not allowed here"),
            );
            None
        }
        Ok(n) => Some(n),
        Err(_) => {
            cx.report(
                Diagnostic::error(
                    Code::InvalidNumber,
                    file,
                    value.span,
                    format!("`{what}` is too large"),
                )
                .with_label(format!("at most {}", u32::MAX)),
            );
            None
        }
    }
}

/// A timeout, which must be longer than zero (E0003 otherwise).
pub(crate) fn timeout_ms(cx: &mut Cx<'_>, file: FileId, d: &DurationLit) -> Option<u64> {
    if d.millis == 0 {
        cx.report(
            Diagnostic::error(
                Code::InvalidNumber,
                file,
                d.span,
                "a timeout must be longer than zero",
            )
            .with_label("zero"),
        );
        return None;
    }
    Some(d.millis)
}
