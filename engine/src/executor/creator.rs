//! Group commit of run creation: runs to create (webhook deliveries, API calls, cron ticks,
//! child runs) queue here and are written together, one transaction for whatever arrived while
//! the previous transaction was committing ([`Store::create_runs`]). Under load many runs share
//! one commit; with no load a run is written at once, alone. Each caller is answered only once
//! its run is durable (or known not to be), so a webhook's `202` still means "stored".

use crate::store::{CreateOutcome, NewRun, Store, StoreError};
use braid_dsl::plan::WorkflowPlan;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{mpsc, oneshot};

/// The most runs created in one transaction.
pub const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<CreateOutcome, StoreError>>;

/// The sending side of the creation batcher, and which plans this engine has stored.
pub struct Creator {
    tx: mpsc::Sender<(NewRun, Reply)>,
    /// Plans already stored under their hash, by identity: starting another run of the same
    /// loaded plan neither serialises and hashes it again nor writes its version row again.
    stored: Mutex<Vec<(Weak<WorkflowPlan>, String)>>,
}

impl Creator {
    /// Starts the creating task for `store`.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(store, rx));
        Creator {
            tx,
            stored: Mutex::new(Vec::new()),
        }
    }

    /// Queues a run and waits until it is durable (or failed to be written); the outcome is
    /// what [`Store::create_run`] would have returned.
    pub async fn create(&self, run: NewRun) -> Result<CreateOutcome, StoreError> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send((run, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the run creator has stopped".into()))?;
        done.await
            .map_err(|_| StoreError::Unavailable("the run creator has stopped".into()))?
    }

    /// The hash `plan` (this very loaded plan) was stored under, if it was.
    pub fn stored_hash(&self, plan: &Arc<WorkflowPlan>) -> Option<String> {
        let stored = self.stored.lock().unwrap_or_else(|e| e.into_inner());
        stored
            .iter()
            .find(|(p, _)| std::ptr::eq(p.as_ptr(), Arc::as_ptr(plan)))
            .map(|(_, hash)| hash.clone())
    }

    /// Notes that `plan` is stored under `hash`; plans no longer loaded are forgotten.
    pub fn remember(&self, plan: &Arc<WorkflowPlan>, hash: &str) {
        let mut stored = self.stored.lock().unwrap_or_else(|e| e.into_inner());
        // A live `Weak` keeps its allocation, so an address seen here is never reused by
        // another plan while the entry exists.
        stored.retain(|(p, _)| p.strong_count() > 0);
        if !stored
            .iter()
            .any(|(p, _)| std::ptr::eq(p.as_ptr(), Arc::as_ptr(plan)))
        {
            stored.push((Arc::downgrade(plan), hash.to_string()));
        }
    }
}

/// The same error, for each caller of a failed batch.
fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Contention(m) => StoreError::Contention(m.clone()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<(NewRun, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (runs, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        match store.create_runs(&runs).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) if runs.len() > 1 && !e.is_unavailable() => {
                // Nothing of the batch was written, and one run may be the cause (a violated
                // constraint): each is tried alone, so only that one fails.
                tracing::warn!(error = %e, runs = runs.len(), "creating a batch of runs failed; creating them one at a time");
                for (run, reply) in runs.into_iter().zip(replies) {
                    let _ = reply.send(store.create_run(run).await);
                }
            }
            Err(e) => {
                // Nothing of the batch was written.
                let mut replies = replies.into_iter();
                let last = replies.next_back();
                for reply in replies {
                    let _ = reply.send(Err(copy(&e)));
                }
                if let Some(reply) = last {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}
