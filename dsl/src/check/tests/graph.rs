//! Dependencies: `after` (E0302), cycles (E0502), order and edges; several errors in one pass.

use super::*;
use crate::plan::{EdgeKind, StepId};

#[test]
fn unknown_step_in_after_does_not_cascade() {
    let d = assert_error(
        "workflow w {\n  step a = transform(1)\n  step b = transform(2) {\n    after c\n  }\n}",
        "E0302",
        "c",
    );
    assert!(d.message.contains("`c`"));
    let d = assert_error(
        "workflow w { step alpha = transform(1) step b = transform(2) { after alpah } }",
        "E0302",
        "alpah",
    );
    assert_eq!(hint(&d), "did you mean `alpha`?");
}

#[test]
fn two_step_cycle_is_named_once() {
    let d = assert_error(
        "workflow w {\n  step a = transform(b)\n  step b = transform(a)\n}",
        "E0502",
        "a",
    );
    assert_eq!(d.message, "steps form a cycle: a → b → a");
    let labels: Vec<&str> = d.secondary.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(labels, ["`b` reads `a`", "`a` reads `b`"]);
}

#[test]
fn cycle_through_after_names_every_step_in_order() {
    let d = assert_error(
        "workflow w {\n  step a = transform(1) {\n    after c\n  }\n  step b = transform(a)\n  step c = transform(b)\n}",
        "E0502",
        "a",
    );
    assert_eq!(d.message, "steps form a cycle: a → b → c → a");
    assert!(d
        .secondary
        .iter()
        .any(|l| l.message == "`a` runs after `c`"));
}

#[test]
fn separate_cycles_are_reported_separately() {
    let (_, out) = check(
        "workflow w {\n  step a = transform(b)\n  step b = transform(a)\n  step c = transform(d)\n  step d = transform(c)\n  step e = transform(a)\n}",
    );
    let messages: Vec<&str> = out.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "steps form a cycle: a → b → a",
            "steps form a cycle: c → d → c"
        ]
    );
}

#[test]
fn edges_order_and_kinds() {
    let out = assert_clean(
        "workflow w {\n  step d = transform(b.x + a.y)\n  step a = transform(1)\n  step b = transform(a) { after a }\n  step c = transform(1) { after d, b }\n}",
    );
    let plan = &out.project.workflows["w"];
    let ids = |v: &[usize]| v.iter().map(|&i| StepId(i)).collect::<Vec<_>>();
    assert_eq!(plan.order, ids(&[1, 2, 0, 3]));
    assert_eq!(plan.steps[0].deps, ids(&[1, 2]));
    assert_eq!(plan.steps[2].deps, ids(&[1]));
    assert_eq!(plan.steps[3].deps, ids(&[0, 2]));
    assert_eq!(plan.graph.node_count(), 4);
    assert_eq!(plan.graph.edge_count(), 5);
    let kind = |from: usize, to: usize| {
        let e = plan.graph.find_edge(
            petgraph::graph::NodeIndex::new(from),
            petgraph::graph::NodeIndex::new(to),
        );
        e.map(|e| plan.graph[e])
    };
    assert_eq!(
        kind(1, 2),
        Some(EdgeKind::Data),
        "data and after on one pair is one data edge"
    );
    assert_eq!(kind(0, 3), Some(EdgeKind::After));
    assert_eq!(plan.dependents(StepId(1)), ids(&[0, 2]));
}

#[test]
fn several_errors_in_one_pass() {
    let (sources, out) = check_files(&[
        (
            "a.braid",
            "connection crm { base_url \"https://x\" timout 5s }\n\
             workflow one {\n  step a = http.get(cmr)\n  step b = transform(uper(a.x))\n  step c = transform(1) { after nope }\n  step d = sleep(\"5s\")\n}",
        ),
        ("b.braid", "workflow two {\n  input { id: integer }\n  step x = transform(item)\n  step y = transform(y)\n}"),
    ]);
    let found: Vec<(&str, &str)> = out
        .diagnostics
        .iter()
        .map(|d| (d.code.as_str(), spanned(&sources, d)))
        .collect();
    assert_eq!(
        found,
        [
            ("E0201", "timout"),
            ("E0303", "cmr"),
            ("E0304", "uper"),
            ("E0302", "nope"),
            ("E0604", "\"5s\""),
            ("E0307", "integer"),
            ("E0503", "item"),
            ("E0505", "y"),
        ]
    );
    assert!(out.project.workflows.is_empty());
}
