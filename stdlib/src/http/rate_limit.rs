//! Connection rate limits shared by every run in the engine: calls wait their turn rather than
//! fail. Calls are spaced evenly (`rate_limit 60 per minute` lets one call start each second),
//! which keeps any window of the period within the limit.

use std::collections::HashMap;
use std::sync::Mutex;
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

/// The next free start time per connection.
#[derive(Default)]
pub struct RateLimiter {
    next: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// Waits until a call on `key` may start under `limit`. Each caller reserves the next free
    /// slot before it sleeps, so callers are served in the order they arrived.
    pub async fn acquire(&self, key: &str, limit: RateLimit) {
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
