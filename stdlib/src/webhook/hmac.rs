//! Generic HMAC signatures: `verify hmac { algorithm … secret … header … encoding … prefix … }`.
//!
//! The sender puts `PREFIX + ENCODE(HMAC-ALG(secret, raw body))` in one header; the secret's
//! UTF-8 bytes are the key. This covers GitHub (`X-Hub-Signature-256: sha256=<hex>`), Shopify
//! (`X-Shopify-Hmac-Sha256: <base64>`) and most "HMAC of the body" senders.

use base64::Engine as _;

use super::{
    any_matches, compute_mac, required_header, Algorithm, Encoding, HeaderLookup, Secret,
    VerifyError, BASE64_LENIENT,
};

/// Configuration of the generic HMAC scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacConfig {
    /// The hash function.
    pub algorithm: Algorithm,
    /// The shared secret; its UTF-8 bytes are the HMAC key.
    pub secret: Secret,
    /// The header carrying the signature (looked up ignoring case).
    pub header: String,
    /// How the signature is written.
    pub encoding: Encoding,
    /// Text before the encoded signature, e.g. `sha256=`; matched ignoring ASCII case, and
    /// required when set.
    pub prefix: Option<String>,
}

impl HmacConfig {
    /// A configuration without a prefix.
    #[must_use]
    pub fn new(
        algorithm: Algorithm,
        secret: impl Into<Secret>,
        header: impl Into<String>,
        encoding: Encoding,
    ) -> Self {
        HmacConfig {
            algorithm,
            secret: secret.into(),
            header: header.into(),
            encoding,
            prefix: None,
        }
    }

    /// The same configuration, expecting `prefix` before the encoded signature.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }
}

/// Checks the signature in `config.header` against the HMAC of `body`.
///
/// # Errors
///
/// [`VerifyError::MissingHeader`] when the header is absent or blank;
/// [`VerifyError::Malformed`] when the prefix is missing or the value does not decode;
/// [`VerifyError::Mismatch`] when it decodes but is not the right MAC;
/// [`VerifyError::InvalidSecret`] when the secret is empty.
pub fn verify<H: HeaderLookup + ?Sized>(
    config: &HmacConfig,
    headers: &H,
    body: &[u8],
) -> Result<(), VerifyError> {
    let key = key(config)?;
    let value = required_header(headers, &config.header)?;
    let encoded = match &config.prefix {
        Some(prefix) => strip_prefix_ignore_case(value, prefix).ok_or_else(|| {
            VerifyError::Malformed(format!(
                "`{}` does not start with `{prefix}`",
                config.header
            ))
        })?,
        None => value,
    };
    let encoded = encoded.trim();
    if encoded.is_empty() {
        return Err(VerifyError::Malformed(format!(
            "`{}` has no signature after the prefix",
            config.header
        )));
    }
    let received = decode(config.encoding, encoded).ok_or_else(|| {
        VerifyError::Malformed(format!(
            "`{}` is not valid {}",
            config.header,
            config.encoding.name()
        ))
    })?;
    let expected = compute_mac(config.algorithm, key, &[body])?;
    if any_matches(&expected, [received.as_slice()]) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// The header value a sender would put in `config.header` for `body`: the prefix (if any)
/// followed by the MAC in the configured encoding (lowercase hex, or padded base64).
///
/// # Errors
///
/// Only [`VerifyError::InvalidSecret`] when the secret is empty.
pub fn sign(config: &HmacConfig, body: &[u8]) -> Result<String, VerifyError> {
    let mac = compute_mac(config.algorithm, key(config)?, &[body])?;
    let encoded = match config.encoding {
        Encoding::Hex => hex::encode(mac),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(mac),
    };
    Ok(format!(
        "{}{encoded}",
        config.prefix.as_deref().unwrap_or("")
    ))
}

fn key(config: &HmacConfig) -> Result<&[u8], VerifyError> {
    if config.secret.is_empty() {
        return Err(VerifyError::InvalidSecret(
            "the hmac secret is empty".into(),
        ));
    }
    Ok(config.secret.expose().as_bytes())
}

fn strip_prefix_ignore_case<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

fn decode(encoding: Encoding, text: &str) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Hex => hex::decode(text).ok(),
        Encoding::Base64 => BASE64_LENIENT.decode(text).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's published test values for `X-Hub-Signature-256`, from "Validating webhook
    /// deliveries" → "Testing the webhook payload validation"
    /// (<https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>).
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_PAYLOAD: &[u8] = b"Hello, World!";
    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn github() -> HmacConfig {
        HmacConfig::new(
            Algorithm::Sha256,
            GITHUB_SECRET,
            "X-Hub-Signature-256",
            Encoding::Hex,
        )
        .with_prefix("sha256=")
    }

    fn headers(name: &str, value: &str) -> Vec<(String, String)> {
        vec![(name.to_owned(), value.to_owned())]
    }

    #[test]
    fn github_published_example_signs_and_verifies() {
        let config = github();
        assert_eq!(
            sign(&config, GITHUB_PAYLOAD),
            Ok(GITHUB_SIGNATURE.to_owned())
        );
        let h = headers("x-hub-signature-256", GITHUB_SIGNATURE);
        assert_eq!(verify(&config, &h, GITHUB_PAYLOAD), Ok(()));
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let upper = format!(
            "sha256={}",
            GITHUB_SIGNATURE["sha256=".len()..].to_uppercase()
        );
        let h = headers("X-Hub-Signature-256", &upper);
        assert_eq!(verify(&github(), &h, GITHUB_PAYLOAD), Ok(()));
        // The prefix is matched ignoring case too.
        let h = headers("X-Hub-Signature-256", &GITHUB_SIGNATURE.to_uppercase());
        assert_eq!(verify(&github(), &h, GITHUB_PAYLOAD), Ok(()));
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let mut config = github();
        config.secret = Secret::new("It's a Secret to Nobody");
        let h = headers("X-Hub-Signature-256", GITHUB_SIGNATURE);
        assert_eq!(
            verify(&config, &h, GITHUB_PAYLOAD),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn tampered_body_is_a_mismatch() {
        let h = headers("X-Hub-Signature-256", GITHUB_SIGNATURE);
        assert_eq!(
            verify(&github(), &h, b"Hello, World?"),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&github(), &h, b"Hello, World!\n"),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn truncated_signature_is_a_mismatch() {
        let h = headers("X-Hub-Signature-256", "sha256=757107ea0eb2509f");
        assert_eq!(
            verify(&github(), &h, GITHUB_PAYLOAD),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn missing_or_blank_header() {
        let none: Vec<(String, String)> = vec![];
        assert_eq!(
            verify(&github(), &none, GITHUB_PAYLOAD),
            Err(VerifyError::MissingHeader("X-Hub-Signature-256".into()))
        );
        let blank = headers("X-Hub-Signature-256", "  ");
        assert_eq!(
            verify(&github(), &blank, GITHUB_PAYLOAD),
            Err(VerifyError::MissingHeader("X-Hub-Signature-256".into()))
        );
        // The SHA-1 header alone does not satisfy a config that names the SHA-256 one.
        let other = headers("X-Hub-Signature", "sha1=00");
        assert!(matches!(
            verify(&github(), &other, GITHUB_PAYLOAD),
            Err(VerifyError::MissingHeader(_))
        ));
    }

    #[test]
    fn missing_prefix_is_malformed() {
        let bare = &GITHUB_SIGNATURE["sha256=".len()..];
        let h = headers("X-Hub-Signature-256", bare);
        let err = verify(&github(), &h, GITHUB_PAYLOAD).unwrap_err();
        assert!(matches!(err, VerifyError::Malformed(_)), "{err:?}");
        assert!(err.to_string().contains("sha256="), "{err}");
        // Nor is a different algorithm's prefix accepted.
        let h = headers("X-Hub-Signature-256", &format!("sha1={bare}"));
        assert!(matches!(
            verify(&github(), &h, GITHUB_PAYLOAD),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn undecodable_values_are_malformed() {
        for bad in ["sha256=xyz", "sha256=abc", "sha256=", "sha256=é"] {
            let h = headers("X-Hub-Signature-256", bad);
            let result = verify(&github(), &h, GITHUB_PAYLOAD);
            assert!(
                matches!(result, Err(VerifyError::Malformed(_))),
                "{bad}: {result:?}"
            );
        }
        let config = HmacConfig::new(Algorithm::Sha256, "k", "X-Sig", Encoding::Base64);
        let h = headers("X-Sig", "not base64!");
        assert!(matches!(
            verify(&config, &h, b"x"),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn errors_never_contain_the_secret_or_the_expected_signature() {
        let expected = &GITHUB_SIGNATURE["sha256=".len()..];
        let cases = [
            headers("X-Hub-Signature-256", "sha256=00"),
            headers("X-Hub-Signature-256", "nope"),
            headers("X-Hub-Signature-256", "sha256=zz"),
            vec![],
        ];
        for h in &cases {
            let message = verify(&github(), h, GITHUB_PAYLOAD)
                .unwrap_err()
                .to_string();
            assert!(!message.contains(GITHUB_SECRET), "{message}");
            assert!(!message.contains(expected), "{message}");
        }
    }

    #[test]
    fn base64_sha256_like_shopify() {
        // The order_to_crm example: `algorithm sha256 … encoding base64`, no prefix.
        let config = HmacConfig::new(
            Algorithm::Sha256,
            "shop-secret",
            "X-Shop-Hmac-Sha256",
            Encoding::Base64,
        );
        let body = br#"{"id":1001,"total_price":"25.00"}"#;
        let signature = sign(&config, body).expect("signable");
        assert!(signature.ends_with('='), "padded: {signature}");
        assert_eq!(
            verify(&config, &headers("x-shop-hmac-sha256", &signature), body),
            Ok(())
        );
        // Unpadded base64 of the same MAC is accepted as well.
        let unpadded = signature.trim_end_matches('=');
        assert_eq!(
            verify(&config, &headers("X-Shop-Hmac-Sha256", unpadded), body),
            Ok(())
        );
        assert_eq!(
            verify(&config, &headers("X-Shop-Hmac-Sha256", &signature), b"{}"),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn sha1_and_sha512_use_their_own_digest() {
        // Independent values: RFC 2202 test case 2 (HMAC-SHA1) and RFC 4231 test case 2
        // (HMAC-SHA512), key "Jefe", data "what do ya want for nothing?".
        let data = b"what do ya want for nothing?";
        let sha1 = HmacConfig::new(Algorithm::Sha1, "Jefe", "X-Sig", Encoding::Hex);
        assert_eq!(
            sign(&sha1, data).as_deref(),
            Ok("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        );
        let sha512 = HmacConfig::new(Algorithm::Sha512, "Jefe", "X-Sig", Encoding::Hex);
        let expected = "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
                        9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737";
        assert_eq!(sign(&sha512, data).as_deref(), Ok(expected));
        assert_eq!(verify(&sha512, &headers("X-Sig", expected), data), Ok(()));
        // A SHA-1 MAC is not accepted where SHA-512 is configured.
        let sha1_mac = "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79";
        assert_eq!(
            verify(&sha512, &headers("X-Sig", sha1_mac), data),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn empty_secret_is_rejected() {
        let config = HmacConfig::new(Algorithm::Sha256, "", "X-Sig", Encoding::Hex);
        assert!(matches!(
            sign(&config, b"x"),
            Err(VerifyError::InvalidSecret(_))
        ));
        assert!(matches!(
            verify(&config, &headers("X-Sig", "00"), b"x"),
            Err(VerifyError::InvalidSecret(_))
        ));
    }
}
