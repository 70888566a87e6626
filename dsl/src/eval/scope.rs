//! Name bindings for evaluation: `input`, `run`, `trigger`, `item`, `error`, step outputs,
//! lambda and mapping parameters. Inner scopes (a lambda's) chain to their parent.

use serde_json::Value;
use std::collections::HashMap;

/// Names bound to values, with an optional parent scope.
#[derive(Debug, Default, Clone)]
pub struct Scope<'p> {
    vars: HashMap<String, Value>,
    parent: Option<&'p Scope<'p>>,
}

impl<'p> Scope<'p> {
    /// An empty root scope.
    pub fn new() -> Self {
        Scope {
            vars: HashMap::new(),
            parent: None,
        }
    }

    /// A scope whose lookups fall back to `parent`.
    pub fn child(parent: &'p Scope<'p>) -> Self {
        Scope {
            vars: HashMap::new(),
            parent: Some(parent),
        }
    }

    /// Binds `name` (replacing an earlier binding in this scope).
    pub fn set(&mut self, name: impl Into<String>, value: Value) {
        self.vars.insert(name.into(), value);
    }

    /// Binds `name` and returns the scope, for building scopes in one expression.
    pub fn with(mut self, name: impl Into<String>, value: Value) -> Self {
        self.set(name, value);
        self
    }

    /// The value of `name`, looking through parents.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self.vars.get(name) {
            Some(v) => Some(v),
            None => self.parent.and_then(|p| p.get(name)),
        }
    }
}
