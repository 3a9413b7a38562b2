//! The Scenario Runner (SR, contracts §7): decides which world is admissible and says so once,
//! with evidence. Nothing downstream reads a world SR has not declared READY.
//!
//! One [`ScenarioRunner::run`] call walks the §7.3 state machine for one
//! `scenario_run_id`:
//!
//! 1. [`request`]: validate the [`RunRequest`]; `scenario_run_id = H32("sr_run|" + key)`;
//!    the equivalence registry ([`lease`]) refuses the same key with another intent;
//! 2. [`lease`]: one leader per run id (a SQL lease row, renewed while the leader works); a
//!    follower waits for the leader's terminal state and answers with it;
//! 3. [`plan`]: the write-once run plan (`PLAN_DRIFT` on different bytes);
//! 4. engine: reuse the run root on evidence, or invoke the stand-in generator when it does not
//!    exist and the request says "generate it"; never a scan for "latest";
//! 5. [`evidence`]: absent evidence is waited for (WAITING_EVIDENCE) until the plan's
//!    deadline, then `EVIDENCE_MISSING_DEADLINE`; run receipt identity, all 10 gates recomputed by `fp_world`'s verifier,
//!    every requested output located with its content digest and proven against its gate
//!    bundle's digest list; instance proof receipts written once to SR's prefix
//!    (`INSTANCE_RECEIPT_DRIFT` when a previous observation of the same instance differs);
//! 6. [`facts`]: the write-once run facts view (`FACTS_VIEW_DRIFT`);
//! 7. [`ready`]: the write-once READY signal (`READY_SIGNAL_DRIFT`) published on
//!    `fp.bus.control.v1` with `message_id = sha256("ready|P|S|bundle_hash")`.
//!
//! Every step appends to the run record and moves the run status ([`ledger`], [`state`]);
//! failures are terminal (`FAILED` or `QUARANTINED`) with a reason code and the evidence
//! that failed.

pub mod audit;
pub mod evidence;
pub mod facts;
pub mod lease;
pub mod ledger;
pub mod plan;
pub mod ready;
pub mod request;
mod runner;
pub mod state;

use thiserror::Error;

pub use fp_rails::contracts::scenario_runner::TrafficDeliveryMode;

pub use audit::{LedgerReport, SrSchemas, check_ledger};
pub use ledger::{RunRecordEvent, RunStatus};
pub use plan::{RunPlan, Strategy};
pub use ready::{ControlMessage, ReemitKind, ReemitOutcome, RunTerminalSignal};
pub use request::{RunRequest, TrafficMode};
pub use runner::{BusOpener, RunOutcome, ScenarioRunner, SrConfig, SrPolicy};
pub use state::{Reason, RunState};

/// How the WSP and IG share the traffic of a READY run: WSP pushes every traffic event to IG
/// and IG never pulls from the engine world, so a run is ingested exactly once. Stamped into
/// the facts view's `evidence_notes` (the reference's closed facts view has no field for it;
/// decision 0011) and read back with `RunFactsView::traffic_delivery_mode`.
pub const TRAFFIC_DELIVERY_MODE: TrafficDeliveryMode = TrafficDeliveryMode::WspPush;

/// What can stop the Scenario Runner from answering at all. A run that fails on evidence is
/// not an error: it is a [`RunOutcome`] in state `FAILED` or `QUARANTINED`.
#[derive(Debug, Error)]
pub enum SrError {
    /// The request is malformed; nothing was recorded.
    #[error("invalid run request ({code}): {detail}")]
    InvalidRequest {
        /// Reason code, e.g. `UNKNOWN_OUTPUT_ID`.
        code: &'static str,
        /// What to fix.
        detail: String,
    },
    /// The same `run_equivalence_key` was used before with a different intent.
    #[error(
        "EQUIV_KEY_COLLISION: run_equivalence_key `{key}` already names run {run_id} with another intent"
    )]
    EquivalenceKeyCollision {
        /// The key.
        key: String,
        /// The run it names.
        run_id: String,
    },
    /// No run with this id in this platform run.
    #[error("no Scenario Runner run `{0}` in this platform run")]
    UnknownRun(String),
    /// A re-emit that the run's state does not allow.
    #[error("REEMIT_NOT_APPLICABLE: run {run_id} is {state}; {detail}")]
    ReemitNotApplicable {
        /// Run.
        run_id: String,
        /// Its state.
        state: RunState,
        /// Why.
        detail: String,
    },
    /// This process's lease on the run was taken over (it could not renew it in time), so it
    /// stopped before writing anything further; the new leader finishes the run.
    #[error("run {run_id}: lease lost to another Scenario Runner; it finishes the run")]
    LeaseLost {
        /// Run.
        run_id: String,
    },
    /// The control bus could not be opened.
    #[error("cannot open the control bus: {0}")]
    ControlBus(String),
    /// Another leader holds the run and did not finish in time.
    #[error("run {run_id} is being executed by another Scenario Runner (lease held); retry later")]
    LeaseBusy {
        /// Run.
        run_id: String,
    },
    /// A state change the §7.3 machine forbids (e.g. out of READY).
    #[error("illegal run state transition {from} -> {to} for run {run_id}")]
    IllegalTransition {
        /// Run.
        run_id: String,
        /// Current state.
        from: RunState,
        /// Requested state.
        to: RunState,
    },
    /// A ledger document in the object store that SR cannot read back.
    #[error("corrupt ledger object `{path}`: {detail}")]
    CorruptLedger {
        /// Store path.
        path: String,
        /// Why.
        detail: String,
    },
    /// Object store failure.
    #[error(transparent)]
    Objects(#[from] fp_substrate::objects::ObjectError),
    /// SQL state failure.
    #[error(transparent)]
    Sql(#[from] fp_substrate::sql::SqlError),
    /// Control bus failure.
    #[error(transparent)]
    Bus(#[from] fp_bus::BusError),
    /// A bad store path built from ids.
    #[error(transparent)]
    Path(#[from] fp_substrate::objects::PathError),
    /// A blocking task died.
    #[error("internal error: {0}")]
    Internal(String),
}
