//! The HTTP client every engine uses: what its calls share with other runs and other engine
//! processes lives in the store.

use crate::clock::Clock;
use crate::crypto::Sealer;
use crate::rate_limits::StoreRateLimits;
use crate::redact::Redactor;
use crate::store::Store;
use crate::token_store::KvTokenStore;
use braid_stdlib::http::HttpClient;
use std::sync::Arc;

/// An HTTP client whose OAuth2 tokens (sealed by `sealer`, registered with `redactor` as they
/// are used) and connection rate-limit slots live in `store`, so that every process on it
/// shares them.
pub fn http_client(
    store: Arc<dyn Store>,
    sealer: Sealer,
    clock: Arc<dyn Clock>,
    redactor: Redactor,
) -> HttpClient {
    HttpClient::default()
        .with_rate_limit_store(Arc::new(StoreRateLimits::new(store.clone(), clock.clone())))
        .with_token_store(Arc::new(KvTokenStore::new(store, sealer, clock, redactor)))
}
