//! Decoding literal tokens: durations, numbers and string escapes.

/// Milliseconds per duration unit.
fn unit_millis(unit: &str) -> Option<u64> {
    Some(match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    })
}

/// Why a duration token is invalid.
#[derive(Debug, PartialEq, Eq)]
pub enum DurationError {
    /// The unit is not one of `ms s m h d`.
    Unit(String),
    /// The length does not fit in 64-bit milliseconds.
    Overflow,
}

/// Parses `250ms`, `30s`, `5m`, `2h`, `7d` into milliseconds.
pub fn duration_millis(token: &str) -> Result<u64, DurationError> {
    let split = token
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(token.len());
    let (digits, unit) = token.split_at(split);
    let factor = unit_millis(unit).ok_or_else(|| DurationError::Unit(unit.to_string()))?;
    let value: u64 = digits.parse().map_err(|_| DurationError::Overflow)?;
    value.checked_mul(factor).ok_or(DurationError::Overflow)
}

/// Parses a number token; integers stay integers when they fit in 64 bits.
pub fn number(token: &str) -> Option<serde_json::Number> {
    if token.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = token.parse::<u64>() {
            return Some(n.into());
        }
    }
    let f: f64 = token.parse().ok()?;
    serde_json::Number::from_f64(f)
}

/// Decodes one escape sequence (`\n`, `\u{1F600}`, …), or `None` if it is not a valid escape.
pub fn escape(token: &str) -> Option<char> {
    let body = token.strip_prefix('\\')?;
    match body {
        "n" => Some('\n'),
        "r" => Some('\r'),
        "t" => Some('\t'),
        "\\" => Some('\\'),
        "\"" => Some('"'),
        "$" => Some('$'),
        "0" => Some('\0'),
        _ => {
            let hex = body.strip_prefix("u{")?.strip_suffix('}')?;
            if hex.is_empty() || hex.len() > 6 {
                return None;
            }
            char::from_u32(u32::from_str_radix(hex, 16).ok()?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_millis("250ms"), Ok(250));
        assert_eq!(duration_millis("30s"), Ok(30_000));
        assert_eq!(duration_millis("5m"), Ok(300_000));
        assert_eq!(duration_millis("2h"), Ok(7_200_000));
        assert_eq!(duration_millis("7d"), Ok(604_800_000));
        assert_eq!(
            duration_millis("30sec"),
            Err(DurationError::Unit("sec".into()))
        );
        assert_eq!(
            duration_millis("99999999999999999999d"),
            Err(DurationError::Overflow)
        );
        assert_eq!(
            duration_millis("999999999999999999d"),
            Err(DurationError::Overflow)
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(number("42"), Some(42u64.into()));
        assert_eq!(number("18446744073709551615"), Some(u64::MAX.into()));
        assert_eq!(number("2.5").and_then(|n| n.as_f64()), Some(2.5));
        assert_eq!(number("3e2").and_then(|n| n.as_f64()), Some(300.0));
        // Too big for u64: becomes a float rather than failing.
        assert!(number("18446744073709551616").is_some_and(|n| n.is_f64()));
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("\\n"), Some('\n'));
        assert_eq!(escape("\\$"), Some('$'));
        assert_eq!(escape("\\u{1F600}"), Some('😀'));
        assert_eq!(escape("\\u{D800}"), None);
        assert_eq!(escape("\\q"), None);
        assert_eq!(escape("\\u{}"), None);
    }
}
