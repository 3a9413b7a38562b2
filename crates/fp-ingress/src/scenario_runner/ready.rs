//! The control bus: READY and terminal signals wrapped as §7.4 control messages and published
//! on `fp.bus.control.v1` (not through IG; not a canonical envelope). Publishing is
//! at-least-once; consumers dedupe on `message_id`, which is a pure function of the run.

use std::sync::Arc;

use fp_bus::topics::CONTROL;
use fp_bus::{EventBus, OutRecord, TopicSpec};
use fp_rails::canonical::cj_sr;
use fp_rails::hexid::Hex32;
use fp_rails::{EbRef, Hex64, TsUtc, ids};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SrError;
use super::state::RunState;

/// Which signal(s) a re-emit publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReemitKind {
    /// READY only (run must be READY).
    ReadyOnly,
    /// The terminal status only (run must be FAILED or QUARANTINED).
    TerminalOnly,
    /// Whichever applies.
    Both,
}

/// Terminal signal of a FAILED or QUARANTINED run. Needs a JSON Schema
/// (`run_terminal_signal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunTerminalSignal {
    /// SR run id.
    pub run_id: Hex32,
    /// `FAILED` or `QUARANTINED`.
    pub status_state: RunState,
    /// The run status.
    pub status_ref: String,
    /// The run record.
    pub record_ref: String,
    /// `sha256("terminal|run_id|state|" + sha256(CJ-SR(run_status)))`.
    pub reemit_key: Hex64,
    /// Reason (at most 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// When emitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emitted_at_utc: Option<TsUtc>,
}

/// The §7.4 wrapper. Encoded as CJ-SR (sorted keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlMessage {
    /// Always `fp.bus.control.v1`.
    pub topic: String,
    /// Dedupe id (READY: the READY message id; terminal: the re-emit key).
    pub message_id: Hex64,
    /// Publish time (transport metadata: not part of the id).
    pub published_at_utc: TsUtc,
    /// `{kind: READY|READY_REEMIT|TERMINAL_REEMIT, run_id, state?}`.
    pub attributes: Value,
    /// The run id.
    pub partition_key: String,
    /// `RunReadySignal` or `RunTerminalSignal`.
    pub payload: Value,
}

/// What a re-emit published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReemitOutcome {
    /// Run.
    pub run_id: Hex32,
    /// Its state.
    pub state: RunState,
    /// `(kind, message_id, eb_ref)` of each message published.
    pub published: Vec<(String, Hex64, EbRef)>,
}

/// Create the control topic when it is absent (one partition: READY order is global).
pub async fn ensure_control_topic(bus: &Arc<dyn EventBus>) -> Result<(), SrError> {
    let topics = bus.topics().await?;
    if !topics.iter().any(|t| t.name == CONTROL) {
        bus.provision(&[TopicSpec::new(CONTROL, 1)]).await?;
    }
    Ok(())
}

/// Publish one control message for `run_id`; returns its `eb_ref`.
pub async fn publish(
    bus: &Arc<dyn EventBus>,
    run_id: &Hex32,
    kind: &str,
    state: Option<RunState>,
    message_id: &Hex64,
    payload: Value,
) -> Result<EbRef, SrError> {
    let mut attributes = json!({"kind": kind, "run_id": run_id.as_str()});
    if let (Some(s), Some(map)) = (state, attributes.as_object_mut()) {
        map.insert("state".into(), Value::String(s.as_str().to_owned()));
    }
    let message = ControlMessage {
        topic: CONTROL.to_owned(),
        message_id: message_id.clone(),
        published_at_utc: TsUtc::now(),
        attributes,
        partition_key: run_id.to_string(),
        payload,
    };
    let value = serde_json::to_value(&message)
        .map_err(|e| SrError::Internal(format!("encode control message: {e}")))?;
    let key = ids::partition_key(&Value::String(run_id.to_string()));
    let eb_ref = bus
        .publish(CONTROL, OutRecord::new(key, cj_sr(&value).into_bytes()))
        .await?;
    Ok(eb_ref)
}
