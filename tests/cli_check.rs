//! `braid check` and `braid graph` as a user runs them: exit codes, output streams, formats.

use std::path::Path;
use std::process::{Command, Output};

fn braid(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_braid"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run braid")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn clean_project_exits_zero() {
    let out = braid(&["check", "workflows"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no errors"));
}

#[test]
fn errors_exit_one_with_snippets_on_stderr() {
    let out = braid(&[
        "check",
        "tests/language/invalid/E0301_unknown_step_reference.braid",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error[E0301]: unknown name `contcat`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("E0301_unknown_step_reference.braid:4:64"),
        "{stderr}"
    );
    assert!(stderr.contains("help: did you mean `contact`?"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn json_format_prints_an_array_on_stdout() {
    let out = braid(&[
        "check",
        "--format",
        "json",
        "tests/language/invalid/E0001_two_errors_one_pass.braid",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let items = json.as_array().expect("an array");
    assert_eq!(items.len(), 2, "both syntax errors in one pass: {json}");
    for key in [
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "severity",
        "code",
        "message",
    ] {
        assert!(items[0].get(key).is_some(), "missing {key}: {json}");
    }
    assert_eq!(items[0]["code"], "E0001");
    assert_eq!(items[0]["severity"], "error");
    assert_eq!(
        (items[0]["line"].as_u64(), items[1]["line"].as_u64()),
        (Some(3), Some(7))
    );

    let clean = braid(&["check", "--format", "json", "workflows"]);
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&clean.stdout).ok(),
        Some(serde_json::json!([]))
    );
}

#[test]
fn usage_and_io_errors_exit_two() {
    assert_eq!(braid(&["check"]).status.code(), Some(2));
    let missing = braid(&["check", "no/such/dir"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read `no/such/dir`"));
    assert_eq!(
        braid(&["check", "--format", "xml", "workflows"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn requirements_lists_env_and_secret_names() {
    let out = braid(&[
        "check",
        "--requirements",
        "workflows/invoice_approval.braid",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let secrets = json["secrets"].as_array().expect("secrets");
    assert!(
        secrets.contains(&serde_json::json!("LEDGER_PASSWORD")),
        "{json}"
    );
    assert!(json["env"]
        .as_array()
        .expect("env")
        .contains(&serde_json::json!("LEDGER_URL")));
}

#[test]
fn graph_draws_dot_and_mermaid() {
    let dot = braid(&["graph", "workflows/invoice_approval.braid"]);
    assert_eq!(dot.status.code(), Some(0), "{}", text(&dot.stderr));
    let dot = text(&dot.stdout);
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(dot.contains("booking") && dot.contains("payment"));

    let mermaid = braid(&[
        "graph",
        "--format",
        "mermaid",
        "workflows/invoice_approval.braid",
    ]);
    let mermaid = text(&mermaid.stdout);
    assert!(mermaid.starts_with("flowchart"), "{mermaid}");
    // `after` edges are dashed, data edges solid.
    assert!(
        mermaid.contains("-.->") && mermaid.contains("-->"),
        "{mermaid}"
    );

    let ambiguous = braid(&["graph", "workflows/ticket_escalation.braid"]);
    assert_eq!(ambiguous.status.code(), Some(2));
    assert!(text(&ambiguous.stderr).contains("--workflow"));
    let chosen = braid(&[
        "graph",
        "workflows/ticket_escalation.braid",
        "--workflow",
        "open_incident",
    ]);
    assert_eq!(chosen.status.code(), Some(0));
}

#[test]
fn every_shared_example_compiles_as_written() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let together = braid(&["check", dir.to_str().expect("utf-8 path")]);
    assert_eq!(
        together.status.code(),
        Some(0),
        "{}",
        text(&together.stderr)
    );
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "braid") {
            let out = braid(&["check", path.to_str().expect("utf-8 path")]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}: {}",
                path.display(),
                text(&out.stderr)
            );
        }
    }
}
