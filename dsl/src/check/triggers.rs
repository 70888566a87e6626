//! Triggers: cron schedules and timezones, webhook paths, methods, signature verification,
//! `dedupe` and `respond`; and webhook paths used twice in the project (E0105).

use super::context::{Cx, Uses};
use super::names::Index;
use super::options::{keyword_span, keyword_value, timeout_ms, unknown_option, Once};
use super::scope::{InputAccess, Place, Scope, TriggerAccess};
use super::suggest::suggest;
use super::walk::Walker;
use crate::ast::{
    CronOption, CronTrigger, HmacOption, Respond, Trigger, Verify, WebhookOption, WebhookTrigger,
    WorkflowItem,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::{
    Catchup, CronSpec, Encoding, HmacAlgorithm, Method, Overlap, TriggerPlan, VerifyPlan,
};
use crate::span::{FileId, Span};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

const CRON_OPTIONS: &[&str] = &["timezone", "overlap", "catchup", "input"];
const WEBHOOK_OPTIONS: &[&str] = &["method", "verify", "dedupe", "respond"];
const HMAC_OPTIONS: &[&str] = &["algorithm", "secret", "header", "encoding", "prefix"];
const OVERLAP: &[(&str, Overlap)] = &[
    ("skip", Overlap::Skip),
    ("allow", Overlap::Allow),
    ("queue", Overlap::Queue),
];
const CATCHUP: &[(&str, Catchup)] = &[
    ("none", Catchup::None),
    ("latest", Catchup::Latest),
    ("all", Catchup::All),
];
const ALGORITHMS: &[(&str, HmacAlgorithm)] = &[
    ("sha1", HmacAlgorithm::Sha1),
    ("sha256", HmacAlgorithm::Sha256),
    ("sha512", HmacAlgorithm::Sha512),
];
const ENCODINGS: &[(&str, Encoding)] = &[("hex", Encoding::Hex), ("base64", Encoding::Base64)];

/// What trigger expressions may see of their workflow.
pub(crate) struct TriggerCx<'s> {
    /// The workflow's declared input fields, for `dedupe`.
    pub input: InputAccess<'s>,
    /// The workflow's steps (not readable in triggers; known for a better message).
    pub steps: &'s HashMap<&'s str, super::context::StepSlot>,
}

/// Checks one trigger; `None` when it has errors.
pub(crate) fn check_trigger(
    cx: &mut Cx<'_>,
    index: &Index<'_>,
    file: FileId,
    trigger: &Trigger,
    tcx: &TriggerCx<'_>,
    uses: &mut Uses,
) -> Option<TriggerPlan> {
    let before = cx.errors();
    let plan = match trigger {
        Trigger::Cron(cron) => check_cron(cx, index, file, cron, tcx, uses),
        Trigger::Webhook(hook) => check_webhook(cx, index, file, hook, tcx, uses),
    };
    plan.filter(|_| cx.errors() == before)
}

fn check_cron(
    cx: &mut Cx<'_>,
    index: &Index<'_>,
    file: FileId,
    cron: &CronTrigger,
    tcx: &TriggerCx<'_>,
    uses: &mut Uses,
) -> Option<TriggerPlan> {
    let schedule = match CronSpec::parse(&cron.schedule.value) {
        Ok(spec) => Some(spec),
        Err(reason) => {
            cx.report(
                Diagnostic::error(Code::InvalidCron, file, cron.schedule.span, format!("invalid cron expression: {reason}"))
                    .with_label("not a valid schedule")
                    .with_hint("write 5 fields, `minute hour day-of-month month day-of-week` (\"30 2 * * *\"), 6 with seconds first, or @hourly/@daily/@weekly/@monthly/@yearly"),
            );
            None
        }
    };
    let mut once = Once::default();
    let mut timezone = "UTC".to_string();
    let mut overlap = Some(Overlap::default());
    let mut catchup = Some(Catchup::default());
    let mut input = None;
    for option in &cron.options {
        let span = option.span;
        match &option.node {
            CronOption::Timezone(tz) => {
                if once.first(cx, file, "timezone", span) {
                    check_timezone(cx, file, &tz.value, tz.span);
                    timezone = tz.value.clone();
                }
            }
            CronOption::Overlap(id) => {
                if once.first(cx, file, "overlap", span) {
                    overlap = keyword_value(cx, file, "overlap", id, OVERLAP);
                }
            }
            CronOption::Catchup(id) => {
                if once.first(cx, file, "catchup", span) {
                    catchup = keyword_value(cx, file, "catchup", id, CATCHUP);
                }
            }
            CronOption::Input(e) => {
                if once.first(cx, file, "input", span) {
                    let scope = Scope {
                        known_steps: Some(tcx.steps),
                        ..Scope::constant(Place::CronInput)
                    };
                    Walker::new(cx, index, file, scope, uses).expr(e);
                    input = Some(e.clone());
                }
            }
            CronOption::Unknown(id) => unknown_option(cx, file, id, "a cron trigger", CRON_OPTIONS),
        }
    }
    Some(TriggerPlan::Cron {
        schedule: schedule?,
        timezone,
        overlap: overlap?,
        catchup: catchup?,
        input,
    })
}

/// E0602 for a name `chrono_tz` does not know, suggesting a close one.
fn check_timezone(cx: &mut Cx<'_>, file: FileId, name: &str, span: Span) {
    if chrono_tz::Tz::from_str(name).is_ok() {
        return;
    }
    let suggestion = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
        .map(|tz| tz.name())
        .or_else(|| suggest(name, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())));
    let mut d = Diagnostic::error(
        Code::InvalidTimezone,
        file,
        span,
        format!("unknown timezone `{name}`"),
    )
    .with_label("not an IANA timezone name");
    d = match suggestion {
        Some(best) => d.with_hint(format!("did you mean `{best}`?")),
        None => d.with_hint("use an IANA name such as `Europe/Amsterdam` or `UTC`"),
    };
    cx.report(d);
}

/// Whether `path` is a valid webhook path, or why not.
pub(crate) fn path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some("a webhook path must start with `/`".into());
    }
    if let Some(c) = path.chars().find(|c| *c == '?' || *c == '#') {
        return Some(format!("a webhook path cannot contain `{c}`; query strings and fragments are not part of the path"));
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(|h| h.is_ascii_hexdigit());
            if !(hex(i + 1) && hex(i + 2)) {
                return Some("`%` must start a percent-encoded byte such as `%20`".into());
            }
            i += 3;
            continue;
        }
        let ok = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
        if !ok {
            let c = path[i..].chars().next().unwrap_or('?');
            return Some(format!("a webhook path cannot contain `{}`; use letters, digits and `-._~/` (or percent-encoding)", c.escape_default()));
        }
        i += 1;
    }
    None
}

fn check_webhook(
    cx: &mut Cx<'_>,
    index: &Index<'_>,
    file: FileId,
    hook: &WebhookTrigger,
    tcx: &TriggerCx<'_>,
    uses: &mut Uses,
) -> Option<TriggerPlan> {
    let mut valid = true;
    if let Some(problem) = path_problem(&hook.path.value) {
        cx.report(
            Diagnostic::error(
                Code::InvalidWebhookPath,
                file,
                hook.path.span,
                format!("invalid webhook path `{}`", hook.path.value),
            )
            .with_label("not a valid URL path")
            .with_hint(problem),
        );
        valid = false;
    }
    let mut once = Once::default();
    let mut method = Some(Method::default());
    let mut verify = None;
    let mut dedupe = None;
    let mut respond = Some(crate::plan::Respond::default());
    for option in &hook.options {
        let span = option.span;
        match &option.node {
            WebhookOption::Method(id) => {
                if once.first(cx, file, "method", span) {
                    method = keyword_value(cx, file, "method", id, Method::ALL);
                }
            }
            WebhookOption::Verify(v) => {
                if once.first(cx, file, "verify", span) {
                    verify = check_verify(cx, index, file, v, keyword_span(span, "verify"), uses);
                    valid &= verify.is_some();
                }
            }
            WebhookOption::Dedupe(e) => {
                if once.first(cx, file, "dedupe", span) {
                    let scope = Scope {
                        input: tcx.input,
                        trigger: TriggerAccess::Allowed,
                        header_fn: true,
                        known_steps: Some(tcx.steps),
                        ..Scope::constant(Place::Dedupe)
                    };
                    Walker::new(cx, index, file, scope, uses).expr(e);
                    dedupe = Some(e.clone());
                }
            }
            WebhookOption::Respond(r) => {
                if once.first(cx, file, "respond", span) {
                    respond = match r {
                        Respond::Async => Some(crate::plan::Respond::Async),
                        Respond::Sync(d) => timeout_ms(cx, file, d).map(crate::plan::Respond::Sync),
                    };
                }
            }
            WebhookOption::Unknown(id) => {
                unknown_option(cx, file, id, "a webhook trigger", WEBHOOK_OPTIONS)
            }
        }
    }
    valid.then_some(())?;
    Some(TriggerPlan::Webhook {
        path: hook.path.value.clone(),
        method: method?,
        verify,
        dedupe,
        respond: respond?,
    })
}

fn check_verify(
    cx: &mut Cx<'_>,
    index: &Index<'_>,
    file: FileId,
    verify: &Verify,
    at: Span,
    uses: &mut Uses,
) -> Option<VerifyPlan> {
    let mut secret = |cx: &mut Cx<'_>, e: &crate::ast::Expr| {
        Walker::new(cx, index, file, Scope::constant(Place::Verify), uses).expr(e);
        e.clone()
    };
    match verify {
        Verify::Stripe(e) => Some(VerifyPlan::Stripe {
            secret: secret(cx, e),
        }),
        Verify::StandardWebhooks(e) => Some(VerifyPlan::StandardWebhooks {
            secret: secret(cx, e),
        }),
        Verify::Unknown(id) => {
            keyword_value::<()>(
                cx,
                file,
                "verify",
                id,
                &[("hmac", ()), ("stripe", ()), ("standard_webhooks", ())],
            );
            None
        }
        Verify::Hmac(options) => {
            let before = cx.errors();
            let mut once = Once::default();
            let mut algorithm = Some(HmacAlgorithm::Sha256);
            let mut key = None;
            let mut header = None;
            let mut encoding = Some(Encoding::default());
            let mut prefix = None;
            for option in options {
                let span = option.span;
                match &option.node {
                    HmacOption::Algorithm(id) => {
                        if once.first(cx, file, "algorithm", span) {
                            algorithm = keyword_value(cx, file, "algorithm", id, ALGORITHMS);
                        }
                    }
                    HmacOption::Secret(e) => {
                        if once.first(cx, file, "secret", span) {
                            key = Some(secret(cx, e));
                        }
                    }
                    HmacOption::Header(s) => {
                        if once.first(cx, file, "header", span) {
                            header = Some(s.value.clone());
                        }
                    }
                    HmacOption::Encoding(id) => {
                        if once.first(cx, file, "encoding", span) {
                            encoding = keyword_value(cx, file, "encoding", id, ENCODINGS);
                        }
                    }
                    HmacOption::Prefix(s) => {
                        if once.first(cx, file, "prefix", span) {
                            prefix = Some(s.value.clone());
                        }
                    }
                    HmacOption::Unknown(id) => unknown_option(cx, file, id, "`hmac`", HMAC_OPTIONS),
                }
            }
            for (name, missing, example) in [
                ("secret", key.is_none(), "secret secret(\"WEBHOOK_SECRET\")"),
                ("header", header.is_none(), "header \"X-Signature\""),
            ] {
                if missing {
                    cx.report(
                        Diagnostic::error(
                            Code::MissingOption,
                            file,
                            at,
                            format!("`hmac` needs `{name}`"),
                        )
                        .with_label(format!("missing `{name}`"))
                        .with_hint(format!("add `{example}` to the `hmac` block")),
                    );
                }
            }
            if cx.errors() != before {
                return None;
            }
            Some(VerifyPlan::Hmac {
                algorithm: algorithm?,
                secret: key?,
                header: header?,
                encoding: encoding?,
                prefix,
            })
        }
    }
}

/// E0105 for a (path, method) used by a second trigger of the project. Returns the positions
/// (in `index.workflows`) of the workflows holding such a second trigger.
pub(crate) fn check_webhook_paths(cx: &mut Cx<'_>, index: &Index<'_>) -> HashSet<usize> {
    let mut first: HashMap<(&str, Method), (FileId, Span)> = HashMap::new();
    let mut clashing = HashSet::new();
    for (i, at) in index.workflows.iter().enumerate() {
        for item in &at.item.items {
            let WorkflowItem::Trigger(Trigger::Webhook(hook)) = &item.node else {
                continue;
            };
            if path_problem(&hook.path.value).is_some() {
                continue; // reported by the trigger's own check
            }
            let method = hook.options.iter().find_map(|o| match &o.node {
                WebhookOption::Method(id) => Some(
                    Method::ALL
                        .iter()
                        .find(|(n, _)| *n == id.name)
                        .map(|(_, m)| *m),
                ),
                _ => None,
            });
            let Some(method) = method.unwrap_or(Some(Method::Post)) else {
                continue;
            };
            match first.get(&(hook.path.value.as_str(), method)) {
                Some(&(first_file, first_span)) => {
                    cx.report(
                        Diagnostic::error(
                            Code::DuplicateWebhookPath,
                            at.file,
                            hook.path.span,
                            format!("webhook path `{}` ({}) is used twice", hook.path.value, method.as_str()),
                        )
                        .with_label("used again here")
                        .with_secondary(first_file, first_span, "first used here")
                        .with_hint("each path and method may start one workflow; give this trigger another path"),
                    );
                    clashing.insert(i);
                }
                None => {
                    first.insert(
                        (hook.path.value.as_str(), method),
                        (at.file, hook.path.span),
                    );
                }
            }
        }
    }
    clashing
}
