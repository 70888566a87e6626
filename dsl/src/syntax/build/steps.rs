//! Building steps and their options (retry, backoff, timeouts and the small forms).

use super::{Builder, Built};
use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::syntax::literal::{self, DurationError};
use crate::syntax::Rule;
use pest::iterators::Pair;

impl Builder {
    pub(super) fn step(&mut self, pair: Pair<Rule>) -> Built<Step> {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let name = self.next(&mut parts, span)?;
        let name = self.ident(&name);
        let call = self.next(&mut parts, span)?;
        let call = self.step_call(call, "a step")?;
        let options = match parts.next() {
            Some(opts) => self.step_options(opts)?,
            None => Vec::new(),
        };
        Some(Step {
            name,
            call,
            options,
            span,
        })
    }

    /// A step's (or compensation's) right-hand side, which must be a call.
    pub(super) fn step_call(&mut self, pair: Pair<Rule>, what: &str) -> Built<Call> {
        let expr = self.expr(pair)?;
        match expr.kind {
            ExprKind::Call(call) => Some(call),
            _ => {
                self.diagnostics.push(
                    Diagnostic::error(Code::Syntax, self.file, expr.span, format!("{what} must be a call"))
                        .with_label("not a call")
                        .with_hint("call a step function such as `http.post(…)`, or wrap a value in `transform(…)`"),
                );
                None
            }
        }
    }

    pub(super) fn step_options(&mut self, pair: Pair<Rule>) -> Built<Vec<Spanned<StepOption>>> {
        let mut options = Vec::new();
        for opt in pair.into_inner() {
            let s = self.span(&opt);
            let node = match opt.as_rule() {
                Rule::after => {
                    StepOption::After(opt.into_inner().map(|p| self.ident(&p)).collect())
                }
                Rule::when => StepOption::When(self.only_expr(opt)?),
                Rule::for_each => {
                    let mut parts = opt.into_inner();
                    let var = self.next(&mut parts, s)?;
                    let var = self.ident(&var);
                    let list = self.next(&mut parts, s)?;
                    StepOption::ForEach {
                        var,
                        list: self.expr(list)?,
                    }
                }
                Rule::concurrency => {
                    let c = self.next(&mut opt.into_inner(), s)?;
                    StepOption::Concurrency(self.count(c))
                }
                Rule::retry => StepOption::Retry(self.retry(opt)?),
                Rule::timeout => StepOption::Timeout(self.timeout(opt)?),
                Rule::idempotency_key => StepOption::IdempotencyKey(self.only_expr(opt)?),
                Rule::expect => StepOption::Expect(self.only_expr(opt)?),
                Rule::compensate => {
                    let mut parts = opt.into_inner();
                    let call = self.next(&mut parts, s)?;
                    let call = self.step_call(call, "a compensation")?;
                    let options = match parts.next() {
                        Some(o) => self.step_options(o)?,
                        None => Vec::new(),
                    };
                    StepOption::Compensate(Box::new(Compensate { call, options }))
                }
                Rule::on_error => StepOption::OnError(self.only_ident(opt)?),
                _ => StepOption::Unknown(self.unknown(opt)?),
            };
            options.push(Spanned { node, span: s });
        }
        Some(options)
    }

    pub(super) fn retry(&mut self, pair: Pair<Rule>) -> Built<RetryBlock> {
        let span = self.span(&pair);
        let mut options = Vec::new();
        for opt in pair.into_inner() {
            let s = self.span(&opt);
            let node = match opt.as_rule() {
                Rule::attempts => {
                    let c = self.next(&mut opt.into_inner(), s)?;
                    RetryOption::Attempts(self.count(c))
                }
                Rule::backoff => RetryOption::Backoff(self.backoff(opt)?),
                Rule::jitter => RetryOption::Jitter(self.only_ident(opt)?),
                Rule::on_classes => {
                    let mut classes = Vec::new();
                    for class in opt.into_inner() {
                        let cs = self.span(&class);
                        let Some(tok) = class.into_inner().next() else {
                            continue;
                        };
                        let text = tok.as_str();
                        let node = match tok.as_rule() {
                            Rule::status_range => ErrorClassLit::Range(
                                text.as_bytes().first().map_or(0, |b| b - b'0'),
                            ),
                            Rule::int_lit => match text.parse::<u16>() {
                                Ok(status) => ErrorClassLit::Status(status),
                                Err(_) => ErrorClassLit::Status(u16::MAX),
                            },
                            _ => ErrorClassLit::Named(text.to_string()),
                        };
                        classes.push(Spanned { node, span: cs });
                    }
                    RetryOption::On(classes)
                }
                _ => RetryOption::Unknown(self.unknown(opt)?),
            };
            options.push(Spanned { node, span: s });
        }
        Some(RetryBlock { options, span })
    }

    pub(super) fn backoff(&mut self, pair: Pair<Rule>) -> Built<Backoff> {
        let span = self.span(&pair);
        let form = self.next(&mut pair.into_inner(), span)?;
        let form_span = self.span(&form);
        match form.as_rule() {
            Rule::fixed => {
                let d = self.next(&mut form.into_inner(), form_span)?;
                Some(Backoff::Fixed(self.duration_lit(d)?))
            }
            Rule::exponential => {
                let (mut initial, mut factor, mut max) = (None, None, None);
                for arg in form.into_inner() {
                    let arg_span = self.span(&arg);
                    let mut parts = arg.into_inner();
                    let name = self.next(&mut parts, arg_span)?;
                    let value = self.next(&mut parts, arg_span)?;
                    let value_span = self.span(&value);
                    match (name.as_str(), value.as_rule()) {
                        ("initial", Rule::duration) => initial = self.duration_lit(value),
                        ("max", Rule::duration) => max = self.duration_lit(value),
                        ("factor", Rule::number) => {
                            let f = value.as_str().parse::<f64>().unwrap_or(f64::NAN);
                            factor = Some(Spanned {
                                node: f,
                                span: value_span,
                            });
                        }
                        ("initial" | "max", _) => self.error(
                            Code::TypeMismatch,
                            value_span,
                            format!("`{}` must be a duration", name.as_str()),
                            "expected a duration such as `1s`",
                        ),
                        ("factor", _) => self.error(
                            Code::TypeMismatch,
                            value_span,
                            "`factor` must be a number",
                            "expected a number such as `2`",
                        ),
                        (other, _) => {
                            let hint = crate::diagnostic::did_you_mean(
                                other,
                                ["initial", "factor", "max"],
                            );
                            let mut d = Diagnostic::error(
                                Code::UnknownArgument,
                                self.file,
                                self.span(&name),
                                format!("`exponential` has no argument `{other}`"),
                            )
                            .with_label("unknown argument");
                            d = d.with_hint(match hint {
                                Some(h) => format!("did you mean `{h}`?"),
                                None => {
                                    "its arguments are `initial`, `factor` and `max`".to_string()
                                }
                            });
                            self.diagnostics.push(d);
                        }
                    }
                }
                Some(Backoff::Exponential {
                    initial,
                    factor,
                    max,
                })
            }
            _ => {
                let name = self.next(&mut form.into_inner(), form_span)?;
                Some(Backoff::Unknown(self.ident(&name)))
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Small option forms

    pub(super) fn unknown(&mut self, pair: Pair<Rule>) -> Built<Ident> {
        let span = self.span(&pair);
        let name = self.next(&mut pair.into_inner(), span)?;
        Some(self.ident(&name))
    }

    pub(super) fn only_expr(&mut self, pair: Pair<Rule>) -> Built<Expr> {
        let span = self.span(&pair);
        let e = self.next(&mut pair.into_inner(), span)?;
        self.expr(e)
    }

    pub(super) fn only_ident(&mut self, pair: Pair<Rule>) -> Built<Ident> {
        let span = self.span(&pair);
        let i = self.next(&mut pair.into_inner(), span)?;
        Some(self.ident(&i))
    }

    pub(super) fn timeout(&mut self, pair: Pair<Rule>) -> Built<DurationLit> {
        let span = self.span(&pair);
        let dur_opt = self.next(&mut pair.into_inner(), span)?;
        let d = self.next(&mut dur_opt.into_inner(), span)?;
        self.duration_lit(d)
    }

    pub(super) fn count(&mut self, pair: Pair<Rule>) -> Spanned<u64> {
        let span = self.span(&pair);
        let node = match pair.as_str().parse::<u64>() {
            Ok(n) => n,
            Err(_) => {
                self.error(
                    Code::InvalidNumber,
                    span,
                    "this count is too large",
                    "does not fit in 64 bits",
                );
                u64::MAX
            }
        };
        Spanned { node, span }
    }

    pub(super) fn duration_lit(&mut self, pair: Pair<Rule>) -> Built<DurationLit> {
        let span = self.span(&pair);
        let millis = self.duration_millis(pair.as_str(), span)?;
        Some(DurationLit { millis, span })
    }

    pub(super) fn duration_millis(&mut self, token: &str, span: Span) -> Built<u64> {
        match literal::duration_millis(token) {
            Ok(ms) => Some(ms),
            Err(DurationError::Unit(unit)) => {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::InvalidDuration,
                        self.file,
                        span,
                        format!("invalid duration `{token}`: unknown unit `{unit}`"),
                    )
                    .with_label("not a duration")
                    .with_hint(
                        "durations are a whole number and a unit: `250ms`, `30s`, `5m`, `2h`, `7d`",
                    ),
                );
                None
            }
            Err(DurationError::Overflow) => {
                self.error(
                    Code::InvalidDuration,
                    span,
                    format!("duration `{token}` is too long"),
                    "does not fit in 64-bit milliseconds",
                );
                None
            }
        }
    }

    /// A `str_opt` pair: a string literal without interpolation.
    pub(super) fn str_opt(&mut self, pair: Pair<Rule>) -> Built<StringLit> {
        let span = self.span(&pair);
        let inner = self.next(&mut pair.into_inner(), span)?;
        self.str_opt_inner(inner)
    }

    pub(super) fn str_opt_inner(&mut self, pair: Pair<Rule>) -> Built<StringLit> {
        let pair = if pair.as_rule() == Rule::str_opt {
            let span = self.span(&pair);
            self.next(&mut pair.into_inner(), span)?
        } else {
            pair
        };
        let span = self.span(&pair);
        let parts = self.string_parts(pair)?;
        let mut value = String::new();
        for part in parts {
            match part {
                StringPart::Text(t) => value.push_str(&t),
                StringPart::Interp(e) => {
                    self.error(
                        Code::Syntax,
                        e.span,
                        "interpolation is not allowed in this string",
                        "`${…}` here",
                    );
                    return None;
                }
            }
        }
        Some(StringLit { value, span })
    }
}
