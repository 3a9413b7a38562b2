//! Group commit for single submissions: concurrent pushes are gathered into one batch (one
//! index transaction, one bus append) while earlier batches are being admitted. Under light
//! load a push is admitted alone at once; under heavy load batches grow, so throughput rises
//! instead of latency. Up to [`BATCHES_IN_FLIGHT`] batches run at once, so one batch's checks
//! run while another waits for its fsyncs (the gate allows overlapping batches: claims keep
//! a key from being admitted twice).

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::error::IgError;
use super::gate::{IngestionGate, Outcome, Submission};

/// Largest batch the batcher forms.
pub const MAX_BATCH: usize = 1000;

/// Batches admitted at once.
pub const BATCHES_IN_FLIGHT: usize = 2;

type Job = (Submission, oneshot::Sender<Result<Outcome, String>>);

/// Handle to the batching task.
#[derive(Debug, Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Job>,
}

impl Batcher {
    /// Start the batching task on the current runtime.
    pub fn start(gate: Arc<IngestionGate>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(MAX_BATCH * 4);
        let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
        tokio::spawn(async move {
            loop {
                // A slot first: while every slot is busy, pushes keep queueing and the next
                // batch grows.
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
                if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                    return;
                }
                let gate = Arc::clone(&gate);
                // Its own task: runs to its commit whatever happens to the pushers.
                tokio::spawn(async move {
                    let _slot = slot;
                    let (subs, replies): (Vec<Submission>, Vec<_>) = jobs.into_iter().unzip();
                    match gate.admit_batch(subs).await {
                        Ok(outcomes) => {
                            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                                let _ = reply.send(Ok(outcome));
                            }
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            for reply in replies {
                                let _ = reply.send(Err(msg.clone()));
                            }
                        }
                    }
                });
            }
        });
        Self { tx }
    }

    /// Submit one envelope and wait for its verdict.
    pub async fn submit(&self, sub: Submission) -> Result<Outcome, IgError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((sub, reply))
            .await
            .map_err(|_| IgError::Refused("the admission task has stopped".into()))?;
        match rx.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(msg)) => Err(IgError::Refused(msg)),
            Err(_) => Err(IgError::Refused(
                "the admission task dropped the request".into(),
            )),
        }
    }
}
