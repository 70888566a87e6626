//! What every check shares: the library's signatures (looked up through hash maps, not
//! linear scans), the diagnostics found so far, and what an item reads from outside.

use crate::catalog::{ArgKind, FunctionKind, Library, Signature};
use crate::diagnostic::Diagnostic;
use crate::span::{FileId, SourceMap, Span};
use std::collections::{BTreeSet, HashMap, HashSet};

/// `transform(EXPR)` is part of the language; this signature is used when a library does not
/// declare it itself.
static TRANSFORM: Signature = Signature {
    name: "transform",
    kind: FunctionKind::Control,
    positional: &[ArgKind::Value],
    required_positional: 1,
    variadic: false,
    named: &[],
    summary: "a step that evaluates a pure expression",
};

/// The checker's state for one project.
pub(crate) struct Cx<'a> {
    sources: &'a SourceMap,
    signatures: HashMap<&'a str, &'a Signature>,
    modules: HashSet<&'static str>,
    diagnostics: Vec<Diagnostic>,
    errors: usize,
}

impl<'a> Cx<'a> {
    /// Caches the library's signatures by name.
    pub fn new(library: &'a dyn Library, sources: &'a SourceMap) -> Self {
        let mut signatures: HashMap<&'a str, &'a Signature> = library
            .signatures()
            .into_iter()
            .map(|s| (s.name, s))
            .collect();
        signatures.entry("transform").or_insert(&TRANSFORM);
        let modules = library.modules().into_iter().collect();
        Cx {
            sources,
            signatures,
            modules,
            diagnostics: Vec::new(),
            errors: 0,
        }
    }

    /// The signature of the function with this full name.
    pub fn signature(&self, name: &str) -> Option<&'a Signature> {
        self.signatures.get(name).copied()
    }

    /// Whether `name` is a module of the library (`http`).
    pub fn is_module(&self, name: &str) -> bool {
        self.modules.contains(name)
    }

    /// Module names, sorted (for suggestions).
    pub fn module_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.modules.iter().copied().collect();
        names.sort_unstable();
        names
    }

    /// Names of the functions of a kind, sorted (for suggestions). `module` restricts them to
    /// one module (`Some("http")`) or to functions outside any module (`Some("")`).
    pub fn function_names(&self, kinds: &[FunctionKind], module: Option<&str>) -> Vec<&'a str> {
        let mut names: Vec<&'a str> = self
            .signatures
            .values()
            .filter(|s| kinds.contains(&s.kind))
            .map(|s| s.name)
            .filter(|n| match module {
                None => true,
                Some("") => !n.contains('.'),
                Some(m) => n.split_once('.').is_some_and(|(a, _)| a == m),
            })
            .collect();
        names.sort_unstable();
        names
    }

    /// Records a diagnostic, its spans trimmed of surrounding whitespace so labels underline
    /// exactly the offending text whatever whitespace a syntax node's span took along.
    pub fn report(&mut self, mut diagnostic: Diagnostic) {
        diagnostic.span = self.trim(diagnostic.file, diagnostic.span);
        for label in &mut diagnostic.secondary {
            label.span = self.trim(label.file, label.span);
        }
        if diagnostic.is_error() {
            self.errors += 1;
        }
        self.diagnostics.push(diagnostic);
    }

    /// `span` without leading and trailing whitespace (unchanged if that would leave nothing).
    fn trim(&self, file: FileId, span: Span) -> Span {
        let Some(text) = self
            .sources
            .files
            .get(file.0 as usize)
            .map(|f| f.text.as_str())
        else {
            return span;
        };
        let Some(slice) = text.get(span.start..span.end) else {
            return span;
        };
        let trimmed = slice.trim();
        if trimmed.is_empty() {
            return span;
        }
        let start = span.start + (slice.len() - slice.trim_start().len());
        Span::new(start, start + trimmed.len())
    }

    /// How many errors were reported so far (compare before and after checking an item to
    /// learn whether it has any).
    pub fn errors(&self) -> usize {
        self.errors
    }

    /// All diagnostics, sorted by file and position.
    pub fn into_diagnostics(mut self) -> Vec<Diagnostic> {
        self.diagnostics
            .sort_by_key(|d| (d.file, d.span.start, d.span.end, d.code));
        self.diagnostics
    }
}

/// What an expression (or a whole item) reads from outside itself.
#[derive(Debug, Default, Clone)]
pub(crate) struct Uses {
    /// `env("NAME")` names.
    pub env: BTreeSet<String>,
    /// `secret("NAME")` names.
    pub secrets: BTreeSet<String>,
    /// Mappings called directly, with where each call is (first call per mapping).
    pub mappings: Vec<(String, Span)>,
    /// References to steps: which step, where, and the kind of dependency.
    pub steps: Vec<StepRef>,
}

/// Where a step is: the main list or `on_failure`, and its index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum StepSlot {
    /// `steps[i]`
    Main(usize),
    /// `on_failure[i]`
    OnFailure(usize),
}

/// One reference to a step that may become a dependency edge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepRef {
    /// The step referred to.
    pub slot: StepSlot,
    /// Where the reference is.
    pub span: Span,
    /// Data (`deal.body`) or ordering only (`after deal`).
    pub after: bool,
}

impl Uses {
    /// Adds everything `other` reads.
    pub fn extend(&mut self, other: &Uses) {
        self.env.extend(other.env.iter().cloned());
        self.secrets.extend(other.secrets.iter().cloned());
        for (name, span) in &other.mappings {
            self.add_mapping(name, *span);
        }
    }

    /// Records a call of mapping `name` (once per mapping).
    pub fn add_mapping(&mut self, name: &str, span: Span) {
        if !self.mappings.iter().any(|(n, _)| n == name) {
            self.mappings.push((name.to_string(), span));
        }
    }
}
