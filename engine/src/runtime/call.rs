//! Carrying out a step's call: `transform`, `http.*`, and the control steps, which only say
//! what to wait for (the executor turns that into durable store state).
//!
//! Evaluation happens in [`prepare`], synchronously (the evaluator is not `Send`); the only
//! awaited work, the HTTP request, happens in [`perform`].

use super::connections;
use super::failure::StepFailure;
use crate::redact::Redactor;
use braid_dsl::ast::{Call, ExprKind};
use braid_dsl::catalog::{ArgKind, Library};
use braid_dsl::eval::{EvalError, EvalErrorKind, Evaluator, Scope};
use braid_dsl::plan::{Failure, WorkflowPlan};
use braid_stdlib::http::oauth2::Grant;
use braid_stdlib::http::{
    build_request, AuthConfig, CallError, ErrorClass, HttpClient, HttpRequest, PaginateOptions,
    Target,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What a control step asks the executor to wait for.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// `sleep` / `sleep_until`: until this time (epoch milliseconds).
    SleepUntil(i64),
    /// `wait_signal`: a signal of this name, until the timeout (epoch ms) if any.
    WaitSignal {
        /// The signal's name.
        name: String,
        /// When to give up.
        deadline: Option<i64>,
    },
    /// `workflow.run`: a child run of this workflow with this input.
    RunChild {
        /// The child workflow's name.
        workflow: String,
        /// Its input.
        input: Value,
    },
}

/// A step's call, evaluated and ready to carry out.
#[derive(Debug)]
pub enum Prepared {
    /// The result is already known (`transform`).
    Done(Value),
    /// An HTTP request to send.
    Http(Box<HttpRequest>),
    /// `http.paginate`: the first page's request and how to find the others.
    Paginate(Box<HttpRequest>, PaginateOptions),
    /// A control step.
    Control(Control),
    /// Evaluating the call failed.
    Failed(StepFailure),
}

/// Everything [`prepare`] needs besides the call.
pub struct Context<'a> {
    /// The workflow the step belongs to.
    pub plan: &'a WorkflowPlan,
    /// The evaluator (with the run's host).
    pub ev: &'a Evaluator<'a>,
    /// The standard library, for signatures.
    pub library: &'a dyn Library,
    /// The step's idempotency key.
    pub idempotency_key: String,
    /// The per-attempt timeout.
    pub timeout_ms: Option<u64>,
    /// Now, in epoch milliseconds.
    pub now_ms: i64,
}

/// Evaluates `call` in `scope` and says what carrying it out takes.
pub fn prepare(cx: &Context, function: &str, call: &Call, scope: &Scope) -> Prepared {
    match prepare_inner(cx, function, call, scope) {
        Ok(p) => p,
        Err(f) => Prepared::Failed(f),
    }
}

fn prepare_inner(
    cx: &Context,
    function: &str,
    call: &Call,
    scope: &Scope,
) -> Result<Prepared, StepFailure> {
    let first = || {
        call.positional()
            .next()
            .ok_or_else(|| invalid(format!("`{function}` needs an argument")))
    };
    match function {
        "transform" => Ok(Prepared::Done(
            cx.ev.eval(first()?, scope).map_err(eval_failure)?,
        )),
        "sleep" => {
            let ms = millis(cx.ev.eval(first()?, scope).map_err(eval_failure)?, "sleep")?;
            Ok(Prepared::Control(Control::SleepUntil(
                cx.now_ms.saturating_add(ms),
            )))
        }
        "sleep_until" => {
            let at = cx.ev.eval(first()?, scope).map_err(eval_failure)?;
            Ok(Prepared::Control(Control::SleepUntil(time_ms(&at)?)))
        }
        "wait_signal" => {
            let name = match cx.ev.eval(first()?, scope).map_err(eval_failure)? {
                Value::String(s) => s,
                other => {
                    return Err(invalid(format!(
                        "the signal name must be a string, got {other}"
                    )))
                }
            };
            let deadline = match call.named("timeout") {
                Some(expr) => {
                    let ms = millis(cx.ev.eval(expr, scope).map_err(eval_failure)?, "timeout")?;
                    Some(cx.now_ms.saturating_add(ms))
                }
                None => None,
            };
            Ok(Prepared::Control(Control::WaitSignal { name, deadline }))
        }
        "workflow.run" => {
            let workflow = match cx.ev.eval(first()?, scope).map_err(eval_failure)? {
                Value::String(s) => s,
                other => {
                    return Err(invalid(format!(
                        "the workflow name must be a string, got {other}"
                    )))
                }
            };
            let input = match call.named("input") {
                Some(expr) => cx.ev.eval(expr, scope).map_err(eval_failure)?,
                None => json!({}),
            };
            Ok(Prepared::Control(Control::RunChild { workflow, input }))
        }
        "http.paginate" => {
            let (request, named) = http_request(cx, function, call, scope)?;
            let options = PaginateOptions::from_named(&named).map_err(call_failure)?;
            Ok(Prepared::Paginate(Box::new(request), options))
        }
        _ if function.starts_with("http.") => {
            http_request(cx, function, call, scope).map(|(r, _)| Prepared::Http(Box::new(r)))
        }
        other => Err(invalid(format!(
            "`{other}` cannot be run as a step by this engine"
        ))),
    }
}

/// The request of an `http.*` call, with its evaluated named arguments.
fn http_request(
    cx: &Context,
    function: &str,
    call: &Call,
    scope: &Scope,
) -> Result<(HttpRequest, BTreeMap<String, Value>), StepFailure> {
    let signature = cx
        .library
        .signature(function)
        .ok_or_else(|| invalid(format!("unknown function `{function}`")))?;
    let mut method = function.trim_start_matches("http.").to_string();
    let mut target = None;
    let mut path = None;
    for (i, arg) in call.positional().enumerate() {
        match signature.arg_kind(i) {
            Some(ArgKind::ConnectionOrUrl) => {
                target = Some(match &arg.kind {
                    ExprKind::Name(n) if cx.plan.connections.contains_key(&n.name) => {
                        let plan = &cx.plan.connections[&n.name];
                        Target::Connection(Arc::new(connections::resolve(plan, cx.ev)?))
                    }
                    _ => match cx.ev.eval(arg, scope).map_err(eval_failure)? {
                        Value::String(url) => Target::Url(url),
                        other => {
                            return Err(invalid(format!("the URL must be a string, got {other}")))
                        }
                    },
                });
            }
            _ if target.is_none() => {
                // `http.request`'s method comes before the connection.
                match cx.ev.eval(arg, scope).map_err(eval_failure)? {
                    Value::String(m) => method = m,
                    other => {
                        return Err(invalid(format!("the method must be a string, got {other}")))
                    }
                }
            }
            _ => path = Some(cx.ev.eval(arg, scope).map_err(eval_failure)?),
        }
    }
    let target =
        target.ok_or_else(|| invalid(format!("`{function}` needs a connection or URL")))?;
    if function == "http.paginate" {
        method = "get".into();
    }
    let mut named = BTreeMap::new();
    for arg in &call.args {
        if let Some(name) = &arg.name {
            named.insert(
                name.name.clone(),
                cx.ev.eval(&arg.value, scope).map_err(eval_failure)?,
            );
        }
    }
    let timeout = Duration::from_millis(
        cx.timeout_ms
            .unwrap_or(braid_dsl::plan::retry::DEFAULT_STEP_TIMEOUT_MS),
    );
    let request = build_request(
        &method,
        target,
        path.as_ref(),
        &named,
        &cx.idempotency_key,
        timeout,
    )
    .map_err(call_failure)?;
    Ok((request, named))
}

/// Sends a prepared request (or walks its pages); the result (or failure) comes back with
/// secrets masked.
pub async fn perform(
    http: &HttpClient,
    request: &HttpRequest,
    pages: Option<&PaginateOptions>,
    redactor: &Redactor,
) -> Result<Value, StepFailure> {
    register_credentials(redactor, &request.auth);
    let result = match pages {
        Some(options) => http.paginate(request, options).await,
        None => http.call(request).await,
    };
    match result {
        Ok(v) => Ok(redactor.json(&v)),
        Err(e) => {
            let mut f = call_failure(e);
            f.error = redactor.json(&f.error);
            Err(f)
        }
    }
}

/// Registers the credentials of a request with `redactor`, in the forms they travel in, so an
/// API echoing them back (a `Basic` header is base64 of `user:password`) does not put them
/// into a step's output or error, wherever they were read from.
fn register_credentials(redactor: &Redactor, auth: &AuthConfig) {
    match auth {
        AuthConfig::None => {}
        AuthConfig::Bearer { token } => redactor.register(token),
        AuthConfig::Basic { user, password } => {
            redactor.register(password);
            redactor.register(&format!("{user}:{password}"));
        }
        AuthConfig::ApiKeyHeader { value, .. } | AuthConfig::ApiKeyQuery { value, .. } => {
            redactor.register(value)
        }
        AuthConfig::OAuth2(cfg) => {
            redactor.register(&cfg.client_secret);
            if let Grant::RefreshToken { refresh_token } = &cfg.grant {
                redactor.register(refresh_token);
            }
        }
    }
}

/// The failure of an evaluation error.
pub fn eval_failure(e: EvalError) -> StepFailure {
    let kind = match e.kind {
        EvalErrorKind::NullInterpolation => "null_interpolation",
        EvalErrorKind::MissingVariable => "missing_variable",
        EvalErrorKind::Type => "type",
        EvalErrorKind::Arithmetic => "arithmetic",
        EvalErrorKind::UnboundName => "unbound_name",
        EvalErrorKind::Function => "function",
    };
    let mut f = StepFailure::new(Failure::Other, kind, e.message.clone());
    if let Some(span) = e.span {
        f.error["span"] = json!([span.start, span.end]);
    }
    f
}

/// The failure of an HTTP call error.
pub fn call_failure(e: CallError) -> StepFailure {
    let class = match e.class {
        ErrorClass::Status(s) => Failure::Status(s),
        ErrorClass::Timeout => Failure::Timeout,
        ErrorClass::Network => Failure::Network,
        ErrorClass::Invalid => Failure::Other,
    };
    StepFailure {
        class,
        error: e.to_json(),
        retry_after: e.retry_after,
    }
}

fn invalid(message: impl Into<String>) -> StepFailure {
    StepFailure::new(Failure::Other, "invalid", message)
}

fn millis(v: Value, what: &str) -> Result<i64, StepFailure> {
    v.as_u64()
        .and_then(|ms| i64::try_from(ms).ok())
        .ok_or_else(|| invalid(format!("`{what}` must be a duration, got {v}")))
}

fn time_ms(v: &Value) -> Result<i64, StepFailure> {
    match v {
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|_| invalid(format!("`{s}` is not an RFC 3339 time"))),
        Value::Number(n) => n
            .as_f64()
            .map(|secs| (secs * 1000.0) as i64)
            .ok_or_else(|| invalid("the time is out of range")),
        other => Err(invalid(format!("sleep_until needs a time, got {other}"))),
    }
}
