//! Writes waiting for SQLite's one writer: run creations and claims. The write transaction
//! under way takes them into its own commit (see `Tx::commit`), so they share that
//! transaction's flush to disk (and the pages it rewrites anyway) instead of waiting for it
//! and then flushing their own.

use super::{Claimed, CreateOutcome, NewRun, StoreError};
use std::sync::Mutex;
use tokio::sync::oneshot;

/// What creating a batch of runs returned: one outcome per run, in order.
pub(crate) type Outcomes = Vec<Result<CreateOutcome, StoreError>>;

/// A batch of runs to create, as its caller prepared it, and where to send the outcomes once
/// they are committed. Dropped unanswered, it tells the caller to write the runs itself.
pub(crate) struct WaitingCreation {
    pub(crate) runs: Vec<NewRun>,
    /// The id each run gets if created.
    pub(crate) ids: Vec<String>,
    /// The creation time the caller read from its clock.
    pub(crate) now: i64,
    pub(crate) reply: oneshot::Sender<Outcomes>,
}

/// A claim of due steps (as [`super::Store::claim`]), and where to send the steps taken once
/// committed. Dropped unanswered, it tells the caller to claim in a transaction of its own.
pub(crate) struct WaitingClaim {
    pub(crate) worker_id: String,
    pub(crate) now: i64,
    pub(crate) limit: u32,
    pub(crate) lease_ms: i64,
    pub(crate) reply: oneshot::Sender<Vec<Claimed>>,
}

/// How a waiting write got done: taken into another transaction (and committed, with what it
/// returned), or holding a transaction of its own.
pub(crate) enum Began<T, R> {
    Joined(R),
    Alone(T),
}

/// The writes a transaction takes in when it commits.
#[derive(Default)]
pub(crate) struct Joinable {
    pub(crate) creations: WaitQueue<WaitingCreation>,
    pub(crate) claims: WaitQueue<WaitingClaim>,
}

/// Writes of one kind waiting, each under a ticket its caller can take it back by.
pub(crate) struct WaitQueue<T> {
    waiting: Mutex<(u64, Vec<(u64, T)>)>,
}

impl<T> Default for WaitQueue<T> {
    fn default() -> Self {
        WaitQueue {
            waiting: Mutex::new((0, Vec::new())),
        }
    }
}

impl<T> WaitQueue<T> {
    /// Queues a write; it stays queued until a transaction takes it or the returned guard
    /// takes it back.
    pub(crate) fn push(&self, write: T) -> Queued<'_, T> {
        let mut waiting = self.lock();
        waiting.0 += 1;
        let ticket = waiting.0;
        waiting.1.push((ticket, write));
        Queued {
            queue: self,
            ticket,
        }
    }

    /// Every write waiting, in the order they came.
    pub(crate) fn take_all(&self) -> Vec<T> {
        std::mem::take(&mut self.lock().1)
            .into_iter()
            .map(|(_, w)| w)
            .collect()
    }

    fn take(&self, ticket: u64) -> Option<T> {
        let mut waiting = self.lock();
        let at = waiting.1.iter().position(|(t, _)| *t == ticket)?;
        Some(waiting.1.remove(at).1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Vec<(u64, T)>)> {
        // The data stays consistent whatever panicked while holding it.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A queued write, taken back from the queue when dropped if no transaction took it.
pub(crate) struct Queued<'q, T> {
    queue: &'q WaitQueue<T>,
    ticket: u64,
}

impl<T> Queued<'_, T> {
    /// The write, if no transaction has taken it.
    pub(crate) fn take_back(self) -> Option<T> {
        self.queue.take(self.ticket)
    }
}

impl<T> Drop for Queued<'_, T> {
    fn drop(&mut self) {
        self.queue.take(self.ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creation() -> (WaitingCreation, oneshot::Receiver<Outcomes>) {
        let (reply, answer) = oneshot::channel();
        let c = WaitingCreation {
            runs: Vec::new(),
            ids: Vec::new(),
            now: 0,
            reply,
        };
        (c, answer)
    }

    #[test]
    fn a_caller_takes_back_its_own_creation_only_while_it_waits() {
        let queue = WaitQueue::default();
        let (a, _) = creation();
        let (b, _) = creation();
        let first = queue.push(a);
        let second = queue.push(b);
        assert!(second.take_back().is_some());
        assert_eq!(queue.take_all().len(), 1, "the first is still waiting");
        assert!(first.take_back().is_none(), "a transaction took it");
    }

    #[test]
    fn a_dropped_guard_leaves_nothing_behind() {
        let queue = WaitQueue::default();
        let (a, _) = creation();
        drop(queue.push(a));
        assert!(queue.take_all().is_empty());
    }
}
