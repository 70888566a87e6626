//! The pure functions of the standard library. Each takes evaluated arguments (lambdas stay
//! callable) and returns a value or a typed [`EvalError`]; none panics on any input.

mod args;
mod collections;
mod conversions;
mod encoding;
mod numbers;
mod strings;
mod time;

use args::Args;
use braid_dsl::catalog::ArgValue;
use braid_dsl::eval::{EvalError, EvalErrorKind, Host};
use serde_json::Value;

/// Calls the pure function `name`.
pub fn call(name: &str, args: &[ArgValue<'_>], host: &dyn Host) -> Result<Value, EvalError> {
    let a = Args::new(name, args);
    match name {
        "len" => strings::len(&a),
        "upper" => strings::upper(&a),
        "lower" => strings::lower(&a),
        "trim" => strings::trim(&a),
        "split" => strings::split(&a),
        "join" => strings::join(&a),
        "replace" => strings::replace(&a),
        "contains" => strings::contains(&a),
        "starts_with" => strings::starts_with(&a),
        "ends_with" => strings::ends_with(&a),
        "number" => conversions::number(&a),
        "int" => conversions::int(&a),
        "string" => conversions::string(&a),
        "bool" => conversions::bool(&a),
        "keys" => collections::keys(&a),
        "values" => collections::values(&a),
        "pick" => collections::pick(&a),
        "omit" => collections::omit(&a),
        "merge" => collections::merge(&a),
        "default" => collections::default(&a),
        "map" => collections::map(&a),
        "filter" => collections::filter(&a),
        "sum" => numbers::sum(&a),
        "min" => numbers::min(&a),
        "max" => numbers::max(&a),
        "round" => numbers::round(&a),
        "json_encode" => encoding::json_encode(&a),
        "json_decode" => encoding::json_decode(&a),
        "base64_encode" => encoding::base64_encode(&a),
        "base64_decode" => encoding::base64_decode(&a),
        "sha256" => encoding::sha256(&a),
        "hmac_sha256" => encoding::hmac_sha256(&a),
        "uuid" => a.count(0, 0).map(|_| Value::String(host.uuid())),
        "now" => a
            .count(0, 0)
            .map(|_| Value::String(time::rfc3339(host.now()))),
        "format_time" => time::format_time(&a),
        "parse_time" => time::parse_time(&a),
        _ => Err(EvalError::new(
            EvalErrorKind::Function,
            format!("unknown function `{name}`"),
        )),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};

    /// A host with a fixed clock and uuid.
    pub struct FixedHost;

    impl Host for FixedHost {
        fn env(&self, _: &str) -> Option<String> {
            None
        }
        fn secret(&self, _: &str) -> Option<String> {
            None
        }
        fn now(&self) -> DateTime<Utc> {
            Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0)
                .single()
                .unwrap_or(DateTime::UNIX_EPOCH)
        }
        fn uuid(&self) -> String {
            "6f1c0d6e-8b9a-4f2e-9d3c-1a2b3c4d5e6f".into()
        }
    }

    /// Calls `name` with plain values.
    pub fn run(name: &str, args: Vec<Value>) -> Result<Value, EvalError> {
        let args: Vec<ArgValue> = args.into_iter().map(ArgValue::Value).collect();
        call(name, &args, &FixedHost)
    }

    /// Calls `name` expecting success.
    pub fn ok(name: &str, args: Vec<Value>) -> Value {
        run(name, args).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Calls `name` expecting an error, returning its kind.
    pub fn err(name: &str, args: Vec<Value>) -> EvalErrorKind {
        match run(name, args) {
            Ok(v) => panic!("{name}: expected an error, got {v}"),
            Err(e) => e.kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use serde_json::json;

    #[test]
    fn now_and_uuid_come_from_the_host() {
        assert_eq!(ok("now", vec![]), json!("2026-03-29T01:30:00Z"));
        assert_eq!(
            ok("uuid", vec![]),
            json!("6f1c0d6e-8b9a-4f2e-9d3c-1a2b3c4d5e6f")
        );
        assert_eq!(
            err("now", vec![json!(1)]),
            braid_dsl::eval::EvalErrorKind::Function
        );
    }
}
