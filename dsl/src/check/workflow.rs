//! One workflow: its items, input, triggers, defaults, steps and output, checked in order, then
//! its dependency graph; a [`WorkflowPlan`] when it (and what it uses) has no errors.

use super::build::{step_plan, Defaults};
use super::connections::CheckedConnection;
use super::context::{Cx, StepSlot, Uses};
use super::deps;
use super::mappings::{self, CheckedMapping};
use super::names::{check_value_name, ConnectionRef, Index, Located};
use super::options::{timeout_ms, unknown_option, Once};
use super::retry::check_retry;
use super::scope::{InputAccess, Place, Scope, StepAccess, StepRule, TriggerAccess};
use super::steps::{check_step, CheckedStep, StepCx};
use super::suggest::suggest;
use super::triggers::{check_trigger, TriggerCx};
use super::walk::Walker;
use crate::ast::{
    DefaultsOption, Expr, InputField, Spanned, Step, StepOption, StringLit, Trigger, Workflow,
    WorkflowItem,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::{InputSpec, InputType, StepId, WorkflowPlan};
use crate::span::{FileId, Span};
use std::collections::{BTreeMap, HashMap};

const WORKFLOW_ITEMS: &[&str] = &[
    "description",
    "input",
    "trigger",
    "defaults",
    "step",
    "output",
    "on_failure",
];

/// What every workflow's check reads from the rest of the project.
pub(crate) struct ProjectCx<'c, 's> {
    /// Global names.
    pub index: &'c Index<'s>,
    /// Checked connections by file and name.
    pub connections: &'c HashMap<(FileId, &'s str), CheckedConnection>,
    /// Checked mappings by name.
    pub mappings: &'c HashMap<&'s str, CheckedMapping>,
}

impl<'c, 's> ProjectCx<'c, 's> {
    /// The checked connections the workflows of `file` call by name: its own, and those only
    /// one file defines.
    fn connections_seen_from(&self, file: FileId) -> HashMap<&'s str, &'c CheckedConnection> {
        self.index
            .connections
            .keys()
            .filter_map(|&name| match self.index.connection(file, name) {
                ConnectionRef::Defined(at) => self
                    .connections
                    .get(&(at.file, name))
                    .map(|checked| (name, checked)),
                ConnectionRef::Ambiguous(_) | ConnectionRef::Unknown => None,
            })
            .collect()
    }
}

/// A workflow after checking.
pub(crate) struct CheckedWorkflow {
    /// Its plan, when it compiled.
    pub plan: Option<WorkflowPlan>,
    /// Everything it reads directly.
    pub uses: Uses,
}

/// The items of a workflow body, first occurrence of the single ones.
#[derive(Default)]
struct Items<'s> {
    description: Option<&'s StringLit>,
    input: Option<&'s [InputField]>,
    triggers: Vec<&'s Trigger>,
    defaults: Option<&'s [Spanned<DefaultsOption>]>,
    steps: Vec<&'s Step>,
    output: Option<&'s Expr>,
    on_failure: Option<&'s [Step]>,
}

fn collect_items<'s>(cx: &mut Cx<'_>, file: FileId, workflow: &'s Workflow) -> Items<'s> {
    let mut items = Items::default();
    let mut once = Once::default();
    for item in &workflow.items {
        let span = item.span;
        match &item.node {
            WorkflowItem::Description(s) => {
                if once.first(cx, file, "description", span) {
                    items.description = Some(s);
                }
            }
            WorkflowItem::Input(fields) => {
                if once.first(cx, file, "input", span) {
                    items.input = Some(fields);
                }
            }
            WorkflowItem::Trigger(t) => items.triggers.push(t),
            WorkflowItem::Defaults(options) => {
                if once.first(cx, file, "defaults", span) {
                    items.defaults = Some(options);
                }
            }
            WorkflowItem::Step(step) => items.steps.push(step),
            WorkflowItem::Output(e) => {
                if once.first(cx, file, "output", span) {
                    items.output = Some(e);
                }
            }
            WorkflowItem::OnFailure(steps) => {
                if once.first(cx, file, "on_failure", span) {
                    items.on_failure = Some(steps);
                }
            }
            WorkflowItem::Unknown(id) => unknown_option(cx, file, id, "a workflow", WORKFLOW_ITEMS),
        }
    }
    items
}

/// Input fields: unique (E0104), of known types (E0307), defaults over constants only.
fn check_inputs<'s>(
    cx: &mut Cx<'_>,
    index: &Index<'s>,
    file: FileId,
    fields: &'s [InputField],
    uses: &mut Uses,
) -> (HashMap<&'s str, Span>, Vec<InputSpec>) {
    let mut declared: HashMap<&'s str, Span> = HashMap::with_capacity(fields.len());
    let mut specs = Vec::with_capacity(fields.len());
    for field in fields {
        if let Some(&first) = declared.get(field.name.name.as_str()) {
            cx.report(
                Diagnostic::error(
                    Code::DuplicateField,
                    file,
                    field.name.span,
                    format!("input field `{}` is declared twice", field.name.name),
                )
                .with_label("declared again here")
                .with_secondary(file, first, "first declared here"),
            );
            continue;
        }
        declared.insert(field.name.name.as_str(), field.name.span);
        let ty = InputType::from_name(&field.ty.name);
        if ty.is_none() {
            let names: Vec<&str> = InputType::ALL.iter().map(|(n, _)| *n).collect();
            let hint = match suggest(&field.ty.name, names.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("types: {}", super::names::quoted_list(&names)),
            };
            cx.report(
                Diagnostic::error(
                    Code::UnknownType,
                    file,
                    field.ty.span,
                    format!("unknown type `{}`", field.ty.name),
                )
                .with_label("not an input type")
                .with_hint(hint),
            );
        }
        if let Some(default) = &field.default {
            Walker::new(cx, index, file, Scope::constant(Place::InputDefault), uses).expr(default);
        }
        specs.push(InputSpec {
            name: field.name.name.clone(),
            ty: ty.unwrap_or(InputType::Any),
            optional: field.optional,
            default: field.default.clone(),
        });
    }
    (declared, specs)
}

fn check_defaults(cx: &mut Cx<'_>, file: FileId, options: &[Spanned<DefaultsOption>]) -> Defaults {
    let mut out = Defaults::default();
    let mut once = Once::default();
    for option in options {
        match &option.node {
            DefaultsOption::Retry(block) => {
                if once.first(cx, file, "retry", option.span) {
                    out.retry = check_retry(cx, file, block);
                }
            }
            DefaultsOption::Timeout(d) => {
                if once.first(cx, file, "timeout", option.span) {
                    out.timeout_ms = timeout_ms(cx, file, d);
                }
            }
            DefaultsOption::Unknown(id) => {
                unknown_option(cx, file, id, "`defaults`", &["retry", "timeout"])
            }
        }
    }
    out
}

/// Step names of the workflow: main and `on_failure` steps share one namespace (E0102).
fn step_names<'s>(
    cx: &mut Cx<'_>,
    file: FileId,
    main: &[&'s Step],
    on_failure: &'s [Step],
) -> HashMap<&'s str, StepSlot> {
    let mut names: HashMap<&'s str, StepSlot> =
        HashMap::with_capacity(main.len() + on_failure.len());
    let mut first: HashMap<&'s str, Span> = HashMap::new();
    let all = main
        .iter()
        .copied()
        .enumerate()
        .map(|(i, s)| (s, StepSlot::Main(i)));
    let all = all.chain(
        on_failure
            .iter()
            .enumerate()
            .map(|(k, s)| (s, StepSlot::OnFailure(k))),
    );
    for (step, slot) in all {
        let name = step.name.name.as_str();
        if !check_value_name(cx, file, &step.name, "step") {
            continue;
        }
        if let Some(&span) = first.get(name) {
            cx.report(
                Diagnostic::error(
                    Code::DuplicateStep,
                    file,
                    step.name.span,
                    format!("step `{name}` is defined twice"),
                )
                .with_label("second step with this name")
                .with_secondary(file, span, "first defined here")
                .with_hint("steps of a workflow, `on_failure` ones included, need distinct names"),
            );
            continue;
        }
        first.insert(name, step.name.span);
        names.insert(name, slot);
    }
    names
}

/// Every `for_each` variable → the step that declares it.
fn for_each_vars<'s>(steps: impl Iterator<Item = &'s Step>) -> HashMap<&'s str, &'s str> {
    let mut vars = HashMap::new();
    for step in steps {
        for option in &step.options {
            if let StepOption::ForEach { var, .. } = &option.node {
                vars.entry(var.name.as_str())
                    .or_insert(step.name.name.as_str());
            }
        }
    }
    vars
}

/// Checks a workflow. `blocked` withholds the plan for reasons found elsewhere (its name or a
/// webhook path used twice).
pub(crate) fn check_workflow(
    cx: &mut Cx<'_>,
    pcx: &ProjectCx<'_, '_>,
    at: Located<'_, Workflow>,
    file_name: &str,
    blocked: bool,
) -> CheckedWorkflow {
    let (file, workflow) = (at.file, at.item);
    let index = pcx.index;
    let before = cx.errors();
    let mut uses = Uses::default();
    let items = collect_items(cx, file, workflow);

    let (declared, inputs) = match items.input {
        Some(fields) => check_inputs(cx, index, file, fields, &mut uses),
        None => (HashMap::new(), Vec::new()),
    };
    let input = if items.input.is_some() {
        InputAccess::Fields(&declared)
    } else {
        InputAccess::Any
    };

    let on_failure_steps: &[Step] = items.on_failure.unwrap_or(&[]);
    let names = step_names(cx, file, &items.steps, on_failure_steps);
    let vars = for_each_vars(items.steps.iter().copied().chain(on_failure_steps.iter()));

    let tcx = TriggerCx {
        input,
        steps: &names,
    };
    let triggers: Vec<_> = items
        .triggers
        .iter()
        .map(|t| check_trigger(cx, index, file, t, &tcx, &mut uses))
        .collect();
    let has_webhook = items
        .triggers
        .iter()
        .any(|t| matches!(t, Trigger::Webhook(_)));
    let defaults = items
        .defaults
        .map(|d| check_defaults(cx, file, d))
        .unwrap_or_default();

    let scx = StepCx {
        names: &names,
        for_each_vars: &vars,
        input,
        trigger: if has_webhook {
            TriggerAccess::Allowed
        } else {
            TriggerAccess::NoWebhook
        },
    };
    let main: Vec<CheckedStep<'_>> = items
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| check_step(cx, index, file, s, StepSlot::Main(i), &scx))
        .collect();
    let on_failure: Vec<CheckedStep<'_>> = on_failure_steps
        .iter()
        .enumerate()
        .map(|(k, s)| check_step(cx, index, file, s, StepSlot::OnFailure(k), &scx))
        .collect();

    if let Some(output) = items.output {
        let scope = Scope {
            input,
            run: true,
            steps: Some(StepAccess {
                names: &names,
                rule: StepRule::Output,
                own: None,
            }),
            known_steps: Some(&names),
            for_each_vars: Some(&vars),
            mappings: true,
            ..Scope::constant(Place::Output)
        };
        Walker::new(cx, index, file, scope, &mut uses).expr(output);
    }

    let graph = deps::main_graph(cx, file, &main);
    deps::check_compensations(cx, file, &main, &graph.graph);
    let failure_deps = deps::on_failure_deps(&on_failure);

    for step in main.iter().chain(&on_failure) {
        uses.extend(&step.uses);
        uses.extend(&step.compensate_uses);
    }
    if blocked || cx.errors() != before {
        return CheckedWorkflow { plan: None, uses };
    }

    // The plan: everything below only fails if something it uses has errors of its own.
    let connections_here = pcx.connections_seen_from(file);
    let plan = (|| {
        let mapping_names = mappings::closure(&uses.mappings, pcx.mappings)?;
        let mut required = mappings::mapping_uses(&mapping_names, pcx.mappings);
        required.extend(&uses);
        let steps = main
            .iter()
            .zip(graph.deps.clone())
            .enumerate()
            .map(|(i, (s, d))| step_plan(s, StepId(i), d, &connections_here, &defaults))
            .collect::<Option<Vec<_>>>()?;
        let failure = on_failure
            .iter()
            .zip(failure_deps)
            .enumerate()
            .map(|(k, (s, d))| step_plan(s, StepId(k), d, &connections_here, &defaults))
            .collect::<Option<Vec<_>>>()?;
        let mut connections = BTreeMap::new();
        for step in steps.iter().chain(&failure) {
            let used = step
                .connection
                .iter()
                .chain(step.compensate.as_ref().and_then(|c| c.connection.as_ref()));
            for name in used {
                let checked = connections_here.get(name.as_str())?;
                required.env.extend(checked.uses.env.iter().cloned());
                required
                    .secrets
                    .extend(checked.uses.secrets.iter().cloned());
                connections.insert(name.clone(), checked.plan.clone()?);
            }
        }
        let mappings = mapping_names
            .iter()
            .map(|n| {
                index
                    .mappings
                    .get(n.as_str())
                    .map(|m| (n.clone(), m.item.clone()))
            })
            .collect::<Option<BTreeMap<_, _>>>()?;
        Some(WorkflowPlan {
            name: workflow.name.name.clone(),
            file: file_name.to_string(),
            description: items.description.map(|d| d.value.clone()),
            input_declared: items.input.is_some(),
            inputs,
            triggers: triggers.into_iter().collect::<Option<Vec<_>>>()?,
            steps,
            graph: graph.graph,
            order: graph.order?,
            on_failure: failure,
            output: items.output.cloned(),
            connections,
            mappings,
            required_env: required.env,
            required_secrets: required.secrets,
        })
    })();
    CheckedWorkflow { plan, uses }
}
