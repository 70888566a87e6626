//! Connection rate limits shared by every run in the engine: calls wait their turn rather than
//! fail. Calls are spaced evenly (`rate_limit 60 per minute` lets one call start each second),
//! which keeps any window of the period within the limit.
//!
//! Each connection has a "next free slot". A caller reserves the slot (moving it on by one
//! interval) and sleeps until it. In one process the slots live in memory; with a
//! [`RateLimitStore`] (the engine's database) they live in the store, so every engine process
//! on it shares one limit and callers are served in the order their reservations reached it.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A limit: `count` calls per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls allowed…
    pub count: u64,
    /// …per this period.
    pub per: Duration,
}

impl RateLimit {
    /// The spacing between call starts.
    pub fn interval(&self) -> Duration {
        self.per / u32::try_from(self.count.max(1)).unwrap_or(u32::MAX)
    }
}

/// Where connections' next free slots are kept when several processes share the limits; the
/// engine implements it on its database.
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Reserves the next free slot of `key` for a call, moving the slot on by `interval`, in
    /// one atomic step across every process using the store. Returns how long from now the
    /// call must wait for its slot (zero when the slot is free now), or `None` when the store
    /// cannot be reached: the caller then falls back to this process's own slots, since a call
    /// spaced in one process only is better than a call failed.
    async fn reserve(&self, key: &str, interval: Duration) -> Option<Duration>;
}

/// The next free start time per connection.
#[derive(Default)]
pub struct RateLimiter {
    next: Mutex<HashMap<String, Instant>>,
    shared: Option<Arc<dyn RateLimitStore>>,
}

impl RateLimiter {
    /// A limiter whose slots live in `store`, shared with every process using it.
    pub fn shared(store: Arc<dyn RateLimitStore>) -> Self {
        RateLimiter {
            next: Mutex::default(),
            shared: Some(store),
        }
    }

    /// Waits until a call on `key` may start under `limit`. Each caller reserves the next free
    /// slot before it sleeps, so callers are served in the order they arrived.
    pub async fn acquire(&self, key: &str, limit: RateLimit) {
        if let Some(store) = &self.shared {
            if let Some(wait) = store.reserve(key, limit.interval()).await {
                tokio::time::sleep(wait).await;
                return;
            }
        }
        self.acquire_local(key, limit).await;
    }

    /// [`RateLimiter::acquire`] on this process's own slots.
    async fn acquire_local(&self, key: &str, limit: RateLimit) {
        let now = Instant::now();
        let start = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = next.get(key).copied().filter(|t| *t > now).unwrap_or(now);
            next.insert(key.to_string(), slot + limit.interval());
            slot
        };
        tokio::time::sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_and_served_in_order() {
        let limiter = Arc::new(RateLimiter::default());
        let limit = RateLimit {
            count: 60,
            per: Duration::from_secs(60),
        };
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                limiter.acquire("crm", limit).await;
                Instant::now()
            }));
        }
        let mut starts = Vec::new();
        for t in tasks {
            starts.push(t.await.expect("task").duration_since(t0).as_secs());
        }
        starts.sort();
        assert_eq!(starts, vec![0, 1, 2, 3, 4]);
        // Another connection has its own budget.
        let before = Instant::now();
        limiter.acquire("billing", limit).await;
        assert_eq!(Instant::now(), before);
    }

    /// Slots in a shared "store" (here memory), as two limiters in two processes would see.
    #[derive(Default)]
    struct SharedSlots {
        next: Mutex<HashMap<String, Instant>>,
        down: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl RateLimitStore for SharedSlots {
        async fn reserve(&self, key: &str, interval: Duration) -> Option<Duration> {
            if self.down.load(std::sync::atomic::Ordering::Relaxed) {
                return None;
            }
            let now = Instant::now();
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = next.get(key).copied().filter(|t| *t > now).unwrap_or(now);
            next.insert(key.to_string(), slot + interval);
            Some(slot - now)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn limiters_sharing_a_store_share_one_limit() {
        let slots = Arc::new(SharedSlots::default());
        let a = Arc::new(RateLimiter::shared(slots.clone()));
        let b = Arc::new(RateLimiter::shared(slots.clone()));
        let limit = RateLimit {
            count: 10,
            per: Duration::from_secs(1),
        };
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..6 {
            let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                limiter.acquire("crm", limit).await;
                Instant::now().duration_since(t0).as_millis()
            }));
        }
        let mut starts = Vec::new();
        for t in tasks {
            starts.push(t.await.expect("task"));
        }
        starts.sort();
        assert_eq!(starts, vec![0, 100, 200, 300, 400, 500]);
        // The store gone: each limiter spaces its own calls rather than failing them.
        slots.down.store(true, std::sync::atomic::Ordering::Relaxed);
        let before = Instant::now();
        a.acquire("crm", limit).await;
        a.acquire("crm", limit).await;
        assert_eq!(Instant::now().duration_since(before).as_millis(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_starts_at_once() {
        let limiter = RateLimiter::default();
        let limit = RateLimit {
            count: 2,
            per: Duration::from_secs(1),
        };
        limiter.acquire("x", limit).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let before = Instant::now();
        limiter.acquire("x", limit).await;
        assert_eq!(Instant::now(), before);
    }
}
