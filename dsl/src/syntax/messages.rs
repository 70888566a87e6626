//! Turning pest's errors into diagnostics a person can act on: "expected `}` or a step option,
//! found `foo`", pointing at the offending token.

use super::Rule;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};
use pest::error::{Error, ErrorVariant, InputLocation};
use std::collections::BTreeSet;

/// Characters that start an expression: when pest expected these, it expected an expression.
const EXPRESSION_STARTS: &[&str] = &["(", "[", "{", "\"", "!", "-", "true", "false", "null", "if"];

/// Tokens that would only continue what came before (operators, field access, identifier
/// characters) or are trivia: never the fix a person is looking for, so never listed.
const NOT_WORTH_LISTING: &[&str] = &[
    "!=", "%", "&&", "*", "+", "-", "/", "<", "<=", "==", ">", ">=", "??", "||", ".", "[", "=>",
    "//", "_", "xx", "${", "u{", "\\", "e", "E",
];

/// Builds the diagnostic for a parse of `text[offset..]` that failed with `err`.
pub fn syntax_error(file: FileId, text: &str, offset: usize, err: &Error<Rule>) -> Diagnostic {
    let at = offset
        + match err.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
    let at = at.min(text.len());
    let (found, span) = found_token(text, at);
    let expected = expected_list(err);
    let message = match expected.is_empty() {
        true => format!("unexpected {found}"),
        false => format!("expected {}, found {found}", join_or(&expected)),
    };
    let label = if found == "end of file" {
        "the file ends here"
    } else {
        "unexpected here"
    };
    let mut d = Diagnostic::error(Code::Syntax, file, span, message).with_label(label);
    if found == "end of file" && expected.iter().any(|e| e == "`}`") {
        d = d.with_hint("a `{` is not closed");
    }
    d
}

/// What stands at `at`, described for a message, and its span.
fn found_token(text: &str, at: usize) -> (String, Span) {
    let rest = &text[at..];
    let Some(first) = rest.chars().next() else {
        return ("end of file".to_string(), Span::new(text.len(), text.len()));
    };
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let len = if is_word(first) {
        rest.find(|c: char| !is_word(c)).unwrap_or(rest.len())
    } else if first == '"' {
        return ("a string".to_string(), Span::new(at, at + string_len(rest)));
    } else {
        first.len_utf8()
    };
    let token = &rest[..len];
    let shown = if token.chars().count() > 30 {
        "…"
    } else {
        token
    };
    (format!("`{shown}`"), Span::new(at, at + len))
}

/// The byte length of the string literal `rest` starts with (up to the line's end if unclosed).
fn string_len(rest: &str) -> usize {
    let mut escaped = false;
    for (i, c) in rest.char_indices().skip(1) {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return i + 1,
            '\n' => return i,
            _ => escaped = false,
        }
    }
    rest.len()
}

fn expected_list(err: &Error<Rule>) -> Vec<String> {
    let mut out: BTreeSet<(u8, String)> = BTreeSet::new();
    if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
        for rule in positives {
            if let Some(name) = rule_name(*rule) {
                out.insert(name);
            }
        }
    }
    let tokens: Vec<String> = err
        .parse_attempts()
        .map(|a| {
            a.expected_tokens()
                .into_iter()
                .map(|t| t.to_string())
                // Character ranges (`a..z`) and built-in rules are not tokens a person types.
                .filter(|t| {
                    !t.is_empty()
                        && t != "BUILTIN_RULE"
                        && !(t.chars().count() == 4 && t.contains(".."))
                })
                .collect()
        })
        .unwrap_or_default();
    // Only a string quote or a literal keyword proves pest wanted a new expression here; `(`, `[`,
    // `-` and `{` also continue one.
    let expression = tokens.iter().any(|t| t == "\"")
        && tokens
            .iter()
            .any(|t| matches!(t.as_str(), "true" | "null" | "if"));
    if expression {
        out.insert((1, "an expression".to_string()));
    }
    for token in tokens {
        if expression && EXPRESSION_STARTS.contains(&token.as_str()) {
            continue;
        }
        // Closing tokens first: they are the most common fix.
        let rank = match token.as_str() {
            "}" | ")" | "]" => 0,
            _ if token.chars().all(|c| c.is_alphanumeric() || c == '_') => 3,
            _ => 2,
        };
        if token.trim().is_empty()
            || token == "\u{FEFF}"
            || NOT_WORTH_LISTING.contains(&token.as_str())
        {
            continue;
        }
        out.insert((rank, format!("`{token}`")));
    }
    let mut list: Vec<String> = out.into_iter().map(|(_, s)| s).collect();
    list.dedup();
    // A keyword already named inside a description ("`connection`, `mapping` or `workflow`").
    let all = list.clone();
    list.retain(|item| {
        !all.iter()
            .any(|other| other != item && other.contains(item.as_str()))
    });
    if list.len() > 10 {
        list.truncate(9);
        list.push("…".to_string());
    }
    list
}

/// A readable name for a grammar rule, with a sort rank; `None` for rules never worth naming.
fn rule_name(rule: Rule) -> Option<(u8, String)> {
    let name = match rule {
        Rule::expr | Rule::binary | Rule::postfix_expr => "an expression",
        Rule::ident | Rule::name | Rule::path => "a name",
        Rule::string | Rule::str_opt => "a string",
        Rule::duration | Rule::dur_opt => "a duration such as `30s`",
        Rule::int_lit | Rule::count => "a whole number",
        Rule::number => "a number",
        Rule::unknown_opt => "an option",
        Rule::item_at | Rule::connection | Rule::mapping | Rule::workflow => {
            "`connection`, `mapping` or `workflow`"
        }
        Rule::class => "an error class",
        _ => return None,
    };
    Some((1, name.to_string()))
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
