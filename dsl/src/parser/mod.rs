//! Parsing `.braid` text into the syntax tree: see [`crate::syntax`], which holds the grammar.

pub use crate::syntax::parse;
