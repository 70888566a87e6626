//! A workflow's step graph as Graphviz dot or a Mermaid flowchart (`braid graph`).
//!
//! Nodes are steps labelled with their name and function (and connection); `for_each`, `when`,
//! `compensate` and `on_error continue` are shown on extra label lines. Data edges are solid,
//! `after` edges dashed. `on_failure` steps are drawn in a separate group.

use super::pretty::{self, truncate};
use super::{EdgeKind, OnError, StepPlan, WorkflowPlan};
use petgraph::visit::EdgeRef;
use std::fmt::Write;

/// The longest expression shown in a label before it is cut with `…`.
const MAX_EXPR: usize = 40;

/// The label lines of a step.
fn label_lines(step: &StepPlan) -> Vec<String> {
    let mut lines = vec![step.name.clone()];
    lines.push(match &step.connection {
        Some(c) => format!("{}({c})", step.function),
        None => step.function.clone(),
    });
    if let Some(f) = &step.for_each {
        lines.push(format!(
            "for_each {} in {} (concurrency {})",
            f.var,
            truncate(&pretty::expr(&f.list), MAX_EXPR),
            f.concurrency
        ));
    }
    if let Some(w) = &step.when {
        lines.push(format!("when {}", truncate(&pretty::expr(w), MAX_EXPR)));
    }
    if let Some(c) = &step.compensate {
        lines.push(match &c.connection {
            Some(conn) => format!("compensate: {}({conn})", c.function),
            None => format!("compensate: {}", c.function),
        });
    }
    if step.on_error == OnError::Continue {
        lines.push("on_error continue".into());
    }
    lines
}

/// Escapes text for a double-quoted dot string.
fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz dot.
pub fn to_dot(plan: &WorkflowPlan) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&plan.name));
    let _ = writeln!(
        out,
        "  node [shape=box, style=rounded, fontname=\"Helvetica\"];"
    );
    for step in &plan.steps {
        let label: Vec<String> = label_lines(step).iter().map(|l| dot_escape(l)).collect();
        let _ = writeln!(out, "  s{} [label=\"{}\"];", step.id.0, label.join("\\n"));
    }
    for edge in plan.graph.edge_references() {
        let style = match edge.weight() {
            EdgeKind::Data => "",
            EdgeKind::After => " [style=dashed]",
        };
        let _ = writeln!(
            out,
            "  s{} -> s{}{style};",
            edge.source().index(),
            edge.target().index()
        );
    }
    if !plan.on_failure.is_empty() {
        let _ = writeln!(out, "  subgraph cluster_on_failure {{");
        let _ = writeln!(out, "    label=\"on_failure\";");
        let _ = writeln!(out, "    style=dashed;");
        for step in &plan.on_failure {
            let label: Vec<String> = label_lines(step).iter().map(|l| dot_escape(l)).collect();
            let _ = writeln!(out, "    f{} [label=\"{}\"];", step.id.0, label.join("\\n"));
        }
        for step in &plan.on_failure {
            for dep in &step.deps {
                let _ = writeln!(out, "    f{} -> f{};", dep.0, step.id.0);
            }
        }
        let _ = writeln!(out, "  }}");
    }
    out.push_str("}\n");
    out
}

/// Escapes text for a quoted Mermaid label (entity codes; `#` first so they survive).
fn mermaid_escape(text: &str) -> String {
    text.replace('#', "#35;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

/// A Mermaid flowchart.
pub fn to_mermaid(plan: &WorkflowPlan) -> String {
    let mut out = String::from("flowchart TD\n");
    for step in &plan.steps {
        let label: Vec<String> = label_lines(step)
            .iter()
            .map(|l| mermaid_escape(l))
            .collect();
        let _ = writeln!(out, "  s{}[\"{}\"]", step.id.0, label.join("<br/>"));
    }
    for edge in plan.graph.edge_references() {
        let arrow = match edge.weight() {
            EdgeKind::Data => "-->",
            EdgeKind::After => "-.->",
        };
        let _ = writeln!(
            out,
            "  s{} {arrow} s{}",
            edge.source().index(),
            edge.target().index()
        );
    }
    if !plan.on_failure.is_empty() {
        out.push_str("  subgraph on_failure\n");
        for step in &plan.on_failure {
            let label: Vec<String> = label_lines(step)
                .iter()
                .map(|l| mermaid_escape(l))
                .collect();
            let _ = writeln!(out, "    f{}[\"{}\"]", step.id.0, label.join("<br/>"));
        }
        for step in &plan.on_failure {
            for dep in &step.deps {
                let _ = writeln!(out, "    f{} --> f{}", dep.0, step.id.0);
            }
        }
        out.push_str("  end\n");
    }
    out
}
