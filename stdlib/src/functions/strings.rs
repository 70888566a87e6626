//! String functions: `len upper lower trim split join replace contains starts_with ends_with`.

use super::args::{type_name, Args};
use braid_dsl::eval::{EvalError, EvalErrorKind};
use serde_json::Value;

/// `len(x)`: characters of a string, items of an array, keys of an object.
pub fn len(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    let n = match a.value(0)? {
        Value::String(s) => s.chars().count(),
        Value::Array(v) => v.len(),
        Value::Object(o) => o.len(),
        other => return Err(a.type_error(0, "a string, array or object", other)),
    };
    Ok(Value::from(n))
}

/// `upper(s)`
pub fn upper(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    Ok(Value::String(a.str(0)?.to_uppercase()))
}

/// `lower(s)`
pub fn lower(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    Ok(Value::String(a.str(0)?.to_lowercase()))
}

/// `trim(s)`
pub fn trim(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    Ok(Value::String(a.str(0)?.trim().to_string()))
}

/// `split(s, sep)`; an empty separator splits into characters.
pub fn split(a: &Args) -> Result<Value, EvalError> {
    a.count(2, 2)?;
    let (s, sep) = (a.str(0)?, a.str(1)?);
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep).map(|p| Value::String(p.to_string())).collect()
    };
    Ok(Value::Array(parts))
}

/// `join(items, sep)`: items must be strings, numbers or bools.
pub fn join(a: &Args) -> Result<Value, EvalError> {
    a.count(2, 2)?;
    let (items, sep) = (a.array(0)?, a.str(1)?);
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        parts.push(match item {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(a.error(
                    EvalErrorKind::Type,
                    format!(
                        "can only join strings, numbers and bools, found {}",
                        type_name(other)
                    ),
                ))
            }
        });
    }
    Ok(Value::String(parts.join(sep)))
}

/// `replace(s, from, to)`: every occurrence; an empty pattern is an error.
pub fn replace(a: &Args) -> Result<Value, EvalError> {
    a.count(3, 3)?;
    let (s, from, to) = (a.str(0)?, a.str(1)?, a.str(2)?);
    if from.is_empty() {
        return Err(a.error(EvalErrorKind::Function, "the pattern to replace is empty"));
    }
    Ok(Value::String(s.replace(from, to)))
}

/// `contains(haystack, needle)`: substring, array item (deep equality), or object key.
pub fn contains(a: &Args) -> Result<Value, EvalError> {
    a.count(2, 2)?;
    let needle = a.value(1)?;
    let found = match a.value(0)? {
        Value::String(s) => match needle {
            Value::String(n) => s.contains(n.as_str()),
            other => return Err(a.type_error(1, "a string", other)),
        },
        Value::Array(items) => items.iter().any(|i| braid_dsl::eval::json_equal(i, needle)),
        Value::Object(o) => match needle {
            Value::String(k) => o.contains_key(k),
            other => return Err(a.type_error(1, "a string key", other)),
        },
        other => return Err(a.type_error(0, "a string, array or object", other)),
    };
    Ok(Value::Bool(found))
}

/// `starts_with(s, prefix)`
pub fn starts_with(a: &Args) -> Result<Value, EvalError> {
    a.count(2, 2)?;
    Ok(Value::Bool(a.str(0)?.starts_with(a.str(1)?)))
}

/// `ends_with(s, suffix)`
pub fn ends_with(a: &Args) -> Result<Value, EvalError> {
    a.count(2, 2)?;
    Ok(Value::Bool(a.str(0)?.ends_with(a.str(1)?)))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use braid_dsl::eval::EvalErrorKind::*;
    use serde_json::json;

    #[test]
    fn len_counts_characters_items_and_keys() {
        assert_eq!(ok("len", vec![json!("çé😀")]), json!(3));
        assert_eq!(ok("len", vec![json!("")]), json!(0));
        assert_eq!(ok("len", vec![json!([1, 2])]), json!(2));
        assert_eq!(ok("len", vec![json!({"a": 1})]), json!(1));
        assert_eq!(err("len", vec![json!(5)]), Type);
        assert_eq!(err("len", vec![json!(null)]), Type);
    }

    #[test]
    fn case_and_trim_are_unicode_aware() {
        assert_eq!(ok("upper", vec![json!("straße")]), json!("STRASSE"));
        assert_eq!(ok("lower", vec![json!("ÉCOLE")]), json!("école"));
        assert_eq!(ok("trim", vec![json!("\u{3000} x \n")]), json!("x"));
        assert_eq!(err("upper", vec![json!(1)]), Type);
    }

    #[test]
    fn split_join_replace() {
        assert_eq!(
            ok("split", vec![json!("a,b,,c"), json!(",")]),
            json!(["a", "b", "", "c"])
        );
        assert_eq!(ok("split", vec![json!("hé"), json!("")]), json!(["h", "é"]));
        assert_eq!(ok("split", vec![json!(""), json!(",")]), json!([""]));
        assert_eq!(
            ok("join", vec![json!(["a", 1, true]), json!("-")]),
            json!("a-1-true")
        );
        assert_eq!(ok("join", vec![json!([]), json!("-")]), json!(""));
        assert_eq!(err("join", vec![json!([{}]), json!("-")]), Type);
        assert_eq!(
            ok("replace", vec![json!("aXbX"), json!("X"), json!("—")]),
            json!("a—b—")
        );
        assert_eq!(
            err("replace", vec![json!("a"), json!(""), json!("b")]),
            Function
        );
    }

    #[test]
    fn contains_and_affixes() {
        assert_eq!(
            ok("contains", vec![json!("hello"), json!("ell")]),
            json!(true)
        );
        assert_eq!(ok("contains", vec![json!([1, 2.0]), json!(2)]), json!(true));
        assert_eq!(ok("contains", vec![json!([]), json!(1)]), json!(false));
        assert_eq!(
            ok("contains", vec![json!({"k": 1}), json!("k")]),
            json!(true)
        );
        assert_eq!(err("contains", vec![json!(1), json!(1)]), Type);
        assert_eq!(
            ok("starts_with", vec![json!("éa"), json!("é")]),
            json!(true)
        );
        assert_eq!(
            ok("ends_with", vec![json!("a.csv"), json!(".csv")]),
            json!(true)
        );
        assert_eq!(err("ends_with", vec![json!(null), json!("x")]), Type);
    }
}
