//! Collection functions: `keys values pick omit merge default map filter`.

use super::args::Args;
use braid_dsl::eval::{EvalError, EvalErrorKind};
use serde_json::{Map, Value};

/// `keys(obj)`: sorted keys.
pub fn keys(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    let mut keys: Vec<&String> = a.object(0)?.keys().collect();
    keys.sort();
    Ok(Value::Array(
        keys.into_iter().map(|k| Value::String(k.clone())).collect(),
    ))
}

/// `values(obj)`: values in key order.
pub fn values(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    let obj = a.object(0)?;
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort();
    Ok(Value::Array(
        keys.into_iter()
            .filter_map(|k| obj.get(k).cloned())
            .collect(),
    ))
}

fn key_list(a: &Args, i: usize) -> Result<Vec<String>, EvalError> {
    a.array(i)?
        .iter()
        .map(|k| match k {
            Value::String(s) => Ok(s.clone()),
            other => Err(a.type_error(i, "an array of strings", other)),
        })
        .collect()
}

/// `pick(obj, keys)`: only the listed keys (missing ones are left out).
pub fn pick(a: &Args) -> Result<Value, EvalError> {
    a.count(2, 2)?;
    let obj = a.object(0)?;
    let keys = key_list(a, 1)?;
    Ok(Value::Object(
        keys.into_iter()
            .filter_map(|k| obj.get(&k).cloned().map(|v| (k, v)))
            .collect(),
    ))
}

/// `omit(obj, keys)`: all but the listed keys.
pub fn omit(a: &Args) -> Result<Value, EvalError> {
    a.count(2, 2)?;
    let keys = key_list(a, 1)?;
    let mut obj = a.object(0)?.clone();
    for k in keys {
        obj.remove(&k);
    }
    Ok(Value::Object(obj))
}

/// `merge(a, b, …)`: deep merge of objects, later values winning; `null` arguments are skipped.
pub fn merge(a: &Args) -> Result<Value, EvalError> {
    a.count(1, usize::MAX)?;
    let mut out = Map::new();
    for (i, v) in a.values()?.into_iter().enumerate() {
        match v {
            Value::Object(o) => deep_merge(&mut out, o),
            Value::Null => {}
            other => return Err(a.type_error(i, "an object", other)),
        }
    }
    Ok(Value::Object(out))
}

fn deep_merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                deep_merge(existing, incoming)
            }
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `default(x, fallback)`: `x` unless it is null.
pub fn default(a: &Args) -> Result<Value, EvalError> {
    a.count(2, 2)?;
    let v = a.value(0)?;
    Ok(if v.is_null() {
        a.value(1)?.clone()
    } else {
        v.clone()
    })
}

/// `map(xs, x => …)`; `null` maps to `[]`.
pub fn map(a: &Args) -> Result<Value, EvalError> {
    a.count(2, 2)?;
    let f = a.lambda(1)?;
    let items = list_or_empty(a)?;
    items
        .iter()
        .map(|x| f(std::slice::from_ref(x)))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// `filter(xs, x => …)`: the lambda must give a bool (or null, counted as false).
pub fn filter(a: &Args) -> Result<Value, EvalError> {
    a.count(2, 2)?;
    let f = a.lambda(1)?;
    let mut out = Vec::new();
    for x in list_or_empty(a)? {
        match f(std::slice::from_ref(x))? {
            Value::Bool(true) => out.push(x.clone()),
            Value::Bool(false) | Value::Null => {}
            other => {
                return Err(a.error(
                    EvalErrorKind::Type,
                    format!(
                        "the lambda must give a bool, got {}",
                        super::args::type_name(&other)
                    ),
                ))
            }
        }
    }
    Ok(Value::Array(out))
}

fn list_or_empty<'v>(a: &'v Args) -> Result<&'v [Value], EvalError> {
    match a.value(0)? {
        Value::Null => Ok(&[]),
        Value::Array(items) => Ok(items),
        other => Err(a.type_error(0, "an array", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::FixedHost;
    use super::super::test_support::*;
    use braid_dsl::catalog::ArgValue;
    use braid_dsl::eval::EvalErrorKind::*;
    use serde_json::{json, Value};

    #[test]
    fn keys_values_pick_omit() {
        let o = json!({"b": 2, "a": 1, "c": null});
        assert_eq!(ok("keys", vec![o.clone()]), json!(["a", "b", "c"]));
        assert_eq!(ok("values", vec![o.clone()]), json!([1, 2, null]));
        assert_eq!(
            ok("pick", vec![o.clone(), json!(["a", "zz"])]),
            json!({"a": 1})
        );
        assert_eq!(
            ok("omit", vec![o.clone(), json!(["a", "c"])]),
            json!({"b": 2})
        );
        assert_eq!(ok("keys", vec![json!({})]), json!([]));
        assert_eq!(err("keys", vec![json!([1])]), Type);
        assert_eq!(err("pick", vec![o, json!([1])]), Type);
    }

    #[test]
    fn merge_is_deep_and_later_wins() {
        let merged = ok(
            "merge",
            vec![
                json!({"a": {"x": 1, "y": 1}, "b": 1}),
                json!({"a": {"y": 2}}),
                json!(null),
            ],
        );
        assert_eq!(merged, json!({"a": {"x": 1, "y": 2}, "b": 1}));
        assert_eq!(err("merge", vec![json!({}), json!([1])]), Type);
    }

    #[test]
    fn default_replaces_only_null() {
        assert_eq!(ok("default", vec![json!(null), json!(5)]), json!(5));
        assert_eq!(ok("default", vec![json!(false), json!(5)]), json!(false));
    }

    fn with_lambda(
        name: &str,
        list: Value,
        f: &dyn Fn(&[Value]) -> Result<Value, braid_dsl::eval::EvalError>,
    ) -> Result<Value, braid_dsl::eval::EvalError> {
        super::super::call(
            name,
            &[ArgValue::Value(list), ArgValue::Lambda(f)],
            &FixedHost,
        )
    }

    #[test]
    fn map_and_filter_call_the_lambda() {
        let double = |xs: &[Value]| Ok(json!(xs[0].as_i64().unwrap_or(0) * 2));
        assert_eq!(
            with_lambda("map", json!([1, 2]), &double).unwrap(),
            json!([2, 4])
        );
        assert_eq!(with_lambda("map", json!(null), &double).unwrap(), json!([]));
        let big = |xs: &[Value]| Ok(json!(xs[0].as_i64().unwrap_or(0) > 1));
        assert_eq!(
            with_lambda("filter", json!([1, 2, 3]), &big).unwrap(),
            json!([2, 3])
        );
        let not_bool = |_: &[Value]| Ok(json!(1));
        assert_eq!(
            with_lambda("filter", json!([1]), &not_bool)
                .unwrap_err()
                .kind,
            Type
        );
        assert_eq!(err("map", vec![json!([1]), json!(2)]), Type);
        assert_eq!(
            with_lambda("map", json!("no"), &double).unwrap_err().kind,
            Type
        );
    }
}
