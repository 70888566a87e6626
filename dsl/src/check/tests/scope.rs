//! Name resolution and scope rules: E0301, E0303, E0501, E0503–E0507.

use super::*;

#[test]
fn unknown_step_reference_suggests_a_step() {
    let d = assert_error(
        "workflow w {\n  step contact = http.get(\"https://x.example\")\n  step deal = http.post(\"https://x.example/deals\", body: { id: contcat.body.id })\n}",
        "E0301",
        "contcat",
    );
    assert_eq!(hint(&d), "did you mean `contact`?");
}

#[test]
fn input_fields_are_checked_when_declared() {
    let d = assert_error(
        "workflow w {\n  input { email: string }\n  step a = transform(upper(input.emial))\n}",
        "E0301",
        "emial",
    );
    assert_eq!(hint(&d), "did you mean `email`?");
    // Nested fields are not checked; neither is anything without an `input` block.
    assert_clean("workflow w { input { customer: object } step a = transform(input.customer.anything.deep) }");
    assert_clean("workflow w { step a = transform(input.whatever) }");
    assert_clean("workflow w { input { a: int } step s = transform(input[\"b\"]) }");
}

#[test]
fn builtin_fields() {
    let d = assert_error("workflow w { step a = transform(run.idd) }", "E0301", "idd");
    assert_eq!(hint(&d), "did you mean `id`?");
    assert_error(
        "workflow w { trigger webhook \"/h\" step a = transform(trigger.body) }",
        "E0301",
        "body",
    );
    assert_error(
        "workflow w { step a = transform(1) on_failure { step b = transform(error.msg) } }",
        "E0301",
        "msg",
    );
    assert_clean("workflow w { step a = transform([run.id, run.workflow, run.started_at]) on_failure { step b = transform([error.step, error.message, error.kind]) } }");
}

#[test]
fn lambda_parameters_are_scoped_to_their_lambda() {
    assert_error("workflow w {\n  input { xs: array }\n  step a = transform(map(input.xs, x => x.id) + [x])\n}", "E0301", "x");
    assert_clean("workflow w { input { xs: array } step a = transform(map(input.xs, x => filter(x.tags, t => t != x.id))) }");
}

#[test]
fn mappings_see_only_their_parameters() {
    let d = assert_error(
        "mapping m(x) = x.a + input.b\nworkflow w { step s = transform(m(1)) }",
        "E0301",
        "input",
    );
    assert!(hint(&d).contains("parameters"));
    assert_error("mapping m(x) = x + y", "E0301", "y");
    assert_error("mapping m(x) = x + run.id", "E0301", "run");
    assert_clean("mapping a(x) = b(x) + env(\"E\")\nmapping b(y) = upper(y)");
}

#[test]
fn connection_options_see_only_constants() {
    assert_error("connection c { base_url input.url }", "E0301", "input");
    assert_error(
        "mapping m(x) = x\nconnection c { base_url m(\"x\") }",
        "E0304",
        "m",
    );
    assert_clean(
        "connection c { base_url lower(env(\"URL\")) headers { \"X-Key\": secret(\"KEY\") } }",
    );
}

#[test]
fn connections_are_not_values() {
    let d = assert_error(
        "connection crm { base_url \"https://x\" }\nworkflow w { step a = transform(crm) }",
        "E0301",
        "crm",
    );
    assert!(d.message.contains("connection"));
}

#[test]
fn unknown_connection_suggests_one() {
    let d = assert_error(
        "connection crm {\n  base_url \"https://crm.example\"\n}\nworkflow w {\n  step a = http.get(cmr, \"/contacts\")\n}",
        "E0303",
        "cmr",
    );
    assert_eq!(hint(&d), "did you mean `crm`?");
}

#[test]
fn connection_or_url_accepts_values_in_scope() {
    assert_clean(
        "workflow w {\n  input { url: string }\n  step base = transform(input.url)\n  step a = http.get(base)\n  step b = http.get(input.url)\n  step c = http.get(env(\"U\") + \"/x\")\n}",
    );
    // A connection wins over a step of the same name.
    let (_, out) = check("connection base { base_url \"https://x\" }\nworkflow w { step base = transform(1) step a = http.get(base) }");
    assert!(codes(&out).is_empty(), "{:#?}", out.diagnostics);
    assert_eq!(
        out.project.workflows["w"].steps[1].connection.as_deref(),
        Some("base")
    );
    assert!(out.project.workflows["w"].steps[1].deps.is_empty());
}

#[test]
fn main_steps_cannot_read_on_failure_steps() {
    let d = assert_error(
        "workflow w {\n  step a = transform(alert)\n  on_failure {\n    step alert = transform(1)\n  }\n}",
        "E0501",
        "alert",
    );
    assert_eq!(d.span.start, 34);
    assert_error(
        "workflow w { step a = transform(1) output b on_failure { step b = transform(1) } }",
        "E0501",
        "b",
    );
    assert_error(
        "workflow w { step a = transform(1) { after b } on_failure { step b = transform(1) } }",
        "E0501",
        "b",
    );
}

#[test]
fn on_failure_steps_read_main_and_earlier_on_failure_steps() {
    let out = assert_clean(
        "workflow w { step a = transform(1) on_failure { step b = transform(a) step c = transform([a, b, error.step]) { after b } } }",
    );
    let plan = &out.project.workflows["w"];
    assert_eq!(plan.on_failure[1].deps, vec![crate::plan::StepId(0)]);
    assert!(
        plan.on_failure[0].deps.is_empty(),
        "main steps are not dependencies of on_failure steps"
    );
    assert_error("workflow w { step a = transform(1) on_failure { step b = transform(c) step c = transform(1) } }", "E0501", "c");
}

#[test]
fn compensation_reads_only_upstream_steps() {
    let d = assert_error(
        "workflow w {\n  step a = http.post(\"https://x.example\") {\n    compensate http.delete(\"https://x.example/${b.body.id}\")\n  }\n  step b = http.post(\"https://x.example/${a.body.id}\")\n}",
        "E0501",
        "b",
    );
    assert!(d.message.contains("not upstream"), "{}", d.message);
    assert_clean(
        "workflow w {\n  step a = http.post(\"https://x\")\n  step mid = transform(a)\n  step b = http.post(\"https://x\", body: mid) {\n    compensate http.delete(\"https://x/${b.body.id}/${a.body.id}\")\n  }\n}",
    );
}

#[test]
fn for_each_variable_only_in_its_step() {
    let d = assert_error(
        "workflow w {\n  input { xs: array }\n  step a = http.get(\"https://x.example/${item}\") {\n    for_each item in input.xs\n  }\n  step b = transform(item)\n}",
        "E0503",
        "item",
    );
    assert!(d.message.contains("step `a`"), "{}", d.message);
    assert_error(
        "workflow w { step a = http.get(\"https://x.example/${item.id}\") }",
        "E0503",
        "item",
    );
    assert_error(
        "workflow w { input { xs: array } step a = transform(1) { for_each item in item.xs } }",
        "E0503",
        "item",
    );
    assert_error(
        "workflow w { input { xs: array } step a = transform(1) { for_each item in input.xs } output item }",
        "E0503",
        "item",
    );
    // In every option of its own step, and in compensate.
    assert_clean(
        "workflow w {\n  input { xs: array }\n  step a = http.put(\"https://x/${row.id}\", body: row) {\n    for_each row in input.xs\n    when row.ok\n    idempotency_key \"k-${row.id}\"\n    expect a.status == 200 && row != null\n    compensate http.delete(\"https://x/${row.id}\")\n  }\n}",
    );
}

#[test]
fn error_only_in_on_failure() {
    assert_error(
        "workflow w {\n  step a = transform(error.message)\n}",
        "E0504",
        "error",
    );
    assert_error(
        "workflow w { step a = transform(1) output error }",
        "E0504",
        "error",
    );
}

#[test]
fn own_name_only_in_expect_and_compensate() {
    assert_error(
        "workflow w {\n  step a = http.get(\"https://x.example/${a.body.id}\")\n}",
        "E0505",
        "a",
    );
    assert_error(
        "workflow w { step a = http.get(\"https://x\") { when a != null } }",
        "E0505",
        "a",
    );
    assert_error(
        "workflow w { step a = http.get(\"https://x\") { after a } }",
        "E0505",
        "a",
    );
    let out = assert_clean("workflow w { step a = http.get(\"https://x\") { expect a.status == 200 compensate http.delete(\"https://x/${a.body.id}\") } }");
    assert!(out.project.workflows["w"].steps[0].deps.is_empty());
}

#[test]
fn trigger_needs_a_webhook() {
    let d = assert_error(
        "workflow w {\n  trigger cron \"0 * * * *\"\n  step a = transform(trigger.headers)\n}",
        "E0506",
        "trigger",
    );
    assert!(!hint(&d).is_empty());
    assert_clean(
        "workflow w { trigger webhook \"/h\" step a = transform(trigger.headers[\"x\"]) }",
    );
    assert_error(
        "workflow w { trigger webhook \"/h\" step a = transform(1) output trigger.query }",
        "E0301",
        "trigger",
    );
}

#[test]
fn dedupe_scope() {
    assert_clean(
        "workflow w { input { id: string } trigger webhook \"/h\" { dedupe header(\"X-Id\") ?? trigger.headers[\"x\"] ?? lower(input.id) } step a = transform(1) }",
    );
    assert_error("workflow w { input { id: string } trigger webhook \"/h\" { dedupe input.idd } step a = transform(1) }", "E0301", "idd");
    assert_error(
        "workflow w { trigger webhook \"/h\" { dedupe a.id } step a = transform(1) }",
        "E0301",
        "a",
    );
    assert_error(
        "workflow w { trigger webhook \"/h\" { dedupe run.id } step a = transform(1) }",
        "E0301",
        "run",
    );
    assert_error(
        "workflow w { trigger webhook \"/h\" step a = transform(header(\"X\")) }",
        "E0404",
        "header",
    );
    assert_error("workflow w { trigger webhook \"/h\" { dedupe header(\"X\", \"Y\") } step a = transform(1) }", "E0404", "header(\"X\", \"Y\")");
}

#[test]
fn cron_input_and_input_defaults_are_constants() {
    assert_error(
        "workflow w { trigger cron \"@daily\" { input { a: run.id } } step a = transform(1) }",
        "E0301",
        "run",
    );
    assert_error(
        "workflow w { input { a: string = input.b } step a = transform(1) }",
        "E0301",
        "input",
    );
    assert_clean("workflow w { trigger cron \"@daily\" { input { a: env(\"A\"), b: upper(\"x\") } } input { a: string = lower(env(\"D\")) } step s = transform(input.a) }");
}

#[test]
fn recursive_mappings_are_named() {
    let d = assert_error(
        "mapping a(x) = b(x)\nmapping b(x) = a(x)\nworkflow w { step s = transform(a(1)) }",
        "E0507",
        "a",
    );
    assert_eq!(d.message, "mappings call each other in a cycle: a → b → a");
    assert_eq!(d.secondary.len(), 2);
    let d = assert_error(
        "mapping f(x) = if x == 0 then 0 else f(x - 1)",
        "E0507",
        "f",
    );
    assert_eq!(d.message, "mapping `f` calls itself");
}

#[test]
fn a_workflow_using_a_bad_mapping_gets_no_plan() {
    let (_, out) = check("mapping bad(x) = x + nope\nmapping uses_bad(x) = bad(x)\nworkflow w { step s = transform(uses_bad(1)) }");
    assert_eq!(codes(&out), ["E0301"]);
    assert!(out.project.workflows.is_empty());
}
