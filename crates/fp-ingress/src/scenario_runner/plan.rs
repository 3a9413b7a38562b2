//! The run plan: what SR will require before READY (outputs, gates, policy), written once.

use fp_rails::{Hex64, PolicyRev, TsUtc, ids};
use fp_world::gates::GATES;

use super::request::RunRequest;

pub use fp_rails::contracts::scenario_runner::{RunPlan, Strategy};

/// The gates a set of outputs needs: every catalogue output is authorised by the 5B or 6B
/// gate, and both close transitively over their upstream dependencies to all 10 gates
/// (engine_interface.md §6), so the closure is the whole gate map, in dependency order.
pub fn required_gates(_outputs: &[String]) -> Vec<String> {
    GATES.iter().map(|g| g.id.to_owned()).collect()
}

/// The strategy of a request: the requested one, AUTO when none.
pub fn strategy(request: &RunRequest) -> Strategy {
    request.requested_strategy.unwrap_or(Strategy::Auto)
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
    let outputs = super::request::intended_outputs(request);
    let mut plan = RunPlan {
        run_id: request.scenario_run_id(),
        plan_hash: Hex64::zero(),
        policy_rev: policy_rev.clone(),
        strategy: strategy(request),
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
        && stored.strategy == fresh.strategy
        && stored.intended_outputs == fresh.intended_outputs
        && stored.required_gates == fresh.required_gates
        && stored.plan_hash == plan_hash(stored)
}
