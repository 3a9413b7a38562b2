//! Context Store + FlowBinding (contracts §12.3).
//!
//! Traffic carries only its `flow_id`; the context topics carry the rest. The store keeps one
//! join frame per arrival `(merchant_id, arrival_seq)`, merged from `arrival_events_5B`,
//! `s1_arrival_entities_6B` and the run mode's flow anchor, and a binding `flow_id → frame`
//! that only the anchor creates. A traffic event asks [`ContextStore::resolve`] as of its
//! `ts_utc`: READY, MISSING_BINDING, MISSING_JOIN_FRAME or CONFLICT with reason codes. What is
//! not READY may wait in a [`JoinWait`] for up to the policy's budget of event time.
//!
//! Pure and deterministic like the feature plane: no I/O, no clock, hash maps never iterated
//! into an output (exports are in key order).

mod event;
mod policy;
mod store;
mod wait;

pub use event::{
    ARRIVAL_ENTITIES, ARRIVAL_EVENTS, AnchorMode, ContextBody, ContextEvent, ContextPart,
    FLOW_ANCHOR_BASELINE, FLOW_ANCHOR_FRAUD, IntakeFailure, JoinFrameKey,
};
pub use policy::{CSFB_POLICY_FILE, CsfbPolicy};
pub use store::{
    ContextApplied, ContextCounters, ContextOutcome, ContextRestoreError, ContextStateExport,
    ContextStore, FlowBinding, JoinAnswer, JoinFrame, JoinStatus, PartRef, reasons,
};
pub use wait::{JoinWait, JoinWaitExport, Parked};
