//! # fp-ingress
//!
//! Control and ingress, the platform's front half:
//! * [`scenario_runner`]: the readiness authority, which decides which world is admissible and
//!   says so once, with evidence, by publishing READY on the control bus;
//! * [`stream_producer`]: the World Stream Producer, replaying a READY world into the gate;
//! * [`ingestion_gate`]: the only door to the event bus.

pub mod scenario_runner;

pub use scenario_runner::{
    BusOpener, ReemitKind, ReemitOutcome, RunOutcome, RunRequest, RunState, ScenarioRunner,
    SrConfig, SrError, SrPolicy, TrafficMode,
};

pub mod ingestion_gate;

pub mod stream_producer;
