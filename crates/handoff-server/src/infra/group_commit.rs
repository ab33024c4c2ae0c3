//! Group commit: every durable write of a request (audit records, redemptions, remembered event
//! ids) goes through one writer task that commits whatever has queued up in one transaction.
//! A request is answered only after the transaction holding its write has committed, so the
//! guarantee "a 2xx only after its audit record is durable" holds, at one fsync per batch
//! instead of one per request. The batch is handed to the store, which owns it from then on.

use std::sync::Arc;
use std::time::Instant;

use handoff_core::store::{Store, StoreError, Write};
use tokio::sync::{mpsc, oneshot};

use super::telemetry;

/// Writes per transaction at most.
const MAX_BATCH: usize = 512;
/// Writes waiting at most; beyond that, callers wait for room (backpressure).
const QUEUE: usize = 8192;

type Reply = oneshot::Sender<Result<bool, StoreError>>;

#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<(Write, Reply)>,
}

impl GroupCommit {
    /// Starts the writer task; it ends when the last `GroupCommit` handle is dropped.
    pub fn start(store: Arc<dyn Store>) -> GroupCommit {
        let (queue, mut incoming) = mpsc::channel::<(Write, Reply)>(QUEUE);
        tokio::spawn(async move {
            let mut writes: Vec<Write> = Vec::new();
            let mut replies = Vec::with_capacity(MAX_BATCH);
            while let Some((write, reply)) = incoming.recv().await {
                writes.push(write);
                replies.push(reply);
                while writes.len() < MAX_BATCH {
                    match incoming.try_recv() {
                        Ok((write, reply)) => {
                            writes.push(write);
                            replies.push(reply);
                        }
                        Err(_) => break,
                    }
                }
                let (batch, started) = (writes.len(), Instant::now());
                let committed = store.commit(std::mem::take(&mut writes)).await;
                telemetry::journal_batch(batch, started.elapsed());
                match committed {
                    Ok(results) => {
                        for (reply, result) in replies.drain(..).zip(results) {
                            let _ = reply.send(Ok(result));
                        }
                    }
                    Err(err) => {
                        tracing::error!(%err, writes = batch, "committing a batch failed");
                        for reply in replies.drain(..) {
                            let _ = reply.send(Err(err.clone()));
                        }
                    }
                }
            }
        });
        GroupCommit { queue }
    }

    /// Writes queued and not yet taken into a batch.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Queues `write` and waits until it is committed; the store's error when the batch failed.
    pub async fn write(&self, write: Write) -> Result<bool, StoreError> {
        let stopped = || StoreError::Backend("the group commit writer stopped".into());
        let (reply, answer) = oneshot::channel();
        self.queue.send((write, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
