//! Connection rate limits kept in the store, so that every engine process on the database
//! shares each connection's limit: a call reserves the connection's next free slot in the
//! store (`Store::reserve_rate_slot`, one atomic upsert) and waits until it. Calls from all
//! processes are spaced as calls from one process would be, first come first served.
//!
//! Slots are times by the engine's clock: processes on several machines need synchronised
//! clocks (as leases do). A store that cannot be reached makes the call fall back to this
//! process's own slots, with a warning, rather than fail.

use crate::clock::Clock;
use crate::store::Store;
use async_trait::async_trait;
use braid_stdlib::http::RateLimitStore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A [`RateLimitStore`] on the engine's store.
pub struct StoreRateLimits {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    warned: AtomicBool,
}

impl StoreRateLimits {
    /// Slots in `store`, timed by `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        StoreRateLimits {
            store,
            clock,
            warned: AtomicBool::new(false),
        }
    }
}

#[async_trait]
impl RateLimitStore for StoreRateLimits {
    async fn reserve(&self, key: &str, interval: Duration) -> Option<Duration> {
        let now = self.clock.now_ms();
        let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        match self.store.reserve_rate_slot(key, now, interval_ms).await {
            // Measured from when the store answered, not from before asking: a slow write
            // would otherwise make every call late by its latency.
            Ok(slot) => Some(Duration::from_millis(
                u64::try_from(slot.saturating_sub(self.clock.now_ms())).unwrap_or(0),
            )),
            Err(e) => {
                // Once per process: an unreachable store fails steps loudly enough elsewhere.
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, connection = key,
                        "reserving a rate-limit slot in the store failed; spacing calls in this process only");
                }
                None
            }
        }
    }
}
