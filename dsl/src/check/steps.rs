//! One step: its call, its options and their scopes, and its `compensate`. The references it
//! makes to other steps are collected for the dependency graph.

use super::calls::CallInfo;
use super::context::{Cx, StepSlot, Uses};
use super::names::{check_value_name, Index};
use super::options::{
    keyword_span, keyword_value, positive_count, timeout_ms, unknown_option, Once,
};
use super::retry::check_retry;
use super::scope::{InputAccess, Place, Scope, StepAccess, StepRule, TriggerAccess};
use super::suggest::suggest;
use super::walk::Walker;
use crate::ast::{Call, Compensate, Expr, Ident, Spanned, Step, StepOption};
use crate::catalog::FunctionKind;
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::{OnError, RetryOverride};
use crate::span::FileId;
use std::collections::HashMap;

const STEP_OPTIONS: &[&str] = &[
    "after",
    "when",
    "for_each",
    "concurrency",
    "retry",
    "timeout",
    "idempotency_key",
    "expect",
    "compensate",
    "on_error",
];
const COMPENSATE_OPTIONS: &[&str] = &["retry", "timeout"];
const ON_ERROR: &[(&str, OnError)] = &[("fail", OnError::Fail), ("continue", OnError::Continue)];

/// What a step's check needs from its workflow.
pub(crate) struct StepCx<'s> {
    /// Every step name of the workflow.
    pub names: &'s HashMap<&'s str, StepSlot>,
    /// Every `for_each` variable → the step declaring it.
    pub for_each_vars: &'s HashMap<&'s str, &'s str>,
    /// Access to `input`.
    pub input: InputAccess<'s>,
    /// Access to `trigger`.
    pub trigger: TriggerAccess,
}

/// A step after checking.
pub(crate) struct CheckedStep<'s> {
    /// The step as written.
    pub ast: &'s Step,
    /// Its call, when it resolved to a step function or control step.
    pub call: Option<CallInfo>,
    /// What the call and options read (step references are dependencies).
    pub uses: Uses,
    /// What the compensation reads (step references must be upstream of this step).
    pub compensate_uses: Uses,
    /// `when`.
    pub when: Option<&'s Expr>,
    /// `for_each VAR in LIST` and its concurrency.
    pub for_each: Option<(&'s Ident, &'s Expr, Option<u32>)>,
    /// `retry`.
    pub retry: RetryOverride,
    /// `timeout`.
    pub timeout_ms: Option<u64>,
    /// `idempotency_key`.
    pub idempotency_key: Option<&'s Expr>,
    /// `expect`.
    pub expect: Option<&'s Expr>,
    /// `compensate`.
    pub compensate: Option<CheckedCompensate<'s>>,
    /// `on_error`.
    pub on_error: OnError,
}

/// A compensation after checking.
pub(crate) struct CheckedCompensate<'s> {
    /// The call as written.
    pub call: &'s Call,
    /// What it resolved to.
    pub info: Option<CallInfo>,
    /// Its `retry`.
    pub retry: RetryOverride,
    /// Its `timeout`.
    pub timeout_ms: Option<u64>,
}

/// The options of a step, first occurrence of each.
#[derive(Default)]
struct Options<'s> {
    after: Vec<&'s [Ident]>,
    when: Option<&'s Expr>,
    for_each: Option<(&'s Ident, &'s Expr)>,
    concurrency: Option<(&'s Spanned<u64>, crate::span::Span)>,
    retry: Option<&'s crate::ast::RetryBlock>,
    timeout: Option<&'s crate::ast::DurationLit>,
    idempotency_key: Option<&'s Expr>,
    expect: Option<&'s Expr>,
    compensate: Option<(&'s Compensate, crate::span::Span)>,
    on_error: Option<&'s Ident>,
}

/// The option's keyword, for duplicate detection.
fn option_name(option: &StepOption) -> Option<&'static str> {
    Some(match option {
        StepOption::After(_) => "after",
        StepOption::When(_) => "when",
        StepOption::ForEach { .. } => "for_each",
        StepOption::Concurrency(_) => "concurrency",
        StepOption::Retry(_) => "retry",
        StepOption::Timeout(_) => "timeout",
        StepOption::IdempotencyKey(_) => "idempotency_key",
        StepOption::Expect(_) => "expect",
        StepOption::Compensate(_) => "compensate",
        StepOption::OnError(_) => "on_error",
        StepOption::Unknown(_) => return None,
    })
}

fn collect_options<'s>(
    cx: &mut Cx<'_>,
    file: FileId,
    options: &'s [Spanned<StepOption>],
) -> Options<'s> {
    let mut out = Options::default();
    let mut once = Once::default();
    for option in options {
        let Some(name) = option_name(&option.node) else {
            if let StepOption::Unknown(id) = &option.node {
                unknown_option(cx, file, id, "a step", STEP_OPTIONS);
            }
            continue;
        };
        if !once.first(cx, file, name, option.span) {
            continue;
        }
        match &option.node {
            StepOption::After(names) => out.after.push(names),
            StepOption::When(e) => out.when = Some(e),
            StepOption::ForEach { var, list } => out.for_each = Some((var, list)),
            StepOption::Concurrency(n) => out.concurrency = Some((n, option.span)),
            StepOption::Retry(b) => out.retry = Some(b),
            StepOption::Timeout(d) => out.timeout = Some(d),
            StepOption::IdempotencyKey(e) => out.idempotency_key = Some(e),
            StepOption::Expect(e) => out.expect = Some(e),
            StepOption::Compensate(c) => out.compensate = Some((c, option.span)),
            StepOption::OnError(id) => out.on_error = Some(id),
            StepOption::Unknown(_) => {}
        }
    }
    out
}

/// Checks a step at `slot` of its workflow.
pub(crate) fn check_step<'s>(
    cx: &mut Cx<'_>,
    index: &Index<'s>,
    file: FileId,
    step: &'s Step,
    slot: StepSlot,
    scx: &StepCx<'s>,
) -> CheckedStep<'s> {
    let options = collect_options(cx, file, &step.options);
    let var = options.for_each.map(|(var, _)| var);
    let var_name = var
        .filter(|v| check_value_name(cx, file, v, "`for_each` variable"))
        .map(|v| v.name.as_str());
    let rule = match slot {
        StepSlot::Main(_) => StepRule::Main,
        StepSlot::OnFailure(k) => StepRule::OnFailure(k),
    };
    let base = Scope {
        place: Place::Step,
        input: scx.input,
        run: true,
        trigger: scx.trigger,
        error: matches!(slot, StepSlot::OnFailure(_)),
        steps: Some(StepAccess {
            names: scx.names,
            rule,
            own: Some((slot, false)),
        }),
        known_steps: Some(scx.names),
        for_each_var: var_name,
        for_each_vars: Some(scx.for_each_vars),
        params: &[],
        mappings: true,
        header_fn: false,
    };
    let mut uses = Uses::default();

    let call = Walker::new(cx, index, file, base, &mut uses).step_call(&step.call);
    for e in [options.when, options.idempotency_key]
        .into_iter()
        .flatten()
    {
        Walker::new(cx, index, file, base, &mut uses).expr(e);
    }
    if let Some((_, list)) = options.for_each {
        let mut w = Walker::new(
            cx,
            index,
            file,
            Scope {
                for_each_var: None,
                ..base
            },
            &mut uses,
        );
        w.in_own_list = var_name;
        w.expr(list);
    }
    if let Some(expect) = options.expect {
        let steps = base.steps.map(|s| StepAccess {
            own: Some((slot, true)),
            ..s
        });
        Walker::new(cx, index, file, Scope { steps, ..base }, &mut uses).expr(expect);
    }
    for names in &options.after {
        for id in names.iter() {
            after_reference(cx, index, file, base, id, &mut uses);
        }
    }
    let concurrency = match options.concurrency {
        Some((_, span)) if options.for_each.is_none() => {
            cx.report(
                Diagnostic::error(
                    Code::MisplacedOption,
                    file,
                    keyword_span(span, "concurrency"),
                    "`concurrency` needs `for_each`",
                )
                .with_label("this step does not fan out")
                .with_hint("add `for_each item in LIST`, or remove `concurrency`"),
            );
            None
        }
        Some((n, _)) => positive_count(cx, file, "concurrency", n),
        None => None,
    };
    let mut compensate_uses = Uses::default();
    let compensate = options.compensate.and_then(|(c, span)| {
        if let StepSlot::OnFailure(_) = slot {
            cx.report(
                Diagnostic::error(
                    Code::MisplacedOption,
                    file,
                    keyword_span(span, "compensate"),
                    "`on_failure` steps cannot have `compensate`",
                )
                .with_label("nothing compensates an `on_failure` step")
                .with_hint("compensations run before `on_failure`; put this on a main step"),
            );
            return None;
        }
        let steps = base.steps.map(|s| StepAccess {
            rule: StepRule::Compensate,
            own: Some((slot, true)),
            ..s
        });
        let scope = Scope {
            place: Place::Compensate,
            steps,
            ..base
        };
        Some(check_compensate(
            cx,
            index,
            file,
            c,
            scope,
            &mut compensate_uses,
        ))
    });
    let retry = options
        .retry
        .map(|b| check_retry(cx, file, b))
        .unwrap_or_default();
    let timeout = options.timeout.and_then(|d| timeout_ms(cx, file, d));
    if let (Some(d), Some(info)) = (options.timeout, &call) {
        if info.kind == FunctionKind::Control {
            control_timeout_warning(cx, file, d.span, info);
        }
    }
    let on_error = match options.on_error {
        Some(id) => keyword_value(cx, file, "on_error", id, ON_ERROR).unwrap_or_default(),
        None => OnError::default(),
    };
    CheckedStep {
        ast: step,
        call,
        uses,
        compensate_uses,
        when: options.when,
        for_each: options.for_each.map(|(var, list)| (var, list, concurrency)),
        retry,
        timeout_ms: timeout,
        idempotency_key: options.idempotency_key,
        expect: options.expect,
        compensate,
        on_error,
    }
}

/// `after NAME`: a step of the workflow (E0302 otherwise), judged like a data reference.
fn after_reference<'s>(
    cx: &mut Cx<'_>,
    index: &Index<'s>,
    file: FileId,
    scope: Scope<'s>,
    id: &'s Ident,
    uses: &mut Uses,
) {
    let Some(steps) = scope.steps else { return };
    match steps.names.get(id.name.as_str()) {
        Some(&slot) => {
            Walker::new(cx, index, file, scope, uses).step_reference(id, slot, steps, true)
        }
        None => {
            let mut names: Vec<&str> = steps.names.keys().copied().collect();
            names.sort_unstable();
            let mut d = Diagnostic::error(
                Code::UnknownStep,
                file,
                id.span,
                format!("unknown step `{}`", id.name),
            )
            .with_label("no step of this workflow has this name");
            if let Some(best) = suggest(&id.name, names.iter().copied()) {
                d = d.with_hint(format!("did you mean `{best}`?"));
            }
            cx.report(d);
        }
    }
}

/// A `compensate CALL { retry … timeout … }`; other options are E0204.
fn check_compensate<'s>(
    cx: &mut Cx<'_>,
    index: &Index<'s>,
    file: FileId,
    c: &'s Compensate,
    scope: Scope<'s>,
    uses: &mut Uses,
) -> CheckedCompensate<'s> {
    let info = Walker::new(cx, index, file, scope, uses).step_call(&c.call);
    let mut once = Once::default();
    let mut retry = RetryOverride::default();
    let mut timeout = None;
    for option in &c.options {
        match &option.node {
            StepOption::Retry(b) => {
                if once.first(cx, file, "retry", option.span) {
                    retry = check_retry(cx, file, b);
                }
            }
            StepOption::Timeout(d) => {
                if once.first(cx, file, "timeout", option.span) {
                    timeout = timeout_ms(cx, file, d);
                }
            }
            StepOption::Unknown(id) => {
                unknown_option(cx, file, id, "`compensate`", COMPENSATE_OPTIONS)
            }
            other => {
                let name = option_name(other).unwrap_or("this option");
                cx.report(
                    Diagnostic::error(
                        Code::MisplacedOption,
                        file,
                        keyword_span(option.span, name),
                        format!("`{name}` is not allowed in `compensate`"),
                    )
                    .with_label("not a compensation option")
                    .with_hint("a compensation takes only `retry` and `timeout`"),
                );
            }
        }
    }
    CheckedCompensate {
        call: &c.call,
        info,
        retry,
        timeout_ms: timeout,
    }
}

/// Control steps have no per-attempt timeout; say so rather than ignore it silently.
fn control_timeout_warning(
    cx: &mut Cx<'_>,
    file: FileId,
    span: crate::span::Span,
    info: &CallInfo,
) {
    let hint = if info.function == "wait_signal" {
        "to bound the wait, pass `timeout:` to the call: `wait_signal(\"name\", timeout: 2d)`"
    } else {
        "control steps are carried out by the engine and have no attempts to time out"
    };
    cx.report(
        Diagnostic::warning(
            Code::MisplacedOption,
            file,
            span,
            format!(
                "`timeout` has no effect on the control step `{}`",
                info.function
            ),
        )
        .with_label("ignored")
        .with_hint(hint),
    );
}
