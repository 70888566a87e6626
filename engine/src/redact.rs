//! Keeping secrets out of everything Braid writes down.
//!
//! Every secret value the engine resolves is registered here; before a step output, an error
//! message, an event or a log line is stored or shown, it passes through [`Redactor`], which
//! replaces each occurrence of a registered value with `***`. This catches the indirect leaks
//! too: an API that echoes a token back in its response body, or an error that quotes a URL.

use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

/// What a secret's value is replaced with.
pub const MASK: &str = "***";

/// Values shorter than this are not masked: masking `"1"` everywhere would destroy data while
/// protecting nothing.
const MIN_SECRET_LEN: usize = 4;

/// The set of secret values to mask; cheap to clone and shared by the whole engine.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<BTreeSet<String>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(***)")
    }
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret value (and its common encodings) to be masked from now on.
    pub fn register(&self, value: &str) {
        if value.len() < MIN_SECRET_LEN {
            return;
        }
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        secrets.insert(value.to_string());
        secrets.insert(encoded);
    }

    /// Whether any secret is registered.
    pub fn is_empty(&self) -> bool {
        self.secrets.read().map(|s| s.is_empty()).unwrap_or(false)
    }

    /// `text` with every registered secret replaced by [`MASK`].
    pub fn text(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        // Longest first, so a secret containing another is masked whole.
        let mut ordered: Vec<&String> = secrets
            .iter()
            .filter(|s| text.contains(s.as_str()))
            .collect();
        ordered.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for secret in ordered {
            out = out.replace(secret.as_str(), MASK);
        }
        out
    }

    /// `value` with every registered secret masked in every string and object key.
    pub fn json(&self, value: &Value) -> Value {
        if self.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.text(k), self.json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_secrets_in_nested_json_and_text() {
        let r = Redactor::new();
        r.register("s3cr3t-token");
        let v = json!({ "echo": "Bearer s3cr3t-token", "list": ["x", "s3cr3t-token"], "s3cr3t-token": 1, "n": 5 });
        let masked = r.json(&v);
        assert_eq!(
            masked,
            json!({ "echo": "Bearer ***", "list": ["x", "***"], "***": 1, "n": 5 })
        );
        assert_eq!(r.text("url?key=s3cr3t-token&x=1"), "url?key=***&x=1");
    }

    #[test]
    fn masks_base64_form_and_longest_first() {
        let r = Redactor::new();
        r.register("abcd");
        r.register("abcdefgh");
        assert_eq!(r.text("abcdefgh abcd"), "*** ***");
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode("abcdefgh");
        assert_eq!(r.text(&format!("Basic {b64}")), "Basic ***");
    }

    #[test]
    fn ignores_values_too_short_to_mask() {
        let r = Redactor::new();
        r.register("1");
        assert_eq!(r.text("1 + 1"), "1 + 1");
        assert!(r.is_empty());
    }
}
