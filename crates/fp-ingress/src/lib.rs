//! # fp-ingress
//!
//! Control and ingress (issue #5 onwards). This increment holds the Scenario Runner
//! ([`scenario_runner`]): the one component that decides which world is admissible and says
//! so once, with evidence, by publishing READY on the control bus.

pub mod scenario_runner;

pub use scenario_runner::{
    ReemitKind, ReemitOutcome, RunOutcome, RunRequest, RunState, ScenarioRunner, SrConfig, SrError,
    SrPolicy, TrafficMode,
};

pub mod ingestion_gate;
