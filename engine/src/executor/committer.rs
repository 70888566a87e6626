//! Group commit: completions queue here and are written together, one transaction for
//! whatever arrived while the previous transaction was committing. Under load many step
//! results share one commit; with no load a completion is written at once, alone.

use crate::store::{Completion, CompletionReport, Store, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most completions written in one transaction.
pub const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<CompletionReport, StoreError>>;

/// The sending side: cheap to clone, one per worker task.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<(Completion, Reply)>,
}

impl Committer {
    /// Starts the committing task for `store`.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(store, rx));
        Committer { tx }
    }

    /// Queues a completion and waits until it is durable (or failed to be written).
    pub async fn commit(&self, completion: Completion) -> Result<CompletionReport, StoreError> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send((completion, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the committer has stopped".into()))?;
        done.await
            .map_err(|_| StoreError::Unavailable("the committer has stopped".into()))?
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<(Completion, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (completions, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        match store.complete(completions).await {
            Ok(reports) => {
                for (reply, report) in replies.into_iter().zip(reports) {
                    let _ = reply.send(Ok(report));
                }
            }
            Err(e) => {
                // Nothing of the batch was written; each step keeps its lease and is taken back
                // when it expires.
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
                }
            }
        }
    }
}
