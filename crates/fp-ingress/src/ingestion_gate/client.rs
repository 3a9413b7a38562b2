//! Ingress clients of the gate: the gate itself in process (embedded profile) and an HTTP
//! client of `fp ig serve`'s batch endpoint (every other profile). Both answer one
//! [`SubmitResult`] per envelope, so a producer cannot tell them apart.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fp_rails::contracts::ingestion::Actor;
use fp_rails::ingress::{IngressClient, IngressError, IngressFuture, SubmitResult};
use serde::Deserialize;

use super::gate::{IngestionGate, Outcome, Submission};

/// The gate in this process.
#[derive(Debug, Clone)]
pub struct InProcessIngress {
    gate: Arc<IngestionGate>,
    actor: Actor,
}

impl InProcessIngress {
    /// Submit to `gate` as `actor` (the in-process caller's identity).
    pub fn new(gate: Arc<IngestionGate>, actor: Actor) -> Self {
        Self { gate, actor }
    }
}

/// An outcome as a client sees it.
pub fn to_submit_result(o: Outcome) -> SubmitResult {
    match o {
        Outcome::Decided {
            decision,
            receipt,
            receipt_ref,
        } => SubmitResult::Decided {
            decision,
            receipt,
            receipt_ref,
        },
        Outcome::Retry { error, detail } => SubmitResult::Retry {
            error: error.into(),
            detail,
        },
    }
}

impl IngressClient for InProcessIngress {
    fn describe(&self) -> String {
        "in-process".into()
    }

    fn submit_batch(
        &self,
        envelopes: Vec<Vec<u8>>,
    ) -> IngressFuture<'_, Result<Vec<SubmitResult>, IngressError>> {
        Box::pin(async move {
            let subs = envelopes
                .into_iter()
                .map(|raw| Submission {
                    raw: Bytes::from(raw),
                    actor: self.actor.clone(),
                })
                .collect();
            // Detached: an aborted producer task must not cancel a batch mid-commit.
            match self.gate.admit_batch_detached(subs).await {
                Ok(outcomes) => Ok(outcomes.into_iter().map(to_submit_result).collect()),
                // The gate recorded nothing (index or bus down): the HTTP service answers 503.
                Err(e) => Err(IngressError::Unavailable {
                    detail: e.to_string(),
                    retry_after: Some(Duration::from_secs(1)),
                }),
            }
        })
    }
}

/// `fp ig serve` over HTTP: NDJSON batches to `POST /v1/ingest/batch`.
#[derive(Debug, Clone)]
pub struct HttpIngress {
    client: reqwest::Client,
    batch_url: String,
    base: String,
    api_key: Option<(String, String)>,
}

#[derive(Deserialize)]
struct BatchBody {
    results: Vec<SubmitResult>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    detail: String,
}

impl HttpIngress {
    /// A client of the gate at `base_url` (e.g. `http://127.0.0.1:8081`); `api_key` is the
    /// `(header, key)` pair when the gate authenticates writers. Each request times out after
    /// `timeout` (the reference: 30 s).
    pub fn new(
        base_url: &str,
        api_key: Option<(String, String)>,
        timeout: Duration,
    ) -> Result<Self, IngressError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(8)
            .build()
            .map_err(|e| IngressError::Protocol(format!("cannot build the HTTP client: {e}")))?;
        let base = base_url.trim_end_matches('/').to_owned();
        Ok(Self {
            client,
            batch_url: format!("{base}/v1/ingest/batch"),
            base,
            api_key,
        })
    }
}

impl IngressClient for HttpIngress {
    fn describe(&self) -> String {
        self.base.clone()
    }

    fn submit_batch(
        &self,
        envelopes: Vec<Vec<u8>>,
    ) -> IngressFuture<'_, Result<Vec<SubmitResult>, IngressError>> {
        Box::pin(async move {
            let mut body = Vec::with_capacity(envelopes.iter().map(|e| e.len() + 1).sum());
            for e in &envelopes {
                body.extend_from_slice(e);
                body.push(b'\n');
            }
            let mut req = self
                .client
                .post(&self.batch_url)
                .header("content-type", "application/x-ndjson")
                .body(body);
            if let Some((header, key)) = &self.api_key {
                req = req.header(header.as_str(), key.as_str());
            }
            let resp = req.send().await.map_err(|e| IngressError::Unavailable {
                detail: format!("POST {}: {e}", self.batch_url),
                retry_after: None,
            })?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let bytes = resp.bytes().await.map_err(|e| IngressError::Unavailable {
                detail: format!("reading the answer of {}: {e}", self.batch_url),
                retry_after,
            })?;
            if status.is_success() {
                let parsed: BatchBody = serde_json::from_slice(&bytes).map_err(|e| {
                    IngressError::Protocol(format!("{} answered {status}: {e}", self.batch_url))
                })?;
                return Ok(parsed.results);
            }
            let code = status.as_u16();
            let (error, detail) = match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(b) => (b.error, b.detail),
                Err(_) => (
                    format!("HTTP_{code}"),
                    String::from_utf8_lossy(&bytes).chars().take(512).collect(),
                ),
            };
            if code == 408 || code == 429 || status.is_server_error() {
                Err(IngressError::Unavailable {
                    detail: format!("{code} {error}: {detail}"),
                    retry_after,
                })
            } else {
                Err(IngressError::Rejected {
                    status: code,
                    error,
                    detail,
                })
            }
        })
    }
}
