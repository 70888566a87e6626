//! Typed access to a function's arguments, with errors that name the function and position.

use braid_dsl::catalog::ArgValue;
use braid_dsl::eval::{EvalError, EvalErrorKind};
use serde_json::{Map, Value};

/// A lambda argument, as the evaluator passes it.
pub type Lambda<'b> = dyn Fn(&[Value]) -> Result<Value, EvalError> + 'b;

/// The arguments of one call.
pub struct Args<'a, 'b> {
    name: &'a str,
    args: &'a [ArgValue<'b>],
}

/// The JSON type name of a value, for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl<'a, 'b> Args<'a, 'b> {
    /// Wraps the arguments of a call of `name`.
    pub fn new(name: &'a str, args: &'a [ArgValue<'b>]) -> Self {
        Args { name, args }
    }

    /// The number of arguments.
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// Checks the argument count is within `min..=max`.
    pub fn count(&self, min: usize, max: usize) -> Result<(), EvalError> {
        if self.args.len() < min || self.args.len() > max {
            let expected = if min == max {
                min.to_string()
            } else {
                format!("{min} to {max}")
            };
            return Err(self.error(
                EvalErrorKind::Function,
                format!("takes {expected} argument(s), got {}", self.args.len()),
            ));
        }
        Ok(())
    }

    /// An error about this call.
    pub fn error(&self, kind: EvalErrorKind, message: impl std::fmt::Display) -> EvalError {
        EvalError::new(kind, format!("{}: {message}", self.name))
    }

    /// A type error about argument `i`.
    pub fn type_error(&self, i: usize, expected: &str, got: &Value) -> EvalError {
        self.error(
            EvalErrorKind::Type,
            format!(
                "argument {} must be {expected}, got {}",
                i + 1,
                type_name(got)
            ),
        )
    }

    /// Argument `i` as a value.
    pub fn value(&self, i: usize) -> Result<&Value, EvalError> {
        match self.args.get(i) {
            Some(ArgValue::Value(v)) => Ok(v),
            Some(ArgValue::Lambda(_)) => Err(self.error(
                EvalErrorKind::Type,
                format!("argument {} must be a value, not a lambda", i + 1),
            )),
            None => Err(self.error(
                EvalErrorKind::Function,
                format!("missing argument {}", i + 1),
            )),
        }
    }

    /// Argument `i`, if given.
    pub fn optional(&self, i: usize) -> Result<Option<&Value>, EvalError> {
        if i < self.args.len() {
            self.value(i).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Argument `i` as a string.
    pub fn str(&self, i: usize) -> Result<&str, EvalError> {
        match self.value(i)? {
            Value::String(s) => Ok(s),
            other => Err(self.type_error(i, "a string", other)),
        }
    }

    /// Argument `i` as an array.
    pub fn array(&self, i: usize) -> Result<&Vec<Value>, EvalError> {
        match self.value(i)? {
            Value::Array(a) => Ok(a),
            other => Err(self.type_error(i, "an array", other)),
        }
    }

    /// Argument `i` as an object.
    pub fn object(&self, i: usize) -> Result<&Map<String, Value>, EvalError> {
        match self.value(i)? {
            Value::Object(o) => Ok(o),
            other => Err(self.type_error(i, "an object", other)),
        }
    }

    /// Argument `i` as a lambda.
    pub fn lambda(&self, i: usize) -> Result<&'a Lambda<'b>, EvalError> {
        match self.args.get(i) {
            Some(ArgValue::Lambda(f)) => Ok(*f),
            Some(ArgValue::Value(v)) => Err(self.type_error(i, "a lambda such as `x => x.id`", v)),
            None => Err(self.error(
                EvalErrorKind::Function,
                format!("missing argument {}", i + 1),
            )),
        }
    }

    /// All arguments as values.
    pub fn values(&self) -> Result<Vec<&Value>, EvalError> {
        (0..self.args.len()).map(|i| self.value(i)).collect()
    }
}
