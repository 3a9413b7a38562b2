//! The context store of one run: join frames keyed by `(merchant_id, arrival_seq)`, flow
//! bindings `flow_id → frame` created only by the run mode's flow anchor, and the join answer a
//! traffic event needs (§12.3).
//!
//! Applied in canonical order by the consumer loop; late context (older than the store's
//! watermark) is applied and counted `LATE_CONTEXT_EVENT`. Nothing is ever replaced: the same
//! part with another payload hash is a `PAYLOAD_HASH_MISMATCH`, a second binding for a flow or a
//! second flow for a frame is a `FLOW_BINDING_JOIN_KEY_CONFLICT`; both are anomalies the loop
//! records, and a conflicted binding answers `CONFLICT` from then on (DF must not decide on a
//! binding the context contradicts).

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use fp_rails::{ContextPins, Hex64};
use serde::{Deserialize, Serialize};

use super::event::{AnchorMode, ContextBody, ContextEvent, ContextPart, JoinFrameKey};
use super::policy::CsfbPolicy;
use crate::entity::EntityKeys;
use crate::fasthash::{IdHasher, IdMap};

/// Event time between two retention sweeps.
const SWEEP_EVERY_US: i64 = 3_600 * 1_000_000;

/// The context event that supplied a part of a frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartRef {
    /// Its `event_id`.
    pub event_id: Box<str>,
    /// Its `payload_hash`.
    pub payload_hash: Hex64,
    /// Its `ts_utc` (µs).
    pub ts_us: i64,
}

/// One arrival's context, merged from the events that name its key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinFrame {
    /// `arrival_events_5B`.
    pub arrival_event: Option<PartRef>,
    /// `s1_arrival_entities_6B`.
    pub arrival_entities: Option<PartRef>,
    /// Entities and session attached to the arrival.
    pub entities: Option<(EntityKeys, u64)>,
    /// The flow anchor.
    pub flow_anchor: Option<PartRef>,
    /// The flow bound to this frame.
    pub flow_id: Option<u64>,
    /// Latest `ts_utc` of its context (retention).
    pub last_ts_us: i64,
}

/// `flow_id → frame`, created by the run mode's flow anchor only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowBinding {
    /// `flow_id`.
    pub flow_id: u64,
    /// The frame.
    pub key: JoinFrameKey,
    /// The flow's entities, from the anchor (the feature keys of its traffic).
    pub keys: EntityKeys,
    /// The anchor's `event_id`.
    pub source_event_id: Box<str>,
    /// The anchor's `payload_hash`.
    pub payload_hash: Hex64,
    /// The anchor's `ts_utc` (µs): the binding does not exist before it.
    pub ts_us: i64,
    /// Context contradicting this binding was seen (the anomaly is recorded once).
    pub conflicted: bool,
}

/// What applying one context event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContextOutcome {
    /// Merged into its frame (and, for the anchor, bound).
    Applied,
    /// The same part with the same payload hash: nothing to do.
    Duplicate,
    /// The same part with another payload hash: an anomaly, not applied.
    PayloadHashMismatch,
    /// An anchor contradicting an existing binding: an anomaly, not applied.
    FlowBindingJoinKeyConflict,
}

impl ContextOutcome {
    /// Whether the outcome is an anomaly the loop must record.
    pub fn is_anomaly(self) -> bool {
        matches!(
            self,
            Self::PayloadHashMismatch | Self::FlowBindingJoinKeyConflict
        )
    }
}

/// The result of one apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextApplied {
    /// What happened.
    pub outcome: ContextOutcome,
    /// Older than the store's watermark (`LATE_CONTEXT_EVENT`; applied all the same).
    pub late: bool,
    /// The flow whose join answer may have changed (traffic waiting for it can be retried).
    pub flow_id: Option<u64>,
}

/// Counters (exported with the state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextCounters {
    /// Applied.
    pub applied: u64,
    /// Applied although late.
    pub late: u64,
    /// Duplicates.
    pub duplicates: u64,
    /// Payload hash mismatches.
    pub payload_hash_mismatches: u64,
    /// Binding conflicts.
    pub binding_conflicts: u64,
    /// Frames dropped by retention.
    pub frames_expired: u64,
}

/// The join status of a traffic event (§12.3 QueryResponse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JoinStatus {
    /// Bound, arrival present.
    Ready,
    /// No binding for the flow (as of the event).
    MissingBinding,
    /// Bound, but the frame lacks its arrival (as of the event).
    MissingJoinFrame,
    /// The binding is contradicted by other context.
    Conflict,
}

/// Reason codes of a join answer.
pub mod reasons {
    /// No anchor bound this flow.
    pub const FLOW_BINDING_NOT_FOUND: &str = "FLOW_BINDING_NOT_FOUND";
    /// The anchor is later than the event (never read ahead of the event).
    pub const FLOW_BINDING_AFTER_AS_OF: &str = "FLOW_BINDING_AFTER_AS_OF";
    /// The bound frame is gone (retention).
    pub const JOIN_FRAME_NOT_FOUND: &str = "JOIN_FRAME_NOT_FOUND";
    /// The bound frame has no arrival event as of the event.
    pub const JOIN_FRAME_INCOMPLETE: &str = "JOIN_FRAME_INCOMPLETE";
    /// The arrival's entities have not arrived (never blocks: the anchor carries them).
    pub const ARRIVAL_ENTITIES_MISSING: &str = "ARRIVAL_ENTITIES_MISSING";
    /// Context contradicting the binding was seen.
    pub const FLOW_BINDING_JOIN_KEY_CONFLICT: &str = "FLOW_BINDING_JOIN_KEY_CONFLICT";
    /// The event waited its whole join-wait budget.
    pub const JOIN_WAIT_EXPIRED: &str = "JOIN_WAIT_EXPIRED";
}

/// The answer to "is the context of this traffic event complete?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JoinAnswer {
    /// Status.
    pub status: JoinStatus,
    /// Reason codes, sorted.
    pub reasons: Vec<&'static str>,
    /// The binding (when one exists as of the event).
    pub binding: Option<FlowBinding>,
}

impl JoinAnswer {
    /// The entity keys to read features for, when the binding is usable.
    pub fn keys(&self) -> Option<&EntityKeys> {
        match self.status {
            JoinStatus::Ready | JoinStatus::MissingJoinFrame => {
                self.binding.as_ref().map(|b| &b.keys)
            }
            JoinStatus::MissingBinding | JoinStatus::Conflict => None,
        }
    }
}

type FrameMap = HashMap<JoinFrameKey, JoinFrame, BuildHasherDefault<IdHasher>>;

/// The context state of one run.
#[derive(Debug, Clone)]
pub struct ContextStore {
    policy: Arc<CsfbPolicy>,
    pins: ContextPins,
    mode: AnchorMode,
    frames: FrameMap,
    bindings: IdMap<FlowBinding>,
    watermark_us: Option<i64>,
    next_sweep_us: i64,
    counters: ContextCounters,
}

/// Exported state, in key order: the same state exports to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextStateExport {
    /// Digest of the policy it was built under.
    pub policy_content_digest: Option<Hex64>,
    /// The run.
    pub pins: ContextPins,
    /// The run's anchor mode.
    pub mode: AnchorMode,
    /// Largest applied context `ts_utc`.
    pub watermark_us: Option<i64>,
    /// Next retention sweep.
    pub next_sweep_us: i64,
    /// Counters.
    pub counters: ContextCounters,
    /// Frames by key.
    pub frames: Vec<(JoinFrameKey, JoinFrame)>,
    /// Bindings by flow id.
    pub bindings: Vec<FlowBinding>,
}

/// Why an export could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("context state cannot be restored: {0}")]
pub struct ContextRestoreError(pub String);

impl ContextStore {
    /// Empty state for a run in `mode`.
    pub fn new(policy: Arc<CsfbPolicy>, pins: ContextPins, mode: AnchorMode) -> Self {
        Self {
            policy,
            pins,
            mode,
            frames: FrameMap::default(),
            bindings: IdMap::default(),
            watermark_us: None,
            next_sweep_us: i64::MIN,
            counters: ContextCounters::default(),
        }
    }

    /// The run's pins.
    pub fn pins(&self) -> &ContextPins {
        &self.pins
    }

    /// The run's anchor mode.
    pub fn mode(&self) -> AnchorMode {
        self.mode
    }

    /// The policy.
    pub fn policy(&self) -> &CsfbPolicy {
        &self.policy
    }

    /// Counters.
    pub fn counters(&self) -> ContextCounters {
        self.counters
    }

    /// Largest applied context time.
    pub fn watermark_us(&self) -> Option<i64> {
        self.watermark_us
    }

    /// Frames and bindings held.
    pub fn len(&self) -> (usize, usize) {
        (self.frames.len(), self.bindings.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The binding of a flow, if any (whatever its time).
    pub fn binding(&self, flow_id: u64) -> Option<&FlowBinding> {
        self.bindings.get(&flow_id)
    }

    /// The frame of a key, if any.
    pub fn frame(&self, key: &JoinFrameKey) -> Option<&JoinFrame> {
        self.frames.get(key)
    }

    /// Apply one context event.
    pub fn apply(&mut self, ev: &ContextEvent) -> ContextApplied {
        let late = self.watermark_us.is_some_and(|w| ev.ts_us < w);
        let (outcome, flow_id) = match ev.body {
            ContextBody::FlowAnchor { flow_id, keys } => {
                (self.bind(ev, flow_id, keys), Some(flow_id))
            }
            ContextBody::ArrivalEvent | ContextBody::ArrivalEntities { .. } => {
                let outcome = self.merge_part(ev);
                let flow = self.frames.get(&ev.key).and_then(|f| f.flow_id);
                (outcome, flow)
            }
        };
        match outcome {
            ContextOutcome::Applied => {
                self.counters.applied += 1;
                if late {
                    self.counters.late += 1;
                }
            }
            ContextOutcome::Duplicate => self.counters.duplicates += 1,
            ContextOutcome::PayloadHashMismatch => self.counters.payload_hash_mismatches += 1,
            ContextOutcome::FlowBindingJoinKeyConflict => self.counters.binding_conflicts += 1,
        }
        if outcome == ContextOutcome::Applied {
            let w = self.watermark_us.map_or(ev.ts_us, |w| w.max(ev.ts_us));
            self.watermark_us = Some(w);
            if w >= self.next_sweep_us {
                self.sweep(w);
                self.next_sweep_us = w.saturating_add(SWEEP_EVERY_US);
            }
        }
        ContextApplied {
            outcome,
            late: late && outcome == ContextOutcome::Applied,
            flow_id: if outcome == ContextOutcome::Applied {
                flow_id
            } else {
                None
            },
        }
    }

    fn part_ref(ev: &ContextEvent) -> PartRef {
        PartRef {
            event_id: ev.event_id.as_str().into(),
            payload_hash: ev.payload_hash.clone(),
            ts_us: ev.ts_us,
        }
    }

    /// Compare a part already held with a new event for it.
    fn same_part(held: &PartRef, ev: &ContextEvent) -> ContextOutcome {
        if held.payload_hash == ev.payload_hash {
            ContextOutcome::Duplicate
        } else {
            ContextOutcome::PayloadHashMismatch
        }
    }

    fn merge_part(&mut self, ev: &ContextEvent) -> ContextOutcome {
        let frame = self.frames.entry(ev.key).or_default();
        let slot = match ev.part() {
            ContextPart::ArrivalEvent => &mut frame.arrival_event,
            ContextPart::ArrivalEntities => &mut frame.arrival_entities,
            ContextPart::FlowAnchor => &mut frame.flow_anchor,
        };
        if let Some(held) = slot {
            return Self::same_part(held, ev);
        }
        *slot = Some(Self::part_ref(ev));
        if let ContextBody::ArrivalEntities { keys, session_id } = ev.body {
            frame.entities = Some((keys, session_id));
        }
        frame.last_ts_us = frame.last_ts_us.max(ev.ts_us);
        ContextOutcome::Applied
    }

    fn bind(&mut self, ev: &ContextEvent, flow_id: u64, keys: EntityKeys) -> ContextOutcome {
        if let Some(b) = self.bindings.get_mut(&flow_id) {
            if b.key == ev.key && b.payload_hash == ev.payload_hash {
                return ContextOutcome::Duplicate;
            }
            if b.key == ev.key && *b.source_event_id == *ev.event_id {
                return ContextOutcome::PayloadHashMismatch;
            }
            // Another frame (or another anchor) for a bound flow: never replaced.
            b.conflicted = true;
            return ContextOutcome::FlowBindingJoinKeyConflict;
        }
        if let Some(other) = self.frames.get(&ev.key).and_then(|f| f.flow_id) {
            // Another flow for a bound frame: never replaced.
            if let Some(b) = self.bindings.get_mut(&other) {
                b.conflicted = true;
            }
            return ContextOutcome::FlowBindingJoinKeyConflict;
        }
        let frame = self.frames.entry(ev.key).or_default();
        frame.flow_anchor = Some(Self::part_ref(ev));
        frame.flow_id = Some(flow_id);
        frame.last_ts_us = frame.last_ts_us.max(ev.ts_us);
        self.bindings.insert(
            flow_id,
            FlowBinding {
                flow_id,
                key: ev.key,
                keys,
                source_event_id: ev.event_id.as_str().into(),
                payload_hash: ev.payload_hash.clone(),
                ts_us: ev.ts_us,
                conflicted: false,
            },
        );
        ContextOutcome::Applied
    }

    /// The join answer for traffic of `flow_id` at `as_of_us` (its `ts_utc`). Context later than
    /// the event is never used: the answer is what was knowable at the event's time.
    pub fn resolve(&self, flow_id: u64, as_of_us: i64) -> JoinAnswer {
        let missing = |status, reason| JoinAnswer {
            status,
            reasons: vec![reason],
            binding: None,
        };
        let Some(binding) = self.bindings.get(&flow_id) else {
            return missing(JoinStatus::MissingBinding, reasons::FLOW_BINDING_NOT_FOUND);
        };
        if binding.ts_us > as_of_us {
            return missing(
                JoinStatus::MissingBinding,
                reasons::FLOW_BINDING_AFTER_AS_OF,
            );
        }
        let answer = |status, reasons| JoinAnswer {
            status,
            reasons,
            binding: Some(binding.clone()),
        };
        if binding.conflicted {
            return answer(
                JoinStatus::Conflict,
                vec![reasons::FLOW_BINDING_JOIN_KEY_CONFLICT],
            );
        }
        let Some(frame) = self.frames.get(&binding.key) else {
            return answer(
                JoinStatus::MissingJoinFrame,
                vec![reasons::JOIN_FRAME_NOT_FOUND],
            );
        };
        let known = |p: &Option<PartRef>| p.as_ref().is_some_and(|p| p.ts_us <= as_of_us);
        if !known(&frame.arrival_event) {
            return answer(
                JoinStatus::MissingJoinFrame,
                vec![reasons::JOIN_FRAME_INCOMPLETE],
            );
        }
        let reasons = if known(&frame.arrival_entities) {
            Vec::new()
        } else {
            vec![reasons::ARRIVAL_ENTITIES_MISSING]
        };
        answer(JoinStatus::Ready, reasons)
    }

    /// Drop frames (and their bindings) whose latest context is older than the retention.
    fn sweep(&mut self, watermark_us: i64) {
        let horizon = watermark_us.saturating_sub(self.policy.retention_us);
        let mut expired = 0u64;
        let bindings = &mut self.bindings;
        self.frames.retain(|_, f| {
            let keep = f.last_ts_us >= horizon;
            if !keep {
                expired += 1;
                if let Some(flow) = f.flow_id {
                    bindings.remove(&flow);
                }
            }
            keep
        });
        self.counters.frames_expired += expired;
    }

    /// Export the state (frames by key, bindings by flow id).
    pub fn export(&self) -> ContextStateExport {
        let frames: BTreeMap<JoinFrameKey, JoinFrame> =
            self.frames.iter().map(|(k, f)| (*k, f.clone())).collect();
        let bindings: BTreeMap<u64, FlowBinding> =
            self.bindings.iter().map(|(k, b)| (*k, b.clone())).collect();
        ContextStateExport {
            policy_content_digest: self.policy.policy_rev.content_digest.clone(),
            pins: self.pins.clone(),
            mode: self.mode,
            watermark_us: self.watermark_us,
            next_sweep_us: self.next_sweep_us,
            counters: self.counters,
            frames: frames.into_iter().collect(),
            bindings: bindings.into_values().collect(),
        }
    }

    /// Continue from an export taken under the same policy.
    pub fn restore(
        policy: Arc<CsfbPolicy>,
        export: ContextStateExport,
    ) -> Result<Self, ContextRestoreError> {
        if export.policy_content_digest != policy.policy_rev.content_digest {
            return Err(ContextRestoreError(
                "the export was taken under another CSFB policy (content digest differs)".into(),
            ));
        }
        let mut me = Self::new(policy, export.pins, export.mode);
        me.watermark_us = export.watermark_us;
        me.next_sweep_us = export.next_sweep_us;
        me.counters = export.counters;
        me.frames = export.frames.into_iter().collect();
        for b in export.bindings {
            if me.frames.get(&b.key).and_then(|f| f.flow_id) != Some(b.flow_id) {
                return Err(ContextRestoreError(format!(
                    "binding of flow {} names frame {:?}, which is not bound to it",
                    b.flow_id, b.key
                )));
            }
            me.bindings.insert(b.flow_id, b);
        }
        Ok(me)
    }
}
