//! Delivery to the gate with the reference's retry law (contracts §9.4): a batch the gate
//! could not take (timeout, connection error, 408/429/5xx, unhealthy) is resent — the same
//! bytes, so the same event ids — after `d = min(cap, base·2^(n−1))` plus uniform jitter in
//! `[0, d]` (or the gate's `Retry-After` if longer); envelopes the gate answered "retry" are
//! resent alone; a refusal of the request itself stops the stream. Every verdict is tallied:
//! quarantines are counted by reason, never retried.

use std::collections::BTreeMap;
use std::time::Duration;

use fp_rails::contracts::ingestion::IgDecision;
use fp_rails::ingress::{IngressClient, IngressError, SubmitResult};
use serde::Serialize;

use super::error::WspError;
use super::framing::Framed;

/// Retry bounds (the reference defaults: 5 attempts, 250 ms base, 5 s cap).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per batch, the first included.
    pub max_attempts: u32,
    /// First backoff.
    pub base: Duration,
    /// Largest backoff.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `n + 1` after `n` failed attempts (without jitter).
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.base.saturating_mul(factor).min(self.cap)
    }
}

/// Verdicts of one output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// ADMIT.
    pub admitted: u64,
    /// DUPLICATE (replays after a resume land here).
    pub duplicates: u64,
    /// QUARANTINE.
    pub quarantined: u64,
    /// Quarantines by reason code.
    pub quarantine_reasons: BTreeMap<String, u64>,
    /// Batches or envelopes sent again.
    pub retries: u64,
}

impl Tally {
    fn record(&mut self, result: &SubmitResult) {
        let SubmitResult::Decided {
            decision, receipt, ..
        } = result
        else {
            return;
        };
        match decision {
            IgDecision::Admit => self.admitted += 1,
            IgDecision::Duplicate => self.duplicates += 1,
            IgDecision::Quarantine => {
                self.quarantined += 1;
                let reason = receipt
                    .reason_codes
                    .as_ref()
                    .and_then(|r| r.first())
                    .cloned()
                    .unwrap_or_else(|| "UNSPECIFIED".into());
                *self.quarantine_reasons.entry(reason).or_default() += 1;
            }
        }
    }

    /// Rows with a verdict.
    pub fn decided(&self) -> u64 {
        self.admitted + self.duplicates + self.quarantined
    }
}

/// Deliver one batch until every envelope has a verdict.
pub async fn deliver(
    client: &dyn IngressClient,
    policy: &RetryPolicy,
    output_id: &str,
    batch: &[Framed],
    tally: &mut Tally,
) -> Result<(), WspError> {
    let first_row = batch.first().map_or(0, |f| f.row);
    let mut pending: Vec<&Framed> = batch.iter().collect();
    let mut attempt = 0u32;
    let mut jitter = Jitter::seeded(first_row);
    loop {
        attempt += 1;
        let bytes = pending.iter().map(|f| f.bytes.clone()).collect();
        let (wait, last) = match client.submit_batch(bytes).await {
            Ok(results) => {
                if results.len() != pending.len() {
                    return Err(WspError::ResultCount {
                        sent: pending.len(),
                        got: results.len(),
                    });
                }
                let mut again = Vec::new();
                let mut last = String::new();
                for (f, r) in pending.iter().zip(&results) {
                    match r {
                        SubmitResult::Decided { .. } => tally.record(r),
                        SubmitResult::Retry { error, detail } => {
                            last = format!("{error}: {detail}");
                            again.push(*f);
                        }
                    }
                }
                if again.is_empty() {
                    return Ok(());
                }
                pending = again;
                (None, last)
            }
            Err(IngressError::Unavailable {
                detail,
                retry_after,
            }) => (retry_after, format!("ingress unavailable: {detail}")),
            Err(source) => {
                return Err(WspError::Rejected {
                    output_id: output_id.into(),
                    row: first_row,
                    source,
                });
            }
        };
        if attempt >= policy.max_attempts {
            return Err(WspError::RetryExhausted {
                output_id: output_id.into(),
                row: first_row,
                attempts: attempt,
                last,
            });
        }
        tally.retries += 1;
        let d = policy.backoff(attempt);
        let sleep = (d + jitter.upto(d)).max(wait.unwrap_or_default());
        tracing::warn!(
            output_id,
            row = first_row,
            attempt,
            ?sleep,
            "{last}; retrying"
        );
        tokio::time::sleep(sleep).await;
    }
}

/// Uniform jitter from a small splitmix64 stream: the spread matters, not its quality, and
/// pulling in a random-number crate for it would not pay.
struct Jitter(u64);

impl Jitter {
    fn seeded(salt: u64) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self(u64::from(nanos) ^ salt.rotate_left(17))
    }

    fn upto(&mut self, d: Duration) -> Duration {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        d.mul_f64((z >> 11) as f64 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let p = RetryPolicy::default();
        let got: Vec<_> = (1..=6).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(got, [250, 500, 1000, 2000, 4000, 5000]);
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        let mut j = Jitter::seeded(7);
        let d = Duration::from_millis(100);
        let draws: Vec<_> = (0..1000).map(|_| j.upto(d)).collect();
        assert!(draws.iter().all(|x| *x <= d));
        // Spread, not a constant.
        assert!(draws.iter().any(|x| *x < d / 4) && draws.iter().any(|x| *x > d * 3 / 4));
    }
}
