//! The compiled plan: resolved policies, connections and mappings carried along, required
//! names, serialisation, rendering, and speed.

use super::*;
use crate::catalog::FunctionKind;
use crate::plan::retry::DEFAULT_STEP_TIMEOUT_MS;
use crate::plan::{
    render, AuthPlan, BackoffPolicy, ErrorClass, InputType, Jitter, OnError, WorkflowPlan,
};

const ORDERS: &str = r#"
connection crm {
  base_url "https://api.crm.example"
  auth bearer(secret("CRM_TOKEN"))
  timeout 20s
  retry { attempts 4 backoff fixed(3s) }
}

mapping shape(o) = { id: o.id, name: full(o) }
mapping full(o) = trim(o.first + " " + o.last)
mapping unused(x) = env("UNUSED") + x

workflow orders {
  description "Orders"
  input { id: int  note: string? = "none"  items: array }
  defaults {
    retry { attempts 5 jitter none on [429, 5xx] }
    timeout 45s
  }
  step contact = http.get(crm, "/contacts/${input.id}")
  step deal = http.post(crm, "/deals", body: shape(contact.body)) {
    retry { attempts 10 }
    idempotency_key "deal-${input.id}"
    compensate http.delete(crm, "/deals/${deal.body.id}") { timeout 1m }
  }
  step other = http.get(env("OTHER_URL")) { retry { backoff exponential(initial: 5s) } }
  step wait = sleep(1m) { after other }
  on_failure { step alert = http.post(env("ALERT"), body: { e: error.message }) }
}
"#;

fn orders() -> WorkflowPlan {
    let (_, out) = check(ORDERS);
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
    out.project.workflows["orders"].clone()
}

#[test]
fn retry_resolves_step_then_connection_then_defaults_then_engine() {
    let plan = orders();
    let contact = plan.step("contact").expect("contact");
    assert_eq!(contact.retry.attempts, 4, "connection beats defaults");
    assert_eq!(
        contact.retry.backoff,
        BackoffPolicy::Fixed { ms: 3_000 },
        "connection"
    );
    assert_eq!(contact.retry.jitter, Jitter::None, "defaults");
    assert_eq!(
        contact.retry.on,
        vec![ErrorClass::Status(429), ErrorClass::Range(5)],
        "defaults"
    );
    let deal = plan.step("deal").expect("deal");
    assert_eq!(deal.retry.attempts, 10, "step wins");
    assert_eq!(deal.retry.backoff, BackoffPolicy::Fixed { ms: 3_000 });
    let other = plan.step("other").expect("other");
    assert_eq!(other.retry.attempts, 5, "no connection: defaults");
    assert_eq!(
        other.retry.backoff,
        BackoffPolicy::Exponential {
            initial_ms: 5_000,
            factor: 2.0,
            max_ms: 60_000
        },
        "missing exponential arguments come from the engine"
    );
}

#[test]
fn timeouts_resolve_the_same_way_and_control_steps_have_none() {
    let plan = orders();
    assert_eq!(
        plan.step("contact").and_then(|s| s.timeout_ms),
        Some(20_000),
        "connection"
    );
    assert_eq!(
        plan.step("other").and_then(|s| s.timeout_ms),
        Some(45_000),
        "defaults"
    );
    let wait = plan.step("wait").expect("wait");
    assert_eq!(wait.kind, FunctionKind::Control);
    assert_eq!(wait.timeout_ms, None);
    let comp = plan
        .step("deal")
        .and_then(|s| s.compensate.as_ref())
        .expect("compensate");
    assert_eq!(comp.timeout_ms, Some(60_000));
    assert_eq!(comp.function, "http.delete");
    assert_eq!(comp.connection.as_deref(), Some("crm"));
    assert_eq!(
        comp.retry.attempts, 4,
        "the compensation's own connection, not the step's retry"
    );

    let out = assert_clean("workflow w { step a = http.get(\"https://x\") }");
    let a = &out.project.workflows["w"].steps[0];
    assert_eq!(a.timeout_ms, Some(DEFAULT_STEP_TIMEOUT_MS));
    assert_eq!(a.retry, crate::plan::RetryPolicy::default());
    assert_eq!(a.on_error, OnError::Fail);
}

#[test]
fn plan_carries_what_it_uses() {
    let plan = orders();
    assert_eq!(plan.description.as_deref(), Some("Orders"));
    assert_eq!(plan.file, "test.braid");
    assert!(plan.input_declared);
    let inputs: Vec<(&str, InputType, bool, bool)> = plan
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.ty, i.optional, i.default.is_some()))
        .collect();
    assert_eq!(
        inputs,
        [
            ("id", InputType::Int, false, false),
            ("note", InputType::String, true, true),
            ("items", InputType::Array, false, false)
        ]
    );
    assert_eq!(plan.connections.keys().collect::<Vec<_>>(), ["crm"]);
    assert!(matches!(
        plan.connections["crm"].auth,
        Some(AuthPlan::Bearer { .. })
    ));
    assert_eq!(
        plan.mappings.keys().collect::<Vec<_>>(),
        ["full", "shape"],
        "transitively, not `unused`"
    );
    assert_eq!(
        plan.required_env.iter().collect::<Vec<_>>(),
        ["ALERT", "OTHER_URL"]
    );
    assert_eq!(
        plan.required_secrets.iter().collect::<Vec<_>>(),
        ["CRM_TOKEN"]
    );
    assert_eq!(plan.on_failure.len(), 1);
    assert_eq!(plan.on_failure[0].name, "alert");
    let deal = plan.step("deal").expect("deal");
    assert_eq!(deal.function, "http.post");
    assert_eq!(deal.kind, FunctionKind::Step);
    assert!(deal.idempotency_key.is_some());
}

#[test]
fn project_lists_every_required_name() {
    let (_, out) = check(ORDERS);
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
    let env: Vec<&String> = out.project.required_env.iter().collect();
    assert_eq!(
        env,
        ["ALERT", "OTHER_URL", "UNUSED"],
        "unused mappings count for the project"
    );
}

#[test]
fn for_each_concurrency_defaults_to_one() {
    let out = assert_clean(
        "workflow w { input { xs: array } step a = http.get(\"https://x/${i}\") { for_each i in input.xs } step b = http.get(\"https://x/${i}\") { for_each i in input.xs concurrency 8 } }",
    );
    let plan = &out.project.workflows["w"];
    let f = plan.steps[0].for_each.as_ref().expect("for_each");
    assert_eq!(
        (f.var.as_str(), f.concurrency),
        ("i", crate::plan::DEFAULT_CONCURRENCY)
    );
    assert_eq!(crate::plan::DEFAULT_CONCURRENCY, 1);
    assert_eq!(
        plan.steps[1].for_each.as_ref().map(|f| f.concurrency),
        Some(8)
    );
}

#[test]
fn plans_round_trip_through_json() {
    let plan = orders();
    let json = serde_json::to_string(&plan).expect("serialises");
    let back: WorkflowPlan = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(
        serde_json::to_string(&back).expect("again"),
        json,
        "stable bytes for content hashing"
    );
    assert_eq!(back.steps, plan.steps);
    assert_eq!(back.graph.edge_count(), plan.graph.edge_count());
}

#[test]
fn renders_dot_and_mermaid() {
    let out = assert_clean(
        "workflow w {\n  input { xs: array }\n  step a = http.post(\"https://x\") { compensate http.delete(\"https://x\") }\n  step b = http.get(\"https://x/${i}\", body: a) { for_each i in input.xs concurrency 4 when a.ok == \"yes\" }\n  step c = sleep(1m) { after b on_error continue }\n  on_failure { step f = transform(error) step g = transform(f) }\n}",
    );
    let plan = &out.project.workflows["w"];
    let dot = render::to_dot(plan);
    assert!(dot.starts_with("digraph \"w\" {"), "{dot}");
    assert!(
        dot.contains("s0 [label=\"a\\nhttp.post\\ncompensate: http.delete\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("for_each i in input.xs (concurrency 4)"),
        "{dot}"
    );
    assert!(
        dot.contains("when a.ok == \\\"yes\\\""),
        "quotes escaped: {dot}"
    );
    assert!(dot.contains("s0 -> s1;"), "{dot}");
    assert!(dot.contains("s1 -> s2 [style=dashed];"), "{dot}");
    assert!(dot.contains("subgraph cluster_on_failure"), "{dot}");
    assert!(dot.contains("f0 -> f1;"), "{dot}");
    let mermaid = render::to_mermaid(plan);
    assert!(mermaid.starts_with("flowchart TD\n"), "{mermaid}");
    assert!(mermaid.contains("s0 --> s1"), "{mermaid}");
    assert!(mermaid.contains("s1 -.-> s2"), "{mermaid}");
    assert!(
        mermaid.contains("when a.ok == #quot;yes#quot;"),
        "{mermaid}"
    );
    assert!(mermaid.contains("subgraph on_failure"), "{mermaid}");
    assert!(mermaid.contains("on_error continue"), "{mermaid}");
}

/// 100 workflows of 20 steps: the checker must stay linear. The 100 ms target is for release
/// builds (see `stdlib/benches/check.rs`); debug builds get a generous bound.
#[test]
fn checks_two_thousand_steps_quickly() {
    let mut files = Vec::new();
    for w in 0..100 {
        let mut text = format!("connection api{w} {{ base_url env(\"API_{w}\") }}\nmapping m{w}(x) = {{ id: x.id, n: upper(x.name ?? \"\") }}\nworkflow flow{w} {{\n  input {{ id: int items: array }}\n  step s0 = http.get(api{w}, \"/o/${{input.id}}\")\n");
        for s in 1..20 {
            let p = s - 1;
            text.push_str(&match s % 3 {
                0 => format!("  step s{s} = http.post(api{w}, \"/t/${{s{p}.body.id}}\", body: m{w}(s{p}.body)) {{ compensate http.delete(api{w}, \"/t/${{s{s}.body.id}}\") }}\n"),
                1 => format!("  step s{s} = transform(map(filter(input.items, i => i.q > 0), i => {{ sku: i.sku, from: s{p} }}))\n"),
                _ => format!("  step s{s} = http.put(api{w}, \"/l/${{item.sku}}\", body: item) {{ for_each item in s{p} concurrency 4 after s0 }}\n"),
            });
        }
        text.push_str("  output s19\n}\n");
        files.push((format!("f{w}.braid"), text));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let mut sources = SourceMap::new();
    let modules: Vec<_> = refs
        .iter()
        .map(|(n, t)| {
            let file = sources.add(*n, *t);
            let (module, syntax) = crate::parser::parse(file, t);
            assert!(syntax.is_empty(), "{syntax:#?}");
            module
        })
        .collect();
    let start = std::time::Instant::now();
    let out = check_project(&sources, &modules, &library::TestLibrary);
    let elapsed = start.elapsed();
    assert!(
        out.diagnostics.is_empty(),
        "{:#?}",
        &out.diagnostics[..out.diagnostics.len().min(3)]
    );
    assert_eq!(
        out.project
            .workflows
            .values()
            .map(|w| w.steps.len())
            .sum::<usize>(),
        2000
    );
    // Speed is measured by `cargo bench -p braid-stdlib --bench check`, not asserted here.
    eprintln!("checked 2,000 steps in {elapsed:?}");
}

#[test]
fn long_operator_chains_do_not_exhaust_the_stack() {
    // The walk loops down operator chains; the parser refuses trees deeper than
    // `syntax::MAX_EXPR_DEPTH`, so the longest chain it accepts must check in 2 MiB of stack.
    let chain = vec!["input.a"; crate::syntax::MAX_EXPR_DEPTH / 2].join(" + ");
    let text = format!("workflow w {{ input {{ a: int }} step s = transform({chain}) }}");
    let mut sources = SourceMap::new();
    let file = sources.add("long.braid", text.as_str());
    let (module, syntax) = crate::parser::parse(file, &text);
    assert!(syntax.is_empty(), "{syntax:?}");
    let diagnostics = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            check_project(&sources, &[module], &library::TestLibrary)
                .diagnostics
                .len()
        })
        .expect("thread")
        .join()
        .expect("no overflow");
    assert_eq!(diagnostics, 0);
}
