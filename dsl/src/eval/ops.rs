//! Operators on JSON values: arithmetic, comparison, equality, `+` on strings, arrays and
//! objects. Every misuse is a typed error, never a panic.

use super::{EvalError, EvalErrorKind};
use crate::ast::BinaryOp;
use serde_json::{Number, Value};
use std::cmp::Ordering;

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

/// Deep equality where numbers compare by value (`1 == 1.0`).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn compare_numbers(x: &Number, y: &Number) -> Ordering {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a.cmp(&b);
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a.cmp(&b);
    }
    let (a, b) = (
        x.as_f64().unwrap_or(f64::NAN),
        y.as_f64().unwrap_or(f64::NAN),
    );
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

fn type_error(op: BinaryOp, a: &Value, b: &Value) -> EvalError {
    let mut message = format!(
        "cannot apply `{}` to {} and {}",
        op.symbol(),
        type_name(a),
        type_name(b)
    );
    if op == BinaryOp::Add && (a.is_string() || b.is_string()) {
        message.push_str("; convert with string(…) first");
    }
    EvalError::new(EvalErrorKind::Type, message)
}

fn overflow(op: BinaryOp) -> EvalError {
    EvalError::new(
        EvalErrorKind::Arithmetic,
        format!("`{}` overflowed", op.symbol()),
    )
}

fn float(op: BinaryOp, f: f64) -> Result<Value, EvalError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| overflow(op))
}

/// Applies a non-short-circuit binary operator.
pub fn binary(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, EvalError> {
    use BinaryOp::*;
    match op {
        Eq => Ok(Value::Bool(json_equal(a, b))),
        Ne => Ok(Value::Bool(!json_equal(a, b))),
        Lt | Le | Gt | Ge => {
            let ord = match (a, b) {
                (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
                (Value::String(x), Value::String(y)) => x.cmp(y),
                _ => return Err(type_error(op, a, b)),
            };
            Ok(Value::Bool(match op {
                Lt => ord == Ordering::Less,
                Le => ord != Ordering::Greater,
                Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        Add => match (a, b) {
            (Value::String(x), Value::String(y)) => Ok(Value::String(format!("{x}{y}"))),
            (Value::Array(x), Value::Array(y)) => {
                Ok(Value::Array(x.iter().chain(y).cloned().collect()))
            }
            (Value::Object(x), Value::Object(y)) => {
                let mut merged = x.clone();
                merged.extend(y.iter().map(|(k, v)| (k.clone(), v.clone())));
                Ok(Value::Object(merged))
            }
            (Value::Number(x), Value::Number(y)) => arithmetic(op, x, y),
            _ => Err(type_error(op, a, b)),
        },
        Sub | Mul | Div | Rem => match (a, b) {
            (Value::Number(x), Value::Number(y)) => arithmetic(op, x, y),
            _ => Err(type_error(op, a, b)),
        },
        Coalesce | And | Or => Err(EvalError::new(
            EvalErrorKind::Type,
            "internal: short-circuit operator",
        )),
    }
}

fn arithmetic(op: BinaryOp, x: &Number, y: &Number) -> Result<Value, EvalError> {
    use BinaryOp::*;
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        let zero = || {
            EvalError::new(
                EvalErrorKind::Arithmetic,
                format!("`{}` by zero", op.symbol()),
            )
        };
        let result = match op {
            Add => a.checked_add(b),
            Sub => a.checked_sub(b),
            Mul => a.checked_mul(b),
            Div if b == 0 => return Err(zero()),
            // Integers that divide evenly stay integers; others become floats.
            Div if a.checked_rem(b) == Some(0) => a.checked_div(b),
            Div => return float(op, a as f64 / b as f64),
            Rem if b == 0 => return Err(zero()),
            Rem => a.checked_rem(b),
            _ => None,
        };
        // An integer overflow falls back to float arithmetic rather than failing.
        if let Some(r) = result {
            return Ok(Value::from(r));
        }
    }
    let (a, b) = (
        x.as_f64().unwrap_or(f64::NAN),
        y.as_f64().unwrap_or(f64::NAN),
    );
    if matches!(op, Div | Rem) && b == 0.0 {
        return Err(EvalError::new(
            EvalErrorKind::Arithmetic,
            format!("`{}` by zero", op.symbol()),
        ));
    }
    float(
        op,
        match op {
            Add => a + b,
            Sub => a - b,
            Mul => a * b,
            Div => a / b,
            _ => a % b,
        },
    )
}

/// `-x`
pub fn negate(v: &Value) -> Result<Value, EvalError> {
    match v {
        Value::Number(n) => match n.as_i64().and_then(i64::checked_neg) {
            Some(i) => Ok(Value::from(i)),
            None => float(BinaryOp::Sub, -n.as_f64().unwrap_or(f64::NAN)),
        },
        other => Err(EvalError::new(
            EvalErrorKind::Type,
            format!("cannot negate {}", type_name(other)),
        )),
    }
}

/// The boolean value of an operand of `!`, `&&`, `||`, `when`, `expect`: bools as they are,
/// `null` as false; anything else is a type error (no implicit truthiness for strings or numbers).
pub fn condition(v: &Value, what: &str) -> Result<bool, EvalError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        other => Err(EvalError::new(
            EvalErrorKind::Type,
            format!("{what} must be a bool, got {}", type_name(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use BinaryOp::*;

    fn ok(op: BinaryOp, a: Value, b: Value) -> Value {
        binary(op, &a, &b).unwrap_or_else(|e| panic!("{e}"))
    }

    fn kind(op: BinaryOp, a: Value, b: Value) -> EvalErrorKind {
        binary(op, &a, &b).expect_err("an error").kind
    }

    #[test]
    fn arithmetic_keeps_integers_when_it_can() {
        assert_eq!(ok(Add, json!(1), json!(2)), json!(3));
        assert_eq!(ok(Add, json!(1), json!(0.5)), json!(1.5));
        assert_eq!(ok(Div, json!(6), json!(3)), json!(2));
        assert_eq!(ok(Div, json!(7), json!(2)), json!(3.5));
        assert_eq!(ok(Rem, json!(-7), json!(3)), json!(-1));
        assert_eq!(
            ok(Mul, json!(i64::MAX), json!(2)),
            json!(1.8446744073709552e19)
        );
        assert_eq!(
            ok(Sub, json!(i64::MIN), json!(1)),
            json!(-9.223372036854776e18)
        );
        assert_eq!(kind(Div, json!(1), json!(0)), EvalErrorKind::Arithmetic);
        assert_eq!(kind(Rem, json!(1.5), json!(0.0)), EvalErrorKind::Arithmetic);
        assert_eq!(
            kind(Mul, json!(1e308), json!(10)),
            EvalErrorKind::Arithmetic
        );
        assert_eq!(kind(Sub, json!("a"), json!(1)), EvalErrorKind::Type);
    }

    #[test]
    fn plus_joins_concatenates_and_merges() {
        assert_eq!(ok(Add, json!("a"), json!("é")), json!("aé"));
        assert_eq!(ok(Add, json!([1]), json!([2])), json!([1, 2]));
        assert_eq!(
            ok(Add, json!({"a": 1, "b": 1}), json!({"b": 2})),
            json!({"a": 1, "b": 2})
        );
        let e = binary(Add, &json!("n"), &json!(1)).expect_err("type error");
        assert!(e.message.contains("string(…)"), "{}", e.message);
        assert_eq!(kind(Add, json!(null), json!(1)), EvalErrorKind::Type);
    }

    #[test]
    fn comparison_and_equality() {
        assert_eq!(ok(Eq, json!(1), json!(1.0)), json!(true));
        assert_eq!(ok(Eq, json!({"a": [1]}), json!({"a": [1.0]})), json!(true));
        assert_eq!(ok(Ne, json!(null), json!(false)), json!(true));
        assert_eq!(ok(Lt, json!("apple"), json!("banana")), json!(true));
        assert_eq!(ok(Ge, json!(u64::MAX), json!(-1)), json!(true));
        assert_eq!(ok(Le, json!(2), json!(2.0)), json!(true));
        assert_eq!(kind(Lt, json!(1), json!("2")), EvalErrorKind::Type);
        assert_eq!(kind(Gt, json!(null), json!(1)), EvalErrorKind::Type);
    }

    #[test]
    fn negation_and_conditions() {
        assert_eq!(negate(&json!(5)).ok(), Some(json!(-5)));
        assert_eq!(
            negate(&json!(i64::MIN)).ok(),
            Some(json!(9.223372036854776e18))
        );
        assert!(negate(&json!("x")).is_err());
        assert_eq!(condition(&json!(null), "x").ok(), Some(false));
        assert!(condition(&json!(1), "x").is_err());
    }
}
