//! READY consumption (contracts §9.1): read SR's READY messages from the control bus, dedupe
//! them on `message_id` (a re-emitted READY of a streamed run does not stream it again), load
//! the run's facts view by reference, check READY against it, plan and stream.

use std::sync::Arc;

use fp_bus::topics::CONTROL;
use fp_bus::{EventBus, ReadFrom};
use fp_rails::contracts::scenario_runner::{RunFactsView, RunReadySignal};
use fp_substrate::objects::Objects;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::checkpoint::ReadyStatus;
use super::error::WspError;
use super::plan::{ModeSelection, PlanChecks, StreamPlan};
use super::producer::{StreamReport, WorldStreamProducer};

/// Opens the store holding an engine run root named in a facts view: `(store, prefix)`.
pub type EngineRootResolver =
    Arc<dyn Fn(&str) -> Result<(Objects, String), WspError> + Send + Sync>;

/// The resolver of run roots that are local directories.
pub fn local_engine_roots() -> EngineRootResolver {
    Arc::new(|root: &str| {
        let objects = Objects::open(&fp_substrate::objects::ObjectStoreConfig::local(root))?;
        Ok((objects, String::new()))
    })
}

/// What the producer does with READY messages.
#[derive(Clone)]
pub struct ReadyConsumer {
    producer: WorldStreamProducer,
    platform_objects: Objects,
    resolver: EngineRootResolver,
    mode: ModeSelection,
    checks: PlanChecks,
    active_platform_run: Option<String>,
}

/// What became of one READY message.
#[derive(Debug, Clone, Serialize)]
pub struct ReadyOutcome {
    /// READY's message id.
    pub message_id: String,
    /// SR run.
    pub scenario_run_id: String,
    /// `STREAMED`, `SKIPPED_DUPLICATE`, `SKIPPED_OUT_OF_SCOPE` or `FAILED`.
    pub status: String,
    /// Why, when not streamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The stream, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<StreamReport>,
}

#[derive(Deserialize)]
struct Envelope {
    message_id: String,
    attributes: Value,
    payload: Value,
}

impl ReadyConsumer {
    /// A consumer streaming with `producer`; facts views are read from `platform_objects`.
    /// With `active_platform_run`, READY of other platform runs is skipped.
    pub fn new(
        producer: WorldStreamProducer,
        platform_objects: Objects,
        resolver: EngineRootResolver,
        mode: ModeSelection,
        checks: PlanChecks,
        active_platform_run: Option<String>,
    ) -> Self {
        Self {
            producer,
            platform_objects,
            resolver,
            mode,
            checks,
            active_platform_run,
        }
    }

    /// Handle every READY on the control bus not handled yet, in bus order.
    pub async fn drain(&self, bus: &Arc<dyn EventBus>) -> Result<Vec<ReadyOutcome>, WspError> {
        let mut out = Vec::new();
        // No control topic yet: nothing was ever made READY on this bus.
        if !bus.topics().await?.iter().any(|t| t.name == CONTROL) {
            return Ok(out);
        }
        let mut from = ReadFrom::Earliest;
        loop {
            let batch = bus.read(CONTROL, 0, &from, 500).await?;
            if batch.records.is_empty() {
                break;
            }
            for rec in &batch.records {
                let Ok(msg) = serde_json::from_slice::<Envelope>(&rec.value) else {
                    tracing::warn!(offset = %rec.offset, "control message is not JSON; skipped");
                    continue;
                };
                let kind = msg.attributes.get("kind").and_then(Value::as_str);
                if !matches!(kind, Some("READY" | "READY_REEMIT")) {
                    continue;
                }
                match serde_json::from_value::<RunReadySignal>(msg.payload) {
                    Ok(ready) => out.push(self.handle(&ready).await?),
                    Err(e) => {
                        tracing::warn!(message_id = msg.message_id, "READY payload invalid: {e}")
                    }
                }
            }
            from = batch.next.clone();
        }
        Ok(out)
    }

    /// Handle one READY: stream the run unless it was streamed already or is out of scope.
    /// A stream that fails is recorded `FAILED` with its reason and the error returned.
    pub async fn handle(&self, ready: &RunReadySignal) -> Result<ReadyOutcome, WspError> {
        let state = self.producer.state();
        let id = ready.message_id.to_string();
        let srid = ready.scenario_run_id.to_string();
        let prid = ready.platform_run_id.to_string();
        let outcome = |status: &str, reason: Option<String>, report| ReadyOutcome {
            message_id: id.clone(),
            scenario_run_id: srid.clone(),
            status: status.into(),
            reason,
            report,
        };
        match state.ready_status(&id).await? {
            Some(ReadyStatus::Streamed) | Some(ReadyStatus::SkippedOutOfScope) => {
                return Ok(outcome("SKIPPED_DUPLICATE", None, None));
            }
            _ => {}
        }
        if let Some(active) = &self.active_platform_run
            && *active != prid
        {
            let reason = format!("active platform run is {active}");
            state
                .set_ready_status(
                    &id,
                    &srid,
                    &prid,
                    ReadyStatus::SkippedOutOfScope,
                    Some(reason.clone()),
                )
                .await?;
            return Ok(outcome("SKIPPED_OUT_OF_SCOPE", Some(reason), None));
        }
        state
            .set_ready_status(&id, &srid, &prid, ReadyStatus::Streaming, None)
            .await?;
        match self.stream(ready).await {
            Ok(report) => {
                state
                    .set_ready_status(&id, &srid, &prid, ReadyStatus::Streamed, None)
                    .await?;
                Ok(outcome("STREAMED", None, Some(report)))
            }
            Err(e) => {
                state
                    .set_ready_status(&id, &srid, &prid, ReadyStatus::Failed, Some(e.to_string()))
                    .await?;
                Err(e)
            }
        }
    }

    async fn stream(&self, ready: &RunReadySignal) -> Result<StreamReport, WspError> {
        let facts = load_facts(&self.platform_objects, &ready.facts_view_ref).await?;
        check_against(ready, &facts)?;
        let root = facts
            .oracle_pack_ref
            .as_ref()
            .and_then(|r| r.engine_run_root.clone())
            .ok_or_else(|| WspError::FactsInvalid {
                path: ready.facts_view_ref.clone(),
                detail: "no oracle_pack_ref.engine_run_root: the world's location is unknown"
                    .into(),
            })?;
        let (objects, prefix) = (self.resolver)(&root)?;
        let plan = StreamPlan::derive(&facts, &self.mode, self.checks, objects, prefix).await?;
        self.producer.stream(&plan).await
    }
}

/// The facts view at `path` of the platform store.
pub async fn load_facts(objects: &Objects, path: &str) -> Result<RunFactsView, WspError> {
    let bytes = objects
        .get(path)
        .await
        .map_err(|e| WspError::FactsInvalid {
            path: path.into(),
            detail: e.to_string(),
        })?;
    serde_json::from_slice(&bytes).map_err(|e| WspError::FactsInvalid {
        path: path.into(),
        detail: e.to_string(),
    })
}

/// READY and the facts view must name the same run.
fn check_against(ready: &RunReadySignal, facts: &RunFactsView) -> Result<(), WspError> {
    if ready.platform_run_id != facts.platform_run_id {
        return Err(WspError::RunMismatch {
            code: "PLATFORM_RUN_ID_MISMATCH",
            ready: ready.platform_run_id.to_string(),
            facts: facts.platform_run_id.to_string(),
        });
    }
    if ready.scenario_run_id != facts.scenario_run_id {
        return Err(WspError::RunMismatch {
            code: "SCENARIO_RUN_ID_MISMATCH",
            ready: ready.scenario_run_id.to_string(),
            facts: facts.scenario_run_id.to_string(),
        });
    }
    Ok(())
}
