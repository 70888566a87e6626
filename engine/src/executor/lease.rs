//! The leases of the steps this process is carrying out, each with when it runs out.
//!
//! The heartbeat renews them; an attempt whose lease was not renewed in time is abandoned a
//! margin *before* the lease runs out, so it can never still be calling out when another
//! process takes the step over (its next attempt). Without this, a process starved of CPU or of
//! database connections long enough for its heartbeat to miss would keep calling while
//! another process called with the same idempotency key.

use crate::clock::Clock;
use crate::store::StepRef;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// Steps held by this process, each with its lease's end (ms since the epoch).
#[derive(Default)]
pub(crate) struct Leases {
    held: Mutex<HashMap<StepRef, watch::Sender<i64>>>,
}

impl Leases {
    /// Records that this process carries out `step`, whose lease ends at `until`. The step is
    /// held until the returned guard is dropped.
    pub(crate) fn hold(&self, step: StepRef, until: i64) -> Held<'_> {
        let (tx, rx) = watch::channel(until);
        self.lock().insert(step.clone(), tx);
        Held {
            leases: self,
            step,
            until: rx,
        }
    }

    /// The steps held now (for the heartbeat).
    pub(crate) fn steps(&self) -> Vec<StepRef> {
        self.lock().keys().cloned().collect()
    }

    /// Records that the leases of `renewed` now end at `until`.
    pub(crate) fn renewed(&self, renewed: &[StepRef], until: i64) {
        let held = self.lock();
        for step in renewed {
            if let Some(tx) = held.get(step) {
                tx.send_if_modified(|t| {
                    let later = until > *t;
                    if later {
                        *t = until;
                    }
                    later
                });
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StepRef, watch::Sender<i64>>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A step this process carries out; dropping it lets the heartbeat forget the step.
pub(crate) struct Held<'a> {
    leases: &'a Leases,
    step: StepRef,
    until: watch::Receiver<i64>,
}

impl Held<'_> {
    /// Completes `margin` before the lease runs out, unless it is renewed first (then it
    /// waits on); never completes while renewals keep up.
    pub(crate) async fn lapsing(&mut self, clock: &dyn Clock, margin: Duration) {
        let margin_ms = i64::try_from(margin.as_millis()).unwrap_or(i64::MAX);
        loop {
            let give_up_at = self.until.borrow_and_update().saturating_sub(margin_ms);
            let left = give_up_at.saturating_sub(clock.now_ms());
            if left <= 0 {
                return;
            }
            let left = Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX));
            tokio::select! {
                _ = tokio::time::sleep(left) => {}
                changed = self.until.changed() => {
                    if changed.is_err() {
                        // The step was forgotten: nothing renews it any more.
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut held = self.leases.lock();
        // Only this guard's own entry: the step may have been claimed again since.
        if held
            .get(&self.step)
            .is_some_and(|tx| self.until.same_channel(&tx.subscribe()))
        {
            held.remove(&self.step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn step() -> StepRef {
        StepRef {
            run_id: "r".into(),
            key: "k".into(),
        }
    }

    #[tokio::test]
    async fn an_unrenewed_lease_lapses_a_margin_before_it_ends() {
        let leases = Leases::default();
        let clock = SystemClock;
        let now = clock.now_ms();
        let mut held = leases.hold(step(), now + 300);
        let t = std::time::Instant::now();
        held.lapsing(&clock, Duration::from_millis(100)).await;
        let waited = t.elapsed().as_millis();
        assert!((150..300).contains(&waited), "{waited} ms");
        drop(held);
        assert!(leases.steps().is_empty());
    }

    #[tokio::test]
    async fn renewals_keep_an_attempt_going() {
        let leases = Leases::default();
        let clock = SystemClock;
        let mut held = leases.hold(step(), clock.now_ms() + 300);
        let lapsed = tokio::time::timeout(Duration::from_millis(600), async {
            tokio::join!(held.lapsing(&clock, Duration::from_millis(100)), async {
                for _ in 0..5 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    leases.renewed(&[step()], clock.now_ms() + 300);
                }
            })
        })
        .await;
        assert!(lapsed.is_err(), "renewed leases never lapse");
    }
}
