//! Run creations waiting for SQLite's one writer. A write transaction under way takes them
//! into its own commit (see `Tx::commit`), so a webhook's run shares that transaction's
//! flush to disk instead of waiting for it and then flushing its own.

use super::{CreateOutcome, NewRun, StoreError};
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

/// How a creation got to write: taken into another transaction (and committed), or holding
/// a transaction of its own.
pub(crate) enum Began<T> {
    Joined(Outcomes),
    Alone(T),
}

/// The creations waiting for the writer, each under a ticket its caller can take it back by.
#[derive(Default)]
pub(crate) struct CreationQueue {
    waiting: Mutex<(u64, Vec<(u64, WaitingCreation)>)>,
}

impl CreationQueue {
    /// Queues a creation; it stays queued until a transaction takes it or the returned guard
    /// takes it back.
    pub(crate) fn push(&self, creation: WaitingCreation) -> Queued<'_> {
        let mut waiting = self.lock();
        waiting.0 += 1;
        let ticket = waiting.0;
        waiting.1.push((ticket, creation));
        Queued {
            queue: self,
            ticket,
        }
    }

    /// Every creation waiting, in the order they came.
    pub(crate) fn take_all(&self) -> Vec<WaitingCreation> {
        std::mem::take(&mut self.lock().1)
            .into_iter()
            .map(|(_, c)| c)
            .collect()
    }

    fn take(&self, ticket: u64) -> Option<WaitingCreation> {
        let mut waiting = self.lock();
        let at = waiting.1.iter().position(|(t, _)| *t == ticket)?;
        Some(waiting.1.remove(at).1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Vec<(u64, WaitingCreation)>)> {
        // The data stays consistent whatever panicked while holding it.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A queued creation, taken back from the queue when dropped if no transaction took it.
pub(crate) struct Queued<'q> {
    queue: &'q CreationQueue,
    ticket: u64,
}

impl Queued<'_> {
    /// The creation, if no transaction has taken it.
    pub(crate) fn take_back(self) -> Option<WaitingCreation> {
        self.queue.take(self.ticket)
    }
}

impl Drop for Queued<'_> {
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
        let queue = CreationQueue::default();
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
        let queue = CreationQueue::default();
        let (a, _) = creation();
        drop(queue.push(a));
        assert!(queue.take_all().is_empty());
    }
}
