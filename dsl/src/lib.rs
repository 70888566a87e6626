//! The Braid language: grammar, syntax tree, checks, the compiled [`plan::WorkflowPlan`] and the pure
//! expression evaluator. This crate does no IO.
//!
//! The pipeline: [`parser::parse`] turns text into an [`ast::Module`] (and syntax
//! diagnostics); [`check::check_project`] resolves names against a [`catalog::Library`],
//! reports every further diagnostic, and builds a [`plan::WorkflowPlan`] per workflow; the
//! [`eval`] module evaluates expressions of a plan at run time.

pub mod ast;
pub mod catalog;
pub mod check;
pub mod diagnostic;
pub mod eval;
pub mod parser;
pub mod plan;
pub mod render;
pub mod span;
pub mod syntax;

pub use diagnostic::{Code, Diagnostic, Severity};
pub use span::{FileId, SourceFile, SourceMap, Span};
