//! The syntax tree of a `.braid` file. Every node carries the byte span it was parsed from.
//!
//! The parser builds this tree without judging meaning beyond the grammar (and literal
//! well-formedness: durations, numbers, escapes); the checker (`crate::check`) resolves names
//! and reports everything else.

use crate::span::{FileId, Span};
use serde::{Deserialize, Serialize};

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ident {
    /// The identifier text.
    pub name: String,
    /// Where it stands.
    pub span: Span,
}

/// A value with the span it was parsed from (used for options and small literals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spanned<T> {
    /// The parsed value.
    pub node: T,
    /// Where it stands.
    pub span: Span,
}

/// One parsed file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Module {
    /// Which file of the project this is.
    pub file: FileId,
    /// The top-level items that parsed (items with syntax errors are left out).
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Item {
    /// `connection NAME { … }`
    Connection(Connection),
    /// `mapping NAME(params) = EXPR`
    Mapping(Mapping),
    /// `workflow NAME { … }`
    Workflow(Workflow),
}

// ---------------------------------------------------------------------------------------------
// Connections

/// `connection NAME { options }`: a system that workflows call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// The connection's name.
    pub name: Ident,
    /// Its options in source order (duplicates are the checker's to report).
    pub options: Vec<Spanned<ConnectionOption>>,
    /// The whole item.
    pub span: Span,
}

/// One option of a connection block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConnectionOption {
    /// `base_url EXPR`
    BaseUrl(Expr),
    /// `auth …`
    Auth(Auth),
    /// `headers { "Name": EXPR, … }` (an object expression)
    Headers(Expr),
    /// `rate_limit N per second|minute|hour`
    RateLimit {
        /// How many calls…
        count: Spanned<u64>,
        /// …per this period.
        per: Spanned<RatePeriod>,
    },
    /// `timeout DURATION`
    Timeout(DurationLit),
    /// `retry { … }`
    Retry(RetryBlock),
    /// An option name the grammar does not know; the checker reports it.
    Unknown(Ident),
}

/// The period of a `rate_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RatePeriod {
    /// per second
    Second,
    /// per minute
    Minute,
    /// per hour
    Hour,
}

/// How a connection authenticates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Auth {
    /// `auth bearer(TOKEN)`
    Bearer {
        /// The token expression.
        token: Expr,
    },
    /// `auth basic(USER, PASSWORD)`
    Basic {
        /// The user name.
        user: Expr,
        /// The password.
        password: Expr,
    },
    /// `auth api_key { header "X-Api-Key" value EXPR }` or `{ query "api_key" value EXPR }`
    ApiKey {
        /// Fields of the block (`header`, `query`, `value`).
        fields: Vec<AuthField>,
    },
    /// `auth oauth2_client_credentials { token_url … client_id … client_secret … scopes [..] }`
    OAuth2ClientCredentials {
        /// Fields of the block.
        fields: Vec<AuthField>,
    },
    /// `auth oauth2_refresh_token { token_url … client_id … client_secret … refresh_token … }`
    OAuth2RefreshToken {
        /// Fields of the block.
        fields: Vec<AuthField>,
    },
}

/// `NAME EXPR` inside an `auth` block. Which names are allowed and required is checked later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthField {
    /// The field name (`token_url`, `header`, `value`, …).
    pub name: Ident,
    /// Its value.
    pub value: Expr,
}

// ---------------------------------------------------------------------------------------------
// Mappings

/// `mapping NAME(params) = EXPR`: a pure, reusable transformation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    /// The mapping's name.
    pub name: Ident,
    /// Parameter names.
    pub params: Vec<Ident>,
    /// The body; only the parameters, other mappings and pure functions are in scope.
    pub body: Expr,
    /// The whole item.
    pub span: Span,
}

// ---------------------------------------------------------------------------------------------
// Workflows

/// `workflow NAME { … }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    /// The workflow's name.
    pub name: Ident,
    /// Items in source order.
    pub items: Vec<Spanned<WorkflowItem>>,
    /// The whole item.
    pub span: Span,
}

/// One item of a workflow body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WorkflowItem {
    /// `description "…"`
    Description(StringLit),
    /// `input { field: TYPE … }`
    Input(Vec<InputField>),
    /// `trigger cron …` or `trigger webhook …`
    Trigger(Trigger),
    /// `defaults { retry {…} timeout D }`
    Defaults(Vec<Spanned<DefaultsOption>>),
    /// `step NAME = CALL { options }`
    Step(Step),
    /// `output EXPR`
    Output(Expr),
    /// `on_failure { step … }`
    OnFailure(Vec<Step>),
    /// An item keyword the grammar does not know; the checker reports it.
    Unknown(Ident),
}

/// `name: TYPE [?] [= DEFAULT]` in an `input` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputField {
    /// The field name.
    pub name: Ident,
    /// The declared type name (`string int number bool object array any`; others are reported).
    pub ty: Ident,
    /// Whether the type was written with `?`.
    pub optional: bool,
    /// The default, if any (a field with a default may be omitted).
    pub default: Option<Expr>,
    /// The whole field.
    pub span: Span,
}

/// A trigger of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Trigger {
    /// `trigger cron "EXPR" { … }`
    Cron(CronTrigger),
    /// `trigger webhook "/path" { … }`
    Webhook(WebhookTrigger),
}

/// `trigger cron "EXPR" { timezone … overlap … catchup … input … }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CronTrigger {
    /// The schedule string (no interpolation allowed).
    pub schedule: StringLit,
    /// Options in source order.
    pub options: Vec<Spanned<CronOption>>,
}

/// An option of a cron trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CronOption {
    /// `timezone "Area/City"`
    Timezone(StringLit),
    /// `overlap skip|allow|queue` (the value is checked later)
    Overlap(Ident),
    /// `catchup none|latest|all` (the value is checked later)
    Catchup(Ident),
    /// `input EXPR`
    Input(Expr),
    /// An unknown option name.
    Unknown(Ident),
}

/// `trigger webhook "/path" { method … verify … dedupe … respond … }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookTrigger {
    /// The URL path (no interpolation allowed).
    pub path: StringLit,
    /// Options in source order.
    pub options: Vec<Spanned<WebhookOption>>,
}

/// An option of a webhook trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WebhookOption {
    /// `method POST` (the value is checked later)
    Method(Ident),
    /// `verify …`
    Verify(Verify),
    /// `dedupe EXPR` (may use `header("X")`, `trigger.*`, `input.*`)
    Dedupe(Expr),
    /// `respond async` or `respond sync(DURATION)`
    Respond(Respond),
    /// An unknown option name.
    Unknown(Ident),
}

/// How a webhook's signature is verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Verify {
    /// `hmac { algorithm … secret … header … encoding … prefix … }`
    Hmac(Vec<Spanned<HmacOption>>),
    /// `stripe(SECRET)`
    Stripe(Expr),
    /// `standard_webhooks(SECRET)`
    StandardWebhooks(Expr),
    /// `verify NAME(…)` or `verify NAME {…}` with an unknown scheme name.
    Unknown(Ident),
}

/// An option of an `hmac { … }` verification block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HmacOption {
    /// `algorithm sha256|sha1|sha512` (checked later)
    Algorithm(Ident),
    /// `secret EXPR`
    Secret(Expr),
    /// `header "Name"`
    Header(StringLit),
    /// `encoding hex|base64` (checked later)
    Encoding(Ident),
    /// `prefix "sha256="`
    Prefix(StringLit),
    /// An unknown option name.
    Unknown(Ident),
}

/// How a webhook answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Respond {
    /// `respond async`: 202 as soon as the run is stored.
    Async,
    /// `respond sync(D)`: wait up to D for the run's output.
    Sync(DurationLit),
}

/// An option of a workflow's `defaults` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DefaultsOption {
    /// `retry { … }`
    Retry(RetryBlock),
    /// `timeout D`
    Timeout(DurationLit),
    /// An unknown option name.
    Unknown(Ident),
}

// ---------------------------------------------------------------------------------------------
// Steps

/// `step NAME = CALL { options }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The step's name; other steps refer to its output by it.
    pub name: Ident,
    /// What the step does.
    pub call: Call,
    /// Options in source order.
    pub options: Vec<Spanned<StepOption>>,
    /// The whole step.
    pub span: Span,
}

/// An option of a step (or of a `compensate` action).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StepOption {
    /// `after A, B`
    After(Vec<Ident>),
    /// `when EXPR`
    When(Expr),
    /// `for_each VAR in EXPR`
    ForEach {
        /// The loop variable (conventionally `item`).
        var: Ident,
        /// The list to fan out over.
        list: Expr,
    },
    /// `concurrency N`
    Concurrency(Spanned<u64>),
    /// `retry { … }`
    Retry(RetryBlock),
    /// `timeout D`
    Timeout(DurationLit),
    /// `idempotency_key EXPR`
    IdempotencyKey(Expr),
    /// `expect EXPR`
    Expect(Expr),
    /// `compensate CALL { options }`
    Compensate(Box<Compensate>),
    /// `on_error fail|continue` (checked later)
    OnError(Ident),
    /// An unknown option name.
    Unknown(Ident),
}

/// `compensate CALL { options }`: the undo action of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compensate {
    /// The undo call.
    pub call: Call,
    /// Its options (`retry`, `timeout`; others are reported by the checker).
    pub options: Vec<Spanned<StepOption>>,
}

/// `retry { attempts N backoff … jitter … on [..] }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryBlock {
    /// Options in source order.
    pub options: Vec<Spanned<RetryOption>>,
    /// The whole block including the `retry` keyword.
    pub span: Span,
}

/// An option of a `retry` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RetryOption {
    /// `attempts N` (total attempts, the first included)
    Attempts(Spanned<u64>),
    /// `backoff fixed(D)` or `backoff exponential(initial: D, factor: F, max: D)`
    Backoff(Backoff),
    /// `jitter none|full|equal` (checked later)
    Jitter(Ident),
    /// `on [CLASS, …]`
    On(Vec<Spanned<ErrorClassLit>>),
    /// An unknown option name.
    Unknown(Ident),
}

/// A backoff as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Backoff {
    /// `fixed(D)`
    Fixed(DurationLit),
    /// `exponential(initial: D, factor: F, max: D)`; each argument may be omitted.
    Exponential {
        /// First wait.
        initial: Option<DurationLit>,
        /// Multiplier per attempt.
        factor: Option<Spanned<f64>>,
        /// Cap on one wait.
        max: Option<DurationLit>,
    },
    /// Another function name (`backoff linear(…)`); reported by the checker.
    Unknown(Ident),
}

/// An error class as written in `on [..]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ErrorClassLit {
    /// A status code, `429`.
    Status(u16),
    /// A status range, `5xx` (the digit: 5).
    Range(u8),
    /// A named class (`timeout network expect any`; others are reported by the checker).
    Named(String),
}

/// A duration literal: `250ms 30s 5m 2h 7d`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DurationLit {
    /// The duration in milliseconds.
    pub millis: u64,
    /// Where it stands.
    pub span: Span,
}

/// A string literal without interpolation as used by options (`description`, paths, headers).
/// If the source had `${…}` in such a place the parser reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StringLit {
    /// The decoded value (escapes applied).
    pub value: String,
    /// Where it stands, quotes included.
    pub span: Span,
}

// ---------------------------------------------------------------------------------------------
// Expressions

/// A call: `module.function(args)` or `function(args)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// The dotted name: `["http", "post"]`, `["len"]`, or a mapping's name.
    pub path: Vec<Ident>,
    /// Arguments in source order; positional ones come first (the parser reports otherwise).
    pub args: Vec<Arg>,
    /// The whole call.
    pub span: Span,
}

impl Call {
    /// The dotted name as one string, `http.post`.
    pub fn name(&self) -> String {
        self.path
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The span of the dotted name.
    pub fn name_span(&self) -> Span {
        match (self.path.first(), self.path.last()) {
            (Some(a), Some(b)) => a.span.to(b.span),
            _ => self.span,
        }
    }

    /// Positional arguments.
    pub fn positional(&self) -> impl Iterator<Item = &Expr> {
        self.args
            .iter()
            .filter(|a| a.name.is_none())
            .map(|a| &a.value)
    }

    /// The named argument `name`, if given.
    pub fn named(&self, name: &str) -> Option<&Expr> {
        self.args
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|n| n.name == name))
            .map(|a| &a.value)
    }
}

/// One argument of a call: positional (`x`) or named (`body: x`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arg {
    /// The name of a named argument.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
}

/// An expression with its span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expr {
    /// What kind of expression.
    pub kind: ExprKind,
    /// Where it stands.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExprKind {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number literal (integers stay integers; `-2.5` is a float).
    Number(serde_json::Number),
    /// A string literal, possibly with `${…}` parts.
    String(Vec<StringPart>),
    /// A duration literal; evaluates to its length in milliseconds.
    Duration(u64),
    /// `[a, b]`
    Array(Vec<Expr>),
    /// `{ key: v, "any key": v }`
    Object(Vec<ObjectEntry>),
    /// A bare name: `input`, a step, `item`, `run`, `trigger`, `error`, a parameter.
    Name(Ident),
    /// `e.field`
    Field(Box<Expr>, Ident),
    /// `e[index]`
    Index(Box<Expr>, Box<Expr>),
    /// A call of a function, mapping, `env`/`secret`, or (in step position) a step function.
    Call(Call),
    /// `!e`, `-e`
    Unary(UnaryOp, Box<Expr>),
    /// `a OP b`
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `if c then a else b`
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `x => body` or `(x, y) => body`; only valid as a call argument.
    Lambda(Vec<Ident>, Box<Expr>),
}

/// A piece of a string literal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StringPart {
    /// Literal text, escapes decoded.
    Text(String),
    /// `${expr}`
    Interp(Expr),
}

/// `key: value` in an object literal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectEntry {
    /// The key (an identifier or a string literal, decoded).
    pub key: String,
    /// Where the key stands.
    pub key_span: Span,
    /// The value.
    pub value: Expr,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryOp {
    /// `!`
    Not,
    /// `-`
    Neg,
}

/// Binary operators, loosest binding first: `??`, `||`, `&&`, `== !=`, `< <= > >=`, `+ -`, `* / %`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryOp {
    /// `??`: the left value unless it is null.
    Coalesce,
    /// `||`
    Or,
    /// `&&`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`: numbers add, strings join, arrays concatenate, objects merge.
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinaryOp {
    /// Binding strength, loosest first (1 for `??` to 7 for `* / %`), as in `docs/language.md`:
    /// the parser climbs it, the pretty-printer parenthesises by it.
    pub fn precedence(self) -> u8 {
        use BinaryOp::*;
        match self {
            Coalesce => 1,
            Or => 2,
            And => 3,
            Eq | Ne => 4,
            Lt | Le | Gt | Ge => 5,
            Add | Sub => 6,
            Mul | Div | Rem => 7,
        }
    }

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Coalesce => "??",
            Or => "||",
            And => "&&",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Rem => "%",
        }
    }
}
