//! Tests of the checker, through the parser: each check on a minimal case with its code and
//! span, the shared examples, plans, and speed.

mod calls;
mod examples;
mod graph;
mod library;
mod names;
mod options;
mod plan;
mod scope;
mod triggers;

use super::{check_project, CheckOutput};
use crate::diagnostic::Diagnostic;
use crate::span::{FileId, SourceMap};
use library::TestLibrary;

/// Parses and checks files as one project; syntax errors fail the test (they would hide what
/// the test is about).
pub(crate) fn check_files(files: &[(&str, &str)]) -> (SourceMap, CheckOutput) {
    let mut sources = SourceMap::new();
    let mut modules = Vec::new();
    for (name, text) in files {
        let file = sources.add(*name, *text);
        let (module, syntax) = crate::parser::parse(file, text);
        assert!(syntax.is_empty(), "syntax errors in {name}: {syntax:#?}");
        modules.push(module);
    }
    let output = check_project(&sources, &modules, &TestLibrary);
    (sources, output)
}

/// Checks one file.
pub(crate) fn check(text: &str) -> (SourceMap, CheckOutput) {
    check_files(&[("test.braid", text)])
}

/// The error codes, in order.
pub(crate) fn codes(output: &CheckOutput) -> Vec<&'static str> {
    output
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect()
}

/// The text a diagnostic points at.
pub(crate) fn spanned<'a>(sources: &'a SourceMap, d: &Diagnostic) -> &'a str {
    sources.get(d.file).slice(d.span)
}

/// Asserts the file compiles with no diagnostics at all.
#[track_caller]
pub(crate) fn assert_clean(text: &str) -> CheckOutput {
    let (_, output) = check(text);
    assert!(
        output.diagnostics.is_empty(),
        "expected no diagnostics, got {:#?}",
        output.diagnostics
    );
    output
}

/// Asserts the file has exactly one error, with `code`, pointing at `at`; returns it.
#[track_caller]
pub(crate) fn assert_error(text: &str, code: &str, at: &str) -> Diagnostic {
    let (sources, output) = check(text);
    let errors: Vec<&Diagnostic> = output.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(
        errors.len(),
        1,
        "expected one error {code} at `{at}`, got {errors:#?}"
    );
    let d = errors[0];
    assert_eq!(d.code.as_str(), code, "{d:#?}");
    assert_eq!(spanned(&sources, d), at, "{d:#?}");
    assert!(
        !d.label.is_empty(),
        "every diagnostic labels its span: {d:#?}"
    );
    d.clone()
}

/// The hint of a diagnostic, or "".
pub(crate) fn hint(d: &Diagnostic) -> &str {
    d.hint.as_deref().unwrap_or("")
}

#[test]
fn file_ids_follow_the_source_map() {
    let (_, output) = check_files(&[
        ("a.braid", "workflow a { step x = transform(1) }"),
        ("b.braid", "workflow b { step y = transform(nope) }"),
    ]);
    assert_eq!(output.diagnostics.len(), 1);
    assert_eq!(output.diagnostics[0].file, FileId(1));
    assert!(output.project.workflows.contains_key("a"));
    assert!(!output.project.workflows.contains_key("b"));
}
