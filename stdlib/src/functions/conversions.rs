//! Conversions: `number int string bool`.

use super::args::Args;
use braid_dsl::eval::{EvalError, EvalErrorKind};
use serde_json::{Number, Value};

/// `number(x)`: numbers as they are, numeric strings parsed (integers stay integers), bools 0/1.
pub fn number(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    match a.value(0)? {
        Value::Number(n) => Ok(Value::Number(n.clone())),
        Value::Bool(b) => Ok(Value::from(u8::from(*b))),
        Value::String(s) => parse_number(s.trim()).map(Value::Number).ok_or_else(|| {
            a.error(
                EvalErrorKind::Function,
                format!("{} is not a number", quoted(s)),
            )
        }),
        other => Err(a.type_error(0, "a number, numeric string or bool", other)),
    }
}

/// Parses a decimal number: integers as i64/u64, others as finite f64.
pub fn parse_number(s: &str) -> Option<Number> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(u) = s.parse::<u64>() {
        return Some(u.into());
    }
    let f: f64 = s.parse().ok()?;
    if s.chars().any(|c| c.is_alphabetic() && c != 'e' && c != 'E') {
        return None; // "inf", "NaN"
    }
    Number::from_f64(f)
}

/// `int(x)`: numbers truncated toward zero; integer strings parsed; bools 0/1.
pub fn int(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    let v = a.value(0)?;
    let n = match v {
        Value::String(s) => parse_number(s.trim()).ok_or_else(|| {
            a.error(
                EvalErrorKind::Function,
                format!("{} is not a number", quoted(s)),
            )
        })?,
        Value::Number(n) => n.clone(),
        Value::Bool(b) => return Ok(Value::from(u8::from(*b))),
        other => return Err(a.type_error(0, "a number, numeric string or bool", other)),
    };
    if n.is_i64() || n.is_u64() {
        return Ok(Value::Number(n));
    }
    let f = n.as_f64().unwrap_or(f64::NAN).trunc();
    if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        Ok(Value::from(f as i64))
    } else {
        Err(a.error(
            EvalErrorKind::Arithmetic,
            "the number is too large for an integer",
        ))
    }
}

/// `string(x)`: a string as it is; anything else as compact JSON (`null` → `"null"`).
pub fn string(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    Ok(Value::String(match a.value(0)? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }))
}

/// `bool(x)`: false for null, false, 0, "", [] and {}; true otherwise.
pub fn bool(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    Ok(Value::Bool(truthy(a.value(0)?)))
}

/// The truthiness `bool()` uses.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The text as a message quotes it: whole when short, otherwise only its length. Never a part
/// of it: the engine masks secrets in messages, and it can only recognise a secret whole.
fn quoted(s: &str) -> String {
    let n = s.chars().count();
    if n <= 40 {
        format!("`{s}`")
    } else {
        format!("a text of {n} characters")
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use braid_dsl::eval::EvalErrorKind::*;
    use serde_json::json;

    #[test]
    fn long_texts_are_never_quoted_in_part() {
        assert_eq!(super::quoted("12,50"), "`12,50`");
        let long = "x".repeat(41);
        assert_eq!(super::quoted(&long), "a text of 41 characters");
    }

    #[test]
    fn number_parses_strings_and_keeps_integers() {
        assert_eq!(ok("number", vec![json!("12.50")]), json!(12.5));
        assert_eq!(ok("number", vec![json!(" 42 ")]), json!(42));
        assert_eq!(
            ok("number", vec![json!("-9223372036854775808")]),
            json!(i64::MIN)
        );
        assert_eq!(
            ok("number", vec![json!("18446744073709551615")]),
            json!(u64::MAX)
        );
        assert_eq!(ok("number", vec![json!(true)]), json!(1));
        assert_eq!(err("number", vec![json!("12,50")]), Function);
        assert_eq!(err("number", vec![json!("NaN")]), Function);
        assert_eq!(err("number", vec![json!("inf")]), Function);
        assert_eq!(err("number", vec![json!(null)]), Type);
    }

    #[test]
    fn int_truncates_and_refuses_overflow() {
        assert_eq!(ok("int", vec![json!(-2.7)]), json!(-2));
        assert_eq!(ok("int", vec![json!("42")]), json!(42));
        assert_eq!(ok("int", vec![json!(u64::MAX)]), json!(u64::MAX));
        assert_eq!(err("int", vec![json!(1e300)]), Arithmetic);
        assert_eq!(err("int", vec![json!([])]), Type);
    }

    #[test]
    fn string_and_bool() {
        assert_eq!(ok("string", vec![json!(1.5)]), json!("1.5"));
        assert_eq!(ok("string", vec![json!(null)]), json!("null"));
        assert_eq!(ok("string", vec![json!({"a": [1]})]), json!("{\"a\":[1]}"));
        assert_eq!(ok("string", vec![json!("é")]), json!("é"));
        for falsy in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert_eq!(ok("bool", vec![falsy]), json!(false));
        }
        assert_eq!(ok("bool", vec![json!("false")]), json!(true));
    }
}
