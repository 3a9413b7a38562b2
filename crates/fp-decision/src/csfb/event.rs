//! Context intake: a context envelope read into the one shape the store applies, or refused
//! with the contract's intake failure code (§12.3) and a detail naming the field.

use fp_rails::envelope::CanonicalEnvelope;
use fp_rails::{ContextPins, Hex64};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::entity::EntityKeys;

/// The engine output that carries arrivals (`arrival_events_5B`).
pub const ARRIVAL_EVENTS: &str = "arrival_events_5B";
/// The engine output that attaches entities to arrivals.
pub const ARRIVAL_ENTITIES: &str = "s1_arrival_entities_6B";
/// The post-overlay flow anchor (fraud-mode runs).
pub const FLOW_ANCHOR_FRAUD: &str = "s3_flow_anchor_with_fraud_6B";
/// The baseline flow anchor (baseline-mode runs).
pub const FLOW_ANCHOR_BASELINE: &str = "s2_flow_anchor_baseline_6B";

/// Which flow anchor is authoritative for a run: only it may create flow bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnchorMode {
    /// `s3_flow_anchor_with_fraud_6B`.
    Fraud,
    /// `s2_flow_anchor_baseline_6B`.
    Baseline,
}

impl AnchorMode {
    /// The anchor output of this mode.
    pub fn anchor_event_type(self) -> &'static str {
        match self {
            Self::Fraud => FLOW_ANCHOR_FRAUD,
            Self::Baseline => FLOW_ANCHOR_BASELINE,
        }
    }
}

/// The authoritative join key of a frame within one run: `(merchant_id, arrival_seq)`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(deny_unknown_fields)]
pub struct JoinFrameKey {
    /// `merchant_id`.
    pub merchant_id: u64,
    /// `arrival_seq`.
    pub arrival_seq: u64,
}

/// The part of a join frame a context event supplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextPart {
    /// `arrival_events_5B`.
    ArrivalEvent,
    /// `s1_arrival_entities_6B`.
    ArrivalEntities,
    /// The run mode's flow anchor.
    FlowAnchor,
}

impl ContextPart {
    /// The contract's event class (IG class map).
    pub fn event_class(self, mode: AnchorMode) -> &'static str {
        match (self, mode) {
            (Self::ArrivalEvent, _) => "context_arrival",
            (Self::ArrivalEntities, _) => "context_arrival_entities",
            (Self::FlowAnchor, AnchorMode::Fraud) => "context_flow_fraud",
            (Self::FlowAnchor, AnchorMode::Baseline) => "context_flow_baseline",
        }
    }
}

/// What the context event says beyond its join key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "part", rename_all = "snake_case")]
pub enum ContextBody {
    /// The arrival itself.
    ArrivalEvent,
    /// The entities attached to the arrival (`merchant` is the arrival's).
    ArrivalEntities {
        /// Party, account, instrument, device, IP (and the merchant).
        keys: EntityKeys,
        /// `session_id`.
        session_id: u64,
    },
    /// The flow of the arrival and its entities: creates the flow binding.
    FlowAnchor {
        /// `flow_id`.
        flow_id: u64,
        /// The flow's entities.
        keys: EntityKeys,
    },
}

/// One admitted context event, as the store applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEvent {
    /// `event_id` of the envelope.
    pub event_id: String,
    /// `ts_utc`, µs since the epoch.
    pub ts_us: i64,
    /// The envelope's `payload_hash` (same event id + another hash = an anomaly).
    pub payload_hash: Hex64,
    /// The frame it belongs to.
    pub key: JoinFrameKey,
    /// What it says.
    pub body: ContextBody,
}

impl ContextEvent {
    /// Which part of the frame this event supplies.
    pub fn part(&self) -> ContextPart {
        match self.body {
            ContextBody::ArrivalEvent => ContextPart::ArrivalEvent,
            ContextBody::ArrivalEntities { .. } => ContextPart::ArrivalEntities,
            ContextBody::FlowAnchor { .. } => ContextPart::FlowAnchor,
        }
    }
}

/// A context envelope the store refused at intake (the offset still advances; the loop records
/// the failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct IntakeFailure {
    /// `EVENT_CLASS_UNSUPPORTED`, `REQUIRED_PINS_MISSING`, `RUN_SCOPE_MISMATCH`,
    /// `PAYLOAD_INVALID`, `JOIN_KEY_MISSING`, `FLOW_ID_MISSING`.
    pub code: &'static str,
    /// What was wrong, naming the field.
    pub detail: String,
}

impl IntakeFailure {
    fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

fn id_field(p: &Map<String, Value>, name: &str, code: &'static str) -> Result<u64, IntakeFailure> {
    match p.get(name) {
        None | Some(Value::Null) => {
            Err(IntakeFailure::new(code, format!("payload has no `{name}`")))
        }
        Some(v) => v.as_u64().ok_or_else(|| {
            IntakeFailure::new(
                "PAYLOAD_INVALID",
                format!("payload `{name}` is not a non-negative integer"),
            )
        }),
    }
}

fn entity_keys(p: &Map<String, Value>, merchant_id: u64) -> Result<EntityKeys, IntakeFailure> {
    let f = |name| id_field(p, name, "PAYLOAD_INVALID");
    Ok(EntityKeys {
        party: f("party_id")?,
        account: f("account_id")?,
        instrument: f("instrument_id")?,
        device: f("device_id")?,
        ip: f("ip_id")?,
        merchant: merchant_id,
    })
}

impl ContextEvent {
    /// Read a context envelope of the run `pins` in `mode`. The other mode's anchor is
    /// `EVENT_CLASS_UNSUPPORTED`: only the run mode's anchor may bind flows.
    pub fn from_envelope(
        env: &CanonicalEnvelope,
        pins: &ContextPins,
        mode: AnchorMode,
    ) -> Result<Self, IntakeFailure> {
        let part = match env.event_type.as_str() {
            ARRIVAL_EVENTS => ContextPart::ArrivalEvent,
            ARRIVAL_ENTITIES => ContextPart::ArrivalEntities,
            t if t == mode.anchor_event_type() => ContextPart::FlowAnchor,
            other => {
                return Err(IntakeFailure::new(
                    "EVENT_CLASS_UNSUPPORTED",
                    format!(
                        "event_type `{other}` is not context of a {mode:?}-mode run (expected \
                         {ARRIVAL_EVENTS}, {ARRIVAL_ENTITIES} or {})",
                        mode.anchor_event_type()
                    ),
                ));
            }
        };
        let Some(env_pins) = env.context_pins() else {
            return Err(IntakeFailure::new(
                "REQUIRED_PINS_MISSING",
                "the envelope lacks one of platform_run_id, scenario_run_id, \
                 manifest_fingerprint, parameter_hash, scenario_id, seed",
            ));
        };
        if env_pins.platform_run_id != pins.platform_run_id
            || env_pins.scenario_run_id != pins.scenario_run_id
            || env_pins.manifest_fingerprint != pins.manifest_fingerprint
            || env_pins.parameter_hash != pins.parameter_hash
            || env_pins.scenario_id != pins.scenario_id
            || env_pins.seed != pins.seed
        {
            return Err(IntakeFailure::new(
                "RUN_SCOPE_MISMATCH",
                format!(
                    "envelope of run {}/{} fed to the context store of run {}/{}",
                    env_pins.platform_run_id,
                    env_pins.scenario_run_id,
                    pins.platform_run_id,
                    pins.scenario_run_id
                ),
            ));
        }
        let payload = env
            .payload
            .as_ref()
            .ok_or_else(|| IntakeFailure::new("PAYLOAD_INVALID", "envelope has no payload"))?;
        let key = JoinFrameKey {
            merchant_id: id_field(payload, "merchant_id", "JOIN_KEY_MISSING")?,
            arrival_seq: id_field(payload, "arrival_seq", "JOIN_KEY_MISSING")?,
        };
        let body = match part {
            ContextPart::ArrivalEvent => ContextBody::ArrivalEvent,
            ContextPart::ArrivalEntities => ContextBody::ArrivalEntities {
                keys: entity_keys(payload, key.merchant_id)?,
                session_id: id_field(payload, "session_id", "PAYLOAD_INVALID")?,
            },
            ContextPart::FlowAnchor => ContextBody::FlowAnchor {
                flow_id: id_field(payload, "flow_id", "FLOW_ID_MISSING")?,
                keys: entity_keys(payload, key.merchant_id)?,
            },
        };
        Ok(Self {
            event_id: env.event_id.clone(),
            ts_us: env.ts_utc.unix_micros(),
            payload_hash: env.payload_hash(),
            key,
            body,
        })
    }
}
