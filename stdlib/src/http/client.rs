//! Sending requests.

use super::error::{parse_retry_after, CallError, ErrorClass};
use super::oauth2::{MemoryTokenStore, TokenManager, TokenStore};
use super::request::{AuthConfig, Body, HttpRequest};
use super::response::{self, DEFAULT_MAX_RESPONSE_BYTES};
use serde_json::Value;
use std::sync::Arc;
use std::time::SystemTime;

/// The engine's HTTP client: cheap to clone, shared by all runs.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    max_response_bytes: usize,
    tokens: Arc<TokenManager>,
    limits: Arc<super::RateLimiter>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RESPONSE_BYTES)
    }
}

impl HttpClient {
    /// A client refusing responses over `max_response_bytes`.
    pub fn new(max_response_bytes: usize) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("braid/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let tokens = Arc::new(TokenManager::new(Arc::new(MemoryTokenStore::default())));
        HttpClient {
            client,
            max_response_bytes,
            tokens,
            limits: Arc::default(),
        }
    }

    /// This client, caching OAuth2 tokens in `store` (the engine's database).
    pub fn with_token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.tokens = Arc::new(TokenManager::new(store));
        self
    }

    /// This client, keeping connections' rate-limit slots in `store` (the engine's database),
    /// so that every process on it shares each connection's limit.
    pub fn with_rate_limit_store(mut self, store: Arc<dyn super::RateLimitStore>) -> Self {
        self.limits = Arc::new(super::RateLimiter::shared(store));
        self
    }

    /// Sends `req` (with a fresh OAuth2 token and one retry after a 401, for OAuth2
    /// connections). A 2xx answer is `{status, headers, body}`; anything else is a
    /// [`CallError`] classified by status, timeout or network failure, carrying `Retry-After`.
    pub async fn call(&self, req: &HttpRequest) -> Result<Value, CallError> {
        let AuthConfig::OAuth2(cfg) = &req.auth else {
            return self.send(req, None).await;
        };
        let token = self.tokens.token(cfg).await?;
        match self.send(req, Some(&token)).await {
            // The token may have been revoked early: one fresh token, one more try.
            Err(e) if e.class == ErrorClass::Status(401) => {
                let fresh = self.tokens.refresh_after_rejection(cfg, &token).await?;
                self.send(req, Some(&fresh)).await
            }
            other => other,
        }
    }

    async fn send(&self, req: &HttpRequest, bearer: Option<&str>) -> Result<Value, CallError> {
        if let Some((connection, limit)) = &req.rate_limit {
            self.limits.acquire(connection, *limit).await;
        }
        let what = req.describe();
        let mut query = req.query.clone();
        let mut builder = self
            .client
            .request(req.method.clone(), &req.url)
            .timeout(req.timeout);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        builder = match &req.auth {
            AuthConfig::None => builder,
            AuthConfig::OAuth2(_) => match bearer {
                Some(token) => builder.bearer_auth(token),
                None => builder,
            },
            AuthConfig::Bearer { token } => builder.bearer_auth(token),
            AuthConfig::Basic { user, password } => builder.basic_auth(user, Some(password)),
            AuthConfig::ApiKeyHeader { header, value } => builder.header(header, value),
            AuthConfig::ApiKeyQuery { param, value } => {
                query.push((param.clone(), value.clone()));
                builder
            }
        };
        builder = builder.header("Idempotency-Key", &req.idempotency_key);
        if !query.is_empty() {
            builder = builder.query(&query);
        }
        builder = match &req.body {
            Body::None => builder,
            Body::Json(v) => builder.json(v),
            Body::Form(pairs) => builder.form(pairs),
        };
        let response = builder.send().await.map_err(|e| send_error(&what, &e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let value = response::read(response, self.max_response_bytes, &what).await?;
        if status.is_success() {
            return Ok(value);
        }
        let mut error = CallError::new(
            ErrorClass::Status(status.as_u16()),
            format!("{what} answered {}", status),
        );
        error.retry_after = retry_after;
        error.response = Some(value);
        Err(error)
    }
}

/// Classifies a failure to get any response. reqwest's messages include the URL (and so an API
/// key in its query), so they are not passed on.
fn send_error(what: &str, e: &reqwest::Error) -> CallError {
    if e.is_timeout() {
        CallError::new(ErrorClass::Timeout, format!("{what}: timed out"))
    } else if e.is_builder() {
        CallError::invalid(format!("{what}: the request cannot be built"))
    } else if e.is_connect() {
        CallError::new(ErrorClass::Network, format!("{what}: cannot connect"))
    } else if e.is_redirect() {
        CallError::new(ErrorClass::Network, format!("{what}: too many redirects"))
    } else {
        CallError::new(
            ErrorClass::Network,
            format!("{what}: the connection failed"),
        )
    }
}
