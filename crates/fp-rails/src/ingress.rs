//! The ingress client: how a producer hands envelopes to the Ingestion Gate, the platform's
//! only front door. The World Stream Producer (and later DF, AL and case work) publish through
//! this trait, so they never depend on the gate itself; the binary wires either the gate in
//! process (embedded profile) or an HTTP client of `fp ig serve` behind it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::contracts::ingestion::{IgDecision, IngestionReceipt};

/// The future every [`IngressClient`] method returns (boxed, so the trait is object-safe).
pub type IngressFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The gate's answer for one envelope of a batch; the wire form of `/v1/ingest/batch`
/// results (`{decision, receipt, receipt_ref}` or `{error, detail}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SubmitResult {
    /// ADMIT, DUPLICATE or QUARANTINE, with its receipt.
    Decided {
        /// The verdict.
        decision: IgDecision,
        /// The receipt.
        receipt: Box<IngestionReceipt>,
        /// Where the receipt is stored.
        receipt_ref: String,
    },
    /// Nothing was recorded for this envelope (e.g. another request's publish of the same
    /// event is still in flight): send the same envelope again later.
    Retry {
        /// Retry code (`PUBLISH_IN_FLIGHT_RETRY`, ...).
        error: String,
        /// Detail.
        detail: String,
    },
}

/// Why a whole batch got no verdicts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngressError {
    /// Sending the same batch again later can work: timeout, connection failure, 408, 429,
    /// 5xx, or an unhealthy gate. Nothing in it was lost (each envelope is deduplicated).
    #[error("ingress unavailable, retry later: {detail}")]
    Unavailable {
        /// What happened (status and body, or the transport error).
        detail: String,
        /// The gate's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The gate refused the request itself (a 4xx other than 408/429): resending the same
    /// bytes cannot work.
    #[error("ingress rejected the request ({status} {error}): {detail}")]
    Rejected {
        /// HTTP status (400 for in-process refusals of the same kind).
        status: u16,
        /// The gate's error code (`UNAUTHORIZED`, `BATCH_INVALID`, ...).
        error: String,
        /// The gate's detail.
        detail: String,
    },
    /// The gate answered something this client cannot read (a protocol mismatch).
    #[error("ingress answered an unreadable response: {0}")]
    Protocol(String),
}

impl IngressError {
    /// Whether resending the same batch can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// A client of the Ingestion Gate.
pub trait IngressClient: Send + Sync {
    /// A short name for logs (`in-process`, `http://127.0.0.1:8081`).
    fn describe(&self) -> String;

    /// Submit raw envelope bytes; on success exactly one result per envelope, in order.
    fn submit_batch(
        &self,
        envelopes: Vec<Vec<u8>>,
    ) -> IngressFuture<'_, Result<Vec<SubmitResult>, IngressError>>;
}
