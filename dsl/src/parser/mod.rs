//! Parsing `.braid` text into the syntax tree.
