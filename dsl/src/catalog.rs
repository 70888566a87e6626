//! The contract between the language and its standard library.
//!
//! `dsl` knows no function by name (beyond `env`, `secret` and the step form `transform`, which
//! are part of the language): the checker asks a [`Library`] for signatures, and the evaluator
//! asks it to call pure functions. `braid-stdlib` provides the one real implementation.

use crate::eval::{EvalError, Host};
use serde_json::Value;

/// Where a function may be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// A pure function, callable in any expression (`len`, `upper`, …).
    Pure,
    /// A step function with effects, callable only as a step's or compensation's call (`http.post`).
    Step,
    /// A control step the engine itself carries out (`sleep`, `wait_signal`, `workflow.run`).
    Control,
}

/// A named argument a function accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedParam {
    /// The argument's name.
    pub name: &'static str,
    /// Whether a call must give it.
    pub required: bool,
}

/// What kind of value a positional argument must be, where the checker can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// Any expression.
    Value,
    /// A lambda taking this many parameters (`x => x.id`).
    Lambda(usize),
    /// A connection name, or any expression giving a full URL.
    ConnectionOrUrl,
    /// A string literal naming a workflow of the project (`workflow.run("name")`).
    WorkflowName,
    /// A duration expression.
    Duration,
}

/// The signature of one function of the library.
#[derive(Debug, Clone, Copy)]
pub struct Signature {
    /// Full dotted name: `len`, `http.post`, `workflow.run`.
    pub name: &'static str,
    /// Where it may be called.
    pub kind: FunctionKind,
    /// Kinds of the positional parameters; the first `required_positional` must be given.
    pub positional: &'static [ArgKind],
    /// How many positional arguments are required.
    pub required_positional: usize,
    /// Whether more positional arguments than `positional` lists are accepted (the last kind repeats).
    pub variadic: bool,
    /// Named arguments accepted.
    pub named: &'static [NamedParam],
    /// One line saying what it does (shown in docs and hints).
    pub summary: &'static str,
}

impl Signature {
    /// The largest number of positional arguments accepted, or `None` if unbounded.
    pub fn max_positional(&self) -> Option<usize> {
        (!self.variadic).then_some(self.positional.len())
    }

    /// The kind of the positional argument at `index`.
    pub fn arg_kind(&self, index: usize) -> Option<ArgKind> {
        self.positional
            .get(index)
            .or_else(|| {
                if self.variadic {
                    self.positional.last()
                } else {
                    None
                }
            })
            .copied()
    }
}

/// An argument as passed to a pure function: a value, or a lambda the function may call.
pub enum ArgValue<'a> {
    /// An evaluated value.
    Value(Value),
    /// A lambda; call it with as many values as it has parameters.
    Lambda(&'a dyn Fn(&[Value]) -> Result<Value, EvalError>),
}

/// The standard library as the language sees it.
pub trait Library: Send + Sync {
    /// The signature of the function with this full dotted name.
    fn signature(&self, name: &str) -> Option<&Signature>;

    /// Every function's signature (for suggestions and docs).
    fn signatures(&self) -> Vec<&Signature>;

    /// Module names (`http`, `workflow`): a call `m.f` whose `m` is not among them is an unknown module.
    fn modules(&self) -> Vec<&'static str>;

    /// Calls a pure function. `args` are positional, in order; lambdas are passed as such.
    fn call_pure(
        &self,
        name: &str,
        args: &[ArgValue<'_>],
        host: &dyn Host,
    ) -> Result<Value, EvalError>;
}
