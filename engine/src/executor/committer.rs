//! Group commit: completions queue here and are written together, one transaction for
//! whatever arrived while the previous transaction was committing. Under load many step
//! results share one commit; with no load a completion is written at once, alone.
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
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most completions written in one transaction.
pub const MAX_BATCH: usize = 256;

/// Committers writing side by side on PostgreSQL.
const POSTGRES_SHARDS: usize = 4;

/// What a completion came to: its report, and the step handed off to its worker.
pub type Committed = (CompletionReport, Option<Claimed>);

type Reply = oneshot::Sender<Result<Committed, StoreError>>;

/// The sending side: cheap to clone, one per worker task.
#[derive(Clone)]
pub struct Committer {
    shards: Vec<mpsc::Sender<(Completion, Reply)>>,
}

impl Committer {
    /// Starts the committing tasks for `store`; hand-offs get a lease of `lease_ms`.
    pub fn start(store: Arc<dyn Store>, lease_ms: i64) -> Self {
        let count = match store.backend() {
            Backend::Postgres => POSTGRES_SHARDS,
            Backend::Sqlite => 1,
        };
        let shards = (0..count)
            .map(|_| {
                let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
                tokio::spawn(run(store.clone(), rx, lease_ms));
                tx
            })
            .collect();
        Committer { shards }
    }

    /// Queues a completion and waits until it is durable (or failed to be written).
    pub async fn commit(&self, completion: Completion) -> Result<Committed, StoreError> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        completion.run_id.hash(&mut hasher);
        let shard = &self.shards[(hasher.finish() as usize) % self.shards.len()];
        let (reply, done) = oneshot::channel();
        shard
            .send((completion, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the committer has stopped".into()))?;
        done.await
            .map_err(|_| StoreError::Unavailable("the committer has stopped".into()))?
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<(Completion, Reply)>, lease_ms: i64) {
    // What the store left over from the last batch (it gave the writer to an urgent write):
    // first in the next one.
    let mut left: Vec<(Completion, Reply)> = Vec::new();
    loop {
        let mut batch = std::mem::take(&mut left);
        if batch.is_empty() {
            match rx.recv().await {
                Some(first) => batch.push(first),
                None => return,
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (completions, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        match store.complete_handing_off(&completions, lease_ms).await {
            Ok(results) if !results.is_empty() => {
                let mut pending = completions.into_iter().zip(replies);
                for result in results {
                    if let Some((_, reply)) = pending.next() {
                        let _ = reply.send(Ok(result));
                    }
                }
                left = pending.collect();
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
                // Nothing of the batch was written; each step's lease lapses and it is taken
                // back.
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
                }
            }
        }
    }
}
