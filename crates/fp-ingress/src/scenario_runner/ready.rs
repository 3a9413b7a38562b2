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
use serde_json::Value;

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

pub use fp_rails::contracts::scenario_runner::{
    ControlAttributes, ControlKind, ControlMessage, RunTerminalSignal,
};

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
pub async fn publish<T: Serialize>(
    bus: &Arc<dyn EventBus>,
    run_id: &Hex32,
    kind: ControlKind,
    state: Option<RunState>,
    message_id: &Hex64,
    payload: &T,
) -> Result<EbRef, SrError> {
    let payload = match serde_json::to_value(payload) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(SrError::Internal("control payload is not an object".into())),
        Err(e) => return Err(SrError::Internal(format!("encode control payload: {e}"))),
    };
    let message = ControlMessage {
        topic: CONTROL.to_owned(),
        message_id: message_id.clone(),
        published_at_utc: TsUtc::now(),
        attributes: ControlAttributes {
            kind,
            run_id: run_id.clone(),
            state,
        },
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
