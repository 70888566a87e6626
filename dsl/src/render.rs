//! Rendering diagnostics for people (source snippets, as rustc does) and for tools (JSON).
//!
//! Rendering produces strings; writing them anywhere is the caller's business.

use crate::diagnostic::{Diagnostic, Severity};
use crate::span::SourceMap;
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{Error as FilesError, Files, SimpleFiles};
use codespan_reporting::term::{self, termcolor};
use serde::Serialize;

/// One diagnostic in the machine-readable form of `braid check --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonDiagnostic {
    /// The file's name as given to the compiler.
    pub file: String,
    /// 1-based line of the span's start.
    pub line: usize,
    /// 1-based column (in characters) of the span's start.
    pub column: usize,
    /// 1-based line of the span's end.
    pub end_line: usize,
    /// 1-based column of the span's end (exclusive).
    pub end_column: usize,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The stable code, `E0301`.
    pub code: String,
    /// The message (with the hint appended after `; `, if any).
    pub message: String,
}

/// Converts diagnostics to their JSON form.
pub fn to_json(sources: &SourceMap, diagnostics: &[Diagnostic]) -> Vec<JsonDiagnostic> {
    diagnostics
        .iter()
        .map(|d| {
            let file = sources.get(d.file);
            let start = file.line_col(d.span.start);
            let end = file.line_col(d.span.end);
            let message = match &d.hint {
                Some(hint) => format!("{}; {}", d.message, hint),
                None => d.message.clone(),
            };
            JsonDiagnostic {
                file: file.name.clone(),
                line: start.line,
                column: start.column,
                end_line: end.line,
                end_column: end.column,
                severity: d.severity,
                code: d.code.as_str().to_string(),
                message,
            }
        })
        .collect()
}

/// Renders diagnostics with source snippets, labels and hints, as a terminal shows them.
/// With `color`, the text carries ANSI colour codes.
pub fn to_human(sources: &SourceMap, diagnostics: &[Diagnostic], color: bool) -> String {
    let mut files = SimpleFiles::new();
    for f in &sources.files {
        files.add(f.name.as_str(), f.text.as_str());
    }
    let config = term::Config::default();
    let mut buffer = if color {
        termcolor::Buffer::ansi()
    } else {
        termcolor::Buffer::no_color()
    };
    for d in diagnostics {
        let rendered = to_codespan(d);
        if let Err(err) = term::emit(&mut buffer, &config, &files, &rendered) {
            // A span outside its file is a compiler bug; still show the message rather than nothing.
            fallback(&mut buffer, &files, d, &err);
        }
    }
    String::from_utf8_lossy(buffer.as_slice()).into_owned()
}

fn to_codespan(d: &Diagnostic) -> cs::Diagnostic<usize> {
    let base = match d.severity {
        Severity::Error => cs::Diagnostic::error(),
        Severity::Warning => cs::Diagnostic::warning(),
    };
    let mut labels = vec![
        cs::Label::primary(d.file.0 as usize, d.span.start..d.span.end)
            .with_message(d.label.clone()),
    ];
    labels.extend(d.secondary.iter().map(|l| {
        cs::Label::secondary(l.file.0 as usize, l.span.start..l.span.end)
            .with_message(l.message.clone())
    }));
    let notes = d.hint.iter().map(|h| format!("help: {h}")).collect();
    base.with_code(d.code.as_str())
        .with_message(d.message.clone())
        .with_labels(labels)
        .with_notes(notes)
}

fn fallback(
    buffer: &mut termcolor::Buffer,
    files: &SimpleFiles<&str, &str>,
    d: &Diagnostic,
    err: &FilesError,
) {
    use std::io::Write;
    let name = files
        .name(d.file.0 as usize)
        .map(|n| n.to_string())
        .unwrap_or_default();
    let severity = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    // Writing to an in-memory buffer cannot fail.
    let _ = writeln!(
        buffer,
        "{severity}[{}]: {} ({name}; {err})",
        d.code, d.message
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Code, Diagnostic};
    use crate::span::Span;

    fn sample() -> (SourceMap, Vec<Diagnostic>) {
        let mut sources = SourceMap::new();
        let file = sources.add(
            "flows/a.braid",
            "workflow w {\n  step é = http.get(crm)\n}\n",
        );
        let d = Diagnostic::error(
            Code::UnknownConnection,
            file,
            Span::new(34, 37),
            "unknown connection `crm`",
        )
        .with_label("not a connection")
        .with_hint("did you mean `cms`?");
        (sources, vec![d])
    }

    #[test]
    fn json_positions_are_one_based_characters() {
        let (sources, diags) = sample();
        let json = to_json(&sources, &diags);
        assert_eq!(json.len(), 1);
        let j = &json[0];
        assert_eq!((j.line, j.column, j.end_line, j.end_column), (2, 21, 2, 24));
        assert_eq!(j.code, "E0303");
        assert_eq!(j.message, "unknown connection `crm`; did you mean `cms`?");
        assert_eq!(j.file, "flows/a.braid");
    }

    #[test]
    fn human_output_shows_code_snippet_label_and_hint() {
        let (sources, diags) = sample();
        let text = to_human(&sources, &diags, false);
        assert!(
            text.contains("error[E0303]: unknown connection `crm`"),
            "{text}"
        );
        assert!(text.contains("flows/a.braid:2:21"), "{text}");
        assert!(text.contains("step é = http.get(crm)"), "{text}");
        assert!(text.contains("^^^ not a connection"), "{text}");
        assert!(text.contains("help: did you mean `cms`?"), "{text}");
    }
}
