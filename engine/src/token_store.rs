//! OAuth2 tokens kept in the store's key-value table, so every run and every engine process on
//! the same database shares them, and a refresh token the endpoint rotates survives restarts.
//!
//! A token is the JSON of a [`StoredToken`], sealed with the engine's [`Sealer`] (encrypted
//! when `BRAID_SECRET_KEY` is set), in namespace [`TOKEN_NAMESPACE`] under the SHA-256 of the
//! connection's cache key. Refreshes are serialised across processes by a lease entry in
//! [`LEASE_NAMESPACE`] (`UNTIL_MS HOLDER`), taken and given back with compare-and-swap, so two
//! processes never both ask the token endpoint (and never both spend a single-use refresh
//! token). Every token read or written is registered with the engine's [`Redactor`], so an API
//! that echoes the `Authorization` header back does not put the token into a step's output.

use crate::clock::Clock;
use crate::crypto::Sealer;
use crate::redact::Redactor;
use crate::store::Store;
use async_trait::async_trait;
use braid_stdlib::http::oauth2::{StoredToken, TokenStore};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The key-value namespace of cached tokens.
pub const TOKEN_NAMESPACE: &str = "oauth2";

/// The key-value namespace of refresh leases.
pub const LEASE_NAMESPACE: &str = "oauth2_lease";

/// The lease value of a lease given back: expired, held by no one.
const RELEASED: &str = "0 -";

/// A [`TokenStore`] on the engine's store.
pub struct KvTokenStore {
    store: Arc<dyn Store>,
    sealer: Sealer,
    clock: Arc<dyn Clock>,
    redactor: Redactor,
    warned_plain: AtomicBool,
}

impl KvTokenStore {
    /// Tokens in `store`, sealed by `sealer`, leases timed by `clock`, every token registered
    /// with `redactor`.
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Sealer,
        clock: Arc<dyn Clock>,
        redactor: Redactor,
    ) -> Self {
        KvTokenStore {
            store,
            sealer,
            clock,
            redactor,
            warned_plain: AtomicBool::new(false),
        }
    }

    /// The entry key of a connection's cache key (which holds the token URL: kept out of the
    /// table, and of bounded length).
    pub fn entry_key(cache_key: &str) -> String {
        hex::encode(Sha256::digest(cache_key.as_bytes()))
    }

    fn register(&self, token: &StoredToken) {
        self.redactor.register(&token.access_token);
        if let Some(refresh) = &token.refresh_token {
            self.redactor.register(refresh);
        }
    }
}

/// When the cached token of each OAuth2 connection of the loaded workflows expires (epoch ms),
/// by connection name: for the `braid_oauth_token_expiry_seconds` metric.
pub async fn token_expiries(engine: &crate::executor::Engine) -> Vec<(String, i64)> {
    use braid_stdlib::http::AuthConfig;
    let tokens = KvTokenStore::new(
        engine.store.clone(),
        Sealer::from_env(),
        engine.clock().clone(),
        engine.redactor.clone(),
    );
    let mut configs = Vec::new();
    for plan in engine.workflows() {
        let host = crate::runtime::host::EngineHost::new(
            engine.secrets.clone(),
            engine.redactor.clone(),
            chrono::Utc::now(),
            "metrics",
        );
        let ev = braid_dsl::eval::Evaluator::new(
            braid_stdlib::catalog::std_library(),
            &host,
            &plan.mappings,
        );
        for connection in plan.connections.values() {
            if let Ok(config) = crate::runtime::connections::resolve(connection, &ev) {
                if let AuthConfig::OAuth2(oauth) = &config.auth {
                    configs.push((config.name.clone(), oauth.cache_key()));
                }
            }
        }
    }
    configs.sort();
    configs.dedup();
    let mut out = Vec::new();
    for (name, key) in configs {
        if let Some(expires) = tokens.load(&key).await.and_then(|t| t.expires_at_ms) {
            out.push((name, expires));
        }
    }
    out
}

/// A parsed lease value.
struct Lease<'a> {
    until_ms: i64,
    holder: &'a str,
}

impl<'a> Lease<'a> {
    fn parse(value: &'a str) -> Option<Self> {
        let (until, holder) = value.split_once(' ')?;
        Some(Lease {
            until_ms: until.parse().ok()?,
            holder,
        })
    }
}

#[async_trait]
impl TokenStore for KvTokenStore {
    async fn load(&self, key: &str) -> Option<StoredToken> {
        let entry = match self
            .store
            .kv_get(TOKEN_NAMESPACE, &Self::entry_key(key))
            .await
        {
            Ok(entry) => entry?,
            Err(e) => {
                tracing::warn!(error = %e, "reading a cached OAuth2 token failed");
                return None;
            }
        };
        let plain = match self.sealer.open(&entry.value) {
            Ok(plain) => plain,
            Err(e) => {
                tracing::warn!(error = %e, "a cached OAuth2 token cannot be opened; a new one will be fetched");
                return None;
            }
        };
        match serde_json::from_str::<StoredToken>(&plain) {
            Ok(token) => {
                self.register(&token);
                Some(token)
            }
            Err(_) => {
                tracing::warn!("a cached OAuth2 token is malformed; a new one will be fetched");
                None
            }
        }
    }

    async fn save(&self, key: &str, token: &StoredToken) {
        self.register(token);
        if !self.sealer.encrypts() && !self.warned_plain.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "BRAID_SECRET_KEY is not set: OAuth2 tokens are stored unencrypted (create a key with `braid secret key`)"
            );
        }
        let json = match serde_json::to_string(token) {
            Ok(json) => json,
            Err(_) => return,
        };
        let sealed = self.sealer.seal(&json);
        if let Err(e) = self
            .store
            .kv_put(TOKEN_NAMESPACE, &Self::entry_key(key), &sealed)
            .await
        {
            tracing::warn!(error = %e, "saving an OAuth2 token failed");
        }
    }

    async fn acquire_refresh(&self, key: &str, holder: &str, ttl: Duration) -> bool {
        let entry_key = Self::entry_key(key);
        let now = self.clock.now_ms();
        let current = match self.store.kv_get(LEASE_NAMESPACE, &entry_key).await {
            Ok(current) => current,
            Err(e) => {
                tracing::warn!(error = %e, "reading an OAuth2 refresh lease failed; refreshing anyway");
                return true;
            }
        };
        let expected = match &current {
            Some(entry) => match Lease::parse(&entry.value) {
                Some(lease) if lease.until_ms > now && lease.holder != holder => return false,
                _ => Some(entry.value.as_str()),
            },
            None => None,
        };
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let lease = format!("{} {holder}", now.saturating_add(ttl_ms));
        match self
            .store
            .kv_compare_and_swap(LEASE_NAMESPACE, &entry_key, expected, &lease)
            .await
        {
            Ok(won) => won,
            Err(e) => {
                tracing::warn!(error = %e, "taking an OAuth2 refresh lease failed; refreshing anyway");
                true
            }
        }
    }

    async fn release_refresh(&self, key: &str, holder: &str) {
        let entry_key = Self::entry_key(key);
        let current = match self.store.kv_get(LEASE_NAMESPACE, &entry_key).await {
            Ok(Some(entry)) => entry.value,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "reading an OAuth2 refresh lease failed; it will expire");
                return;
            }
        };
        if Lease::parse(&current).is_none_or(|lease| lease.holder != holder) {
            return;
        }
        // Compare-and-swap: a lease that expired and was taken over meanwhile stays its new
        // holder's.
        if let Err(e) = self
            .store
            .kv_compare_and_swap(LEASE_NAMESPACE, &entry_key, Some(&current), RELEASED)
            .await
        {
            tracing::warn!(error = %e, "giving back an OAuth2 refresh lease failed; it will expire");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_parse_and_entry_keys_hide_the_cache_key() {
        let lease = Lease::parse("1700 abc").expect("lease");
        assert_eq!((lease.until_ms, lease.holder), (1700, "abc"));
        assert!(Lease::parse(RELEASED).is_some_and(|l| l.until_ms == 0));
        assert!(Lease::parse("nonsense").is_none());
        let key = KvTokenStore::entry_key("https://auth.example/token?x=1 client-1");
        assert_eq!(key.len(), 64);
        assert!(!key.contains("auth.example"));
    }
}
