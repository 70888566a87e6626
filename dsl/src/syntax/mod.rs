//! Parsing `.braid` text into the syntax tree.
//!
//! pest stops at the first error, so a file is parsed one top-level item at a time: after a
//! syntax error the parser reports it and resumes at the next line that starts a `connection`,
//! `mapping` or `workflow`, so one broken workflow does not hide the rest of the file.

mod build;
pub use build::MAX_EXPR_DEPTH;
mod literal;
mod messages;

use crate::ast::Module;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};
use pest::Parser;
use pest_derive::Parser;

#[derive(Parser)]
#[grammar = "syntax/grammar.pest"]
struct BraidParser;

/// How deeply brackets, braces and interpolations may nest. Deeper input is refused with a
/// diagnostic instead of risking the parser's stack.
pub const MAX_NESTING: usize = 64;

/// Bounds the parser's work on pathological input so it can never hang.
const CALL_LIMIT: usize = 50_000_000;

/// Parses one file. Items with syntax errors are left out of the module; every error found is
/// returned as a diagnostic.
pub fn parse(file: FileId, text: &str) -> (Module, Vec<Diagnostic>) {
    let mut module = Module {
        file,
        items: Vec::new(),
    };
    let mut diagnostics = Vec::new();
    if let Some(d) = nesting_error(file, text) {
        diagnostics.push(d);
        return (module, diagnostics);
    }
    pest::set_call_limit(std::num::NonZeroUsize::new(CALL_LIMIT));
    let mut pos = skip_trivia(text, 0);
    while pos < text.len() {
        let rest = &text[pos..];
        match BraidParser::parse(Rule::item_at, rest) {
            Ok(mut pairs) => {
                let item_at = pairs.next();
                let item = item_at.and_then(|p| p.into_inner().next());
                let Some(item) = item else { break };
                let end = pos + item.as_span().end();
                let mut builder = build::Builder::new(file, pos);
                let built = builder.item(item);
                diagnostics.append(&mut builder.diagnostics);
                if let Some(item) = built {
                    module.items.push(item);
                }
                pos = skip_trivia(text, end);
            }
            Err(err) => {
                let err = detailed_error(rest).unwrap_or(err);
                let d = messages::syntax_error(file, text, pos, &err);
                let resume_from = d.span.end.max(pos + 1);
                diagnostics.push(d);
                pos = next_item_start(text, resume_from);
            }
        }
    }
    (module, diagnostics)
}

/// Re-parses a failing item with pest's error detail on, which lists the tokens it expected.
/// Detail tracking slows every parse several times over, so it is on only here; the lock keeps
/// one thread from turning it off while another is still reading it (pest's switch is global).
fn detailed_error(rest: &str) -> Option<pest::error::Error<Rule>> {
    static DETAIL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = DETAIL.lock().unwrap_or_else(|e| e.into_inner());
    pest::set_error_detail(true);
    let result = BraidParser::parse(Rule::item_at, rest).err();
    pest::set_error_detail(false);
    result
}

/// Skips whitespace and comments from `pos`.
fn skip_trivia(text: &str, mut pos: usize) -> usize {
    let bytes = text.as_bytes();
    while pos < bytes.len() {
        match bytes[pos] {
            b' ' | b'\t' | b'\r' | b'\n' => pos += 1,
            b'/' if bytes.get(pos + 1) == Some(&b'/') => {
                pos = text[pos..].find('\n').map_or(bytes.len(), |i| pos + i + 1);
            }
            _ if text[pos..].starts_with('\u{FEFF}') => pos += '\u{FEFF}'.len_utf8(),
            _ => break,
        }
    }
    pos
}

/// The start of the next line (at or after `from`) that begins, after indentation, with an item
/// keyword; or the end of the text.
fn next_item_start(text: &str, from: usize) -> usize {
    let mut line_start = match text[..from.min(text.len())].rfind('\n') {
        Some(i) => i + 1,
        None => 0,
    };
    // The line holding the error cannot be where parsing resumes.
    line_start = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i + 1);
    while line_start < text.len() {
        let line = &text[line_start..];
        let trimmed = line.trim_start_matches([' ', '\t']);
        let starts_item = ["connection", "mapping", "workflow"].iter().any(|kw| {
            trimmed
                .strip_prefix(kw)
                .is_some_and(|after| after.starts_with([' ', '\t']))
        });
        if starts_item {
            return line_start + (line.len() - trimmed.len());
        }
        line_start = line.find('\n').map_or(text.len(), |i| line_start + i + 1);
    }
    text.len()
}

/// Reports input nested deeper than [`MAX_NESTING`], at the token that goes too deep.
///
/// Brackets, braces, parentheses and `${` nest; so do `if … then … else` and lambdas, which
/// the grammar parses recursively without brackets (`if a then b else if …`, `x => y => …`).
/// An `if` or `=>` counts as one level until the next comma or the close of its bracket — an
/// upper bound on how deep the parser will recurse there.
fn nesting_error(file: FileId, text: &str) -> Option<Diagnostic> {
    #[derive(PartialEq)]
    enum Kind {
        Bracket,
        Str,
        Interp,
    }
    /// One open bracket (or string) and the `if`/`=>` levels opened inside it since its last comma.
    struct Frame {
        kind: Kind,
        inline: usize,
    }
    let mut stack: Vec<Frame> = vec![Frame {
        kind: Kind::Bracket,
        inline: 0,
    }];
    let depth = |stack: &[Frame]| stack.iter().map(|f| 1 + f.inline).sum::<usize>() - 1;
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let mut grew = false;
        if stack.last().is_some_and(|f| f.kind == Kind::Str) {
            match b {
                b'\\' => i += 1,
                b'"' => {
                    stack.pop();
                }
                b'$' if bytes.get(i + 1) == Some(&b'{') => {
                    stack.push(Frame {
                        kind: Kind::Interp,
                        inline: 0,
                    });
                    grew = true;
                    i += 1;
                }
                _ => {}
            }
        } else {
            match b {
                b'/' if bytes.get(i + 1) == Some(&b'/') => {
                    i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                }
                b'"' => {
                    stack.push(Frame {
                        kind: Kind::Str,
                        inline: 0,
                    });
                    grew = true;
                }
                b'(' | b'[' | b'{' => {
                    stack.push(Frame {
                        kind: Kind::Bracket,
                        inline: 0,
                    });
                    grew = true;
                }
                b')' | b']' | b'}' if stack.len() > 1 => {
                    stack.pop();
                }
                b',' => {
                    if let Some(f) = stack.last_mut() {
                        f.inline = 0;
                    }
                }
                b'=' if bytes.get(i + 1) == Some(&b'>') => {
                    if let Some(f) = stack.last_mut() {
                        f.inline += 1;
                    }
                    grew = true;
                    i += 1;
                }
                b'i' if bytes.get(i + 1) == Some(&b'f')
                    && !bytes.get(i + 2).is_some_and(|&c| is_word(c))
                    && (i == 0 || !is_word(bytes[i - 1])) =>
                {
                    if let Some(f) = stack.last_mut() {
                        f.inline += 1;
                    }
                    grew = true;
                }
                _ => {}
            }
        }
        if grew && depth(&stack) > MAX_NESTING {
            let span = Span::new(i, (i + 1).min(text.len()));
            return Some(
                Diagnostic::error(
                    Code::Syntax,
                    file,
                    span,
                    format!("expressions nest more than {MAX_NESTING} levels deep"),
                )
                .with_label("too deep")
                .with_hint("split the expression into steps or mappings"),
            );
        }
        // Top-level items start afresh: `if`s of different items are not nested.
        if stack.len() == 1 && b == b'\n' {
            stack[0].inline = 0;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests;
