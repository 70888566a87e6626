use super::*;
use crate::ast::{Item, WorkflowItem};
use crate::catalog::{FunctionKind, Signature};
use crate::span::FileId;
use chrono::{DateTime, Utc};
use serde_json::json;

/// A two-function library: `len` and `map`, enough to exercise values and lambdas.
struct TinyLibrary;

impl Library for TinyLibrary {
    fn signature(&self, _: &str) -> Option<&Signature> {
        None
    }
    fn signatures(&self) -> Vec<&Signature> {
        Vec::new()
    }
    fn modules(&self) -> Vec<&'static str> {
        Vec::new()
    }
    fn call_pure(
        &self,
        name: &str,
        args: &[ArgValue<'_>],
        _: &dyn Host,
    ) -> Result<Value, EvalError> {
        match (name, args) {
            ("len", [ArgValue::Value(Value::Array(a))]) => Ok(json!(a.len())),
            ("map", [ArgValue::Value(Value::Array(a)), ArgValue::Lambda(f)]) => a
                .iter()
                .map(|x| f(std::slice::from_ref(x)))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Err(EvalError::new(
                EvalErrorKind::Function,
                format!("no {name}"),
            )),
        }
    }
}

struct TestHost;

impl Host for TestHost {
    fn env(&self, name: &str) -> Option<String> {
        (name == "REGION").then(|| "eu".to_string())
    }
    fn secret(&self, name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cr3t".to_string())
    }
    fn now(&self) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH
    }
    fn uuid(&self) -> String {
        "u".into()
    }
}

/// Parses `prelude` + a workflow whose only step is `transform(src)` and evaluates `src`.
fn eval_with(prelude: &str, src: &str, scope: &Scope) -> Result<Value, EvalError> {
    let text = format!("{prelude}\nworkflow w {{\n  step s = transform({src})\n}}\n");
    let (module, diagnostics) = crate::syntax::parse(FileId(0), &text);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let mut mappings = BTreeMap::new();
    let mut expr = None;
    for item in module.items {
        match item {
            Item::Mapping(m) => {
                mappings.insert(m.name.name.clone(), m);
            }
            Item::Workflow(w) => {
                if let Some(WorkflowItem::Step(step)) = w.items.into_iter().next().map(|i| i.node) {
                    expr = step.call.args.into_iter().next().map(|a| a.value);
                }
            }
            Item::Connection(_) => {}
        }
    }
    let expr = expr.expect("an expression");
    Evaluator::new(&TinyLibrary, &TestHost, &mappings).eval(&expr, scope)
}

fn scope() -> Scope<'static> {
    Scope::new()
        .with("input", json!({ "id": 7, "name": "Zoë", "items": [{"sku": "a"}, {"sku": "b"}], "missing": null }))
        .with("deal", json!({ "body": { "id": "D1" } }))
}

fn ok(src: &str) -> Value {
    eval_with("", src, &scope()).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn err(src: &str) -> EvalError {
    eval_with("", src, &scope()).expect_err(src)
}

#[test]
fn references_fields_and_indexes() {
    assert_eq!(ok("input.id"), json!(7));
    assert_eq!(ok("deal.body.id"), json!("D1"));
    assert_eq!(ok("input.items[1].sku"), json!("b"));
    assert_eq!(ok("input.items[-1].sku"), json!("b"));
    assert_eq!(ok("input.items[5]"), json!(null));
    assert_eq!(ok("input[\"name\"]"), json!("Zoë"));
    assert_eq!(err("input.id.x").kind, EvalErrorKind::Type);
    assert_eq!(err("input.items[\"x\"]").kind, EvalErrorKind::Type);
    assert_eq!(err("input.items[0.5]").kind, EvalErrorKind::Type);
    assert_eq!(err("nobody").kind, EvalErrorKind::UnboundName);
}

#[test]
fn null_rules() {
    assert_eq!(ok("input.missing.deeper.still"), json!(null));
    assert_eq!(ok("input.missing[0]"), json!(null));
    assert_eq!(ok("input.nope ?? \"fallback\""), json!("fallback"));
    assert_eq!(ok("input.id ?? 1"), json!(7));
    let e = err("\"/orders/${input.missing}\"");
    assert_eq!(e.kind, EvalErrorKind::NullInterpolation);
    // The error points at the interpolated expression, not the whole string.
    let span = e.span.expect("span");
    assert!(span.end - span.start == "input.missing".len());
}

#[test]
fn interpolation_renders_values() {
    assert_eq!(
        ok("\"${input.id}/${input.name}/${true}/${[1, 2]}/${1.5}\""),
        json!("7/Zoë/true/[1,2]/1.5")
    );
    assert_eq!(ok("\"${ \"inner ${deal.body.id}\" }\""), json!("inner D1"));
}

#[test]
fn operators_and_conditionals() {
    assert_eq!(ok("1 + 2 * 3"), json!(7));
    assert_eq!(ok("{ a: 1 } + { b: 2 }"), json!({ "a": 1, "b": 2 }));
    assert_eq!(ok("[1] + [2]"), json!([1, 2]));
    assert_eq!(
        ok("if input.id > 5 then \"big\" else \"small\""),
        json!("big")
    );
    assert_eq!(ok("!(input.id == 7) || input.missing == null"), json!(true));
    assert_eq!(ok("input.missing && nobody"), json!(false),);
    assert_eq!(ok("true || nobody"), json!(true));
    assert_eq!(ok("-input.id"), json!(-7));
    assert_eq!(ok("5m"), json!(300_000));
    assert_eq!(err("input.name && true").kind, EvalErrorKind::Type);
    assert_eq!(err("if 1 then 2 else 3").kind, EvalErrorKind::Type);
    assert_eq!(err("\"n\" + 1").kind, EvalErrorKind::Type);
}

#[test]
fn env_secret_functions_lambdas_and_mappings() {
    assert_eq!(ok("env(\"REGION\")"), json!("eu"));
    assert_eq!(ok("secret(\"TOKEN\")"), json!("s3cr3t"));
    let missing = err("secret(\"NOPE\")");
    assert_eq!(missing.kind, EvalErrorKind::MissingVariable);
    assert!(missing.message.contains("NOPE"));
    assert_eq!(ok("len(input.items)"), json!(2));
    assert_eq!(
        ok("map(input.items, i => i.sku + input.name)"),
        json!(["aZoë", "bZoë"])
    );
    let prelude = "mapping label(x) = upperish(x.sku)\nmapping upperish(s) = s + \"!\"\nmapping sees_nothing(x) = input";
    assert_eq!(
        eval_with(prelude, "map(input.items, i => label(i))", &scope()).unwrap(),
        json!(["a!", "b!"])
    );
    // A mapping's body sees only its parameters.
    let e = eval_with(prelude, "sees_nothing(1)", &scope()).expect_err("no input in mappings");
    assert_eq!(e.kind, EvalErrorKind::UnboundName);
}

#[test]
fn runaway_recursion_is_an_error_not_a_crash() {
    let prelude = "mapping a(x) = b(x)\nmapping b(x) = a(x)";
    let e = eval_with(prelude, "a(1)", &scope()).expect_err("too deep");
    assert_eq!(e.kind, EvalErrorKind::Function);
}

#[test]
fn call_arguments_are_evaluated_for_steps() {
    let text = "workflow w {\n  step s = http.post(crm, \"/deals/${deal.body.id}\", body: { id: input.id })\n}\n";
    let (module, _) = crate::syntax::parse(FileId(0), text);
    let Some(Item::Workflow(w)) = module.items.into_iter().next() else {
        panic!()
    };
    let Some(WorkflowItem::Step(step)) = w.items.into_iter().next().map(|i| i.node) else {
        panic!()
    };
    let mappings = BTreeMap::new();
    let ev = Evaluator::new(&TinyLibrary, &TestHost, &mappings);
    let args = ev.eval_call_args(&step.call, &scope(), true).expect("args");
    assert_eq!(args.positional, vec![json!("/deals/D1")]);
    assert_eq!(args.named.get("body"), Some(&json!({ "id": 7 })));
    let _ = FunctionKind::Pure;
}

#[test]
fn header_reads_the_request_headers_case_insensitively() {
    let scope = Scope::new().with(
        "trigger",
        json!({ "headers": { "x-shop-webhook-id": "evt-1" }, "query": {} }),
    );
    assert_eq!(
        eval_with("", r#"header("X-Shop-Webhook-Id")"#, &scope).ok(),
        Some(json!("evt-1"))
    );
    assert_eq!(
        eval_with("", r#"header("X-Missing")"#, &scope).ok(),
        Some(json!(null))
    );
}
