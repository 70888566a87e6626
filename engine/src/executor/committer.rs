//! Group commit: completions queue here and are written together, one transaction for
//! whatever arrived while the previous transaction was committing. Under load many step
//! results share one commit; with no load a completion is written at once, alone, by the
//! worker that made it (no task in between: on SQLite the whole transaction then runs on the
//! worker's own thread).
//!
//! Each completion's worker also takes one step the completion made ready (a hand-off), in
//! the same transaction, so a chain of steps costs one transaction per step.
//!
//! On SQLite a run's creation (a webhook waiting for its `202`) may cut a transaction short:
//! the store then records a prefix of the batch, and the rest leads the next one.
//!
//! On PostgreSQL several committers write side by side (a run's completions always go to the
//! same one, so they never wait for each other's row locks); SQLite has one writer anyway.

use crate::store::{Backend, Claimed, Completion, CompletionReport, Store, StoreError};
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The most completions written in one transaction.
pub const MAX_BATCH: usize = 256;

/// Committers writing side by side on PostgreSQL.
const POSTGRES_SHARDS: usize = 3;

/// What a completion came to: its report, and the step handed off to its worker.
pub type Committed = (CompletionReport, Option<Claimed>);

type Reply = oneshot::Sender<Result<Committed, StoreError>>;

/// Completions waiting to be written, and the right to write them. There is no committing
/// task: the worker that finds no transaction under way writes the queue itself (the
/// leader), and the others wait for its answer or take over once it is done. With no load a
/// completion is written by its own worker at once, without waking another task.
#[derive(Default)]
struct Shard {
    queue: Mutex<VecDeque<(Completion, Reply)>>,
    leader: tokio::sync::Mutex<()>,
}

/// The group committer of an engine.
#[derive(Clone)]
pub struct Committer {
    store: Arc<dyn Store>,
    lease_ms: i64,
    shards: Arc<[Shard]>,
}

impl Committer {
    /// A group committer on `store`; hand-offs get a lease of `lease_ms`.
    pub fn start(store: Arc<dyn Store>, lease_ms: i64) -> Self {
        let count = match store.backend() {
            Backend::Postgres => POSTGRES_SHARDS,
            Backend::Sqlite => 1,
        };
        Committer {
            store,
            lease_ms,
            shards: (0..count).map(|_| Shard::default()).collect(),
        }
    }

    /// Queues a completion and waits until it is durable (or failed to be written).
    ///
    /// Not to be cancelled while it writes: the completions of a batch it leads would be
    /// answered with an error (their leases lapse and the steps are taken back). The executor's workers await it to the end.
    pub async fn commit(&self, completion: Completion) -> Result<Committed, StoreError> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        completion.run_id.hash(&mut hasher);
        let shard = &self.shards[(hasher.finish() as usize) % self.shards.len()];
        let (reply, mut done) = oneshot::channel();
        lock(&shard.queue).push_back((completion, reply));
        loop {
            tokio::select! {
                biased;
                result = &mut done => {
                    return result.unwrap_or_else(|_| {
                        Err(StoreError::Unavailable(
                            "the transaction carrying this completion was abandoned".into(),
                        ))
                    });
                }
                _leading = shard.leader.lock() => self.write_queued(shard).await,
            }
        }
    }

    /// Writes what is queued (up to [`MAX_BATCH`]) in one transaction and answers each.
    async fn write_queued(&self, shard: &Shard) {
        let batch: Vec<(Completion, Reply)> = {
            let mut queue = lock(&shard.queue);
            let n = queue.len().min(MAX_BATCH);
            queue.drain(..n).collect()
        };
        if batch.is_empty() {
            return;
        }
        let (completions, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        match self
            .store
            .complete_handing_off(&completions, self.lease_ms)
            .await
        {
            Ok(results) if !results.is_empty() => {
                let mut pending = completions.into_iter().zip(replies);
                for result in results {
                    if let Some((_, reply)) = pending.next() {
                        let _ = reply.send(Ok(result));
                    }
                }
                // The store gave the writer to an urgent write (a run's creation) after a
                // prefix: the rest lead the next transaction.
                let mut queue = lock(&shard.queue);
                for rest in pending.rev() {
                    queue.push_front(rest);
                }
            }
            Ok(_) => {
                // The store promises at least one; never spin on a batch it will not take.
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable(
                        "the store recorded none of the completions".into(),
                    )));
                }
            }
            Err(e) => {
                // Not all of the batch was written (on PostgreSQL the successes recorded
                // ahead may have been): a step not written is taken back once its lease
                // lapses, and so is a step handed off by one that was.
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
                }
            }
        }
    }
}

/// The queue, also after a panic elsewhere (it holds no invariant a panic could break).
fn lock<T>(queue: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    queue.lock().unwrap_or_else(|e| e.into_inner())
}
