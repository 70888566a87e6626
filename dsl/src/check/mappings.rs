//! Mappings: their bodies (parameters, other mappings, pure functions, `env()`, `secret()`),
//! recursion between them (E0507), and which mappings a workflow needs, transitively.

use super::context::{Cx, Uses};
use super::names::Index;
use super::scope::{Place, Scope};
use super::walk::Walker;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{HashMap, HashSet};

/// A mapping after checking.
pub(crate) struct CheckedMapping {
    /// What its body reads (the mappings it calls included).
    pub uses: Uses,
    /// Whether it, and every mapping it calls, is free of errors.
    pub ok: bool,
}

/// Checks every mapping and reports cycles of calls; the result holds the first definition of
/// each name.
pub(crate) fn check_mappings<'a>(
    cx: &mut Cx<'_>,
    index: &Index<'a>,
) -> HashMap<&'a str, CheckedMapping> {
    let mut out: HashMap<&'a str, CheckedMapping> = HashMap::with_capacity(index.mappings.len());
    for at in &index.mapping_list {
        let m = at.item;
        let before = cx.errors();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for p in &m.params {
            if let Some(&first) = seen.get(p.name.as_str()) {
                cx.report(
                    Diagnostic::error(
                        Code::DuplicateField,
                        at.file,
                        p.span,
                        format!("parameter `{}` is declared twice", p.name),
                    )
                    .with_label("declared again here")
                    .with_secondary(at.file, first, "first declared here"),
                );
            } else {
                seen.insert(p.name.as_str(), p.span);
            }
        }
        let mut uses = Uses::default();
        let scope = Scope {
            params: &m.params,
            mappings: true,
            ..Scope::constant(Place::Mapping)
        };
        Walker::new(cx, index, at.file, scope, &mut uses).expr(&m.body);
        let name = m.name.name.as_str();
        let ok = cx.errors() == before && !index.duplicated_mapping(name);
        out.entry(name).or_insert(CheckedMapping { uses, ok });
    }
    report_recursion(cx, index, &mut out);
    propagate_errors(&mut out);
    out
}

/// E0507 once per group of mappings that call each other; all of them are marked bad.
fn report_recursion(
    cx: &mut Cx<'_>,
    index: &Index<'_>,
    checked: &mut HashMap<&str, CheckedMapping>,
) {
    // Nodes in source order of first definitions, so messages are stable.
    let mut seen = HashSet::new();
    let order: Vec<&str> = index
        .mapping_list
        .iter()
        .map(|at| at.item.name.name.as_str())
        .filter(|n| seen.insert(*n))
        .collect();
    let mut graph: DiGraph<usize, Span> = DiGraph::new();
    let nodes: HashMap<&str, NodeIndex> = order
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, graph.add_node(i)))
        .collect();
    for name in &order {
        if let Some(m) = checked.get(name) {
            for (callee, span) in &m.uses.mappings {
                if let (Some(&a), Some(&b)) = (nodes.get(name), nodes.get(callee.as_str())) {
                    graph.add_edge(a, b, *span);
                }
            }
        }
    }
    for component in petgraph::algo::tarjan_scc(&graph) {
        let self_call = component.len() == 1 && graph.contains_edge(component[0], component[0]);
        if component.len() < 2 && !self_call {
            continue;
        }
        let mut members: Vec<usize> = component.iter().map(|n| graph[*n]).collect();
        members.sort_unstable();
        let names: Vec<&str> = members.iter().map(|&i| order[i]).collect();
        let Some(first) = index.mappings.get(names[0]) else {
            continue;
        };
        let message = if self_call {
            format!("mapping `{}` calls itself", names[0])
        } else {
            let mut chain = cycle_from(&graph, &component, &order);
            chain.push(names[0]);
            format!("mappings call each other in a cycle: {}", chain.join(" → "))
        };
        let mut d = Diagnostic::error(
            Code::RecursiveMapping,
            first.file,
            first.item.name.span,
            message,
        )
        .with_label("recursive mapping")
        .with_hint("mappings cannot recurse; use `map`/`filter` over the data instead");
        for edge in graph.raw_edges() {
            let (a, b) = (edge.source(), edge.target());
            if component.contains(&a) && component.contains(&b) {
                let caller = order[graph[a]];
                if let Some(at) = index.mappings.get(caller) {
                    d = d.with_secondary(
                        at.file,
                        edge.weight,
                        format!("`{caller}` calls `{}` here", order[graph[b]]),
                    );
                }
            }
        }
        cx.report(d);
        for name in names {
            if let Some(m) = checked.get_mut(name) {
                m.ok = false;
            }
        }
    }
}

/// The cycle through the first mapping of a component, following calls in source order.
fn cycle_from<'n>(
    graph: &DiGraph<usize, Span>,
    component: &[NodeIndex],
    order: &[&'n str],
) -> Vec<&'n str> {
    crate::plan::graph::cycle_nodes(graph)
        .into_iter()
        .find(|c| c.first().is_some_and(|n| component.contains(n)))
        .map(|c| c.iter().map(|n| order[graph[*n]]).collect())
        .unwrap_or_default()
}

/// A mapping that calls a bad mapping is bad too.
fn propagate_errors(checked: &mut HashMap<&str, CheckedMapping>) {
    loop {
        let bad: HashSet<String> = checked
            .iter()
            .filter(|(_, m)| !m.ok)
            .map(|(n, _)| n.to_string())
            .collect();
        let mut changed = false;
        for m in checked.values_mut() {
            if m.ok
                && m.uses
                    .mappings
                    .iter()
                    .any(|(callee, _)| bad.contains(callee))
            {
                m.ok = false;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

/// Every mapping reachable from `direct`, in name order; `None` if any is missing or bad.
pub(crate) fn closure(
    direct: &[(String, Span)],
    checked: &HashMap<&str, CheckedMapping>,
) -> Option<Vec<String>> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack: Vec<String> = direct.iter().map(|(n, _)| n.clone()).collect();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let m = checked.get(name.as_str())?;
        if !m.ok {
            return None;
        }
        stack.extend(m.uses.mappings.iter().map(|(n, _)| n.clone()));
    }
    let mut names: Vec<String> = seen.into_iter().collect();
    names.sort();
    Some(names)
}

/// The `env()` and `secret()` names read by the given mappings.
pub(crate) fn mapping_uses(names: &[String], checked: &HashMap<&str, CheckedMapping>) -> Uses {
    let mut uses = Uses::default();
    for name in names {
        if let Some(m) = checked.get(name.as_str()) {
            uses.env.extend(m.uses.env.iter().cloned());
            uses.secrets.extend(m.uses.secrets.iter().cloned());
        }
    }
    uses
}
