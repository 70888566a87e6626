//! Turning pest's parse tree into the syntax tree (`crate::ast`), with literal checks.

mod connections;
mod expressions;
mod steps;
mod workflows;

use super::Rule;
use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};
use pest::iterators::{Pair, Pairs};

/// Builds AST nodes from pairs of one item parsed at byte `offset` of the file.
pub struct Builder {
    file: FileId,
    offset: usize,
    /// Diagnostics found while building (bad literals, misplaced arguments).
    pub diagnostics: Vec<Diagnostic>,
}

/// How deep an expression tree may be (operators, field accesses, nesting).
pub const MAX_EXPR_DEPTH: usize = 200;

/// The grammar guarantees the shape the builder walks; a mismatch is a bug reported as a
/// diagnostic rather than a panic.
type Built<T> = Option<T>;

impl Builder {
    /// A builder for an item that starts at byte `offset` of `file`.
    pub fn new(file: FileId, offset: usize) -> Self {
        Builder {
            file,
            offset,
            diagnostics: Vec::new(),
        }
    }

    /// The pair's span without the trailing whitespace and comments pest may include.
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        let len = trimmed_len(pair.as_str());
        Span::new(s.start() + self.offset, s.start() + len + self.offset)
    }

    fn error(&mut self, code: Code, span: Span, message: impl Into<String>, label: &str) {
        self.diagnostics
            .push(Diagnostic::error(code, self.file, span, message).with_label(label));
    }

    fn next<'i>(&mut self, pairs: &mut Pairs<'i, Rule>, parent: Span) -> Built<Pair<'i, Rule>> {
        let next = pairs.next();
        if next.is_none() {
            self.error(
                Code::Syntax,
                parent,
                "internal parser error: unexpected tree shape",
                "here",
            );
        }
        next
    }

    fn ident(&self, pair: &Pair<Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(pair),
        }
    }

    /// The top-level item of a successful `item_at` parse.
    pub fn item(&mut self, pair: Pair<Rule>) -> Built<Item> {
        Some(match pair.as_rule() {
            Rule::connection => Item::Connection(self.connection(pair)?),
            Rule::mapping => Item::Mapping(self.mapping(pair)?),
            Rule::workflow => Item::Workflow(self.workflow(pair)?),
            _ => return None,
        })
    }
}

/// The length of `text` without trailing whitespace and `//` comments.
fn trimmed_len(text: &str) -> usize {
    let mut end = text.trim_end().len();
    loop {
        let line_start = text[..end].rfind('\n').map_or(0, |i| i + 1);
        match comment_start(&text[line_start..end]) {
            Some(i) => end = text[..line_start + i].trim_end().len(),
            None => return end,
        }
    }
}

/// Where a `//` comment starts in one line, outside string literals.
fn comment_start(line: &str) -> Option<usize> {
    let (mut in_string, mut escaped) = (false, false);
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return Some(i),
            _ => {}
        }
    }
    None
}
