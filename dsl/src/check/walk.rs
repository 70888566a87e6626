//! The expression walker: visits every node of an expression once, resolving names against a
//! [`Scope`] and recording what the expression reads in [`Uses`].

use super::context::{Cx, Uses};
use super::names::Index;
use super::scope::Scope;
use crate::ast::{Expr, ExprKind, Ident, StringPart};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::FileId;

/// Walks expressions of one place (see [`Scope`]).
pub(crate) struct Walker<'c, 's, 'a> {
    /// Diagnostics and the library.
    pub cx: &'c mut Cx<'a>,
    /// The project's global names.
    pub index: &'c Index<'s>,
    /// The file the expressions are in.
    pub file: FileId,
    /// What is in scope.
    pub scope: Scope<'s>,
    /// What the expressions read.
    pub uses: &'c mut Uses,
    /// Parameters of the lambdas around the current node, innermost last.
    pub lambdas: Vec<&'s str>,
    /// Set while walking a `for_each` list: its own loop variable (for a precise E0503).
    pub in_own_list: Option<&'s str>,
}

impl<'c, 's, 'a> Walker<'c, 's, 'a> {
    /// A walker for expressions at `scope`.
    pub fn new(
        cx: &'c mut Cx<'a>,
        index: &'c Index<'s>,
        file: FileId,
        scope: Scope<'s>,
        uses: &'c mut Uses,
    ) -> Self {
        Walker {
            cx,
            index,
            file,
            scope,
            uses,
            lambdas: Vec::new(),
            in_own_list: None,
        }
    }

    /// Reports a diagnostic.
    pub fn error(&mut self, diagnostic: Diagnostic) {
        self.cx.report(diagnostic);
    }

    /// Checks an expression.
    ///
    /// Long operator chains (`a + b + c + …`, `x.a.b.c…`) nest deeply on one side; the walk
    /// loops down that side instead of recursing, so the stack does not grow with them.
    pub fn expr(&mut self, mut e: &'s Expr) {
        loop {
            match &e.kind {
                ExprKind::Null
                | ExprKind::Bool(_)
                | ExprKind::Number(_)
                | ExprKind::Duration(_) => {}
                ExprKind::String(parts) => {
                    for part in parts {
                        if let StringPart::Interp(inner) = part {
                            self.expr(inner);
                        }
                    }
                }
                ExprKind::Array(items) => items.iter().for_each(|i| self.expr(i)),
                ExprKind::Object(entries) => {
                    entries.iter().for_each(|entry| self.expr(&entry.value))
                }
                ExprKind::Name(id) => {
                    self.resolve(id);
                }
                ExprKind::Field(base, field) => match &base.kind {
                    ExprKind::Name(id) => {
                        let resolved = self.resolve(id);
                        self.builtin_field(resolved, field);
                    }
                    _ => {
                        e = base;
                        continue;
                    }
                },
                ExprKind::Index(base, index) => {
                    self.expr(index);
                    e = base;
                    continue;
                }
                ExprKind::Call(call) => self.call(call),
                ExprKind::Unary(_, operand) => {
                    e = operand;
                    continue;
                }
                ExprKind::Binary(_, left, right) => {
                    self.expr(right);
                    e = left;
                    continue;
                }
                ExprKind::If(cond, then, other) => {
                    self.expr(cond);
                    self.expr(then);
                    e = other;
                    continue;
                }
                ExprKind::Lambda(params, body) => {
                    self.error(
                        Diagnostic::error(Code::MisplacedLambda, self.file, e.span, "a function (`x => …`) cannot stand here")
                            .with_label("not an argument of a function that takes one")
                            .with_hint("functions are only arguments of functions that call them, such as `map(xs, x => x.id)`"),
                    );
                    self.lambda_body(params, body);
                }
            }
            return;
        }
    }

    /// Checks a lambda's body with its parameters in scope.
    pub fn lambda_body(&mut self, params: &'s [Ident], body: &'s Expr) {
        let depth = self.lambdas.len();
        self.lambdas.extend(params.iter().map(|p| p.name.as_str()));
        self.expr(body);
        self.lambdas.truncate(depth);
    }
}
