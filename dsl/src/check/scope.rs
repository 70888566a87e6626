//! What is in scope where, and resolving a bare name against it.
//!
//! | place | in scope |
//! | --- | --- |
//! | a step's call and options | `input`, `run`, `trigger` (webhook workflows), steps, the step's `for_each` variable (not in its list), its own name (only in `expect`/`compensate`), mappings, functions |
//! | `on_failure` steps | as above, plus `error`; main steps and earlier `on_failure` steps |
//! | `output` | `input`, `run`, main steps, mappings, functions |
//! | mapping bodies | the parameters, other mappings, pure functions, `env()`, `secret()` |
//! | connection options, cron `input`, input defaults | literals, pure functions, `env()`, `secret()` |
//! | `dedupe` | `input`, `trigger`, `header("Name")`, pure functions |

use super::context::{StepRef, StepSlot};
use super::names::RESERVED_VALUES;
use super::suggest::suggest;
use super::walk::Walker;
use crate::ast::Ident;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use std::collections::HashMap;

/// Where an expression stands, for the scope rules and for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// A main or `on_failure` step's call or options.
    Step,
    /// A step's `compensate` call and options.
    Compensate,
    /// The workflow's `output`.
    Output,
    /// A mapping body.
    Mapping,
    /// A connection option.
    Connection,
    /// A cron trigger's `input`.
    CronInput,
    /// An input field's default.
    InputDefault,
    /// A webhook's `dedupe`.
    Dedupe,
    /// A webhook's `verify` secret.
    Verify,
}

impl Place {
    /// "in connection options", for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Place::Step => "in a step",
            Place::Compensate => "in `compensate`",
            Place::Output => "in `output`",
            Place::Mapping => "in a mapping body",
            Place::Connection => "in connection options",
            Place::CronInput => "in a cron trigger's `input`",
            Place::InputDefault => "in an input default",
            Place::Dedupe => "in `dedupe`",
            Place::Verify => "in `verify`",
        }
    }
}

/// Access to `input`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InputAccess<'s> {
    /// Not readable here.
    Denied,
    /// Readable; the workflow declares no `input` block, so fields are not checked.
    Any,
    /// Readable; `input.FIELD` must be one of these.
    Fields(&'s HashMap<&'s str, Span>),
}

/// Access to `trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TriggerAccess {
    /// Not readable here (E0301).
    Denied,
    /// Readable in principle, but the workflow has no webhook trigger (E0506).
    NoWebhook,
    /// Readable.
    Allowed,
}

/// Which steps a reference may name, and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepRule {
    /// In a main step: other main steps, each reference a dependency.
    Main,
    /// In `on_failure` step `k`: main steps (no dependency: they have run), and earlier
    /// `on_failure` steps (dependencies).
    OnFailure(usize),
    /// In a `compensate`: main steps, to be checked against the step's upstream set later.
    Compensate,
    /// In `output`: main steps, no dependencies.
    Output,
}

/// Step names visible from an expression.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepAccess<'s> {
    /// Every step of the workflow.
    pub names: &'s HashMap<&'s str, StepSlot>,
    /// How references are judged.
    pub rule: StepRule,
    /// The step being checked, and whether its own name may be read here.
    pub own: Option<(StepSlot, bool)>,
}

/// Everything an expression may read at one place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'s> {
    /// Where the expression stands.
    pub place: Place,
    /// `input`.
    pub input: InputAccess<'s>,
    /// `run`.
    pub run: bool,
    /// `trigger`.
    pub trigger: TriggerAccess,
    /// `error`.
    pub error: bool,
    /// Steps, when readable.
    pub steps: Option<StepAccess<'s>>,
    /// The workflow's steps when they exist but cannot be read here (for a better message).
    pub known_steps: Option<&'s HashMap<&'s str, StepSlot>>,
    /// The current step's `for_each` variable, when readable.
    pub for_each_var: Option<&'s str>,
    /// Every `for_each` variable of the workflow → the step that declares it (for E0503).
    pub for_each_vars: Option<&'s HashMap<&'s str, &'s str>>,
    /// A mapping's parameters.
    pub params: &'s [Ident],
    /// Whether mappings may be called.
    pub mappings: bool,
    /// Whether `header("Name")` may be called.
    pub header_fn: bool,
}

impl<'s> Scope<'s> {
    /// A scope with nothing but literals, pure functions, `env()` and `secret()`.
    pub fn constant(place: Place) -> Self {
        Scope {
            place,
            input: InputAccess::Denied,
            run: false,
            trigger: TriggerAccess::Denied,
            error: false,
            steps: None,
            known_steps: None,
            for_each_var: None,
            for_each_vars: None,
            params: &[],
            mappings: false,
            header_fn: false,
        }
    }
}

/// What a bare name turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// A lambda parameter or mapping parameter.
    Local,
    /// The current `for_each` variable.
    ForEachVar,
    /// `input`.
    Input,
    /// `run`.
    Run,
    /// `trigger`.
    Trigger,
    /// `error`.
    Error,
    /// A step.
    Step,
    /// Nothing; a diagnostic was reported.
    Unknown,
}

/// Fields of `run`.
pub(crate) const RUN_FIELDS: &[&str] = &["id", "workflow", "started_at"];
/// Fields of `trigger`.
pub(crate) const TRIGGER_FIELDS: &[&str] = &["headers", "query"];
/// Fields of `error`.
pub(crate) const ERROR_FIELDS: &[&str] = &["step", "message", "kind"];

impl<'s> Walker<'_, 's, '_> {
    /// Whether `name` means something here (without reporting anything).
    pub fn in_scope(&self, name: &str) -> bool {
        let s = &self.scope;
        self.lambdas.contains(&name)
            || s.params.iter().any(|p| p.name == name)
            || s.for_each_var == Some(name)
            || (name == "input" && !matches!(s.input, InputAccess::Denied))
            || (name == "run" && s.run)
            || (name == "trigger" && s.trigger == TriggerAccess::Allowed)
            || (name == "error" && s.error)
            || s.steps.is_some_and(|st| st.names.contains_key(name))
    }

    /// Resolves a bare name, reporting it when it means nothing here.
    pub fn resolve(&mut self, id: &'s Ident) -> Resolved {
        let name = id.name.as_str();
        let scope = self.scope;
        if self.lambdas.contains(&name) || scope.params.iter().any(|p| p.name == name) {
            return Resolved::Local;
        }
        if scope.for_each_var == Some(name) {
            return Resolved::ForEachVar;
        }
        match name {
            "input" => {
                if matches!(scope.input, InputAccess::Denied) {
                    return self.not_here(id, "`input`");
                }
                return Resolved::Input;
            }
            "run" => {
                return if scope.run {
                    Resolved::Run
                } else {
                    self.not_here(id, "`run`")
                }
            }
            "trigger" => {
                return match scope.trigger {
                    TriggerAccess::Allowed => Resolved::Trigger,
                    TriggerAccess::Denied => self.not_here(id, "`trigger`"),
                    TriggerAccess::NoWebhook => {
                        self.error(
                            Diagnostic::error(Code::TriggerWithoutWebhook, self.file, id.span, "`trigger` is only available in workflows with a webhook trigger")
                                .with_label("this workflow has no `trigger webhook`")
                                .with_hint("runs started by cron, the API or `workflow.run` have no request to read; pass what you need in `input`"),
                        );
                        Resolved::Unknown
                    }
                };
            }
            "error" => {
                if scope.error {
                    return Resolved::Error;
                }
                self.error(
                    Diagnostic::error(Code::ErrorOutsideOnFailure, self.file, id.span, "`error` is only available in `on_failure` steps")
                        .with_label("not inside `on_failure`")
                        .with_hint("steps in `on_failure { … }` can read `error.step`, `error.message` and `error.kind`"),
                );
                return Resolved::Unknown;
            }
            _ => {}
        }
        if let Some(steps) = scope.steps {
            if let Some(&slot) = steps.names.get(name) {
                self.step_reference(id, slot, steps, false);
                return Resolved::Step;
            }
        }
        self.unknown_name(id);
        Resolved::Unknown
    }

    /// Judges a reference to a step (a data reference, or `after` when `after` is set) and
    /// records it when it is a dependency to check or draw.
    pub fn step_reference(
        &mut self,
        id: &Ident,
        slot: StepSlot,
        steps: StepAccess<'_>,
        after: bool,
    ) {
        if let Some((own, allowed)) = steps.own {
            if own == slot {
                if !allowed || after {
                    let message = if after {
                        format!("step `{}` cannot come after itself", id.name)
                    } else {
                        format!("step `{}` cannot read its own output here", id.name)
                    };
                    self.error(
                        Diagnostic::error(Code::SelfReference, self.file, id.span, message)
                            .with_label("the step's own name")
                            .with_hint("a step's own name is readable only in its `expect` and `compensate`, where it means the step's result"),
                    );
                }
                return;
            }
        }
        let record = StepRef {
            slot,
            span: id.span,
            after,
        };
        match (steps.rule, slot) {
            (StepRule::Main, StepSlot::Main(_)) | (StepRule::Compensate, StepSlot::Main(_)) => self.uses.steps.push(record),
            (StepRule::Output, StepSlot::Main(_)) => {}
            (StepRule::OnFailure(_), StepSlot::Main(_)) => {}
            (StepRule::OnFailure(k), StepSlot::OnFailure(m)) if m < k => self.uses.steps.push(record),
            (StepRule::OnFailure(_), StepSlot::OnFailure(_)) => self.error(
                Diagnostic::error(Code::NotUpstream, self.file, id.span, format!("`{}` is a later `on_failure` step", id.name))
                    .with_label("not upstream of this step")
                    .with_hint("`on_failure` steps run in order; each can read the main steps and the `on_failure` steps above it"),
            ),
            (_, StepSlot::OnFailure(_)) => self.error(
                Diagnostic::error(
                    Code::NotUpstream,
                    self.file,
                    id.span,
                    format!("`{}` is an `on_failure` step, which cannot be read {}", id.name, self.scope.place.describe()),
                )
                .with_label("not upstream of this")
                .with_hint("`on_failure` steps run only after the run has failed; only later `on_failure` steps can read them"),
            ),
        }
    }

    /// `input` and friends where they are not available.
    fn not_here(&mut self, id: &Ident, what: &str) -> Resolved {
        let place = self.scope.place;
        let hint = match place {
            Place::Connection => {
                "connection options may use only literals, `env()`, `secret()` and pure functions"
            }
            Place::Mapping => {
                "a mapping sees only its parameters; pass the value in as an argument"
            }
            Place::CronInput | Place::InputDefault => {
                "only literals, `env()`, `secret()` and pure functions are available here"
            }
            Place::Dedupe => "`dedupe` may read `input`, `trigger` and `header(\"Name\")`",
            Place::Output => "`output` may read `input`, `run` and the steps",
            _ => "",
        };
        let mut d = Diagnostic::error(
            Code::UnknownName,
            self.file,
            id.span,
            format!("{what} is not available {}", place.describe()),
        )
        .with_label("not in scope here");
        if !hint.is_empty() {
            d = d.with_hint(hint);
        }
        self.error(d);
        Resolved::Unknown
    }

    /// A name that means nothing here: the `for_each` variable of another step (E0503), a
    /// step where steps cannot be read, a connection used as a value, or a typo (E0301).
    fn unknown_name(&mut self, id: &Ident) {
        let name = id.name.as_str();
        let scope = self.scope;
        let file = self.file;
        if let Some(&owner) = scope.for_each_vars.and_then(|m| m.get(name)) {
            let d = if self.in_own_list == Some(name) {
                Diagnostic::error(
                    Code::ItemOutsideForEach,
                    file,
                    id.span,
                    format!("`{name}` is not defined in the list it iterates over"),
                )
                .with_label("the loop variable is bound only inside the step's call and options")
            } else {
                Diagnostic::error(
                    Code::ItemOutsideForEach,
                    file,
                    id.span,
                    format!("`{name}` is only defined inside step `{owner}`"),
                )
                .with_label(format!("`{name}` is the `for_each` variable of `{owner}`"))
                .with_hint(format!("read the whole list of results as `{owner}`"))
            };
            return self.error(d);
        }
        if name == "item" {
            return self.error(
                Diagnostic::error(
                    Code::ItemOutsideForEach,
                    file,
                    id.span,
                    "`item` is only defined inside a step with `for_each`",
                )
                .with_label("no `for_each` here")
                .with_hint("add `for_each item in LIST` to the step's options"),
            );
        }
        if let Some(steps) = scope.known_steps.filter(|_| scope.steps.is_none()) {
            if steps.contains_key(name) {
                return self.error(
                    Diagnostic::error(
                        Code::UnknownName,
                        file,
                        id.span,
                        format!("step `{name}` cannot be read {}", scope.place.describe()),
                    )
                    .with_label("steps are not in scope here"),
                );
            }
        }
        if self.index.mappings.contains_key(name) {
            return self.error(
                Diagnostic::error(
                    Code::UnknownName,
                    file,
                    id.span,
                    format!("`{name}` is a mapping, not a value"),
                )
                .with_label("a mapping must be called")
                .with_hint(format!("call it, as in `{name}(…)`")),
            );
        }
        if self.index.connections.contains_key(name) {
            return self.error(
                Diagnostic::error(
                    Code::UnknownName,
                    file,
                    id.span,
                    format!("`{name}` is a connection, not a value"),
                )
                .with_label("a connection cannot be used in an expression")
                .with_hint(format!(
                    "pass it as the first argument of a call, as in `http.get({name}, \"/path\")`"
                )),
            );
        }
        let mut d = Diagnostic::error(
            Code::UnknownName,
            file,
            id.span,
            format!("unknown name `{name}`"),
        )
        .with_label("not found in this scope");
        let candidates = self.candidates();
        if let Some(best) = suggest(name, candidates.iter().copied()) {
            d = d.with_hint(format!("did you mean `{best}`?"));
        }
        self.error(d);
    }

    /// Every name readable here (for suggestions).
    fn candidates(&self) -> Vec<&'s str> {
        let s = self.scope;
        let mut out: Vec<&'s str> = self.lambdas.clone();
        out.extend(s.params.iter().map(|p| p.name.as_str()));
        out.extend(s.for_each_var);
        out.extend(RESERVED_VALUES.iter().copied().filter(|n| self.in_scope(n)));
        if let Some(steps) = s.steps {
            // The step's own name is no suggestion where it cannot be read.
            let own = steps
                .own
                .filter(|(_, allowed)| !allowed)
                .map(|(slot, _)| slot);
            let mut names: Vec<&'s str> = steps
                .names
                .iter()
                .filter(|(_, slot)| Some(**slot) != own)
                .map(|(n, _)| *n)
                .collect();
            names.sort_unstable();
            out.extend(names);
        }
        out
    }

    /// Checks `base.field` where `base` resolved to a built-in value with known fields.
    pub fn builtin_field(&mut self, resolved: Resolved, field: &Ident) {
        let (what, fields): (&str, &[&str]) = match resolved {
            Resolved::Run => ("run", RUN_FIELDS),
            Resolved::Trigger => ("trigger", TRIGGER_FIELDS),
            Resolved::Error => ("error", ERROR_FIELDS),
            Resolved::Input => {
                if let InputAccess::Fields(declared) = self.scope.input {
                    if !declared.contains_key(field.name.as_str()) {
                        let mut names: Vec<&str> = declared.keys().copied().collect();
                        names.sort_unstable();
                        let hint = match suggest(&field.name, names.iter().copied()) {
                            Some(best) => format!("did you mean `{best}`?"),
                            None if names.is_empty() => {
                                "the workflow's `input` block declares no fields".to_string()
                            }
                            None => {
                                format!("declared fields: {}", super::names::quoted_list(&names))
                            }
                        };
                        self.error(
                            Diagnostic::error(
                                Code::UnknownName,
                                self.file,
                                field.span,
                                format!("`input` has no field `{}`", field.name),
                            )
                            .with_label("not declared in the workflow's `input` block")
                            .with_hint(hint),
                        );
                    }
                }
                return;
            }
            _ => return,
        };
        if !fields.contains(&field.name.as_str()) {
            let hint = match suggest(&field.name, fields.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!(
                    "`{what}` has the fields {}",
                    super::names::quoted_list(fields)
                ),
            };
            self.error(
                Diagnostic::error(
                    Code::UnknownName,
                    self.file,
                    field.span,
                    format!("`{what}` has no field `{}`", field.name),
                )
                .with_label("unknown field")
                .with_hint(hint),
            );
        }
    }
}
