//! Dependencies between steps: the main DAG (with cycles named, E0502), compensations that
//! read steps not upstream of their step (E0501), and the order of `on_failure` steps.

use super::context::{Cx, StepSlot};
use super::steps::CheckedStep;
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::graph;
use crate::plan::{EdgeKind, StepId};
use crate::span::{FileId, Span};
use petgraph::graph::Graph;
use std::collections::HashMap;

/// The main steps' graph.
pub(crate) struct MainGraph {
    /// The DAG (node `i` is step `i`; edges from dependency to dependent).
    pub graph: Graph<StepId, EdgeKind>,
    /// A topological order, when there is no cycle.
    pub order: Option<Vec<StepId>>,
    /// Each step's direct dependencies, sorted.
    pub deps: Vec<Vec<StepId>>,
}

/// Builds the graph of the main steps and reports each cycle once (E0502).
pub(crate) fn main_graph(cx: &mut Cx<'_>, file: FileId, steps: &[CheckedStep<'_>]) -> MainGraph {
    let mut edges = Vec::new();
    // The first reference making each edge, to point at it when the edge is on a cycle.
    let mut spans: HashMap<(usize, usize), (Span, bool)> = HashMap::new();
    let mut deps: Vec<Vec<StepId>> = vec![Vec::new(); steps.len()];
    for (i, step) in steps.iter().enumerate() {
        for r in &step.uses.steps {
            if let StepSlot::Main(j) = r.slot {
                let kind = if r.after {
                    EdgeKind::After
                } else {
                    EdgeKind::Data
                };
                edges.push((StepId(j), StepId(i), kind));
                spans.entry((j, i)).or_insert((r.span, r.after));
                deps[i].push(StepId(j));
            }
        }
        deps[i].sort_unstable();
        deps[i].dedup();
    }
    let graph = graph::build(steps.len(), &edges);
    for cycle in graph::cycles(&graph) {
        report_cycle(cx, file, steps, &cycle, &spans);
    }
    let order = graph::topo_order(&graph);
    MainGraph { graph, order, deps }
}

fn report_cycle(
    cx: &mut Cx<'_>,
    file: FileId,
    steps: &[CheckedStep<'_>],
    cycle: &[StepId],
    spans: &HashMap<(usize, usize), (Span, bool)>,
) {
    let name = |id: StepId| steps.get(id.0).map_or("?", |s| s.ast.name.name.as_str());
    let Some(&first) = cycle.first() else { return };
    let mut chain: Vec<&str> = cycle.iter().map(|&id| name(id)).collect();
    chain.push(name(first));
    let mut d = Diagnostic::error(
        Code::Cycle,
        file,
        steps[first.0].ast.name.span,
        format!("steps form a cycle: {}", chain.join(" → ")),
    )
    .with_label("this step ends up depending on itself")
    .with_hint("remove one of these references; data must flow one way between steps");
    for (k, &from) in cycle.iter().enumerate() {
        let to = cycle[(k + 1) % cycle.len()];
        if let Some(&(span, after)) = spans.get(&(from.0, to.0)) {
            let label = if after {
                format!("`{}` runs after `{}`", name(to), name(from))
            } else {
                format!("`{}` reads `{}`", name(to), name(from))
            };
            d = d.with_secondary(file, span, label);
        }
    }
    cx.report(d);
}

/// E0501 for a compensation reading a step that is not upstream of its own step: when the
/// compensation runs, that step may never have run.
pub(crate) fn check_compensations(
    cx: &mut Cx<'_>,
    file: FileId,
    steps: &[CheckedStep<'_>],
    graph: &Graph<StepId, EdgeKind>,
) {
    for (i, step) in steps.iter().enumerate() {
        let mut upstream: Option<Vec<bool>> = None;
        for r in &step.compensate_uses.steps {
            let StepSlot::Main(j) = r.slot else { continue };
            if j == i {
                continue;
            }
            let up = upstream.get_or_insert_with(|| graph::upstream(graph, StepId(i)));
            if !up.get(j).copied().unwrap_or(false) {
                let (own, other) = (step.ast.name.name.as_str(), steps[j].ast.name.name.as_str());
                cx.report(
                    Diagnostic::error(Code::NotUpstream, file, r.span, format!("the compensation of `{own}` reads `{other}`, which is not upstream of `{own}`"))
                        .with_label(format!("`{other}` may not have run when `{own}` is undone"))
                        .with_hint(format!("a compensation can read its own step (`{own}`) and the steps `{own}` depends on")),
                );
            }
        }
    }
}

/// The dependencies of each `on_failure` step (earlier `on_failure` steps it reads or waits for).
pub(crate) fn on_failure_deps(steps: &[CheckedStep<'_>]) -> Vec<Vec<StepId>> {
    steps
        .iter()
        .map(|step| {
            let mut deps: Vec<StepId> = step
                .uses
                .steps
                .iter()
                .filter_map(|r| match r.slot {
                    StepSlot::OnFailure(m) => Some(StepId(m)),
                    StepSlot::Main(_) => None,
                })
                .collect();
            deps.sort_unstable();
            deps.dedup();
            deps
        })
        .collect()
}
