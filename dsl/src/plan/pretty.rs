//! Expressions back to compact source text, for graph labels and messages.

use crate::ast::{BinaryOp, Call, Expr, ExprKind, StringPart, UnaryOp};

/// The expression as source text (normalised spacing, minimal parentheses).
pub fn expr(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, e, 0);
    out
}

/// The call as source text.
pub fn call(c: &Call) -> String {
    let mut out = String::new();
    write_call(&mut out, c);
    out
}

/// `text` cut to at most `max` characters, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A duration in the largest unit that divides it: `5m`, `250ms`.
pub fn duration(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (size, unit) in UNITS {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Binding strength, loosest first (`if` is 1, postfix operators 10).
fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::If(..) | ExprKind::Lambda(..) => 1,
        ExprKind::Binary(op, ..) => binary_precedence(*op),
        ExprKind::Unary(..) => 9,
        _ => 10,
    }
}

/// A binary operator's strength on this scale: one above the parser's, `if` and lambdas
/// binding more loosely than any operator.
fn binary_precedence(op: BinaryOp) -> u8 {
    op.precedence() + 1
}

/// Writes `e`, in parentheses if it binds more loosely than `min`.
fn write_expr(out: &mut String, e: &Expr, min: u8) {
    let own = precedence(e);
    let paren = own < min;
    if paren {
        out.push('(');
    }
    match &e.kind {
        ExprKind::Null => out.push_str("null"),
        ExprKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ExprKind::Number(n) => out.push_str(&n.to_string()),
        ExprKind::Duration(ms) => out.push_str(&duration(*ms)),
        ExprKind::String(parts) => write_string(out, parts),
        ExprKind::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, item, 0);
            }
            out.push(']');
        }
        ExprKind::Object(entries) => {
            if entries.is_empty() {
                out.push_str("{}");
            } else {
                out.push_str("{ ");
                for (i, entry) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if is_identifier(&entry.key) {
                        out.push_str(&entry.key);
                    } else {
                        write_string(out, &[StringPart::Text(entry.key.clone())]);
                    }
                    out.push_str(": ");
                    write_expr(out, &entry.value, 0);
                }
                out.push_str(" }");
            }
        }
        ExprKind::Name(id) => out.push_str(&id.name),
        ExprKind::Field(base, field) => {
            write_expr(out, base, 10);
            out.push('.');
            out.push_str(&field.name);
        }
        ExprKind::Index(base, index) => {
            write_expr(out, base, 10);
            out.push('[');
            write_expr(out, index, 0);
            out.push(']');
        }
        ExprKind::Call(c) => write_call(out, c),
        ExprKind::Unary(op, operand) => {
            out.push(match op {
                UnaryOp::Not => '!',
                UnaryOp::Neg => '-',
            });
            write_expr(out, operand, 9);
        }
        ExprKind::Binary(op, left, right) => {
            let p = binary_precedence(*op);
            // Left-associative: the right operand needs parentheses at equal strength.
            write_expr(out, left, p);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            write_expr(out, right, p + 1);
        }
        ExprKind::If(c, a, b) => {
            out.push_str("if ");
            write_expr(out, c, 2);
            out.push_str(" then ");
            write_expr(out, a, 2);
            out.push_str(" else ");
            write_expr(out, b, 1);
        }
        ExprKind::Lambda(params, body) => {
            if params.len() == 1 {
                out.push_str(&params[0].name);
            } else {
                out.push('(');
                out.push_str(
                    &params
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                out.push(')');
            }
            out.push_str(" => ");
            write_expr(out, body, 1);
        }
    }
    if paren {
        out.push(')');
    }
}

fn write_call(out: &mut String, c: &Call) {
    out.push_str(&c.name());
    out.push('(');
    for (i, arg) in c.args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if let Some(name) = &arg.name {
            out.push_str(&name.name);
            out.push_str(": ");
        }
        write_expr(out, &arg.value, 0);
    }
    out.push(')');
}

fn write_string(out: &mut String, parts: &[StringPart]) {
    out.push('"');
    for part in parts {
        match part {
            StringPart::Text(text) => {
                for ch in text.chars() {
                    match ch {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '$' => out.push_str("\\$"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c => out.push(c),
                    }
                }
            }
            StringPart::Interp(e) => {
                out.push_str("${");
                write_expr(out, e, 0);
                out.push('}');
            }
        }
    }
    out.push('"');
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Ident, ObjectEntry};
    use crate::span::Span;

    fn e(kind: ExprKind) -> Expr {
        Expr {
            kind,
            span: Span::default(),
        }
    }
    fn name(n: &str) -> Expr {
        e(ExprKind::Name(Ident {
            name: n.into(),
            span: Span::default(),
        }))
    }
    fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
        e(ExprKind::Binary(op, Box::new(a), Box::new(b)))
    }

    #[test]
    fn parenthesises_only_where_needed() {
        let sum = bin(BinaryOp::Add, name("a"), name("b"));
        assert_eq!(
            expr(&bin(BinaryOp::Mul, sum.clone(), name("c"))),
            "(a + b) * c"
        );
        assert_eq!(
            expr(&bin(
                BinaryOp::Add,
                name("c"),
                bin(BinaryOp::Mul, name("a"), name("b"))
            )),
            "c + a * b"
        );
        assert_eq!(expr(&bin(BinaryOp::Sub, name("c"), sum)), "c - (a + b)");
        let not = e(ExprKind::Unary(
            UnaryOp::Not,
            Box::new(e(ExprKind::Field(
                Box::new(name("v")),
                Ident {
                    name: "ok".into(),
                    span: Span::default(),
                },
            ))),
        ));
        assert_eq!(expr(&not), "!v.ok");
    }

    #[test]
    fn strings_objects_and_durations() {
        let s = e(ExprKind::String(vec![
            StringPart::Text("/deals/".into()),
            StringPart::Interp(name("id")),
            StringPart::Text("\"$".into()),
        ]));
        assert_eq!(expr(&s), r#""/deals/${id}\"\$""#);
        let o = e(ExprKind::Object(vec![
            ObjectEntry {
                key: "a".into(),
                key_span: Span::default(),
                value: e(ExprKind::Duration(300_000)),
            },
            ObjectEntry {
                key: "b c".into(),
                key_span: Span::default(),
                value: e(ExprKind::Duration(250)),
            },
        ]));
        assert_eq!(expr(&o), r#"{ a: 5m, "b c": 250ms }"#);
        assert_eq!(duration(90_000), "90s");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
