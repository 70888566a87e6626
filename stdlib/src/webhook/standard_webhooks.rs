//! Standard Webhooks signatures (standardwebhooks.com): `verify standard_webhooks(SECRET)`.
//!
//! The sender sends three headers: `webhook-id` (a message id, stable across retries),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-separated list of
//! `VERSION,SIGNATURE` entries. A `v1` signature is the base64 HMAC-SHA256 of
//! `{id}.{timestamp}.{raw body}`, keyed with the base64-decoded secret (the part after
//! `whsec_`). The request is accepted if any `v1` entry matches and the timestamp is within
//! 5 minutes of the current time; other versions (e.g. the asymmetric `v1a`) are ignored.

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};

use super::{
    any_matches, check_tolerance, compute_mac, parse_timestamp, required_header, Algorithm,
    HeaderLookup, Secret, VerifyError, BASE64_LENIENT,
};

/// The message id header.
pub const ID_HEADER: &str = "webhook-id";

/// The timestamp header (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";

/// The signature list header.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The specification's timestamp tolerance: 5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Configuration of the Standard Webhooks scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardWebhooksConfig {
    /// The signing secret: `whsec_` followed by base64 (the prefix is optional).
    pub secret: Secret,
    /// How far `webhook-timestamp` may be from the current time, in either direction (whole
    /// seconds; a difference of exactly the tolerance is accepted).
    pub tolerance: Duration,
}

impl StandardWebhooksConfig {
    /// A configuration with [`DEFAULT_TOLERANCE`].
    #[must_use]
    pub fn new(secret: impl Into<Secret>) -> Self {
        StandardWebhooksConfig {
            secret: secret.into(),
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// The same configuration with another tolerance.
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }
}

/// Checks the Standard Webhooks headers against `body` at time `now`.
///
/// # Errors
///
/// [`VerifyError::MissingHeader`] when one of the three headers is absent or blank;
/// [`VerifyError::Malformed`] when the timestamp is not whole Unix seconds or the list has no
/// `v1` entry; [`VerifyError::Mismatch`] when no `v1` entry matches;
/// [`VerifyError::TimestampOutsideTolerance`] when a matching signature's timestamp is too old or
/// too far in the future; [`VerifyError::InvalidSecret`] when the secret is not base64 or is
/// empty.
pub fn verify<H: HeaderLookup + ?Sized>(
    config: &StandardWebhooksConfig,
    headers: &H,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), VerifyError> {
    let key = decode_secret(&config.secret)?;
    let id = required_header(headers, ID_HEADER)?;
    let raw_timestamp = required_header(headers, TIMESTAMP_HEADER)?;
    let signatures = required_header(headers, SIGNATURE_HEADER)?;
    let timestamp = parse_timestamp(raw_timestamp, "`webhook-timestamp`")?;

    let v1: Vec<&str> = signatures
        .split_ascii_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .map(|(_, signature)| signature)
        .collect();
    if v1.is_empty() {
        return Err(VerifyError::Malformed(
            "`webhook-signature` has no `v1` signature".into(),
        ));
    }
    let expected = compute_mac(
        Algorithm::Sha256,
        &key,
        &[id.as_bytes(), b".", raw_timestamp.as_bytes(), b".", body],
    )?;
    // An entry that is not base64 cannot match; it is skipped rather than rejected.
    let candidates: Vec<Vec<u8>> = v1
        .iter()
        .filter_map(|s| BASE64_LENIENT.decode(s).ok())
        .collect();
    if !any_matches(&expected, candidates.iter().map(Vec::as_slice)) {
        return Err(VerifyError::Mismatch);
    }
    check_tolerance(timestamp, now, config.tolerance.as_secs())
}

/// The `webhook-signature` value a sender would send for message `msg_id` with `body` at Unix
/// time `timestamp`: `v1,BASE64`.
///
/// # Errors
///
/// Only [`VerifyError::InvalidSecret`] when the secret is unusable.
pub fn sign(
    secret: &Secret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, VerifyError> {
    let key = decode_secret(secret)?;
    let t = timestamp.to_string();
    let mac = compute_mac(
        Algorithm::Sha256,
        &key,
        &[msg_id.as_bytes(), b".", t.as_bytes(), b".", body],
    )?;
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    ))
}

/// The HMAC key: the base64 after the optional `whsec_` prefix, decoded.
fn decode_secret(secret: &Secret) -> Result<Vec<u8>, VerifyError> {
    let text = secret.expose().trim();
    let text = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
    let key = BASE64_LENIENT.decode(text).map_err(|_| {
        VerifyError::InvalidSecret(
            "a Standard Webhooks secret must be `whsec_` followed by base64".into(),
        )
    })?;
    if key.is_empty() {
        return Err(VerifyError::InvalidSecret(
            "the Standard Webhooks secret is empty".into(),
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The published test vector of the Standard Webhooks reference libraries
    // (github.com/standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts
    // "sign function works"; the same values are in the PHP, Python, … tests).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn config() -> StandardWebhooksConfig {
        StandardWebhooksConfig::new(SECRET)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).expect("in range")
    }

    fn headers(signature: &str) -> Vec<(String, String)> {
        vec![
            ("webhook-id".to_owned(), MSG_ID.to_owned()),
            ("webhook-timestamp".to_owned(), TIMESTAMP.to_string()),
            ("webhook-signature".to_owned(), signature.to_owned()),
        ]
    }

    fn without(name: &str) -> Vec<(String, String)> {
        headers(SIGNATURE)
            .into_iter()
            .filter(|(k, _)| k != name)
            .collect()
    }

    fn with(name: &str, value: &str) -> Vec<(String, String)> {
        let mut h = without(name);
        h.push((name.to_owned(), value.to_owned()));
        h
    }

    #[test]
    fn published_vector_signs_and_verifies() {
        assert_eq!(
            sign(&Secret::new(SECRET), MSG_ID, TIMESTAMP, PAYLOAD),
            Ok(SIGNATURE.to_owned())
        );
        assert_eq!(
            verify(&config(), &headers(SIGNATURE), PAYLOAD, at(TIMESTAMP)),
            Ok(())
        );
    }

    #[test]
    fn secret_without_prefix_and_capitalised_header_names_work() {
        let bare = StandardWebhooksConfig::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let h = [
            ("Webhook-Id", MSG_ID),
            ("Webhook-Timestamp", "1614265330"),
            ("Webhook-Signature", SIGNATURE),
        ];
        assert_eq!(verify(&bare, &h, PAYLOAD, at(TIMESTAMP)), Ok(()));
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let other = StandardWebhooksConfig::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx");
        assert_eq!(
            verify(&other, &headers(SIGNATURE), PAYLOAD, at(TIMESTAMP)),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn tampered_body_id_or_timestamp_is_a_mismatch() {
        assert_eq!(
            verify(
                &config(),
                &headers(SIGNATURE),
                br#"{"test": 2432232315}"#,
                at(TIMESTAMP)
            ),
            Err(VerifyError::Mismatch)
        );
        let other_id = with("webhook-id", "msg_other");
        assert_eq!(
            verify(&config(), &other_id, PAYLOAD, at(TIMESTAMP)),
            Err(VerifyError::Mismatch)
        );
        let other_time = with("webhook-timestamp", "1614265331");
        assert_eq!(
            verify(&config(), &other_time, PAYLOAD, at(TIMESTAMP)),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn each_missing_header_is_named() {
        for name in [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER] {
            assert_eq!(
                verify(&config(), &without(name), PAYLOAD, at(TIMESTAMP)),
                Err(VerifyError::MissingHeader(name.to_owned())),
                "{name}"
            );
        }
    }

    #[test]
    fn malformed_timestamp() {
        for bad in ["hello", "1614265330.5", "-1614265330", "+1614265330"] {
            let result = verify(
                &config(),
                &with("webhook-timestamp", bad),
                PAYLOAD,
                at(TIMESTAMP),
            );
            assert!(
                matches!(result, Err(VerifyError::Malformed(_))),
                "{bad}: {result:?}"
            );
        }
    }

    #[test]
    fn signature_list_without_v1_is_malformed() {
        for bad in [
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1g0hM9SsE",
        ] {
            let result = verify(&config(), &headers(bad), PAYLOAD, at(TIMESTAMP));
            assert!(
                matches!(result, Err(VerifyError::Malformed(_))),
                "{bad}: {result:?}"
            );
        }
    }

    #[test]
    fn invalid_or_partial_v1_signatures_are_mismatches() {
        // From the reference library tests: "invalid signature" and "partial signature".
        for bad in [
            "v1,dawfeoifkpqwoekfpqoekf",
            &SIGNATURE[..8],
            "v1,",
            "v1,!!!",
        ] {
            assert_eq!(
                verify(&config(), &headers(bad), PAYLOAD, at(TIMESTAMP)),
                Err(VerifyError::Mismatch),
                "{bad}"
            );
        }
    }

    #[test]
    fn one_matching_v1_among_several_is_enough() {
        // From the reference library tests ("multi sig payload is valid"), plus an asymmetric
        // `v1a` entry, which is ignored.
        let list = [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
            SIGNATURE,
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        ]
        .join(" ");
        assert_eq!(
            verify(&config(), &headers(&list), PAYLOAD, at(TIMESTAMP)),
            Ok(())
        );
        let none_match = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc";
        assert_eq!(
            verify(&config(), &headers(none_match), PAYLOAD, at(TIMESTAMP)),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn expired_and_future_timestamps_are_rejected_at_the_5_minute_boundary() {
        let h = headers(SIGNATURE);
        assert_eq!(verify(&config(), &h, PAYLOAD, at(TIMESTAMP + 300)), Ok(()));
        assert_eq!(verify(&config(), &h, PAYLOAD, at(TIMESTAMP - 300)), Ok(()));
        assert_eq!(
            verify(&config(), &h, PAYLOAD, at(TIMESTAMP + 301)),
            Err(VerifyError::TimestampOutsideTolerance {
                skew_secs: 301,
                tolerance_secs: 300
            })
        );
        assert_eq!(
            verify(&config(), &h, PAYLOAD, at(TIMESTAMP - 301)),
            Err(VerifyError::TimestampOutsideTolerance {
                skew_secs: -301,
                tolerance_secs: 300
            })
        );
        let lenient = config().with_tolerance(Duration::from_secs(3600));
        assert_eq!(verify(&lenient, &h, PAYLOAD, at(TIMESTAMP + 3600)), Ok(()));
    }

    #[test]
    fn unusable_secrets_are_configuration_errors() {
        for bad in ["", "whsec_", "whsec_not base64!", "plain text secret"] {
            let config = StandardWebhooksConfig::new(bad);
            let result = verify(&config, &headers(SIGNATURE), PAYLOAD, at(TIMESTAMP));
            assert!(
                matches!(&result, Err(e @ VerifyError::InvalidSecret(_)) if !e.is_request_error()),
                "{bad:?}: {result:?}"
            );
            let message = result.unwrap_err().to_string();
            assert!(bad.is_empty() || !message.contains(bad), "{message}");
        }
    }

    #[test]
    fn errors_never_contain_the_secret_or_the_expected_signature() {
        let expected = &SIGNATURE["v1,".len()..];
        let cases = [
            headers("v1,AAAA"),
            headers("v9,AAAA"),
            with("webhook-timestamp", "x"),
            without("webhook-id"),
            headers(SIGNATURE),
        ];
        for h in &cases {
            let message = verify(&config(), h, b"other", at(TIMESTAMP + 10_000))
                .unwrap_err()
                .to_string();
            assert!(
                !message.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                "{message}"
            );
            assert!(!message.contains(expected), "{message}");
        }
    }
}
