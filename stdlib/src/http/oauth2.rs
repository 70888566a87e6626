//! OAuth2 access tokens for connections (client credentials and refresh token grants).
//!
//! A token is cached in a [`TokenStore`] (the engine's database, shared by all runs), used until
//! shortly before it expires, and refreshed once more when an API answers 401. Concurrent
//! callers that find no usable token cause one request to the token endpoint: the others wait
//! for it and use its result. Across processes sharing one store, the store's refresh lease
//! ([`TokenStore::acquire_refresh`]) lets one process refresh while the others wait and read
//! its result. A refresh token the endpoint rotates is saved and used next time.

use super::error::{CallError, ErrorClass};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Tokens are refreshed this long before they expire, so a call never starts with a token
/// about to lapse.
pub const REFRESH_MARGIN_MS: i64 = 60_000;

/// How long a token request may take before it is given up.
pub const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a refresh lease lasts: longer than a token request may take, so a lease runs out
/// only when its holder died.
pub const REFRESH_LEASE: Duration = Duration::from_secs(45);

/// How often a caller waiting for another process's refresh looks at the store again.
const LEASE_POLL: Duration = Duration::from_millis(100);

/// How long a caller waits for other processes' refreshes before giving up with a timeout.
const MAX_LEASE_WAIT: Duration = Duration::from_secs(100);

/// How a connection obtains tokens.
#[derive(Clone)]
pub struct OAuth2Config {
    /// The token endpoint.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// The grant.
    pub grant: Grant,
}

impl std::fmt::Debug for OAuth2Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Config")
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

/// The OAuth2 grant.
#[derive(Clone)]
pub enum Grant {
    /// `client_credentials`, with the scopes to ask for.
    ClientCredentials {
        /// Scopes, sent space-separated.
        scopes: Vec<String>,
    },
    /// `refresh_token`, with the configured refresh token (a rotated one in the store wins).
    RefreshToken {
        /// The refresh token from the workflow's configuration.
        refresh_token: String,
    },
}

impl OAuth2Config {
    /// The cache key: one token per endpoint and client.
    pub fn cache_key(&self) -> String {
        format!("{} {}", self.token_url, self.client_id)
    }
}

/// A cached token.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredToken {
    /// The access token.
    pub access_token: String,
    /// When it expires (epoch ms), if the endpoint said.
    pub expires_at_ms: Option<i64>,
    /// The latest refresh token, if the endpoint rotated it.
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// Where tokens are kept between calls; the engine implements it on its database (encrypted).
///
/// A store shared by several processes also hands out refresh leases, so that one process at
/// a time asks the token endpoint for `key`'s token. A store used by one process only can
/// keep the default lease methods: the [`TokenManager`]'s own lock is enough there.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The cached token for `key`.
    async fn load(&self, key: &str) -> Option<StoredToken>;
    /// Saves the token for `key`.
    async fn save(&self, key: &str, token: &StoredToken);
    /// Asks for the right to refresh `key`'s token for `ttl`, on behalf of `holder` (unique per
    /// [`TokenManager`]). True when granted; false while another holder's lease runs. A store
    /// that cannot tell should grant it (a second refresh is better than none).
    async fn acquire_refresh(&self, _key: &str, _holder: &str, _ttl: Duration) -> bool {
        true
    }
    /// Gives back a lease [`TokenStore::acquire_refresh`] granted to `holder`.
    async fn release_refresh(&self, _key: &str, _holder: &str) {}
}

/// Tokens in process memory, for one process (tests, and clients outside an engine).
#[derive(Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<String, StoredToken>>,
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self, key: &str) -> Option<StoredToken> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }
    async fn save(&self, key: &str, token: &StoredToken) {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), token.clone());
    }
}

/// Hands out access tokens, fetching and refreshing them as needed.
pub struct TokenManager {
    store: Arc<dyn TokenStore>,
    client: reqwest::Client,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    now_ms: fn() -> i64,
    /// This manager's name in refresh leases.
    holder: String,
}

impl TokenManager {
    /// A manager caching tokens in `store`.
    pub fn new(store: Arc<dyn TokenStore>) -> Self {
        TokenManager {
            store,
            client: reqwest::Client::new(),
            locks: Mutex::new(HashMap::new()),
            now_ms: || chrono::Utc::now().timestamp_millis(),
            holder: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    fn usable(&self, token: &StoredToken) -> bool {
        token
            .expires_at_ms
            .is_none_or(|at| at - REFRESH_MARGIN_MS > (self.now_ms)())
    }

    /// A usable access token: the cached one, or a new one from the token endpoint.
    pub async fn token(&self, cfg: &OAuth2Config) -> Result<String, CallError> {
        let key = cfg.cache_key();
        if let Some(t) = self.store.load(&key).await.filter(|t| self.usable(t)) {
            return Ok(t.access_token);
        }
        self.obtain(cfg, &key, |t| self.usable(t)).await
    }

    /// After an API rejected `rejected` with 401: a fresh token, fetched once however many
    /// callers report the same rejected token.
    pub async fn refresh_after_rejection(
        &self,
        cfg: &OAuth2Config,
        rejected: &str,
    ) -> Result<String, CallError> {
        let key = cfg.cache_key();
        self.obtain(cfg, &key, |t| t.access_token != rejected && self.usable(t))
            .await
    }

    /// A cached token `accept` takes, or one fetched by this caller: one caller per process
    /// (the lock) and one process per store (the refresh lease) asks the endpoint; the others
    /// wait and read what it saved.
    async fn obtain(
        &self,
        cfg: &OAuth2Config,
        key: &str,
        accept: impl Fn(&StoredToken) -> bool,
    ) -> Result<String, CallError> {
        let lock = self.lock_for(key);
        let _guard = lock.lock().await;
        let deadline = tokio::time::Instant::now() + MAX_LEASE_WAIT;
        loop {
            // Someone else may have refreshed while this caller waited.
            if let Some(t) = self.store.load(key).await.filter(|t| accept(t)) {
                return Ok(t.access_token);
            }
            if self
                .store
                .acquire_refresh(key, &self.holder, REFRESH_LEASE)
                .await
            {
                // The previous holder may have saved just before giving its lease back.
                let cached = self.store.load(key).await;
                let result = match cached.as_ref().filter(|t| accept(t)) {
                    Some(t) => Ok(t.access_token.clone()),
                    None => self.fetch(cfg, key, cached).await,
                };
                self.store.release_refresh(key, &self.holder).await;
                return result;
            }
            if tokio::time::Instant::now() >= deadline {
                let endpoint = super::request::strip_query(&cfg.token_url);
                return Err(CallError::new(
                    ErrorClass::Timeout,
                    format!(
                        "token endpoint {endpoint}: another process is still refreshing the token"
                    ),
                ));
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    async fn fetch(
        &self,
        cfg: &OAuth2Config,
        key: &str,
        cached: Option<StoredToken>,
    ) -> Result<String, CallError> {
        let rotated = cached.and_then(|t| t.refresh_token);
        let mut form = vec![
            ("client_id", cfg.client_id.clone()),
            ("client_secret", cfg.client_secret.clone()),
        ];
        match &cfg.grant {
            Grant::ClientCredentials { scopes } => {
                form.push(("grant_type", "client_credentials".into()));
                if !scopes.is_empty() {
                    form.push(("scope", scopes.join(" ")));
                }
            }
            Grant::RefreshToken { refresh_token } => {
                let latest = rotated.clone().unwrap_or_else(|| refresh_token.clone());
                form.push(("grant_type", "refresh_token".into()));
                form.push(("refresh_token", latest));
            }
        }
        let endpoint = super::request::strip_query(&cfg.token_url).to_string();
        let response = self
            .client
            .post(&cfg.token_url)
            .form(&form)
            .timeout(TOKEN_REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                let class = if e.is_timeout() {
                    ErrorClass::Timeout
                } else {
                    ErrorClass::Network
                };
                CallError::new(class, format!("token endpoint {endpoint}: no response"))
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(CallError::new(
                ErrorClass::Status(status.as_u16()),
                format!("token endpoint {endpoint} answered {status}"),
            ));
        }
        let body: Value = response.json().await.map_err(|_| {
            CallError::invalid(format!("token endpoint {endpoint}: the answer is not JSON"))
        })?;
        let access_token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                CallError::invalid(format!(
                    "token endpoint {endpoint}: no access_token in the answer"
                ))
            })?
            .to_string();
        let expires_at_ms = body
            .get("expires_in")
            .and_then(Value::as_i64)
            .map(|s| (self.now_ms)() + s * 1000);
        let token = StoredToken {
            access_token: access_token.clone(),
            expires_at_ms,
            // An endpoint that does not rotate this time leaves the last rotated token in force.
            refresh_token: body
                .get("refresh_token")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or(rotated),
        };
        self.store.save(key, &token).await;
        Ok(access_token)
    }
}
