//! The compiled plan: a DAG of steps with resolved policies.
//!
//! [`crate::check::check_project`] builds one [`WorkflowPlan`] per workflow that compiled without
//! errors. A plan is self-contained — it carries the connections and mappings it uses and every
//! policy already resolved — and serialisable, so the engine can store it by content hash and
//! pin each run to the exact version it started with. Every collection is ordered (`Vec`,
//! `BTreeMap`), so serialising the same plan twice gives the same bytes.

pub mod cron;
pub mod graph;
pub mod pretty;
pub mod render;
pub mod retry;

use crate::ast::{self, Call, Expr};
use crate::catalog::FunctionKind;
use petgraph::graph::Graph;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub use self::cron::CronSpec;
pub use self::retry::{
    BackoffOverride, BackoffPolicy, ErrorClass, Failure, Jitter, RetryOverride, RetryPolicy,
};

/// How many items of a `for_each` run at a time when the step gives no `concurrency`.
///
/// One, so that a fan-out never surprises a rate-limited partner API: parallelism is opt-in.
pub const DEFAULT_CONCURRENCY: u32 = 1;

/// Everything a project compiles to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Project {
    /// The plans of the workflows that compiled without errors, by name.
    pub workflows: BTreeMap<String, WorkflowPlan>,
    /// Every `env("NAME")` name read anywhere in the project (for `braid check --requirements`).
    pub required_env: BTreeSet<String>,
    /// Every `secret("NAME")` name read anywhere in the project.
    pub required_secrets: BTreeSet<String>,
}

/// The index of a step in [`WorkflowPlan::steps`] (or, for `on_failure` steps, in
/// [`WorkflowPlan::on_failure`]). In [`WorkflowPlan::graph`], node `i` holds `StepId(i)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StepId(pub usize);

/// Why one step waits for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    /// The dependent reads the dependency's output.
    Data,
    /// Only ordering, from `after`.
    After,
}

/// One workflow, compiled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowPlan {
    /// The workflow's name.
    pub name: String,
    /// The file it was defined in, as given to the compiler.
    pub file: String,
    /// Its `description`, if any.
    pub description: Option<String>,
    /// Whether the workflow has an `input` block. Without one, any JSON object is accepted
    /// and `inputs` is empty; with one, `inputs` lists every accepted field.
    pub input_declared: bool,
    /// The declared input fields, in source order.
    pub inputs: Vec<InputSpec>,
    /// Its triggers, in source order.
    pub triggers: Vec<TriggerPlan>,
    /// The main steps, in source order; `steps[i].id == StepId(i)`.
    pub steps: Vec<StepPlan>,
    /// The dependency DAG of the main steps: node `i` is `StepId(i)`, and an edge points from
    /// a dependency to its dependent (data flows along the edges).
    pub graph: Graph<StepId, EdgeKind>,
    /// A topological order of the main steps (ties broken by source order).
    pub order: Vec<StepId>,
    /// The `on_failure` steps in source order; `on_failure[i].id == StepId(i)`, and their
    /// `deps` point into this list (earlier `on_failure` steps). They may read main steps,
    /// whose outputs are then whatever was recorded, or `null`.
    pub on_failure: Vec<StepPlan>,
    /// The `output` expression; the run's result is `null` without one.
    pub output: Option<Expr>,
    /// The connections the steps use (directly or in `compensate`), by name.
    pub connections: BTreeMap<String, ConnectionPlan>,
    /// The mappings the workflow calls, transitively, by name.
    pub mappings: BTreeMap<String, ast::Mapping>,
    /// `env()` names read by the workflow, its connections and its mappings.
    pub required_env: BTreeSet<String>,
    /// `secret()` names read by the workflow, its connections and its mappings.
    pub required_secrets: BTreeSet<String>,
}

impl WorkflowPlan {
    /// The main step called `name`.
    pub fn step(&self, name: &str) -> Option<&StepPlan> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The steps that depend directly on `id`, in source order.
    pub fn dependents(&self, id: StepId) -> Vec<StepId> {
        let mut out: Vec<StepId> = self
            .graph
            .neighbors_directed(
                petgraph::graph::NodeIndex::new(id.0),
                petgraph::Direction::Outgoing,
            )
            .map(|n| StepId(n.index()))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether any trigger is a webhook (then `trigger.*` is readable).
    pub fn has_webhook(&self) -> bool {
        self.triggers
            .iter()
            .any(|t| matches!(t, TriggerPlan::Webhook { .. }))
    }
}

/// The type of an input field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    /// `string`
    String,
    /// `int`: a number without a fraction.
    Int,
    /// `number`
    Number,
    /// `bool`
    Bool,
    /// `object`
    Object,
    /// `array`
    Array,
    /// `any`
    Any,
}

impl InputType {
    /// Every type with its name as written, for parsing and suggestions.
    pub const ALL: &'static [(&'static str, InputType)] = &[
        ("string", InputType::String),
        ("int", InputType::Int),
        ("number", InputType::Number),
        ("bool", InputType::Bool),
        ("object", InputType::Object),
        ("array", InputType::Array),
        ("any", InputType::Any),
    ];

    /// The type called `name`.
    pub fn from_name(name: &str) -> Option<InputType> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// The name as written.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("any", |(n, _)| n)
    }
}

/// One declared input field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// The field name.
    pub name: String,
    /// Its type.
    pub ty: InputType,
    /// Written with `?`: absent means `null`.
    pub optional: bool,
    /// The value used when the field is absent (literals, `env()`, `secret()`, pure functions).
    pub default: Option<Expr>,
}

/// What to do when a cron tick comes while the previous run of the trigger is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overlap {
    /// Skip the tick (the default).
    #[default]
    Skip,
    /// Start another run.
    Allow,
    /// Start it after the running one ends.
    Queue,
}

/// Which missed ticks to run after downtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Catchup {
    /// None: carry on from now.
    None,
    /// Only the most recent missed tick (the default).
    #[default]
    Latest,
    /// Every missed tick, oldest first.
    All,
}

/// An HTTP method a webhook accepts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET`
    Get,
    /// `POST` (the default)
    #[default]
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl Method {
    /// Every method with its name as written.
    pub const ALL: &'static [(&'static str, Method)] = &[
        ("GET", Method::Get),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("PATCH", Method::Patch),
        ("DELETE", Method::Delete),
    ];

    /// The method as written, `POST`.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("POST", |(n, _)| n)
    }
}

/// How a webhook answers the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Respond {
    /// 202 as soon as the run is stored (the default).
    #[default]
    Async,
    /// Wait up to this many milliseconds for the run's output.
    Sync(u64),
}

/// The HMAC hash of `verify hmac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HmacAlgorithm {
    /// `sha1`
    Sha1,
    /// `sha256`
    Sha256,
    /// `sha512`
    Sha512,
}

/// How an HMAC signature is encoded in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lower- or upper-case hex (the default).
    #[default]
    Hex,
    /// Standard base64.
    Base64,
}

/// How a webhook's signature is verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum VerifyPlan {
    /// `hmac { … }` over the raw body.
    Hmac {
        /// The hash.
        algorithm: HmacAlgorithm,
        /// The shared secret.
        secret: Expr,
        /// The header carrying the signature.
        header: String,
        /// The signature's encoding.
        encoding: Encoding,
        /// A prefix to strip from the header value (`sha256=`).
        prefix: Option<String>,
    },
    /// `stripe(SECRET)`: the `Stripe-Signature` scheme with timestamp tolerance.
    Stripe {
        /// The endpoint secret.
        secret: Expr,
    },
    /// `standard_webhooks(SECRET)`: the Standard Webhooks scheme.
    StandardWebhooks {
        /// The signing secret.
        secret: Expr,
    },
}

/// A trigger, compiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TriggerPlan {
    /// A schedule.
    Cron {
        /// The schedule, normalised.
        schedule: CronSpec,
        /// The IANA timezone the schedule is read in (`UTC` by default).
        timezone: String,
        /// Overlap policy.
        overlap: Overlap,
        /// Catch-up policy.
        catchup: Catchup,
        /// The run's input (`{}` when absent).
        input: Option<Expr>,
    },
    /// An HTTP endpoint.
    Webhook {
        /// The URL path, starting with `/`.
        path: String,
        /// The accepted method.
        method: Method,
        /// Signature verification, if any.
        verify: Option<VerifyPlan>,
        /// The de-duplication key (may call `header("Name")` and read `input`, `trigger`).
        dedupe: Option<Expr>,
        /// How to answer.
        respond: Respond,
    },
}

/// What happens when a step fails for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// The run fails (the default).
    #[default]
    Fail,
    /// The error is recorded, the output is `null`, dependents run.
    Continue,
}

/// A `for_each` fan-out. The loop variable is bound per item in the step's call, `when`,
/// `idempotency_key`, `expect` and `compensate` (not in `list`); under `for_each`, the step's
/// own name in `expect` means the current item's result, and the step's output is the list of
/// item outputs in list order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForEach {
    /// The loop variable, readable in the step's call and options.
    pub var: String,
    /// The list to fan out over (evaluated once, before the first item).
    pub list: Expr,
    /// At most this many items at a time ([`DEFAULT_CONCURRENCY`] unless given).
    pub concurrency: u32,
}

/// The undo action of a step.
///
/// It runs if the run fails after its step succeeded; its call may read the step's own output
/// (by the step's name) and the steps upstream of it. Under `for_each` it runs once per
/// succeeded item, with the loop variable and the step's name bound to that item and its output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompensatePlan {
    /// The call.
    pub call: Call,
    /// The function's full name.
    pub function: String,
    /// Step function or control step.
    #[serde(with = "FunctionKindDef")]
    pub kind: FunctionKind,
    /// The connection the call uses, if any.
    pub connection: Option<String>,
    /// Its retry policy: the compensation's own `retry`, then its connection's, the workflow
    /// defaults, the engine defaults.
    pub retry: RetryPolicy,
    /// Its per-attempt timeout, resolved the same way (`None` for control steps).
    pub timeout_ms: Option<u64>,
}

/// One step, compiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepPlan {
    /// Its index (see [`StepId`]).
    pub id: StepId,
    /// Its name; other steps read its output by it.
    pub name: String,
    /// The call as written.
    pub call: Call,
    /// The function's full name (`http.post`, `transform`, `sleep`).
    pub function: String,
    /// Step function ([`FunctionKind::Step`]) or control step ([`FunctionKind::Control`]).
    #[serde(with = "FunctionKindDef")]
    pub kind: FunctionKind,
    /// The connection the call uses, if its connection-or-URL argument names one.
    pub connection: Option<String>,
    /// The steps this one waits for (data references and `after`), sorted.
    pub deps: Vec<StepId>,
    /// Run only if this is true.
    pub when: Option<Expr>,
    /// Fan-out, if any.
    pub for_each: Option<ForEach>,
    /// The retry policy, resolved field by field: step, connection, workflow defaults, engine.
    pub retry: RetryPolicy,
    /// Per-attempt timeout, resolved the same way with the engine default
    /// [`retry::DEFAULT_STEP_TIMEOUT_MS`] for step functions; `None` for control steps.
    pub timeout_ms: Option<u64>,
    /// The idempotency key; `None` means the engine derives `RUN_ID/STEP[/INDEX]`.
    pub idempotency_key: Option<Expr>,
    /// Checked on the result (per item under `for_each`); false is an error of class `expect`.
    pub expect: Option<Expr>,
    /// The undo action.
    pub compensate: Option<CompensatePlan>,
    /// What a failure does to the run.
    pub on_error: OnError,
}

/// The period of a rate limit, in milliseconds, with the count allowed in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Calls allowed…
    pub count: u64,
    /// …per this many milliseconds.
    pub per_ms: u64,
}

/// Where an API key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyPlace {
    /// In a request header.
    Header,
    /// In a query parameter.
    Query,
}

/// How a connection authenticates; every value is an expression over literals, `env()`,
/// `secret()` and pure functions, evaluated by the engine when the workflow is loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AuthPlan {
    /// `Authorization: Bearer TOKEN`
    Bearer {
        /// The token.
        token: Expr,
    },
    /// HTTP basic authentication.
    Basic {
        /// The user.
        user: Expr,
        /// The password.
        password: Expr,
    },
    /// A key in a header or query parameter.
    ApiKey {
        /// Header or query.
        place: ApiKeyPlace,
        /// The header or parameter name.
        name: Expr,
        /// The key.
        value: Expr,
    },
    /// OAuth2 client credentials grant.
    OAuth2ClientCredentials {
        /// The token endpoint.
        token_url: Expr,
        /// The client id.
        client_id: Expr,
        /// The client secret.
        client_secret: Expr,
        /// The scopes (an array), if given.
        scopes: Option<Expr>,
    },
    /// OAuth2 refresh-token grant.
    OAuth2RefreshToken {
        /// The token endpoint.
        token_url: Expr,
        /// The client id.
        client_id: Expr,
        /// The client secret.
        client_secret: Expr,
        /// The (initial) refresh token.
        refresh_token: Expr,
    },
}

/// A connection, compiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionPlan {
    /// Its name.
    pub name: String,
    /// The prefix of relative paths.
    pub base_url: Expr,
    /// Authentication, if any.
    pub auth: Option<AuthPlan>,
    /// Headers sent on every call (an object expression).
    pub headers: Option<Expr>,
    /// The shared rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Default per-attempt timeout of calls on this connection.
    pub timeout_ms: Option<u64>,
    /// Default retry fields of calls on this connection (already folded into each step's
    /// resolved policy; kept for display).
    pub retry: RetryOverride,
}

/// `serde` support for [`FunctionKind`], which lives in the catalog contract without serde.
#[derive(Serialize, Deserialize)]
#[serde(remote = "FunctionKind", rename_all = "lowercase")]
enum FunctionKindDef {
    Pure,
    Step,
    Control,
}
