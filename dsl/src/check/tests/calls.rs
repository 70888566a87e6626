//! Calls and arguments: E0304–E0307, E0401–E0404, E0604, E0606.

use super::*;

#[test]
fn unknown_function_suggests_one() {
    let d = assert_error(
        "workflow w {\n  step a = transform(uper(\"x\"))\n}",
        "E0304",
        "uper",
    );
    assert_eq!(hint(&d), "did you mean `upper`?");
    let d = assert_error(
        "mapping deal(o) = o\nworkflow w { step a = transform(dael(1)) }",
        "E0304",
        "dael",
    );
    assert_eq!(hint(&d), "did you mean `deal`?");
    let d = assert_error(
        "mapping a(x) = b(x)\nworkflow w { step s = transform(a(1)) }",
        "E0304",
        "b",
    );
    assert!(d.message.contains("`b`"));
}

#[test]
fn unknown_step_function() {
    let d = assert_error(
        "workflow w {\n  step a = http.fetch(\"https://x.example\")\n}",
        "E0304",
        "http.fetch",
    );
    assert!(hint(&d).starts_with("did you mean `http."), "{}", hint(&d));
    let d = assert_error("workflow w { step a = slep(5s) }", "E0304", "slep");
    assert_eq!(hint(&d), "did you mean `sleep`?");
}

#[test]
fn unknown_module() {
    let d = assert_error(
        "workflow w {\n  step a = htp.get(\"https://x.example\")\n}",
        "E0305",
        "htp",
    );
    assert_eq!(hint(&d), "did you mean `http`?");
    assert_error(
        "workflow w { step a = transform(strings.upper(\"x\")) }",
        "E0305",
        "strings",
    );
}

#[test]
fn unknown_child_workflow() {
    let d = assert_error(
        "workflow parent {\n  step child = workflow.run(\"fulfilmnt\", input: {})\n}\nworkflow fulfilment {\n  step a = transform(1)\n}",
        "E0306",
        "\"fulfilmnt\"",
    );
    assert_eq!(hint(&d), "did you mean `fulfilment`?");
    assert_error(
        "workflow parent { input { name: string } step child = workflow.run(input.name) }",
        "E0404",
        "input.name",
    );
    assert_clean("workflow a { step c = workflow.run(\"b\", input: { x: 1 }) }\nworkflow b { step s = transform(input.x) }");
}

#[test]
fn unknown_input_type() {
    let d = assert_error(
        "workflow w {\n  input {\n    id: integer\n  }\n  step a = transform(input.id)\n}",
        "E0307",
        "integer",
    );
    assert_eq!(hint(&d), "did you mean `int`?");
}

#[test]
fn argument_counts() {
    let d = assert_error(
        "workflow w {\n  step a = transform(len(\"a\", \"b\"))\n}",
        "E0401",
        "\"b\"",
    );
    assert_eq!(d.message, "`len` takes 1 argument, found 2");
    let d = assert_error(
        "workflow w { step a = transform(replace(\"abc\", \"a\")) }",
        "E0401",
        "replace(\"abc\", \"a\")",
    );
    assert_eq!(d.message, "`replace` takes 3 arguments, found 2");
    let d = assert_error("workflow w { step a = transform(now(1)) }", "E0401", "1");
    assert_eq!(d.message, "`now` takes no arguments, found 1");
    let d = assert_error(
        "workflow w { step a = transform(round(1, 2, 3)) }",
        "E0401",
        "3",
    );
    assert_eq!(d.message, "`round` takes 1 to 2 arguments, found 3");
    let d = assert_error(
        "workflow w { step a = transform(merge()) }",
        "E0401",
        "merge()",
    );
    assert_eq!(d.message, "`merge` takes at least 1 argument, found 0");
    let d = assert_error(
        "mapping m(a, b) = a\nworkflow w { step s = transform(m(1)) }",
        "E0401",
        "m(1)",
    );
    assert_eq!(d.message, "`m` takes 2 arguments, found 1");
    assert_eq!(d.secondary[0].message, "mapping defined here");
    assert_error("workflow w { step a = http.get() }", "E0401", "http.get()");
    assert_error(
        "workflow w { step a = transform(env(\"A\", \"B\")) }",
        "E0401",
        "env(\"A\", \"B\")",
    );
}

#[test]
fn named_arguments() {
    let d = assert_error(
        "workflow w {\n  step a = http.post(\"https://x.example\", bdy: { a: 1 })\n}",
        "E0402",
        "bdy",
    );
    assert_eq!(hint(&d), "did you mean `body`?");
    let d = assert_error(
        "workflow w { step a = transform(len(\"x\", of: 1)) }",
        "E0402",
        "of",
    );
    assert!(hint(&d).contains("no named arguments"));
    assert_error(
        "mapping m(x) = x\nworkflow w { step a = transform(m(1, y: 2)) }",
        "E0402",
        "y",
    );
    let d = assert_error(
        "workflow w {\n  step a = http.paginate(\"https://x.example/items\", items: \"data\")\n}",
        "E0403",
        "http.paginate",
    );
    assert!(d.message.contains("`style`"));
}

#[test]
fn pure_function_as_a_step() {
    let d = assert_error("workflow w {\n  step a = len([1, 2])\n}", "E0404", "len");
    assert!(hint(&d).contains("transform("), "{}", hint(&d));
    let d = assert_error(
        "mapping m(x) = x\nworkflow w { step a = m(1) }",
        "E0404",
        "m",
    );
    assert!(hint(&d).contains("transform(m("));
}

#[test]
fn step_function_in_an_expression() {
    let d = assert_error(
        "workflow w {\n  step a = transform(http.get(\"https://x.example\"))\n}",
        "E0404",
        "http.get",
    );
    assert_eq!(d.message, "`http.get` can only be called as a step");
    assert_error(
        "workflow w { step a = transform(sleep(5s)) }",
        "E0404",
        "sleep",
    );
    assert_error(
        "workflow w { step a = transform(transform(1)) }",
        "E0404",
        "transform",
    );
}

#[test]
fn secret_and_env_need_literal_names() {
    assert_error(
        "workflow w {\n  input { name: string }\n  step a = http.get(\"https://x.example\", headers: { token: secret(input.name) })\n}",
        "E0404",
        "input.name",
    );
    assert_error(
        "workflow w { step a = transform(env(\"A_${1}\")) }",
        "E0404",
        "\"A_${1}\"",
    );
    assert_error(
        "workflow w { step a = transform(env(\"\")) }",
        "E0404",
        "\"\"",
    );
    let (_, out) = check("workflow w { step a = transform(secret(name: \"X\")) }");
    assert_eq!(
        codes(&out),
        ["E0401", "E0402"],
        "no positional name, and an unknown named argument"
    );
}

#[test]
fn lambdas_only_where_a_function_takes_one() {
    let d = assert_error(
        "workflow w {\n  step a = transform(x => x)\n}",
        "E0606",
        "x => x",
    );
    assert!(hint(&d).contains("map"));
    assert_error(
        "workflow w { step a = transform({ f: x => x }) }",
        "E0606",
        "x => x",
    );
    assert_error(
        "workflow w { step a = transform(len(x => x)) }",
        "E0404",
        "x => x",
    );
    assert_error(
        "workflow w { input { xs: array } step a = transform(map(input.xs, (a, b) => a)) }",
        "E0404",
        "(a, b) => a",
    );
    let d = assert_error(
        "workflow w { input { xs: array } step a = transform(map(input.xs, input)) }",
        "E0404",
        "input",
    );
    assert!(hint(&d).contains("x => …"));
    assert_error(
        "workflow w { step a = http.post(\"https://x\", body: x => x) }",
        "E0404",
        "x => x",
    );
    assert_error(
        "mapping m(x) = x\nworkflow w { step a = transform(m(x => x)) }",
        "E0404",
        "x => x",
    );
}

#[test]
fn duration_arguments() {
    let d = assert_error(
        "workflow w {\n  step a = sleep(\"5s\")\n}",
        "E0604",
        "\"5s\"",
    );
    assert_eq!(d.message, "`sleep` expects a duration, found a string");
    assert_error("workflow w { step a = sleep(5000) }", "E0604", "5000");
    assert_clean("workflow w { input { wait: number } step a = sleep(input.wait) step b = sleep(5m) { after a } }");
}

#[test]
fn named_timeout_is_a_duration() {
    assert_error(
        "workflow w { step a = wait_signal(\"go\", timeout: \"2d\") }",
        "E0604",
        "\"2d\"",
    );
    assert_clean("workflow w { step a = wait_signal(\"go\", timeout: 2d) }");
}

#[test]
fn a_mapping_where_a_function_goes() {
    let d = assert_error(
        "mapping shape(x) = x\nworkflow w { input { xs: array } step a = transform(map(input.xs, shape)) }",
        "E0404",
        "shape",
    );
    assert_eq!(hint(&d), "write a function such as `x => shape(x)`");
    let d = assert_error(
        "mapping shape(x) = x\nworkflow w { step a = transform(shape) }",
        "E0301",
        "shape",
    );
    assert_eq!(hint(&d), "call it, as in `shape(…)`");
}
