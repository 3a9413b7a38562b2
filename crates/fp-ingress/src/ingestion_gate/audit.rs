//! IG audit events (contracts §10.7): facts about the gate itself — a policy activation, a
//! quarantine spike — published straight to `fp.bus.audit.v1`. They bypass admission on
//! purpose (the gate cannot admit its own audit without recursing) and are best-effort: a
//! failed publish is logged and never fails or delays an admission, because the verdicts
//! they describe are already durable in the index.
//!
//! Envelope as the reference writes it: `event_id = sha256("{event_type}:{ts}:{CJ(payload)}")`,
//! `manifest_fingerprint = 0*64`, `ts_utc` = the moment of the fact (these events are not
//! world events, so they are not deterministic — their time is their content).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fp_bus::{EventBus, OutRecord, topics};
use fp_rails::{PolicyRev, TsUtc};
use serde_json::{Value, json};

/// The topic audit events go to.
pub const AUDIT_TOPIC: &str = topics::AUDIT;
/// Event type of a policy activation.
pub const POLICY_ACTIVATION: &str = "ig.policy.activation";
/// Event type of a quarantine spike.
pub const QUARANTINE_SPIKE: &str = "ig.quarantine.spike";

/// When a run of quarantines is a spike (the reference's defaults: 25 within 60 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpikePolicy {
    /// Quarantines within one window that make a spike.
    pub threshold: u64,
    /// The window.
    pub window: Duration,
}

impl Default for SpikePolicy {
    fn default() -> Self {
        Self {
            threshold: 25,
            window: Duration::from_secs(60),
        }
    }
}

/// Counting window of quarantines: opens at the first quarantine after the previous window
/// closed, so a spike is reported at most once per window.
#[derive(Debug, Default)]
struct SpikeWindow {
    opened: Option<Instant>,
    count: u64,
    reported: bool,
}

impl SpikeWindow {
    /// Count `n` quarantines at `now`; the window's count when this makes it a spike.
    fn count(&mut self, n: u64, now: Instant, policy: SpikePolicy) -> Option<u64> {
        if n == 0 {
            return None;
        }
        let expired = self
            .opened
            .is_none_or(|opened| now.duration_since(opened) >= policy.window);
        if expired {
            *self = Self {
                opened: Some(now),
                count: 0,
                reported: false,
            };
        }
        self.count += n;
        if !self.reported && self.count >= policy.threshold {
            self.reported = true;
            return Some(self.count);
        }
        None
    }
}

/// Publisher of the gate's audit events.
#[derive(Clone)]
pub struct IgAudit {
    bus: Arc<dyn EventBus>,
    policy_id: String,
    spike_policy: SpikePolicy,
    spike: Arc<Mutex<SpikeWindow>>,
}

impl std::fmt::Debug for IgAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IgAudit")
            .field("policy_id", &self.policy_id)
            .field("spike_policy", &self.spike_policy)
            .finish()
    }
}

impl IgAudit {
    /// Audit events of a gate running `policy_id`, publishing on `bus`.
    pub fn new(bus: Arc<dyn EventBus>, policy_id: &str, spike_policy: SpikePolicy) -> Self {
        Self {
            bus,
            policy_id: policy_id.to_owned(),
            spike_policy,
            spike: Arc::new(Mutex::new(SpikeWindow::default())),
        }
    }

    /// The gate became active with `rev` (a digest different from the recorded one).
    pub async fn policy_activated(&self, rev: &PolicyRev, at: &TsUtc) {
        let Some(digest) = rev.content_digest.as_ref() else {
            // The schema requires the digest; a policy without one is refused at boot, so
            // this only guards the contract.
            tracing::warn!("policy activation without a content digest: not audited");
            return;
        };
        let payload = json!({
            "policy_id": rev.policy_id,
            "revision": rev.revision,
            "content_digest": digest.as_str(),
            "activated_at_utc": at.as_str(),
        });
        self.publish(POLICY_ACTIVATION, at, payload).await;
    }

    /// `n` submissions were just quarantined; publishes a spike when the window crosses the
    /// threshold (once per window).
    pub async fn quarantined(&self, n: u64) {
        if n == 0 {
            return;
        }
        let spike = {
            // A poisoned lock only means another admission panicked mid-count: keep counting.
            let mut w = self.spike.lock().unwrap_or_else(|p| p.into_inner());
            w.count(n, Instant::now(), self.spike_policy)
        };
        if let Some(count) = spike {
            let at = TsUtc::now();
            let payload = json!({
                "policy_id": self.policy_id,
                "quarantine_count": count,
                "window_seconds": self.spike_policy.window.as_secs().max(1),
                "detected_at_utc": at.as_str(),
            });
            self.publish(QUARANTINE_SPIKE, &at, payload).await;
        }
    }

    async fn publish(&self, event_type: &str, ts: &TsUtc, payload: Value) {
        let envelope = audit_envelope(event_type, ts, payload);
        let key = fp_rails::ids::partition_key(&json!(event_type));
        let bytes = match serde_json::to_vec(&envelope) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(event_type, error = %e, "audit event not serialisable");
                return;
            }
        };
        match self
            .bus
            .publish_batch(topics::AUDIT, vec![OutRecord::new(key, bytes)])
            .await
        {
            Ok(_) => tracing::info!(event_type, "ig audit event published"),
            Err(e) => tracing::warn!(event_type, error = %e, "ig audit event not published"),
        }
    }
}

/// The reference's audit envelope.
pub fn audit_envelope(event_type: &str, ts: &TsUtc, payload: Value) -> Value {
    let event_id = fp_rails::digest::sha256_hex(format!(
        "{event_type}:{}:{}",
        ts.as_str(),
        fp_rails::canonical::cj(&payload)
    ));
    json!({
        "event_id": event_id,
        "event_type": event_type,
        "ts_utc": ts.as_str(),
        "manifest_fingerprint": "0".repeat(64),
        "payload": payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_is_reported_once_per_window() {
        let policy = SpikePolicy {
            threshold: 5,
            window: Duration::from_secs(60),
        };
        let mut w = SpikeWindow::default();
        let t0 = Instant::now();
        assert_eq!(w.count(4, t0, policy), None);
        assert_eq!(w.count(1, t0 + Duration::from_secs(1), policy), Some(5));
        // Still the same window: no second report however many follow.
        assert_eq!(w.count(50, t0 + Duration::from_secs(59), policy), None);
        // A new window counts from zero.
        assert_eq!(w.count(4, t0 + Duration::from_secs(61), policy), None);
        assert_eq!(w.count(3, t0 + Duration::from_secs(62), policy), Some(7));
    }

    #[test]
    fn quarantines_spread_over_windows_are_no_spike() {
        let policy = SpikePolicy {
            threshold: 5,
            window: Duration::from_secs(10),
        };
        let mut w = SpikeWindow::default();
        let t0 = Instant::now();
        for i in 0..20u64 {
            assert_eq!(w.count(2, t0 + Duration::from_secs(i * 6), policy), None);
        }
    }
}
