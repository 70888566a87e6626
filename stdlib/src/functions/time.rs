//! Time functions: `format_time parse_time` (and the RFC 3339 form `now()` returns).

use super::args::Args;
use braid_dsl::eval::{EvalError, EvalErrorKind};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde_json::Value;
use std::fmt::Write;

/// A time as RFC 3339 in UTC, with fractional seconds only when present.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A time argument: RFC 3339 text, a date `YYYY-MM-DD` (midnight UTC), or epoch seconds.
fn time_arg(a: &Args, i: usize) -> Result<DateTime<Utc>, EvalError> {
    match a.value(i)? {
        Value::String(s) => parse_default(s).ok_or_else(|| {
            a.error(
                EvalErrorKind::Function,
                format!("`{s}` is not an RFC 3339 time or a date"),
            )
        }),
        Value::Number(n) => {
            let secs = n.as_f64().unwrap_or(f64::NAN);
            let millis = (secs * 1000.0).round();
            if !millis.is_finite() || millis.abs() > 8.0e15 {
                return Err(a.error(EvalErrorKind::Function, "epoch seconds out of range"));
            }
            Utc.timestamp_millis_opt(millis as i64)
                .single()
                .ok_or_else(|| a.error(EvalErrorKind::Function, "epoch seconds out of range"))
        }
        other => Err(a.type_error(i, "a time (RFC 3339 text or epoch seconds)", other)),
    }
}

fn parse_default(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

/// `format_time(time, format)` with strftime codes, in UTC.
pub fn format_time(a: &Args) -> Result<Value, EvalError> {
    a.count(2, 2)?;
    let t = time_arg(a, 0)?;
    let fmt = a.str(1)?;
    let items = chrono::format::StrftimeItems::new(fmt)
        .parse()
        .map_err(|_| {
            a.error(
                EvalErrorKind::Function,
                format!("`{fmt}` is not a valid strftime format"),
            )
        })?;
    let mut out = String::new();
    write!(out, "{}", t.format_with_items(items.iter())).map_err(|_| {
        a.error(
            EvalErrorKind::Function,
            format!("cannot format a time with `{fmt}`"),
        )
    })?;
    Ok(Value::String(out))
}

/// `parse_time(text)` (RFC 3339, a date, or epoch seconds) or `parse_time(text, format)`;
/// the result is RFC 3339 in UTC. A format without a zone reads the text as UTC.
pub fn parse_time(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 2)?;
    let t = match a.optional(1)? {
        None => time_arg(a, 0)?,
        Some(_) => {
            let (s, fmt) = (a.str(0)?, a.str(1)?);
            let bad = || {
                a.error(
                    EvalErrorKind::Function,
                    format!("`{s}` does not match the format `{fmt}`"),
                )
            };
            match DateTime::parse_from_str(s, fmt) {
                Ok(t) => t.with_timezone(&Utc),
                Err(_) => match NaiveDateTime::parse_from_str(s, fmt) {
                    Ok(t) => t.and_utc(),
                    Err(_) => NaiveDate::parse_from_str(s, fmt)
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|t| t.and_utc())
                        .ok_or_else(bad)?,
                },
            }
        }
    };
    Ok(Value::String(rfc3339(t)))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use braid_dsl::eval::EvalErrorKind::*;
    use serde_json::json;

    #[test]
    fn parse_time_normalises_to_utc() {
        assert_eq!(
            ok("parse_time", vec![json!("2026-03-29T03:30:00+02:00")]),
            json!("2026-03-29T01:30:00Z")
        );
        assert_eq!(
            ok("parse_time", vec![json!("2026-01-31")]),
            json!("2026-01-31T00:00:00Z")
        );
        assert_eq!(
            ok("parse_time", vec![json!(0)]),
            json!("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            ok("parse_time", vec![json!(1.5)]),
            json!("1970-01-01T00:00:01.500Z")
        );
        assert_eq!(
            ok(
                "parse_time",
                vec![json!("31/01/2026 14:05"), json!("%d/%m/%Y %H:%M")]
            ),
            json!("2026-01-31T14:05:00Z")
        );
        assert_eq!(
            ok("parse_time", vec![json!("31.01.2026"), json!("%d.%m.%Y")]),
            json!("2026-01-31T00:00:00Z")
        );
        assert_eq!(err("parse_time", vec![json!("yesterday")]), Function);
        assert_eq!(err("parse_time", vec![json!(1e300)]), Function);
        assert_eq!(
            err("parse_time", vec![json!("2026"), json!("%d.%m")]),
            Function
        );
        assert_eq!(err("parse_time", vec![json!(null)]), Type);
    }

    #[test]
    fn format_time_with_strftime() {
        assert_eq!(
            ok(
                "format_time",
                vec![json!("2026-03-29T01:30:00Z"), json!("%Y-%m-%d")]
            ),
            json!("2026-03-29")
        );
        assert_eq!(
            ok(
                "format_time",
                vec![json!("2026-03-29T01:30:00Z"), json!("%A %H:%M")]
            ),
            json!("Sunday 01:30")
        );
        assert_eq!(
            ok("format_time", vec![json!(86400), json!("%d")]),
            json!("02")
        );
        assert_eq!(
            err(
                "format_time",
                vec![json!("2026-03-29T01:30:00Z"), json!("%Q")]
            ),
            Function
        );
    }
}
