//! The run state machine (contracts §7.3) and the reason codes SR records.

use std::fmt;

use serde::{Deserialize, Serialize};

/// State of one scenario run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunState {
    /// Accepted, nothing planned yet.
    Open,
    /// The plan is committed.
    Planned,
    /// The engine (stand-in generator) is running.
    Executing,
    /// Declared by the contract, unused (as in the reference).
    Verifying,
    /// Evidence incomplete before the deadline.
    WaitingEvidence,
    /// Pinned, evidenced, joinable. Final.
    Ready,
    /// Evidence missing or invalid. Final.
    Failed,
    /// Evidence contradicts the request or an earlier observation. Final.
    Quarantined,
}

impl RunState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Planned => "PLANNED",
            Self::Executing => "EXECUTING",
            Self::Verifying => "VERIFYING",
            Self::WaitingEvidence => "WAITING_EVIDENCE",
            Self::Ready => "READY",
            Self::Failed => "FAILED",
            Self::Quarantined => "QUARANTINED",
        }
    }

    /// READY, FAILED and QUARANTINED never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Ready | Self::Failed | Self::Quarantined)
    }

    /// Whether `self -> to` is allowed (reference `ledger._allowed_transition`); a terminal
    /// state only "moves" to itself, which makes re-recording it idempotent.
    pub fn can_move_to(self, to: RunState) -> bool {
        use RunState::*;
        match self {
            Open => matches!(to, Open | Planned | Failed | Quarantined),
            Planned => matches!(
                to,
                Planned | Executing | WaitingEvidence | Ready | Failed | Quarantined
            ),
            Executing | Verifying => matches!(
                to,
                Executing | WaitingEvidence | Ready | Failed | Quarantined
            ),
            WaitingEvidence => matches!(to, WaitingEvidence | Ready | Failed | Quarantined),
            Ready | Failed | Quarantined => to == self,
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a run ended in FAILED or QUARANTINED: the terminal state, a stable reason code and
/// the evidence that failed (a path and a detail), all recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// `Failed` (evidence missing/unusable) or `Quarantined` (evidence conflicts).
    pub state: RunState,
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
            code,
            path: path.into(),
            detail: detail.into(),
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
    }
}
