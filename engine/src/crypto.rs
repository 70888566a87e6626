//! Encryption at rest for secrets and OAuth2 tokens kept in the store.
//!
//! With `BRAID_SECRET_KEY` set, values are sealed with ChaCha20-Poly1305 under a key derived
//! from it (SHA-256), each with a fresh random nonce, and stored as `v1:` + base64(nonce ‖
//! ciphertext). Without a key, values are stored as `plain:` + the value, and the engine warns at
//! start. A sealed value read without the right key is an error, never garbage.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use sha2::{Digest, Sha256};

/// Why a stored value could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The value is sealed but no `BRAID_SECRET_KEY` is set.
    #[error("the value is encrypted and BRAID_SECRET_KEY is not set")]
    NoKey,
    /// The key is wrong or the value was altered.
    #[error("the value cannot be decrypted: wrong BRAID_SECRET_KEY or corrupted data")]
    Decrypt,
    /// The value has an unknown format.
    #[error("the stored value has an unknown format")]
    Format,
}

/// Seals and opens values with the engine's key, if it has one.
#[derive(Clone)]
pub struct Sealer {
    cipher: Option<ChaCha20Poly1305>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer(encrypting: {})", self.cipher.is_some())
    }
}

impl Sealer {
    /// A sealer keyed by `key` (any non-empty text; it is hashed), or one that stores values
    /// in the clear when `key` is `None` or empty.
    pub fn new(key: Option<&str>) -> Self {
        let cipher = key.filter(|k| !k.is_empty()).map(|k| {
            let digest: [u8; 32] = Sha256::digest(k.as_bytes()).into();
            ChaCha20Poly1305::new(&digest.into())
        });
        Sealer { cipher }
    }

    /// A sealer keyed by the `BRAID_SECRET_KEY` environment variable.
    pub fn from_env() -> Self {
        Self::new(std::env::var("BRAID_SECRET_KEY").ok().as_deref())
    }

    /// Whether values are encrypted.
    pub fn encrypts(&self) -> bool {
        self.cipher.is_some()
    }

    /// The stored form of `plain`.
    pub fn seal(&self, plain: &str) -> String {
        match &self.cipher {
            None => format!("plain:{plain}"),
            Some(cipher) => {
                let nonce_bytes: [u8; 12] = rand::random();
                let nonce = Nonce::from(nonce_bytes);
                // Encryption with a valid key and nonce cannot fail for in-memory buffers.
                let sealed = cipher.encrypt(&nonce, plain.as_bytes()).unwrap_or_default();
                let mut bytes = nonce_bytes.to_vec();
                bytes.extend(sealed);
                format!("v1:{}", B64.encode(bytes))
            }
        }
    }

    /// The plain value of a stored form.
    pub fn open(&self, stored: &str) -> Result<String, CryptoError> {
        if let Some(plain) = stored.strip_prefix("plain:") {
            return Ok(plain.to_string());
        }
        let encoded = stored.strip_prefix("v1:").ok_or(CryptoError::Format)?;
        let cipher = self.cipher.as_ref().ok_or(CryptoError::NoKey)?;
        let bytes = B64.decode(encoded).map_err(|_| CryptoError::Format)?;
        if bytes.len() < 12 {
            return Err(CryptoError::Format);
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptoError::Format)?;
        let plain = cipher
            .decrypt(&Nonce::from(nonce), sealed)
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Format)
    }
}

/// A fresh random key for `BRAID_SECRET_KEY`: 32 random bytes, base64 (`braid secret key`).
pub fn generate_key() -> String {
    let bytes: [u8; 32] = rand::random();
    B64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_fresh_and_work() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert_eq!(B64.decode(&a).map(|k| k.len()).ok(), Some(32));
        let s = Sealer::new(Some(&a));
        assert_eq!(s.open(&s.seal("v")).ok().as_deref(), Some("v"));
    }

    #[test]
    fn round_trips_and_hides_the_value() {
        let s = Sealer::new(Some("k1"));
        let stored = s.seal("refresh-token-123");
        assert!(stored.starts_with("v1:"));
        assert!(!stored.contains("refresh-token-123"));
        assert_eq!(s.open(&stored).unwrap(), "refresh-token-123");
        assert_ne!(s.seal("x"), s.seal("x"), "fresh nonce per value");
    }

    #[test]
    fn wrong_or_missing_key_is_an_error() {
        let stored = Sealer::new(Some("k1")).seal("v");
        assert_eq!(
            Sealer::new(Some("k2")).open(&stored),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(Sealer::new(None).open(&stored), Err(CryptoError::NoKey));
        assert_eq!(Sealer::new(None).open("nonsense"), Err(CryptoError::Format));
    }

    #[test]
    fn without_a_key_values_are_plain() {
        let s = Sealer::new(None);
        assert!(!s.encrypts());
        assert_eq!(s.open(&s.seal("v")).unwrap(), "v");
    }
}
