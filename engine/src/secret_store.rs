//! The engine's secret store: named values kept in the store's key-value table, always sealed
//! with `BRAID_SECRET_KEY`, read by `secret("NAME")` when the environment has no `NAME`.
//!
//! `braid secret set|list|delete` manage it; an engine loads every stored secret at start
//! ([`load_stored_secrets`]) and hands them to [`crate::executor::Engine::new`].

use crate::crypto::{CryptoError, Sealer};
use crate::store::{Store, StoreError};
use std::collections::HashMap;

/// The key-value namespace of stored secrets.
pub const SECRET_NAMESPACE: &str = "secrets";

/// The longest secret name accepted.
const MAX_NAME_LEN: usize = 200;

/// Why a secret could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    /// Storing a secret needs a key: values are never stored in the clear.
    #[error(
        "BRAID_SECRET_KEY is not set: stored secrets are always encrypted. Create a key with \
         `braid secret key`, keep it safe, and set BRAID_SECRET_KEY to it for every braid \
         process using this store"
    )]
    NoKey,
    /// The name has characters other than ASCII letters, digits, `_`, `-` and `.`, or is
    /// empty or too long.
    #[error("invalid secret name `{0}`: use 1 to 200 ASCII letters, digits, `_`, `-` or `.`")]
    InvalidName(String),
    /// The value is empty.
    #[error("the secret's value is empty")]
    Empty,
    /// A stored secret cannot be opened with this key.
    #[error("stored secret `{name}`: {source}")]
    Open {
        /// The secret's name.
        name: String,
        /// Why it cannot be opened.
        source: CryptoError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a secret name: 1 to 200 ASCII letters, digits, `_`, `-` or `.`.
pub fn validate_name(name: &str) -> Result<(), SecretStoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(SecretStoreError::InvalidName(
            name.chars().take(60).collect(),
        ))
    }
}

/// The secrets of one store, sealed and opened with one key.
pub struct SecretStore<'a> {
    store: &'a dyn Store,
    sealer: &'a Sealer,
}

impl<'a> SecretStore<'a> {
    /// The secrets of `store`, sealed and opened by `sealer`.
    pub fn new(store: &'a dyn Store, sealer: &'a Sealer) -> Self {
        SecretStore { store, sealer }
    }

    /// Stores (or replaces) secret `name`, encrypted. Refused without a key, for an empty value,
    /// and when other stored secrets were sealed with a different key (one store, one key).
    pub async fn set(&self, name: &str, value: &str) -> Result<(), SecretStoreError> {
        validate_name(name)?;
        if !self.sealer.encrypts() {
            return Err(SecretStoreError::NoKey);
        }
        if value.is_empty() {
            return Err(SecretStoreError::Empty);
        }
        for (other, entry) in self.store.kv_list(SECRET_NAMESPACE).await? {
            if other != name {
                self.sealer
                    .open(&entry.value)
                    .map_err(|source| SecretStoreError::Open {
                        name: other.clone(),
                        source,
                    })?;
            }
        }
        let sealed = self.sealer.seal(value);
        self.store.kv_put(SECRET_NAMESPACE, name, &sealed).await?;
        Ok(())
    }

    /// The names of the stored secrets, sorted.
    pub async fn names(&self) -> Result<Vec<String>, SecretStoreError> {
        Ok(self
            .store
            .kv_list(SECRET_NAMESPACE)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// Deletes secret `name`; returns whether it existed.
    pub async fn delete(&self, name: &str) -> Result<bool, SecretStoreError> {
        validate_name(name)?;
        Ok(self.store.kv_delete(SECRET_NAMESPACE, name).await?)
    }

    /// Every stored secret, opened. A secret that cannot be opened (no key, a wrong key) is an
    /// error naming it, so a misconfigured engine stops at start rather than mid-run.
    pub async fn load_all(&self) -> Result<HashMap<String, String>, SecretStoreError> {
        let mut secrets = HashMap::new();
        for (name, entry) in self.store.kv_list(SECRET_NAMESPACE).await? {
            let value =
                self.sealer
                    .open(&entry.value)
                    .map_err(|source| SecretStoreError::Open {
                        name: name.clone(),
                        source,
                    })?;
            secrets.insert(name, value);
        }
        Ok(secrets)
    }
}

/// Every secret stored in `store`, opened with `sealer`: what an engine passes to
/// [`crate::executor::Engine::new`] at start.
pub async fn load_stored_secrets(
    store: &dyn Store,
    sealer: &Sealer,
) -> Result<HashMap<String, String>, SecretStoreError> {
    SecretStore::new(store, sealer).load_all().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["CRM_TOKEN", "a", "crm.client-secret_2"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "with space", "ünïcode", "a/b", &"x".repeat(201)] {
            assert!(
                matches!(validate_name(bad), Err(SecretStoreError::InvalidName(_))),
                "{bad}"
            );
        }
    }
}
