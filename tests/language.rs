//! The language suite: one `.braid` file per case.
//!
//! - `tests/language/invalid/*.braid`: each holds one mistake. Its first line names the code it
//!   must produce (`// expect: E0301`). The diagnostics — codes, positions, messages and the
//!   rendered snippet — are compared with the sibling `.expected` file. Run with `BLESS=1` to
//!   write the `.expected` files after checking the change by eye.
//! - `tests/language/valid/*.braid`: compile with no diagnostics at all.

use braid_dsl::render;
use braid_dsl::SourceMap;
use braid_stdlib::compile::compile;
use std::path::{Path, PathBuf};

fn cases(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/language")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "braid"))
        .collect();
    files.sort();
    files
}

fn compile_one(path: &Path) -> (SourceMap, Vec<braid_dsl::Diagnostic>) {
    let text = std::fs::read_to_string(path).expect("read case");
    let name = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string();
    let mut sources = SourceMap::new();
    sources.add(name, text);
    let output = compile(&sources);
    (sources, output.diagnostics)
}

/// The snapshot text: one line per diagnostic, then the rendered form a user sees.
fn snapshot(sources: &SourceMap, diagnostics: &[braid_dsl::Diagnostic]) -> String {
    let mut out = String::new();
    for d in render::to_json(sources, diagnostics) {
        out.push_str(&format!(
            "{} {}:{}-{}:{} {:?}: {}\n",
            d.code, d.line, d.column, d.end_line, d.end_column, d.severity, d.message
        ));
    }
    out.push('\n');
    out.push_str(&render::to_human(sources, diagnostics, false));
    out
}

#[test]
fn invalid_cases_report_their_diagnostics() {
    let bless = std::env::var_os("BLESS").is_some();
    let cases = cases("invalid");
    assert!(
        cases.len() >= 50,
        "the suite needs at least 50 invalid cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for path in &cases {
        let (sources, diagnostics) = compile_one(path);
        let text = &sources.files[0].text;
        let expected_code = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be `// expect: CODE`", path.display()))
            .trim();
        if !diagnostics
            .iter()
            .any(|d| d.code.as_str() == expected_code && d.is_error())
        {
            failures.push(format!(
                "{}: expected an error {expected_code}, got {:?}",
                path.display(),
                diagnostics
                    .iter()
                    .map(|d| d.code.as_str())
                    .collect::<Vec<_>>()
            ));
            continue;
        }
        let actual = snapshot(&sources, &diagnostics);
        let expected_path = path.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &actual).expect("write snapshot");
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{}: diagnostics differ from {}\n--- expected\n{expected}\n--- actual\n{actual}",
                path.display(),
                expected_path.display()
            )),
            Err(_) => failures.push(format!(
                "{}: no snapshot; run with BLESS=1\n{actual}",
                path.display()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_check_has_a_case() {
    // Each code the checker can emit must be exercised by at least one invalid case.
    let covered: std::collections::BTreeSet<String> = cases("invalid")
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| {
            t.lines()
                .next()
                .and_then(|l| l.strip_prefix("// expect: "))
                .map(|c| c.trim().to_string())
        })
        .collect();
    let missing: Vec<_> = braid_dsl::Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !covered.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without an invalid case: {missing:?}"
    );
}

#[test]
fn valid_cases_compile_clean() {
    for path in cases("valid") {
        let (sources, diagnostics) = compile_one(&path);
        assert!(
            diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            render::to_human(&sources, &diagnostics, false)
        );
    }
}
