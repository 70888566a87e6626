//! Building expressions: operator precedence, postfix chains, calls, interpolated strings,
//! and the depth limit.

use super::{Builder, Built, MAX_EXPR_DEPTH};
use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::literal;
use crate::syntax::Rule;
use pest::iterators::Pair;

impl Builder {
    /// Refuses expression trees deeper than [`MAX_EXPR_DEPTH`]: long operator chains build deep
    /// trees, and every later walk of the tree (even dropping it) recurses through them.
    pub(super) fn guard_depth(&mut self, e: &Expr) -> Built<()> {
        if depth(e, MAX_EXPR_DEPTH) <= MAX_EXPR_DEPTH {
            return Some(());
        }
        self.diagnostics.push(
            Diagnostic::error(
                Code::Syntax,
                self.file,
                e.span,
                format!("this expression is more than {MAX_EXPR_DEPTH} operations deep"),
            )
            .with_label("too deep")
            .with_hint("split it into several steps or mappings"),
        );
        None
    }

    /// Builds an expression from an `expr` (or any expression-level) pair.
    pub fn expr(&mut self, pair: Pair<Rule>) -> Built<Expr> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::expr | Rule::paren => {
                let inner = self.next(&mut pair.into_inner(), span)?;
                let mut e = self.expr(inner)?;
                if matches!(e.kind, ExprKind::Binary(..) | ExprKind::Unary(..)) {
                    // Keep the parentheses in the span so labels cover what the user wrote.
                    e.span = e.span.to(span);
                }
                Some(e)
            }
            Rule::if_expr => {
                let mut parts = pair.into_inner();
                let c = self.next(&mut parts, span)?;
                let a = self.next(&mut parts, span)?;
                let b = self.next(&mut parts, span)?;
                let (c, a, b) = (self.expr(c)?, self.expr(a)?, self.expr(b)?);
                Some(Expr {
                    kind: ExprKind::If(Box::new(c), Box::new(a), Box::new(b)),
                    span,
                })
            }
            Rule::lambda => {
                let mut parts = pair.into_inner();
                let params = self.next(&mut parts, span)?;
                let params = params.into_inner().map(|p| self.ident(&p)).collect();
                let body = self.next(&mut parts, span)?;
                let body = self.expr(body)?;
                Some(Expr {
                    kind: ExprKind::Lambda(params, Box::new(body)),
                    span,
                })
            }
            Rule::binary => self.binary(pair),
            Rule::postfix_expr => self.postfix(pair),
            _ => self.primary(pair),
        }
    }

    /// Precedence climbing over the flat `prefix* operand (infix prefix* operand)*` sequence.
    pub(super) fn binary(&mut self, pair: Pair<Rule>) -> Built<Expr> {
        let mut items: Vec<Pair<Rule>> = pair.into_inner().collect();
        items.reverse();
        let first = self.unary_operand(&mut items)?;
        self.climb(first, 0, &mut items)
    }

    pub(super) fn unary_operand(&mut self, items: &mut Vec<Pair<Rule>>) -> Built<Expr> {
        let mut prefixes = Vec::new();
        while let Some(p) = items.last() {
            match p.as_rule() {
                Rule::not | Rule::neg => prefixes.push(items.pop()?),
                _ => break,
            }
        }
        let operand = items.pop()?;
        let mut e = self.expr(operand)?;
        for prefix in prefixes.into_iter().rev() {
            let span = self.span(&prefix).to(e.span);
            e = match (prefix.as_rule(), &e.kind) {
                // `-2.5` is a literal, not an operation on one.
                (Rule::neg, ExprKind::Number(n)) => {
                    let negated = negate(n);
                    match negated {
                        Some(n) => Expr {
                            kind: ExprKind::Number(n),
                            span,
                        },
                        None => Expr {
                            kind: ExprKind::Unary(UnaryOp::Neg, Box::new(e)),
                            span,
                        },
                    }
                }
                (Rule::neg, _) => Expr {
                    kind: ExprKind::Unary(UnaryOp::Neg, Box::new(e)),
                    span,
                },
                _ => Expr {
                    kind: ExprKind::Unary(UnaryOp::Not, Box::new(e)),
                    span,
                },
            };
            self.guard_depth(&e)?;
        }
        Some(e)
    }

    pub(super) fn climb(
        &mut self,
        mut lhs: Expr,
        min_prec: u8,
        items: &mut Vec<Pair<Rule>>,
    ) -> Built<Expr> {
        while let Some(op) = items.last().and_then(|p| binary_op(p.as_rule())) {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            items.pop();
            let mut rhs = self.unary_operand(items)?;
            while let Some(next) = items.last().and_then(|p| binary_op(p.as_rule())) {
                if next.precedence() > prec {
                    rhs = self.climb(rhs, prec + 1, items)?;
                } else {
                    break;
                }
            }
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
            self.guard_depth(&lhs)?;
        }
        Some(lhs)
    }

    pub(super) fn postfix(&mut self, pair: Pair<Rule>) -> Built<Expr> {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let first = self.next(&mut parts, span)?;
        let mut e = self.expr(first)?;
        for post in parts {
            let post_span = self.span(&post);
            let whole = e.span.to(post_span);
            e = match post.as_rule() {
                Rule::field => {
                    let name = self.next(&mut post.into_inner(), post_span)?;
                    Expr {
                        kind: ExprKind::Field(Box::new(e), self.ident(&name)),
                        span: whole,
                    }
                }
                _ => {
                    let index = self.next(&mut post.into_inner(), post_span)?;
                    let index = self.expr(index)?;
                    Expr {
                        kind: ExprKind::Index(Box::new(e), Box::new(index)),
                        span: whole,
                    }
                }
            };
            self.guard_depth(&e)?;
        }
        Some(e)
    }

    pub(super) fn primary(&mut self, pair: Pair<Rule>) -> Built<Expr> {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::duration => ExprKind::Duration(self.duration_millis(pair.as_str(), span)?),
            Rule::number => match literal::number(pair.as_str()) {
                Some(n) => ExprKind::Number(n),
                None => {
                    self.error(
                        Code::InvalidNumber,
                        span,
                        format!("invalid number `{}`", pair.as_str()),
                        "here",
                    );
                    return None;
                }
            },
            Rule::string => ExprKind::String(self.string_parts(pair)?),
            Rule::literal_kw => match pair.as_str() {
                "true" => ExprKind::Bool(true),
                "false" => ExprKind::Bool(false),
                _ => ExprKind::Null,
            },
            Rule::name => {
                let ident = self.next(&mut pair.into_inner(), span)?;
                ExprKind::Name(self.ident(&ident))
            }
            Rule::array => {
                let mut items = Vec::new();
                for p in pair.into_inner() {
                    items.push(self.expr(p)?);
                }
                ExprKind::Array(items)
            }
            Rule::object => {
                let mut entries = Vec::new();
                for entry in pair.into_inner() {
                    let entry_span = self.span(&entry);
                    let mut parts = entry.into_inner();
                    let key = self.next(&mut parts, entry_span)?;
                    let key_span = self.span(&key);
                    let key = if key.as_rule() == Rule::string {
                        self.str_opt_inner(key)?.value
                    } else {
                        key.as_str().to_string()
                    };
                    let value = self.next(&mut parts, entry_span)?;
                    entries.push(ObjectEntry {
                        key,
                        key_span,
                        value: self.expr(value)?,
                    });
                }
                ExprKind::Object(entries)
            }
            Rule::call => ExprKind::Call(self.call(pair)?),
            _ => return self.expr(pair),
        };
        Some(Expr { kind, span })
    }

    pub(super) fn call(&mut self, pair: Pair<Rule>) -> Built<Call> {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let path = self.next(&mut parts, span)?;
        let path: Vec<Ident> = path.into_inner().map(|p| self.ident(&p)).collect();
        let mut args: Vec<Arg> = Vec::new();
        let mut seen_named = false;
        for arg in parts {
            let arg_span = self.span(&arg);
            let inner: Vec<Pair<Rule>> = arg.into_inner().collect();
            let (name, value) = match inner.len() {
                2 => (Some(self.ident(&inner[0])), inner[1].clone()),
                _ => (None, inner.into_iter().next()?),
            };
            if name.is_some() {
                seen_named = true;
            } else if seen_named {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::Syntax,
                        self.file,
                        arg_span,
                        "positional argument after a named argument",
                    )
                    .with_label("positional argument")
                    .with_hint("put positional arguments first"),
                );
            }
            args.push(Arg {
                name,
                value: self.expr(value)?,
            });
        }
        Some(Call { path, args, span })
    }

    pub(super) fn string_parts(&mut self, pair: Pair<Rule>) -> Built<Vec<StringPart>> {
        let mut parts: Vec<StringPart> = Vec::new();
        let mut text = String::new();
        for piece in pair.into_inner() {
            match piece.as_rule() {
                Rule::str_text => text.push_str(piece.as_str()),
                Rule::escape => match literal::escape(piece.as_str()) {
                    Some(c) => text.push(c),
                    None => {
                        let span = self.span(&piece);
                        self.diagnostics.push(
                            Diagnostic::error(
                                Code::InvalidEscape,
                                self.file,
                                span,
                                format!("invalid escape `{}` in a string", piece.as_str()),
                            )
                            .with_label("unknown escape")
                            .with_hint(r#"valid escapes: \" \\ \n \r \t \$ \0 \u{…}"#),
                        );
                    }
                },
                _ => {
                    if !text.is_empty() {
                        parts.push(StringPart::Text(std::mem::take(&mut text)));
                    }
                    let span = self.span(&piece);
                    let e = self.next(&mut piece.into_inner(), span)?;
                    parts.push(StringPart::Interp(self.expr(e)?));
                }
            }
        }
        if !text.is_empty() || parts.is_empty() {
            parts.push(StringPart::Text(text));
        }
        Some(parts)
    }
}

/// The depth of an expression tree, counting no further than `limit`.
fn depth(e: &Expr, limit: usize) -> usize {
    if limit == 0 {
        return 1;
    }
    let below = match &e.kind {
        ExprKind::Field(b, _) | ExprKind::Unary(_, b) | ExprKind::Lambda(_, b) => {
            depth(b, limit - 1)
        }
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            depth(a, limit - 1).max(depth(b, limit - 1))
        }
        ExprKind::If(a, b, c) => depth(a, limit - 1)
            .max(depth(b, limit - 1))
            .max(depth(c, limit - 1)),
        ExprKind::Array(items) => items.iter().map(|i| depth(i, limit - 1)).max().unwrap_or(0),
        ExprKind::Object(entries) => entries
            .iter()
            .map(|en| depth(&en.value, limit - 1))
            .max()
            .unwrap_or(0),
        ExprKind::Call(c) => c
            .args
            .iter()
            .map(|a| depth(&a.value, limit - 1))
            .max()
            .unwrap_or(0),
        ExprKind::String(parts) => parts
            .iter()
            .map(|p| match p {
                StringPart::Interp(e) => depth(e, limit - 1),
                StringPart::Text(_) => 0,
            })
            .max()
            .unwrap_or(0),
        _ => 0,
    };
    below + 1
}

fn negate(n: &serde_json::Number) -> Option<serde_json::Number> {
    if let Some(u) = n.as_u64() {
        if u <= i64::MAX as u64 + 1 {
            return Some(serde_json::Number::from((u as i128).wrapping_neg() as i64));
        }
    }
    serde_json::Number::from_f64(-n.as_f64()?)
}

fn binary_op(rule: Rule) -> Option<BinaryOp> {
    Some(match rule {
        Rule::coalesce => BinaryOp::Coalesce,
        Rule::or => BinaryOp::Or,
        Rule::and => BinaryOp::And,
        Rule::eq => BinaryOp::Eq,
        Rule::ne => BinaryOp::Ne,
        Rule::lt => BinaryOp::Lt,
        Rule::le => BinaryOp::Le,
        Rule::gt => BinaryOp::Gt,
        Rule::ge => BinaryOp::Ge,
        Rule::add => BinaryOp::Add,
        Rule::sub => BinaryOp::Sub,
        Rule::mul => BinaryOp::Mul,
        Rule::div => BinaryOp::Div,
        Rule::rem => BinaryOp::Rem,
        _ => return None,
    })
}
