//! Evaluating expressions against a [`Scope`].

use super::ops::{self, condition, type_name};
use super::{EvalError, EvalErrorKind, Host, Scope};
use crate::ast::{self, BinaryOp, Call, Expr, ExprKind, StringPart, UnaryOp};
use crate::catalog::{ArgValue, Library};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::collections::BTreeMap;

/// How deeply mappings and lambdas may call each other before evaluation stops with an error
/// (the checker rejects recursive mappings; this guards the stack regardless).
pub const MAX_CALL_DEPTH: u32 = 64;

/// A lambda argument, callable by the function it is passed to.
type LambdaFn<'s> = dyn Fn(&[Value]) -> Result<Value, EvalError> + 's;

/// A call's evaluated arguments, as the engine passes them to a step function.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvaluatedArgs {
    /// Positional arguments in order.
    pub positional: Vec<Value>,
    /// Named arguments.
    pub named: BTreeMap<String, Value>,
}

/// Evaluates expressions of one workflow: pure, deterministic given the scope and the host.
pub struct Evaluator<'a> {
    library: &'a dyn Library,
    host: &'a dyn Host,
    mappings: &'a BTreeMap<String, ast::Mapping>,
    depth: Cell<u32>,
}

impl<'a> Evaluator<'a> {
    /// An evaluator calling pure functions of `library`, reading `env`/`secret`/time from
    /// `host`, and calling the workflow's `mappings`.
    pub fn new(
        library: &'a dyn Library,
        host: &'a dyn Host,
        mappings: &'a BTreeMap<String, ast::Mapping>,
    ) -> Self {
        Evaluator {
            library,
            host,
            mappings,
            depth: Cell::new(0),
        }
    }

    /// The value of `expr` in `scope`.
    pub fn eval(&self, expr: &Expr, scope: &Scope) -> Result<Value, EvalError> {
        self.eval_inner(expr, scope).map_err(|e| e.at(expr.span))
    }

    /// `expr` as a condition (`when`, `expect`): a bool, with `null` counting as false.
    pub fn eval_condition(
        &self,
        expr: &Expr,
        scope: &Scope,
        what: &str,
    ) -> Result<bool, EvalError> {
        let v = self.eval(expr, scope)?;
        condition(&v, what).map_err(|e| e.at(expr.span))
    }

    /// Evaluates the arguments of a step's call. A bare connection name in first position is
    /// the caller's to resolve: pass `skip_first` to leave it out.
    pub fn eval_call_args(
        &self,
        call: &Call,
        scope: &Scope,
        skip_first: bool,
    ) -> Result<EvaluatedArgs, EvalError> {
        let mut out = EvaluatedArgs::default();
        let mut positional = 0;
        for arg in &call.args {
            match &arg.name {
                Some(name) => {
                    out.named
                        .insert(name.name.clone(), self.eval(&arg.value, scope)?);
                }
                None => {
                    if !(skip_first && positional == 0) {
                        out.positional.push(self.eval(&arg.value, scope)?);
                    }
                    positional += 1;
                }
            }
        }
        Ok(out)
    }

    fn eval_inner(&self, expr: &Expr, scope: &Scope) -> Result<Value, EvalError> {
        Ok(match &expr.kind {
            ExprKind::Null => Value::Null,
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Number(n) => Value::Number(n.clone()),
            ExprKind::Duration(ms) => Value::from(*ms),
            ExprKind::String(parts) => Value::String(self.interpolate(parts, scope)?),
            ExprKind::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|e| self.eval(e, scope))
                    .collect::<Result<_, _>>()?,
            ),
            ExprKind::Object(entries) => {
                let mut map = Map::new();
                for entry in entries {
                    map.insert(entry.key.clone(), self.eval(&entry.value, scope)?);
                }
                Value::Object(map)
            }
            ExprKind::Name(ident) => scope.get(&ident.name).cloned().ok_or_else(|| {
                EvalError::new(
                    EvalErrorKind::UnboundName,
                    format!("`{}` has no value here", ident.name),
                )
            })?,
            ExprKind::Field(base, field) => match self.eval(base, scope)? {
                Value::Object(mut map) => map.remove(&field.name).unwrap_or(Value::Null),
                Value::Null => Value::Null,
                other => {
                    return Err(EvalError::new(
                        EvalErrorKind::Type,
                        format!(
                            "cannot read field `{}` of {}",
                            field.name,
                            type_name(&other)
                        ),
                    ))
                }
            },
            ExprKind::Index(base, index) => {
                let base = self.eval(base, scope)?;
                let index = self.eval(index, scope)?;
                self.index(base, &index)?
            }
            ExprKind::Call(call) => self.call(call, scope)?,
            ExprKind::Unary(UnaryOp::Not, e) => {
                Value::Bool(!condition(&self.eval(e, scope)?, "the operand of `!`")?)
            }
            ExprKind::Unary(UnaryOp::Neg, e) => ops::negate(&self.eval(e, scope)?)?,
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, scope)?,
            ExprKind::If(c, a, b) => {
                if self.eval_condition(c, scope, "the condition of `if`")? {
                    self.eval(a, scope)?
                } else {
                    self.eval(b, scope)?
                }
            }
            ExprKind::Lambda(..) => {
                return Err(EvalError::new(
                    EvalErrorKind::Type,
                    "a lambda is only allowed as a function argument",
                ))
            }
        })
    }

    /// Indexing: arrays by integer (negative counts from the end), objects by string; out of
    /// range, a missing key, or a `null` base give `null`.
    fn index(&self, base: Value, index: &Value) -> Result<Value, EvalError> {
        match (base, index) {
            (Value::Null, _) => Ok(Value::Null),
            (Value::Array(mut items), Value::Number(n)) => {
                let Some(i) = n.as_i64() else {
                    return Err(EvalError::new(
                        EvalErrorKind::Type,
                        format!("array index must be an integer, got {n}"),
                    ));
                };
                let len = items.len() as i64;
                let i = if i < 0 { len + i } else { i };
                if (0..len).contains(&i) {
                    Ok(items.swap_remove(i as usize))
                } else {
                    Ok(Value::Null)
                }
            }
            (Value::Object(mut map), Value::String(k)) => Ok(map.remove(k).unwrap_or(Value::Null)),
            (base, index) => Err(EvalError::new(
                EvalErrorKind::Type,
                format!(
                    "cannot index {} with {}",
                    type_name(&base),
                    type_name(index)
                ),
            )),
        }
    }

    fn binary(&self, op: BinaryOp, a: &Expr, b: &Expr, scope: &Scope) -> Result<Value, EvalError> {
        match op {
            BinaryOp::Coalesce => match self.eval(a, scope)? {
                Value::Null => self.eval(b, scope),
                v => Ok(v),
            },
            BinaryOp::And => {
                if !self.eval_condition(a, scope, "the left side of `&&`")? {
                    return Ok(Value::Bool(false));
                }
                Ok(Value::Bool(self.eval_condition(
                    b,
                    scope,
                    "the right side of `&&`",
                )?))
            }
            BinaryOp::Or => {
                if self.eval_condition(a, scope, "the left side of `||`")? {
                    return Ok(Value::Bool(true));
                }
                Ok(Value::Bool(self.eval_condition(
                    b,
                    scope,
                    "the right side of `||`",
                )?))
            }
            _ => {
                let (x, y) = (self.eval(a, scope)?, self.eval(b, scope)?);
                ops::binary(op, &x, &y)
            }
        }
    }

    fn interpolate(&self, parts: &[StringPart], scope: &Scope) -> Result<String, EvalError> {
        let mut out = String::new();
        for part in parts {
            match part {
                StringPart::Text(t) => out.push_str(t),
                StringPart::Interp(e) => match self.eval(e, scope)? {
                    Value::Null => {
                        return Err(EvalError::new(
                            EvalErrorKind::NullInterpolation,
                            "a value interpolated into this string is null",
                        )
                        .at(e.span))
                    }
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(out)
    }

    fn call(&self, call: &Call, scope: &Scope) -> Result<Value, EvalError> {
        let name = call.name();
        match name.as_str() {
            "env" | "secret" => {
                let key = match call
                    .positional()
                    .next()
                    .map(|e| self.eval(e, scope))
                    .transpose()?
                {
                    Some(Value::String(k)) => k,
                    _ => {
                        return Err(EvalError::new(
                            EvalErrorKind::Type,
                            format!("{name}() takes a name"),
                        ))
                    }
                };
                let value = if name == "env" {
                    self.host.env(&key)
                } else {
                    self.host.secret(&key)
                };
                let what = if name == "env" {
                    "environment variable"
                } else {
                    "secret"
                };
                return value.map(Value::String).ok_or_else(|| {
                    EvalError::new(
                        EvalErrorKind::MissingVariable,
                        format!("the {what} `{key}` is not set"),
                    )
                });
            }
            // Only in a webhook's `dedupe` (the checker sees to that): the request's header,
            // read from `trigger.headers`, whose names are lower case; `null` when absent.
            "header" => {
                let key = match call
                    .positional()
                    .next()
                    .map(|e| self.eval(e, scope))
                    .transpose()?
                {
                    Some(Value::String(k)) => k.to_ascii_lowercase(),
                    _ => {
                        return Err(EvalError::new(
                            EvalErrorKind::Type,
                            "header() takes a header name",
                        ))
                    }
                };
                return Ok(scope
                    .get("trigger")
                    .and_then(|t| t.get("headers"))
                    .and_then(|h| h.get(&key))
                    .cloned()
                    .unwrap_or(Value::Null));
            }
            _ => {}
        }
        self.enter()?;
        let result = match self.mappings.get(&name) {
            Some(mapping) => self.call_mapping(mapping, call, scope),
            None => self.call_library(&name, call, scope),
        };
        self.depth.set(self.depth.get().saturating_sub(1));
        result
    }

    fn enter(&self) -> Result<(), EvalError> {
        let depth = self.depth.get() + 1;
        if depth > MAX_CALL_DEPTH {
            return Err(EvalError::new(
                EvalErrorKind::Function,
                "calls nest too deeply",
            ));
        }
        self.depth.set(depth);
        Ok(())
    }

    fn call_mapping(
        &self,
        mapping: &ast::Mapping,
        call: &Call,
        scope: &Scope,
    ) -> Result<Value, EvalError> {
        let args: Vec<&Expr> = call.positional().collect();
        if args.len() != mapping.params.len() {
            return Err(EvalError::new(
                EvalErrorKind::Function,
                format!(
                    "`{}` takes {} argument(s), got {}",
                    mapping.name.name,
                    mapping.params.len(),
                    args.len()
                ),
            ));
        }
        // A mapping sees only its parameters: a fresh root scope.
        let mut inner = Scope::new();
        for (param, arg) in mapping.params.iter().zip(args) {
            inner.set(param.name.clone(), self.eval(arg, scope)?);
        }
        self.eval(&mapping.body, &inner)
    }

    fn call_library(&self, name: &str, call: &Call, scope: &Scope) -> Result<Value, EvalError> {
        let lambdas: Vec<Option<Box<LambdaFn<'_>>>> = call
            .positional()
            .map(|arg| match &arg.kind {
                ExprKind::Lambda(params, body) => {
                    let f = move |values: &[Value]| {
                        let mut inner = Scope::child(scope);
                        for (p, v) in params.iter().zip(values) {
                            inner.set(p.name.clone(), v.clone());
                        }
                        self.eval(body, &inner)
                    };
                    Some(Box::new(f) as Box<LambdaFn<'_>>)
                }
                _ => None,
            })
            .collect();
        let mut args = Vec::with_capacity(lambdas.len());
        for (arg, lambda) in call.positional().zip(&lambdas) {
            args.push(match lambda {
                Some(f) => ArgValue::Lambda(f.as_ref()),
                None => ArgValue::Value(self.eval(arg, scope)?),
            });
        }
        self.library.call_pure(name, &args, self.host)
    }
}

#[cfg(test)]
mod tests;
