//! Numeric functions: `sum min max round`.

use super::args::Args;
use braid_dsl::eval::{EvalError, EvalErrorKind};
use serde_json::{Number, Value};

fn numbers<'v>(a: &'v Args, values: Vec<&'v Value>) -> Result<Vec<&'v Number>, EvalError> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Number(n) => Ok(n),
            other => Err(a.error(
                EvalErrorKind::Type,
                format!(
                    "item {} must be a number, got {}",
                    i + 1,
                    super::args::type_name(other)
                ),
            )),
        })
        .collect()
}

/// The items: one array argument, or the arguments themselves.
fn items<'v>(a: &'v Args) -> Result<Vec<&'v Value>, EvalError> {
    if a.len() == 1 {
        if let Value::Array(items) = a.value(0)? {
            return Ok(items.iter().collect());
        }
    }
    a.values()
}

/// `sum(xs)`: integers stay integers unless they overflow (then the sum is a float).
pub fn sum(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    let ns = numbers(a, a.array(0)?.iter().collect())?;
    let mut int: Option<i64> = Some(0);
    let mut float = 0.0f64;
    for n in &ns {
        int = match (int, n.as_i64()) {
            (Some(acc), Some(i)) => acc.checked_add(i),
            _ => None,
        };
        float += n.as_f64().unwrap_or(0.0);
    }
    match int {
        Some(i) => Ok(Value::from(i)),
        None => Number::from_f64(float)
            .map(Value::Number)
            .ok_or_else(|| a.error(EvalErrorKind::Arithmetic, "the sum is not a finite number")),
    }
}

fn extreme(a: &Args, pick_greater: bool) -> Result<Value, EvalError> {
    a.count(1, usize::MAX)?;
    let ns = numbers(a, items(a)?)?;
    let best = ns.into_iter().reduce(|best, n| {
        let (b, x) = (best.as_f64().unwrap_or(0.0), n.as_f64().unwrap_or(0.0));
        if (pick_greater && x > b) || (!pick_greater && x < b) {
            n
        } else {
            best
        }
    });
    Ok(best.map_or(Value::Null, |n| Value::Number(n.clone())))
}

/// `min(xs)` or `min(a, b, …)`; `null` for an empty list.
pub fn min(a: &Args) -> Result<Value, EvalError> {
    extreme(a, false)
}

/// `max(xs)` or `max(a, b, …)`; `null` for an empty list.
pub fn max(a: &Args) -> Result<Value, EvalError> {
    extreme(a, true)
}

/// `round(x)` or `round(x, digits)`: half away from zero; whole results are integers.
pub fn round(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 2)?;
    let n = match a.value(0)? {
        Value::Number(n) => n,
        other => return Err(a.type_error(0, "a number", other)),
    };
    if n.is_i64() || n.is_u64() {
        return Ok(Value::Number(n.clone()));
    }
    let digits = match a.optional(1)? {
        None => 0,
        Some(Value::Number(d)) => match d.as_u64() {
            Some(d) if d <= 15 => d as i32,
            _ => {
                return Err(a.error(
                    EvalErrorKind::Function,
                    "digits must be a whole number from 0 to 15",
                ))
            }
        },
        Some(other) => return Err(a.type_error(1, "a number of digits", other)),
    };
    let x = n.as_f64().unwrap_or(0.0);
    let scale = 10f64.powi(digits);
    let r = (x * scale).round() / scale;
    if digits == 0 && r.abs() < 9.0e15 {
        return Ok(Value::from(r as i64));
    }
    Number::from_f64(r).map(Value::Number).ok_or_else(|| {
        a.error(
            EvalErrorKind::Arithmetic,
            "the result is not a finite number",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use braid_dsl::eval::EvalErrorKind::*;
    use serde_json::json;

    #[test]
    fn sum_keeps_integers_and_survives_overflow() {
        assert_eq!(ok("sum", vec![json!([])]), json!(0));
        assert_eq!(ok("sum", vec![json!([1, 2, 3])]), json!(6));
        assert_eq!(ok("sum", vec![json!([1, 0.5])]), json!(1.5));
        assert_eq!(
            ok("sum", vec![json!([i64::MAX, 1])]),
            json!(9.223372036854776e18)
        );
        assert_eq!(err("sum", vec![json!([1, "2"])]), Type);
        assert_eq!(err("sum", vec![json!(3)]), Type);
    }

    #[test]
    fn min_max_of_lists_and_arguments() {
        assert_eq!(ok("min", vec![json!([3, -1.5, 2])]), json!(-1.5));
        assert_eq!(ok("max", vec![json!([3, -1.5, 2])]), json!(3));
        assert_eq!(ok("max", vec![json!(1), json!(7), json!(2)]), json!(7));
        assert_eq!(ok("min", vec![json!([])]), json!(null));
        assert_eq!(ok("max", vec![json!(u64::MAX), json!(1)]), json!(u64::MAX));
        assert_eq!(err("min", vec![json!(["a"])]), Type);
    }

    #[test]
    fn round_half_away_from_zero() {
        assert_eq!(ok("round", vec![json!(2.5)]), json!(3));
        assert_eq!(ok("round", vec![json!(-2.5)]), json!(-3));
        assert_eq!(
            ok("round", vec![json!(1234.5678), json!(2)]),
            json!(1234.57)
        );
        assert_eq!(ok("round", vec![json!(7)]), json!(7));
        assert_eq!(ok("round", vec![json!(1e300)]), json!(1e300));
        assert_eq!(err("round", vec![json!(1.5), json!(-1)]), Function);
        assert_eq!(err("round", vec![json!("1.5")]), Type);
    }
}
