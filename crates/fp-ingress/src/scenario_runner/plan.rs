//! The run plan: what SR will require before READY (outputs, gates, policy), written once.

use fp_rails::hexid::Hex32;
use fp_rails::{Hex64, PolicyRev, TsUtc, ids};
use fp_world::gates::GATES;
use serde::{Deserialize, Serialize};

use super::request::RunRequest;

/// How the engine world is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Strategy {
    /// Reuse the run root when it exists, else invoke the engine (if allowed).
    Auto,
    /// Always invoke.
    ForceInvoke,
    /// Only reuse.
    ForceReuse,
}

/// The run plan (`sr/run_plan/{run_id}.json`, write-once). Needs a JSON Schema (`run_plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunPlan {
    /// SR run id.
    pub run_id: Hex32,
    /// `sha256(CJ-SR(plan without plan_hash))`.
    pub plan_hash: Hex64,
    /// SR policy (content digest required).
    pub policy_rev: PolicyRev,
    /// Engine strategy.
    pub strategy: Strategy,
    /// Outputs to locate.
    pub intended_outputs: Vec<String>,
    /// Gates to verify (the transitive closure).
    pub required_gates: Vec<String>,
    /// The evidence deadline (this increment does not wait: see `runner`).
    pub evidence_deadline_utc: TsUtc,
    /// Engine attempts allowed.
    pub attempt_limit: u32,
    /// When the plan was made.
    pub created_at_utc: TsUtc,
}

/// The gates a set of outputs needs: every catalogue output is authorised by the 5B or 6B
/// gate, and both close transitively over their upstream dependencies to all 10 gates
/// (engine_interface.md §6), so the closure is the whole gate map, in dependency order.
pub fn required_gates(_outputs: &[String]) -> Vec<String> {
    GATES.iter().map(|g| g.id.to_owned()).collect()
}

/// Build the plan of `request` at `now` and hash it.
pub fn build(
    request: &RunRequest,
    policy_rev: &PolicyRev,
    attempt_limit: u32,
    evidence_wait_seconds: u64,
    now: &TsUtc,
) -> RunPlan {
    let micros = i64::try_from(evidence_wait_seconds.saturating_mul(1_000_000)).unwrap_or(0);
    let deadline = TsUtc::from_unix_micros(now.unix_micros().saturating_add(micros))
        .unwrap_or_else(|_| now.clone());
    let outputs = request.intended_outputs();
    let mut plan = RunPlan {
        run_id: request.scenario_run_id(),
        plan_hash: Hex64::zero(),
        policy_rev: policy_rev.clone(),
        strategy: Strategy::Auto,
        required_gates: required_gates(&outputs),
        intended_outputs: outputs,
        evidence_deadline_utc: deadline,
        attempt_limit: attempt_limit.max(1),
        created_at_utc: now.clone(),
    };
    plan.plan_hash = plan_hash(&plan);
    plan
}

/// The plan's hash (over everything but `plan_hash`).
pub fn plan_hash(plan: &RunPlan) -> Hex64 {
    ids::sr_plan_hash(&serde_json::to_value(plan).unwrap_or_default())
}

/// Whether a stored plan is the plan of this request: same outputs, gates and policy (the
/// timestamps of a resumed run naturally differ).
pub fn same_intent(stored: &RunPlan, fresh: &RunPlan) -> bool {
    stored.run_id == fresh.run_id
        && stored.policy_rev == fresh.policy_rev
        && stored.intended_outputs == fresh.intended_outputs
        && stored.required_gates == fresh.required_gates
        && stored.plan_hash == plan_hash(stored)
}
