//! Turning pest's parse tree into the syntax tree (`crate::ast`), with literal checks.

use super::literal::{self, DurationError};
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

    // -----------------------------------------------------------------------------------------
    // Connections and mappings

    fn connection(&mut self, pair: Pair<Rule>) -> Built<Connection> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.next(&mut inner, span)?;
        let name = self.ident(&name);
        let mut options = Vec::new();
        for opt in inner {
            let opt_span = self.span(&opt);
            let node = match opt.as_rule() {
                Rule::base_url => ConnectionOption::BaseUrl(self.only_expr(opt)?),
                Rule::auth => ConnectionOption::Auth(self.auth(opt)?),
                Rule::headers => ConnectionOption::Headers(self.only_expr(opt)?),
                Rule::rate_limit => {
                    let mut parts = opt.into_inner();
                    let count = self.next(&mut parts, opt_span)?;
                    let count = self.count(count);
                    let per = self.next(&mut parts, opt_span)?;
                    let per_span = self.span(&per);
                    let period = match per.as_str() {
                        "second" => RatePeriod::Second,
                        "minute" => RatePeriod::Minute,
                        "hour" => RatePeriod::Hour,
                        other => {
                            self.diagnostics.push(
                                Diagnostic::error(
                                    Code::InvalidOptionValue,
                                    self.file,
                                    per_span,
                                    format!("invalid rate period `{other}`"),
                                )
                                .with_label("not a period")
                                .with_hint("use `second`, `minute` or `hour`"),
                            );
                            continue;
                        }
                    };
                    ConnectionOption::RateLimit {
                        count,
                        per: Spanned {
                            node: period,
                            span: per_span,
                        },
                    }
                }
                Rule::timeout => ConnectionOption::Timeout(self.timeout(opt)?),
                Rule::retry => ConnectionOption::Retry(self.retry(opt)?),
                Rule::unknown_opt => ConnectionOption::Unknown(self.unknown(opt)?),
                _ => continue,
            };
            options.push(Spanned {
                node,
                span: opt_span,
            });
        }
        Some(Connection {
            name,
            options,
            span,
        })
    }

    fn auth(&mut self, pair: Pair<Rule>) -> Built<Auth> {
        let span = self.span(&pair);
        let form = self.next(&mut pair.into_inner(), span)?;
        let form_span = self.span(&form);
        match form.as_rule() {
            Rule::auth_bearer => Some(Auth::Bearer {
                token: self.only_expr(form)?,
            }),
            Rule::auth_basic => {
                let mut parts = form.into_inner();
                let user = self.next(&mut parts, form_span)?;
                let password = self.next(&mut parts, form_span)?;
                Some(Auth::Basic {
                    user: self.expr(user)?,
                    password: self.expr(password)?,
                })
            }
            _ => {
                let mut parts = form.into_inner();
                let kind = self.next(&mut parts, form_span)?;
                let kind = self.ident(&kind);
                let mut fields = Vec::new();
                for field in parts {
                    let field_span = self.span(&field);
                    let mut fp = field.into_inner();
                    let name = self.next(&mut fp, field_span)?;
                    let name = self.ident(&name);
                    let value = self.next(&mut fp, field_span)?;
                    fields.push(AuthField {
                        name,
                        value: self.expr(value)?,
                    });
                }
                match kind.name.as_str() {
                    "api_key" => Some(Auth::ApiKey { fields }),
                    "oauth2_client_credentials" => Some(Auth::OAuth2ClientCredentials { fields }),
                    "oauth2_refresh_token" => Some(Auth::OAuth2RefreshToken { fields }),
                    other => {
                        let hint = crate::diagnostic::did_you_mean(
                            other,
                            [
                                "bearer",
                                "basic",
                                "api_key",
                                "oauth2_client_credentials",
                                "oauth2_refresh_token",
                            ],
                        );
                        let mut d = Diagnostic::error(
                            Code::InvalidOptionValue,
                            self.file,
                            kind.span,
                            format!("unknown auth form `{other}`"),
                        )
                        .with_label("not an auth form");
                        d = d.with_hint(match hint {
                            Some(h) => format!("did you mean `{h}`?"),
                            None => "use bearer(…), basic(…, …), api_key {…}, oauth2_client_credentials {…} or oauth2_refresh_token {…}".into(),
                        });
                        self.diagnostics.push(d);
                        None
                    }
                }
            }
        }
    }

    fn mapping(&mut self, pair: Pair<Rule>) -> Built<Mapping> {
        let span = self.span(&pair);
        let mut parts: Vec<Pair<Rule>> = pair.into_inner().collect();
        let body = parts.pop()?;
        let body = self.expr(body)?;
        let mut idents = parts.iter().map(|p| self.ident(p));
        let name = idents.next()?;
        Some(Mapping {
            name,
            params: idents.collect(),
            body,
            span,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Workflows

    fn workflow(&mut self, pair: Pair<Rule>) -> Built<Workflow> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.next(&mut inner, span)?;
        let name = self.ident(&name);
        let mut items = Vec::new();
        for item in inner {
            let item_span = self.span(&item);
            let node = match item.as_rule() {
                Rule::description => WorkflowItem::Description(self.str_opt(item)?),
                Rule::input => WorkflowItem::Input(self.input(item)?),
                Rule::trigger => WorkflowItem::Trigger(self.trigger(item)?),
                Rule::defaults => {
                    let mut opts = Vec::new();
                    for opt in item.into_inner() {
                        let s = self.span(&opt);
                        let node = match opt.as_rule() {
                            Rule::retry => DefaultsOption::Retry(self.retry(opt)?),
                            Rule::timeout => DefaultsOption::Timeout(self.timeout(opt)?),
                            _ => DefaultsOption::Unknown(self.unknown(opt)?),
                        };
                        opts.push(Spanned { node, span: s });
                    }
                    WorkflowItem::Defaults(opts)
                }
                Rule::step => WorkflowItem::Step(self.step(item)?),
                Rule::output => WorkflowItem::Output(self.only_expr(item)?),
                Rule::on_failure => {
                    let mut steps = Vec::new();
                    for s in item.into_inner() {
                        if let Some(step) = self.step(s) {
                            steps.push(step);
                        }
                    }
                    WorkflowItem::OnFailure(steps)
                }
                Rule::unknown_opt => WorkflowItem::Unknown(self.unknown(item)?),
                _ => continue,
            };
            items.push(Spanned {
                node,
                span: item_span,
            });
        }
        Some(Workflow { name, items, span })
    }

    fn input(&mut self, pair: Pair<Rule>) -> Built<Vec<InputField>> {
        let mut fields = Vec::new();
        for field in pair.into_inner() {
            let span = self.span(&field);
            let mut parts = field.into_inner();
            let name = self.next(&mut parts, span)?;
            let name = self.ident(&name);
            let ty = self.next(&mut parts, span)?;
            let ty = self.ident(&ty);
            let mut optional = false;
            let mut default = None;
            for rest in parts {
                match rest.as_rule() {
                    Rule::optional => optional = true,
                    _ => default = Some(self.expr(rest)?),
                }
            }
            fields.push(InputField {
                name,
                ty,
                optional,
                default,
                span,
            });
        }
        Some(fields)
    }

    fn trigger(&mut self, pair: Pair<Rule>) -> Built<Trigger> {
        let span = self.span(&pair);
        let form = self.next(&mut pair.into_inner(), span)?;
        let form_span = self.span(&form);
        let is_cron = form.as_rule() == Rule::cron;
        let mut parts = form.into_inner();
        let first = self.next(&mut parts, form_span)?;
        let head = self.str_opt_inner(first)?;
        if is_cron {
            let mut options = Vec::new();
            for opt in parts {
                let s = self.span(&opt);
                let node = match opt.as_rule() {
                    Rule::timezone => CronOption::Timezone(self.str_opt(opt)?),
                    Rule::overlap => CronOption::Overlap(self.only_ident(opt)?),
                    Rule::catchup => CronOption::Catchup(self.only_ident(opt)?),
                    Rule::cron_input => CronOption::Input(self.only_expr(opt)?),
                    _ => CronOption::Unknown(self.unknown(opt)?),
                };
                options.push(Spanned { node, span: s });
            }
            Some(Trigger::Cron(CronTrigger {
                schedule: head,
                options,
            }))
        } else {
            let mut options = Vec::new();
            for opt in parts {
                let s = self.span(&opt);
                let node = match opt.as_rule() {
                    Rule::method => WebhookOption::Method(self.only_ident(opt)?),
                    Rule::verify => WebhookOption::Verify(self.verify(opt)?),
                    Rule::dedupe => WebhookOption::Dedupe(self.only_expr(opt)?),
                    Rule::respond => {
                        let r = self.next(&mut opt.into_inner(), s)?;
                        match r.as_rule() {
                            Rule::respond_sync => {
                                let d = self.next(&mut r.into_inner(), s)?;
                                WebhookOption::Respond(Respond::Sync(self.duration_lit(d)?))
                            }
                            _ => WebhookOption::Respond(Respond::Async),
                        }
                    }
                    _ => WebhookOption::Unknown(self.unknown(opt)?),
                };
                options.push(Spanned { node, span: s });
            }
            Some(Trigger::Webhook(WebhookTrigger {
                path: head,
                options,
            }))
        }
    }

    fn verify(&mut self, pair: Pair<Rule>) -> Built<Verify> {
        let span = self.span(&pair);
        let form = self.next(&mut pair.into_inner(), span)?;
        let form_span = self.span(&form);
        match form.as_rule() {
            Rule::verify_hmac => {
                let mut options = Vec::new();
                for opt in form.into_inner() {
                    let s = self.span(&opt);
                    let node = match opt.as_rule() {
                        Rule::hmac_algorithm => HmacOption::Algorithm(self.only_ident(opt)?),
                        Rule::hmac_secret => HmacOption::Secret(self.only_expr(opt)?),
                        Rule::hmac_header => HmacOption::Header(self.str_opt(opt)?),
                        Rule::hmac_encoding => HmacOption::Encoding(self.only_ident(opt)?),
                        Rule::hmac_prefix => HmacOption::Prefix(self.str_opt(opt)?),
                        _ => HmacOption::Unknown(self.unknown(opt)?),
                    };
                    options.push(Spanned { node, span: s });
                }
                Some(Verify::Hmac(options))
            }
            Rule::verify_call => {
                let mut parts = form.into_inner();
                let name = self.next(&mut parts, form_span)?;
                let name = self.ident(&name);
                let arg = self.next(&mut parts, form_span)?;
                let arg = self.expr(arg)?;
                Some(match name.name.as_str() {
                    "stripe" => Verify::Stripe(arg),
                    "standard_webhooks" => Verify::StandardWebhooks(arg),
                    _ => Verify::Unknown(name),
                })
            }
            _ => {
                let name = self.next(&mut form.into_inner(), form_span)?;
                Some(Verify::Unknown(self.ident(&name)))
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Steps

    fn step(&mut self, pair: Pair<Rule>) -> Built<Step> {
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
    fn step_call(&mut self, pair: Pair<Rule>, what: &str) -> Built<Call> {
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

    fn step_options(&mut self, pair: Pair<Rule>) -> Built<Vec<Spanned<StepOption>>> {
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

    fn retry(&mut self, pair: Pair<Rule>) -> Built<RetryBlock> {
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

    fn backoff(&mut self, pair: Pair<Rule>) -> Built<Backoff> {
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

    fn unknown(&mut self, pair: Pair<Rule>) -> Built<Ident> {
        let span = self.span(&pair);
        let name = self.next(&mut pair.into_inner(), span)?;
        Some(self.ident(&name))
    }

    fn only_expr(&mut self, pair: Pair<Rule>) -> Built<Expr> {
        let span = self.span(&pair);
        let e = self.next(&mut pair.into_inner(), span)?;
        self.expr(e)
    }

    fn only_ident(&mut self, pair: Pair<Rule>) -> Built<Ident> {
        let span = self.span(&pair);
        let i = self.next(&mut pair.into_inner(), span)?;
        Some(self.ident(&i))
    }

    fn timeout(&mut self, pair: Pair<Rule>) -> Built<DurationLit> {
        let span = self.span(&pair);
        let dur_opt = self.next(&mut pair.into_inner(), span)?;
        let d = self.next(&mut dur_opt.into_inner(), span)?;
        self.duration_lit(d)
    }

    fn count(&mut self, pair: Pair<Rule>) -> Spanned<u64> {
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

    fn duration_lit(&mut self, pair: Pair<Rule>) -> Built<DurationLit> {
        let span = self.span(&pair);
        let millis = self.duration_millis(pair.as_str(), span)?;
        Some(DurationLit { millis, span })
    }

    fn duration_millis(&mut self, token: &str, span: Span) -> Built<u64> {
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
    fn str_opt(&mut self, pair: Pair<Rule>) -> Built<StringLit> {
        let span = self.span(&pair);
        let inner = self.next(&mut pair.into_inner(), span)?;
        self.str_opt_inner(inner)
    }

    fn str_opt_inner(&mut self, pair: Pair<Rule>) -> Built<StringLit> {
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

    // -----------------------------------------------------------------------------------------
    // Expressions

    /// Refuses expression trees deeper than [`MAX_EXPR_DEPTH`]: long operator chains build deep
    /// trees, and every later walk of the tree (even dropping it) recurses through them.
    fn guard_depth(&mut self, e: &Expr) -> Built<()> {
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
    fn binary(&mut self, pair: Pair<Rule>) -> Built<Expr> {
        let mut items: Vec<Pair<Rule>> = pair.into_inner().collect();
        items.reverse();
        let first = self.unary_operand(&mut items)?;
        self.climb(first, 0, &mut items)
    }

    fn unary_operand(&mut self, items: &mut Vec<Pair<Rule>>) -> Built<Expr> {
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

    fn climb(&mut self, mut lhs: Expr, min_prec: u8, items: &mut Vec<Pair<Rule>>) -> Built<Expr> {
        while let Some(op) = items.last().and_then(|p| binary_op(p.as_rule())) {
            let prec = precedence(op);
            if prec < min_prec {
                break;
            }
            items.pop();
            let mut rhs = self.unary_operand(items)?;
            while let Some(next) = items.last().and_then(|p| binary_op(p.as_rule())) {
                if precedence(next) > prec {
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

    fn postfix(&mut self, pair: Pair<Rule>) -> Built<Expr> {
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

    fn primary(&mut self, pair: Pair<Rule>) -> Built<Expr> {
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

    fn call(&mut self, pair: Pair<Rule>) -> Built<Call> {
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

    fn string_parts(&mut self, pair: Pair<Rule>) -> Built<Vec<StringPart>> {
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

/// Binding strength, loosest first, as in `docs/language.md`.
fn precedence(op: BinaryOp) -> u8 {
    use BinaryOp::*;
    match op {
        Coalesce => 1,
        Or => 2,
        And => 3,
        Eq | Ne => 4,
        Lt | Le | Gt | Ge => 5,
        Add | Sub => 6,
        Mul | Div | Rem => 7,
    }
}
