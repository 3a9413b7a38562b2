//! Run scope: a world event is admitted only for a scenario run the Scenario Runner declared
//! READY, with the world pins of its facts view, for an output whose authorising gate PASSED
//! (no PASS, no read — enforced again at the door). Verdicts are cached: a READY run stays
//! READY, so positives are kept; negatives expire quickly so a run that becomes READY is
//! admitted moments later.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fp_rails::contracts::scenario_runner::{GateStatus, RunFactsView};
use fp_rails::envelope::CanonicalEnvelope;
use fp_rails::{Hex32, PlatformRunId};
use fp_substrate::objects::{ObjectError, Objects};
use fp_world::catalogue;

use super::error::{IgError, ReasonCode};
use crate::scenario_runner::{RunState, RunStatus};

/// How long a "not READY" verdict is reused before SR's documents are read again.
const NEGATIVE_TTL: Duration = Duration::from_millis(500);

/// A run-scope refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRefusal {
    /// `RUN_NOT_READY`, `RUN_SCOPE_MISMATCH` or `GATE_NOT_PASSED`.
    pub reason: ReasonCode,
    /// What differs, naming the document.
    pub detail: String,
}

#[derive(Debug, Clone)]
enum RunView {
    Ready(Arc<RunFactsView>),
    NotReady { detail: String, at: Instant },
}

/// Reads SR's status and facts view from the object store, with a cache.
#[derive(Debug)]
pub struct RunScope {
    objects: Objects,
    cache: Mutex<HashMap<(String, String), RunView>>,
}

impl RunScope {
    /// A scope checker over the platform object store.
    pub fn new(objects: Objects) -> Self {
        Self {
            objects,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Check one world envelope (its class pins were already checked, so both run ids are
    /// present; if not, it is refused as not ready).
    pub async fn check(&self, env: &CanonicalEnvelope) -> Result<Option<ScopeRefusal>, IgError> {
        let (Some(prid), Some(srid)) = (&env.platform_run_id, &env.scenario_run_id) else {
            return Ok(Some(ScopeRefusal {
                reason: ReasonCode::RunNotReady,
                detail: "platform_run_id and scenario_run_id are required for world events".into(),
            }));
        };
        let view = self.view(prid, srid).await?;
        let facts = match view {
            RunView::Ready(f) => f,
            RunView::NotReady { detail, .. } => {
                return Ok(Some(ScopeRefusal {
                    reason: ReasonCode::RunNotReady,
                    detail,
                }));
            }
        };
        Ok(compare(&facts, env))
    }

    async fn view(&self, prid: &PlatformRunId, srid: &Hex32) -> Result<RunView, IgError> {
        let key = (prid.as_str().to_owned(), srid.as_str().to_owned());
        if let Some(v) = self.cached(&key) {
            return Ok(v);
        }
        let view = self.load(prid, srid).await?;
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, view.clone());
        }
        Ok(view)
    }

    fn cached(&self, key: &(String, String)) -> Option<RunView> {
        let cache = self.cache.lock().ok()?;
        match cache.get(key)? {
            v @ RunView::Ready(_) => Some(v.clone()),
            v @ RunView::NotReady { at, .. } if at.elapsed() < NEGATIVE_TTL => Some(v.clone()),
            RunView::NotReady { .. } => None,
        }
    }

    async fn load(&self, prid: &PlatformRunId, srid: &Hex32) -> Result<RunView, IgError> {
        let prefix = self.objects.run_prefix(prid);
        let status_path = prefix.sr_run_status(srid);
        let not_ready = |detail: String| RunView::NotReady {
            detail,
            at: Instant::now(),
        };
        let bytes = match self.objects.get(&status_path).await {
            Ok(b) => b,
            Err(ObjectError::NotFound { .. }) => {
                return Ok(not_ready(format!(
                    "scenario run {srid} of platform run {prid} is unknown (no `{status_path}`)"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let status: RunStatus = serde_json::from_slice(&bytes).map_err(|e| IgError::Corrupt {
            what: "run status",
            at: status_path.clone(),
            detail: e.to_string(),
        })?;
        if status.state != RunState::Ready {
            return Ok(not_ready(format!(
                "scenario run {srid} is {} (`{status_path}`), not READY",
                status.state.as_str()
            )));
        }
        let facts_path = prefix.sr_run_facts_view(srid);
        let bytes = self.objects.get(&facts_path).await?;
        let facts: RunFactsView = serde_json::from_slice(&bytes).map_err(|e| IgError::Corrupt {
            what: "run facts view",
            at: facts_path.clone(),
            detail: e.to_string(),
        })?;
        Ok(RunView::Ready(Arc::new(facts)))
    }
}

fn compare(facts: &RunFactsView, env: &CanonicalEnvelope) -> Option<ScopeRefusal> {
    let pins = &facts.pins;
    let mismatch = |pin: &str, got: String, want: String| {
        Some(ScopeRefusal {
            reason: ReasonCode::RunScopeMismatch,
            detail: format!(
                "{pin} `{got}` differs from the READY run's `{want}` (run_facts_view of {})",
                facts.scenario_run_id
            ),
        })
    };
    if env.manifest_fingerprint != pins.manifest_fingerprint {
        return mismatch(
            "manifest_fingerprint",
            env.manifest_fingerprint.to_string(),
            pins.manifest_fingerprint.to_string(),
        );
    }
    if env.parameter_hash.as_ref() != Some(&pins.parameter_hash) {
        return mismatch(
            "parameter_hash",
            env.parameter_hash
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            pins.parameter_hash.to_string(),
        );
    }
    if env.seed != Some(pins.seed) {
        return mismatch(
            "seed",
            env.seed.map(|s| s.to_string()).unwrap_or_default(),
            pins.seed.to_string(),
        );
    }
    let scenario = env
        .scenario_id
        .as_ref()
        .map(|s| s.to_string())
        .unwrap_or_default();
    if scenario != pins.scenario_id {
        return mismatch("scenario_id", scenario, pins.scenario_id.clone());
    }
    if let Some(intended) = &facts.intended_outputs
        && !intended.iter().any(|o| o == &env.event_type)
    {
        return Some(ScopeRefusal {
            reason: ReasonCode::GateNotPassed,
            detail: format!(
                "output `{}` is not part of scenario run {} (intended: {})",
                env.event_type,
                facts.scenario_run_id,
                intended.join(", ")
            ),
        });
    }
    let Some(spec) = catalogue::output(&env.event_type) else {
        return Some(ScopeRefusal {
            reason: ReasonCode::GateNotPassed,
            detail: format!("`{}` is not an engine output", env.event_type),
        });
    };
    let passed = facts
        .gate_receipts
        .iter()
        .any(|g| g.gate_id == spec.gate && g.status == GateStatus::Pass);
    if !passed {
        return Some(ScopeRefusal {
            reason: ReasonCode::GateNotPassed,
            detail: format!(
                "gate `{}` authorising `{}` has no PASS in the facts view of scenario run {}",
                spec.gate, env.event_type, facts.scenario_run_id
            ),
        });
    }
    None
}
