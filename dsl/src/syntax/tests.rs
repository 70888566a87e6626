use super::*;
use crate::ast::*;

fn ok(text: &str) -> Module {
    let (module, diagnostics) = parse(FileId(0), text);
    assert!(
        diagnostics.is_empty(),
        "unexpected diagnostics: {diagnostics:#?}"
    );
    module
}

fn errors(text: &str) -> Vec<Diagnostic> {
    parse(FileId(0), text).1
}

/// The expression of `step s = transform(EXPR)` in a one-step workflow.
fn expr(src: &str) -> Expr {
    let module = ok(&format!("workflow w {{\n  step s = transform({src})\n}}\n"));
    let Some(Item::Workflow(w)) = module.items.into_iter().next() else {
        panic!("no workflow")
    };
    let Some(WorkflowItem::Step(step)) = w.items.into_iter().next().map(|i| i.node) else {
        panic!("no step")
    };
    step.call
        .args
        .into_iter()
        .next()
        .expect("one argument")
        .value
}

/// A compact rendering of an expression tree for assertions.
fn show(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Null => "null".into(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Number(n) => n.to_string(),
        ExprKind::Duration(ms) => format!("{ms}ms"),
        ExprKind::String(parts) => parts
            .iter()
            .map(|p| match p {
                StringPart::Text(t) => format!("{t:?}"),
                StringPart::Interp(e) => format!("${{{}}}", show(e)),
            })
            .collect::<Vec<_>>()
            .join("+"),
        ExprKind::Array(items) => {
            format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(","))
        }
        ExprKind::Object(entries) => {
            format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|e| format!("{}:{}", e.key, show(&e.value)))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        ExprKind::Name(i) => i.name.clone(),
        ExprKind::Field(b, f) => format!("{}.{}", show(b), f.name),
        ExprKind::Index(b, i) => format!("{}[{}]", show(b), show(i)),
        ExprKind::Call(c) => format!(
            "{}({})",
            c.name(),
            c.args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{}:{}", n.name, show(&a.value)),
                    None => show(&a.value),
                })
                .collect::<Vec<_>>()
                .join(",")
        ),
        ExprKind::Unary(op, e) => format!(
            "({}{})",
            if *op == UnaryOp::Not { "!" } else { "-" },
            show(e)
        ),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", show(a), op.symbol(), show(b)),
        ExprKind::If(c, a, b) => format!("(if {} then {} else {})", show(c), show(a), show(b)),
        ExprKind::Lambda(ps, b) => {
            format!(
                "({} => {})",
                ps.iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                show(b)
            )
        }
    }
}

#[test]
fn precedence_and_associativity() {
    assert_eq!(show(&expr("1 + 2 * 3 - 4")), "((1 + (2 * 3)) - 4)");
    assert_eq!(
        show(&expr("a ?? b || c && d == e < f + g * h")),
        "(a ?? (b || (c && (d == (e < (f + (g * h)))))))"
    );
    assert_eq!(show(&expr("!a.b && -x[0]")), "((!a.b) && (-x[0]))");
    assert_eq!(show(&expr("(1 + 2) * 3")), "((1 + 2) * 3)");
    assert_eq!(show(&expr("a - b - c")), "((a - b) - c)");
    assert_eq!(
        show(&expr("if a then b else if c then d else e")),
        "(if a then b else (if c then d else e))"
    );
    assert_eq!(show(&expr("-2.5")), "-2.5");
    assert_eq!(show(&expr("-9223372036854775808")), "-9223372036854775808");
}

#[test]
fn calls_lambdas_and_literals() {
    assert_eq!(show(&expr("map(xs, x => x.id)")), "map(xs,(x => x.id))");
    assert_eq!(show(&expr("f((a, b) => a + b)")), "f((a,b => (a + b)))");
    assert_eq!(
        show(&expr(
            "http.post(crm, \"/d\", body: { a: 1, \"b c\": [true, null,], },)"
        )),
        "http.post(crm,\"/d\",body:{a:1,b c:[true,null]})"
    );
    assert_eq!(
        show(&expr("[250ms, 30s, 5m, 2h, 7d]")),
        "[250ms,30000ms,300000ms,7200000ms,604800000ms]"
    );
    assert_eq!(show(&expr("x.step.workflow.if")), "x.step.workflow.if");
}

#[test]
fn strings_escapes_and_interpolation() {
    assert_eq!(show(&expr(r#""a\"b\\c\n\$\u{e9}""#)), r#""a\"b\\c\n$é""#);
    assert_eq!(
        show(&expr(r#""/deals/${deal.body.id}/x""#)),
        r#""/deals/"+${deal.body.id}+"/x""#
    );
    assert_eq!(
        show(&expr(r#""${ "in ${ upper("x") }" }""#)),
        r#"${"in "+${upper("x")}}"#
    );
    assert_eq!(show(&expr(r#""""#)), r#""""#);
}

#[test]
fn spans_point_at_the_source_text() {
    let text = "workflow w {\n  step s = transform(deal.body.id + 1)\n}\n";
    let e = {
        let module = ok(text);
        let Some(Item::Workflow(w)) = module.items.into_iter().next() else {
            panic!()
        };
        let Some(WorkflowItem::Step(step)) = w.items.into_iter().next().map(|i| i.node) else {
            panic!()
        };
        step.call
            .args
            .into_iter()
            .next()
            .map(|a| a.value)
            .expect("arg")
    };
    assert_eq!(&text[e.span.start..e.span.end], "deal.body.id + 1");
    let ExprKind::Binary(_, lhs, _) = &e.kind else {
        panic!()
    };
    assert_eq!(&text[lhs.span.start..lhs.span.end], "deal.body.id");
}

#[test]
fn unknown_options_parse_into_unknown_variants() {
    let module = ok("workflow w {\n  descripton \"x\"\n  step a = http.get(\"u\") {\n    retires 3\n    retry { attempts 2 backof fixed(1s) }\n  }\n}\n");
    let Some(Item::Workflow(w)) = module.items.first() else {
        panic!()
    };
    assert!(matches!(&w.items[0].node, WorkflowItem::Unknown(i) if i.name == "descripton"));
    let WorkflowItem::Step(step) = &w.items[1].node else {
        panic!()
    };
    assert!(matches!(&step.options[0].node, StepOption::Unknown(i) if i.name == "retires"));
    let StepOption::Retry(retry) = &step.options[1].node else {
        panic!()
    };
    assert!(matches!(&retry.options[1].node, RetryOption::Unknown(i) if i.name == "backof"));
}

#[test]
fn several_syntax_errors_are_reported_and_later_items_still_parse() {
    let text = "workflow a {\n  step x = transform(1 +)\n}\n\nworkflow b {\n  step y = transform([1, 2)\n}\n\nworkflow c {\n  step z = transform(1)\n}\n";
    let (module, diagnostics) = parse(FileId(0), text);
    assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
    assert!(diagnostics.iter().all(|d| d.code == Code::Syntax));
    assert_eq!(
        &text[diagnostics[0].span.start..diagnostics[0].span.end],
        ")"
    );
    assert!(
        diagnostics[0].message.contains("expected an expression"),
        "{}",
        diagnostics[0].message
    );
    assert_eq!(module.items.len(), 1, "workflow c parses");
}

#[test]
fn literal_errors_have_their_own_codes() {
    let d = errors("workflow w {\n  step a = sleep(30sec)\n}\n");
    assert_eq!(d[0].code, Code::InvalidDuration);
    let d = errors("workflow w {\n  step a = transform(\"a\\qb\")\n}\n");
    assert_eq!(d[0].code, Code::InvalidEscape);
    let d = errors("workflow w {\n  step a = 42\n}\n");
    assert_eq!(d[0].code, Code::Syntax);
    assert!(d[0].message.contains("must be a call"));
    let d =
        errors("workflow w {\n  trigger webhook \"/h/${input.id}\"\n  step a = transform(1)\n}\n");
    assert!(d[0].message.contains("interpolation is not allowed"));
}

#[test]
fn unclosed_block_points_at_end_of_file() {
    let text = "workflow w {\n  step a = transform(1)\n";
    let d = errors(text);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].span.start, text.len());
    assert!(d[0].message.contains("`}`"), "{}", d[0].message);
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let text = format!(
        "workflow w {{ step a = transform({}1{}) }}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let d = errors(&text);
    assert_eq!(d.len(), 1);
    assert!(d[0].message.contains("nest"));
    let text = format!(
        "workflow w {{ step a = transform({}) }}",
        "\"${".repeat(500)
    );
    assert!(!errors(&text).is_empty());
}

#[test]
fn deep_if_and_lambda_chains_are_refused_not_overflowed() {
    for chain in [
        "if a then b else ".repeat(3000) + "1",
        "if ".repeat(3000) + "1",
        "x => ".repeat(3000) + "1",
    ] {
        let text = format!("workflow w {{ step s = transform({chain}) }}");
        let d = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || errors(&text))
            .expect("thread")
            .join()
            .expect("no stack overflow");
        assert!(d.iter().any(|d| d.message.contains("nest")), "{d:#?}");
    }
    // Many `if`s side by side are not nested.
    let side_by_side = vec!["if a then 1 else 2"; 100].join(", ");
    let (_, d) = parse(
        FileId(0),
        &format!("workflow w {{ step s = transform([{side_by_side}]) }}"),
    );
    assert!(d.is_empty(), "{d:#?}");
}

#[test]
fn long_chains_are_refused_not_overflowed() {
    let chain = vec!["a"; 5000].join(" + ");
    let d = errors(&format!("workflow w {{ step s = transform({chain}) }}"));
    assert!(
        d.iter().any(|d| d.message.contains("operations deep")),
        "{d:#?}"
    );
    let fields = "a".to_string() + &".b".repeat(5000);
    assert!(!errors(&format!("workflow w {{ step s = transform({fields}) }}")).is_empty());
    let nots = "!".repeat(5000) + "a";
    assert!(!errors(&format!("workflow w {{ step s = transform({nots}) }}")).is_empty());
    // Chains within the limit are fine.
    let ok_chain = vec!["a"; 150].join(" + ");
    let (_, d) = parse(
        FileId(0),
        &format!("workflow w {{ step s = transform({ok_chain}) }}"),
    );
    assert!(d.is_empty());
}

#[test]
fn spans_exclude_trailing_whitespace_and_comments() {
    let text = "workflow w {\n  step s = transform(map(xs, x => x.id   // the ids\n  ))\n}\n";
    let module = ok(text);
    let Some(Item::Workflow(w)) = module.items.into_iter().next() else {
        panic!()
    };
    let Some(WorkflowItem::Step(step)) = w.items.into_iter().next().map(|i| i.node) else {
        panic!()
    };
    let ExprKind::Call(map) = &step.call.args[0].value.kind else {
        panic!()
    };
    let lambda = &map.args[1].value;
    assert_eq!(&text[lambda.span.start..lambda.span.end], "x => x.id");
}

#[test]
fn shared_examples_and_project_workflows_parse_clean() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for dir in [root.join("../shared/examples"), root.join("workflows")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "braid") {
                let text = std::fs::read_to_string(&path).expect("read");
                let (module, diagnostics) = parse(FileId(0), &text);
                assert!(
                    diagnostics.is_empty(),
                    "{}: {diagnostics:#?}",
                    path.display()
                );
                assert!(!module.items.is_empty(), "{}", path.display());
            }
        }
    }
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = include_str!("../../../workflows/invoice_approval.braid");

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse(FileId(0), &text);
        }

        #[test]
        fn truncations_never_panic(cut in 0usize..SAMPLE.len()) {
            let mut cut = cut;
            while !SAMPLE.is_char_boundary(cut) { cut -= 1; }
            let _ = parse(FileId(0), &SAMPLE[..cut]);
        }

        #[test]
        fn byte_mutations_never_panic(pos in 0usize..SAMPLE.len(), byte in any::<u8>()) {
            let mut bytes = SAMPLE.as_bytes().to_vec();
            bytes[pos] = byte;
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse(FileId(0), &text);
        }
    }
}
