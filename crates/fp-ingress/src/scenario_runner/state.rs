//! The run state machine (contracts §7.3; the state type and its transitions are the wire
//! contract's, in `fp_rails`) and the reason codes SR records.

pub use fp_rails::contracts::scenario_runner::RunState;

/// Why a run ended in FAILED or QUARANTINED: the terminal state, a stable reason code and
/// the evidence that failed (a path and a detail), all recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// `Failed` (evidence missing/unusable) or `Quarantined` (evidence conflicts).
    pub state: RunState,
    /// True when the evidence is only absent (a file not there yet): SR waits for it until the
    /// plan's deadline (WAITING_EVIDENCE) instead of failing at once. Evidence that is present
    /// but wrong is never waitable.
    pub absent: bool,
    /// Stable code (see the constants below).
    pub code: &'static str,
    /// The file or object at fault.
    pub path: String,
    /// What is wrong with it.
    pub detail: String,
}

impl Reason {
    /// A FAILED reason.
    pub fn failed(code: &'static str, path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            state: RunState::Failed,
            absent: false,
            code,
            path: path.into(),
            detail: detail.into(),
        }
    }

    /// Evidence that is absent (waitable until the deadline, then FAILED).
    pub fn absent(code: &'static str, path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            absent: true,
            ..Self::failed(code, path, detail)
        }
    }

    /// A QUARANTINED reason.
    pub fn quarantined(
        code: &'static str,
        path: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            state: RunState::Quarantined,
            absent: false,
            code,
            path: path.into(),
            detail: detail.into(),
        }
    }
}

/// The run root does not exist and the request did not ask to generate it.
pub const ENGINE_RUN_ROOT_MISSING: &str = "ENGINE_RUN_ROOT_MISSING";
/// The stand-in generator failed.
pub const ENGINE_INVOCATION_FAILED: &str = "ENGINE_INVOCATION_FAILED";
/// The "generate it" config names another world than the request.
pub const ENGINE_INVOCATION_INVALID: &str = "ENGINE_INVOCATION_INVALID";
/// `run_receipt.json` is absent.
pub const RUN_RECEIPT_MISSING: &str = "RUN_RECEIPT_MISSING";
/// `run_receipt.json` is unreadable or malformed.
pub const RUN_RECEIPT_INVALID: &str = "RUN_RECEIPT_INVALID";
/// The run receipt's world identity disagrees with the request.
pub const RECEIPT_IDENTITY_MISMATCH: &str = "RECEIPT_IDENTITY_MISMATCH";
/// A gate's bundle, index, member or `_passed.flag` is missing.
pub const GATE_EVIDENCE_MISSING: &str = "GATE_EVIDENCE_MISSING";
/// A gate's recomputed digest disagrees with its flag, or the flag is malformed.
pub const GATE_DIGEST_MISMATCH: &str = "GATE_DIGEST_MISMATCH";
/// A requested output's file is absent.
pub const OUTPUT_MISSING: &str = "OUTPUT_MISSING";
/// A requested output's file is not listed in its gate bundle.
pub const OUTPUT_NOT_IN_BUNDLE: &str = "OUTPUT_NOT_IN_BUNDLE";
/// A requested output's bytes disagree with the digest its gate bundle lists.
pub const OUTPUT_DIGEST_MISMATCH: &str = "OUTPUT_DIGEST_MISMATCH";
/// An instance proof receipt already stored for the same output instance differs.
pub const INSTANCE_RECEIPT_DRIFT: &str = "INSTANCE_RECEIPT_DRIFT";
/// The stored run plan differs from the plan of this request.
pub const PLAN_DRIFT: &str = "PLAN_DRIFT";
/// The stored facts view differs from the one this evidence yields.
pub const FACTS_VIEW_DRIFT: &str = "FACTS_VIEW_DRIFT";
/// The stored READY signal differs from the one this evidence yields.
pub const READY_SIGNAL_DRIFT: &str = "READY_SIGNAL_DRIFT";
/// Evidence was still absent at the plan's `evidence_deadline_utc`.
pub const EVIDENCE_MISSING_DEADLINE: &str = "EVIDENCE_MISSING_DEADLINE";
/// FORCE_REUSE was requested but the run root does not exist.
pub const FORCE_REUSE_ROOT_MISSING: &str = "FORCE_REUSE_ROOT_MISSING";
/// FORCE_INVOKE was requested but a world already exists at the run root (never overwritten).
pub const FORCE_INVOKE_ROOT_EXISTS: &str = "FORCE_INVOKE_ROOT_EXISTS";

#[cfg(test)]
mod tests {
    use super::RunState::*;

    #[test]
    fn ready_is_final() {
        assert!(Ready.can_move_to(Ready));
        assert!(!Ready.can_move_to(Failed));
        assert!(!Failed.can_move_to(Ready));
        assert!(Open.can_move_to(Planned));
        assert!(!Open.can_move_to(Ready));
        assert!(Planned.can_move_to(Ready));
        assert!(Planned.can_move_to(WaitingEvidence));
        assert!(WaitingEvidence.can_move_to(WaitingEvidence));
        assert!(WaitingEvidence.can_move_to(Ready));
        assert!(WaitingEvidence.can_move_to(Failed));
        assert!(!WaitingEvidence.can_move_to(Planned));
    }
}
