//! Diagnostics: what the compiler tells the user, with stable codes and spans.

use crate::span::{FileId, Span};
use serde::{Deserialize, Serialize};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The workflow cannot be compiled.
    Error,
    /// Compiles, but probably not what was meant.
    Warning,
}

/// Declares the `Code` enum, its stable strings and the list of all codes in one place, so they
/// cannot drift apart.
macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        /// A stable diagnostic code. The strings never change meaning once released;
        /// `docs/language.md` lists every code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Code {
            $($(#[$doc])* $name,)*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The stable code string, for example `E0301`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $code,)*
                }
            }
        }
    };
}

codes! {
    /// E0001: the text does not match the grammar.
    Syntax = "E0001",
    /// E0002: a duration literal with a bad unit or out of range.
    InvalidDuration = "E0002",
    /// E0003: a number literal that does not fit (or a count that must be a positive integer).
    InvalidNumber = "E0003",
    /// E0004: an invalid escape sequence in a string.
    InvalidEscape = "E0004",
    /// E0101: two workflows, connections or mappings share a name.
    DuplicateItem = "E0101",
    /// E0102: two steps of one workflow share a name.
    DuplicateStep = "E0102",
    /// E0103: an option given twice in one block.
    DuplicateOption = "E0103",
    /// E0104: two input fields share a name.
    DuplicateField = "E0104",
    /// E0105: the same webhook path is used by two triggers of the project.
    DuplicateWebhookPath = "E0105",
    /// E0201: an option name this block does not accept.
    UnknownOption = "E0201",
    /// E0202: a keyword value that is not one of the allowed ones (`overlap`, `jitter`, …).
    InvalidOptionValue = "E0202",
    /// E0203: a required option is missing (for example `token_url` in an OAuth2 block).
    MissingOption = "E0203",
    /// E0204: an option that does not fit its context (for example `concurrency` without `for_each`).
    MisplacedOption = "E0204",
    /// E0301: a name that is no step, input, or other reference in scope.
    UnknownName = "E0301",
    /// E0302: a step name that does not exist (in `after`).
    UnknownStep = "E0302",
    /// E0303: a connection name that does not exist.
    UnknownConnection = "E0303",
    /// E0304: a mapping or function name that does not exist.
    UnknownFunction = "E0304",
    /// E0305: a module that does not exist (`htp.get`).
    UnknownModule = "E0305",
    /// E0306: a workflow name that does not exist (`workflow.run("x")`).
    UnknownWorkflow = "E0306",
    /// E0307: an input type that does not exist.
    UnknownType = "E0307",
    /// E0401: wrong number of positional arguments.
    ArgumentCount = "E0401",
    /// E0402: a named argument the function does not take.
    UnknownArgument = "E0402",
    /// E0403: a required named argument is missing.
    MissingArgument = "E0403",
    /// E0404: an argument of the wrong kind (a lambda where a value is needed, a non-literal secret name, …).
    InvalidArgument = "E0404",
    /// E0501: a reference to a step that is not upstream of where it is used.
    NotUpstream = "E0501",
    /// E0502: the steps' dependencies form a cycle.
    Cycle = "E0502",
    /// E0503: `item` (or the `for_each` variable) used outside `for_each`.
    ItemOutsideForEach = "E0503",
    /// E0504: `error` used outside `on_failure`.
    ErrorOutsideOnFailure = "E0504",
    /// E0505: a step's own name used outside its `expect` or `compensate`.
    SelfReference = "E0505",
    /// E0506: `trigger` used in a workflow without a webhook trigger.
    TriggerWithoutWebhook = "E0506",
    /// E0507: mappings that call each other in a cycle.
    RecursiveMapping = "E0507",
    /// E0601: a cron expression that does not parse.
    InvalidCron = "E0601",
    /// E0602: an unknown IANA timezone.
    InvalidTimezone = "E0602",
    /// E0603: a webhook path that does not start with `/` or contains invalid characters.
    InvalidWebhookPath = "E0603",
    /// E0604: a value of the wrong type where a literal type is known (a string where a duration goes).
    TypeMismatch = "E0604",
    /// E0605: a retry error class that does not exist (`on [6xx]`).
    InvalidErrorClass = "E0605",
    /// E0606: a lambda outside a function argument.
    MisplacedLambda = "E0606",
    /// E0106: a step, `for_each` variable or mapping named like something built in (`input`, `len`).
    ReservedName = "E0106",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secondary label: another span that explains the diagnostic ("first defined here").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// The file the label points into.
    pub file: FileId,
    /// The span it points at.
    pub span: Span,
    /// What this span has to do with the diagnostic.
    pub message: String,
}

/// One finding of the compiler, pointing at the exact span it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The stable code.
    pub code: Code,
    /// One sentence: what is wrong.
    pub message: String,
    /// The file the primary span is in.
    pub file: FileId,
    /// The offending span.
    pub span: Span,
    /// The label shown under the primary span (short; may be empty).
    pub label: String,
    /// Further spans that explain the finding.
    pub secondary: Vec<Label>,
    /// Advice such as "did you mean `contact`?".
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error with `code` and `message` at `span` of `file`.
    pub fn error(code: Code, file: FileId, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            file,
            span,
            label: String::new(),
            secondary: Vec::new(),
            hint: None,
        }
    }

    /// A warning with `code` and `message` at `span` of `file`.
    pub fn warning(code: Code, file: FileId, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Self::error(code, file, span, message)
        }
    }

    /// Sets the label under the primary span.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Adds a secondary label.
    pub fn with_secondary(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            file,
            span,
            message: message.into(),
        });
        self
    }

    /// Sets the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this diagnostic stops compilation.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The closest of `candidates` to `name` by edit distance, if close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // About one edit per three characters, as rustc allows.
    let limit = name.chars().count().div_ceil(3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("contcat", ["contact", "deal"]),
            Some("contact")
        );
        assert_eq!(did_you_mean("retires", ["retry", "timeout"]), Some("retry"));
        assert_eq!(did_you_mean("zzz", ["contact", "deal"]), None);
        assert_eq!(did_you_mean("deal", ["deal"]), None);
    }

    #[test]
    fn codes_are_unique() {
        use std::collections::HashSet;
        let set: HashSet<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(set.len(), Code::ALL.len());
    }
}
