//! Encoding and hashing: `json_encode json_decode base64_encode base64_decode sha256 hmac_sha256`.

use super::args::Args;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use braid_dsl::eval::{EvalError, EvalErrorKind};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `json_encode(x)`: compact JSON text.
pub fn json_encode(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    Ok(Value::String(a.value(0)?.to_string()))
}

/// `json_decode(s)`
pub fn json_decode(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    serde_json::from_str(a.str(0)?)
        .map_err(|e| a.error(EvalErrorKind::Function, format!("not valid JSON: {e}")))
}

/// `base64_encode(s)`: standard alphabet with padding.
pub fn base64_encode(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    Ok(Value::String(STANDARD.encode(a.str(0)?)))
}

/// `base64_decode(s)`: standard or URL-safe alphabet, padded or not; must decode to UTF-8.
pub fn base64_decode(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    let s = a.str(0)?.trim();
    let bytes = STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')))
        .map_err(|_| a.error(EvalErrorKind::Function, "not valid base64"))?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        a.error(
            EvalErrorKind::Function,
            "the decoded bytes are not UTF-8 text",
        )
    })
}

/// `sha256(s)`: lower-case hex.
pub fn sha256(a: &Args) -> Result<Value, EvalError> {
    a.count(1, 1)?;
    Ok(Value::String(hex::encode(Sha256::digest(
        a.str(0)?.as_bytes(),
    ))))
}

/// `hmac_sha256(key, message)`: lower-case hex.
pub fn hmac_sha256(a: &Args) -> Result<Value, EvalError> {
    a.count(2, 2)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(a.str(0)?.as_bytes())
        .map_err(|_| a.error(EvalErrorKind::Function, "invalid key"))?;
    mac.update(a.str(1)?.as_bytes());
    Ok(Value::String(hex::encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use braid_dsl::eval::EvalErrorKind::*;
    use serde_json::json;

    #[test]
    fn json_round_trip() {
        let v = json!({"a": [1, "é", null]});
        let text = ok("json_encode", vec![v.clone()]);
        assert_eq!(text, json!("{\"a\":[1,\"é\",null]}"));
        assert_eq!(ok("json_decode", vec![text]), v);
        assert_eq!(err("json_decode", vec![json!("{")]), Function);
        assert_eq!(err("json_decode", vec![json!(1)]), Type);
    }

    #[test]
    fn base64_both_alphabets() {
        assert_eq!(
            ok("base64_encode", vec![json!("héllo?>")]),
            json!("aMOpbGxvPz4=")
        );
        assert_eq!(
            ok("base64_decode", vec![json!("aMOpbGxvPz4=")]),
            json!("héllo?>")
        );
        assert_eq!(
            ok("base64_decode", vec![json!("aMOpbGxvPz4")]),
            json!("héllo?>")
        );
        assert_eq!(ok("base64_encode", vec![json!("")]), json!(""));
        assert_eq!(err("base64_decode", vec![json!("***")]), Function);
        assert_eq!(err("base64_decode", vec![json!("/w==")]), Function); // 0xFF is not UTF-8
    }

    #[test]
    fn hashes_match_known_vectors() {
        assert_eq!(
            ok("sha256", vec![json!("abc")]),
            json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        // RFC 4231, test case 2.
        assert_eq!(
            ok(
                "hmac_sha256",
                vec![json!("Jefe"), json!("what do ya want for nothing?")]
            ),
            json!("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(err("sha256", vec![json!(1)]), Type);
    }
}
