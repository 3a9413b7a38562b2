//! [`ScenarioRunner`]: the orchestration of one run (see the module docs of
//! [`super`]), plus `status` and `reemit` for the CLI.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fp_bus::EventBus;
use fp_rails::contracts::Contract;
use fp_rails::contracts::scenario_runner::{
    ControlKind, RunFactsView, RunQuarantine, RunReadySignal, Strategy,
};
use fp_rails::hexid::Hex32;
use fp_rails::{Hex64, PlatformRunId, PolicyRev, TsUtc, ids};
use fp_substrate::objects::Objects;
use fp_substrate::sql::SqlStore;
use fp_world::GenerateOptions;
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::json;
use tokio::sync::OnceCell;

use super::SrError;
use super::evidence::{self, Evidence};
use super::facts::{self, FactsInput};
use super::lease;
use super::ledger::Ledger;
use super::plan::{self, RunPlan};
use super::ready::{self, ReemitKind, ReemitOutcome, RunTerminalSignal};
use super::request::{self, RunRequest};
use super::state::{self, Reason, RunState};

/// The SR policy (outcome-affecting; its digest is the run config digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrPolicy {
    /// `policy_rev` of the SR policy; `content_digest` is required.
    pub policy_rev: PolicyRev,
    /// Engine attempts per run.
    pub attempt_limit: u32,
    /// How long absent evidence is waited for (WAITING_EVIDENCE): the plan's
    /// `evidence_deadline_utc` is the plan time plus this.
    pub evidence_wait_seconds: u64,
    /// How often SR looks again for absent evidence while it waits.
    pub evidence_poll_interval: Duration,
}

impl SrPolicy {
    /// The reference defaults (`attempt_limit: 1`, `evidence_wait_seconds: 600`), polling
    /// every 5 s.
    pub fn new(policy_rev: PolicyRev) -> Self {
        Self {
            policy_rev,
            attempt_limit: 1,
            evidence_wait_seconds: 600,
            evidence_poll_interval: Duration::from_secs(5),
        }
    }
}

/// Wiring and policy of a Scenario Runner.
#[derive(Debug, Clone)]
pub struct SrConfig {
    /// The platform session every artifact is scoped to (its object-store prefix).
    pub platform_run_id: PlatformRunId,
    /// SR policy.
    pub policy: SrPolicy,
    /// Release stamped on the facts view and READY.
    pub service_release_id: Option<String>,
    /// Environment stamped on the facts view and READY.
    pub environment: Option<String>,
    /// How long a leader's claim on a run lasts without renewal: the leader renews it every
    /// third of this while it works, so only a crashed leader blocks its run, for this long.
    pub lease_ttl: Duration,
    /// How long a follower waits for the leader's terminal state.
    pub follower_wait: Duration,
}

impl SrConfig {
    /// Defaults: 15 min lease, 15 min follower wait, no release/environment.
    pub fn new(platform_run_id: PlatformRunId, policy: SrPolicy) -> Self {
        Self {
            platform_run_id,
            policy,
            service_release_id: None,
            environment: None,
            lease_ttl: Duration::from_secs(900),
            follower_wait: Duration::from_secs(900),
        }
    }
}

/// What a run request came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunOutcome {
    /// SR run id (= scenario_run_id).
    pub run_id: Hex32,
    /// Platform session.
    pub platform_run_id: PlatformRunId,
    /// Current state (terminal after `run`).
    pub state: RunState,
    /// Why FAILED/QUARANTINED.
    pub reason_code: Option<String>,
    /// Status document.
    pub status_ref: String,
    /// Run record.
    pub record_ref: String,
    /// Facts view (READY).
    pub facts_view_ref: Option<String>,
    /// READY message id (READY).
    pub ready_message_id: Option<Hex64>,
    /// Bundle hash (READY).
    pub bundle_hash: Option<Hex64>,
    /// True when this call led the run; false when it found it done or waited for a leader.
    pub led: bool,
}

/// Opens the control bus when SR first needs it (see [`ScenarioRunner::with_bus_opener`]).
pub type BusOpener =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Arc<dyn EventBus>, SrError>> + Send + Sync>;

/// The Scenario Runner: owns nothing but handles; cheap to share behind an `Arc`.
pub struct ScenarioRunner {
    objects: Objects,
    sql: SqlStore,
    bus: OnceCell<Arc<dyn EventBus>>,
    opener: Option<BusOpener>,
    config: SrConfig,
    owner_prefix: String,
    calls: AtomicU64,
}

impl std::fmt::Debug for ScenarioRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScenarioRunner")
            .field("config", &self.config)
            .field("owner_prefix", &self.owner_prefix)
            .finish_non_exhaustive()
    }
}

fn join_err(e: tokio::task::JoinError) -> SrError {
    SrError::Internal(format!("blocking task: {e}"))
}

impl ScenarioRunner {
    /// A runner over an object store, SQL state and the control bus. Applies SR's migrations
    /// and provisions `fp.bus.control.v1` if absent.
    pub async fn new(
        objects: Objects,
        sql: SqlStore,
        bus: Arc<dyn EventBus>,
        config: SrConfig,
    ) -> Result<Self, SrError> {
        ready::ensure_control_topic(&bus).await?;
        let runner = Self::build(objects, sql, OnceCell::new_with(Some(bus)), None, config).await?;
        Ok(runner)
    }

    /// A runner that opens the control bus only when it publishes. A process that finds the
    /// run led by another process never opens it, which matters for the embedded bus: one
    /// process at a time may hold it, and the leader holds it while it publishes READY.
    pub async fn with_bus_opener(
        objects: Objects,
        sql: SqlStore,
        opener: BusOpener,
        config: SrConfig,
    ) -> Result<Self, SrError> {
        Self::build(objects, sql, OnceCell::new(), Some(opener), config).await
    }

    async fn build(
        objects: Objects,
        sql: SqlStore,
        bus: OnceCell<Arc<dyn EventBus>>,
        opener: Option<BusOpener>,
        config: SrConfig,
    ) -> Result<Self, SrError> {
        if config.policy.policy_rev.content_digest.is_none() {
            return Err(SrError::InvalidRequest {
                code: "POLICY_INVALID",
                detail: "the SR policy_rev needs a content_digest (it is the run config digest)"
                    .into(),
            });
        }
        sql.migrate(lease::COMPONENT, lease::MIGRATIONS).await?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Ok(Self {
            objects,
            sql,
            bus,
            opener,
            config,
            owner_prefix: format!("sr-{}-{nanos}", std::process::id()),
            calls: AtomicU64::new(0),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SrConfig {
        &self.config
    }

    /// The control bus, opened (and its topic provisioned) on first use.
    async fn bus(&self) -> Result<&Arc<dyn EventBus>, SrError> {
        self.bus
            .get_or_try_init(|| async {
                let opener = self.opener.as_ref().ok_or_else(|| {
                    SrError::ControlBus("no control bus and no way to open one".into())
                })?;
                let bus = opener().await?;
                ready::ensure_control_topic(&bus).await?;
                Ok(bus)
            })
            .await
    }

    fn ledger(&self, run_id: &Hex32) -> Ledger {
        Ledger::new(
            self.objects.clone(),
            self.objects.run_prefix(&self.config.platform_run_id),
            run_id.clone(),
        )
    }

    /// Run `request` to a terminal state (or return the state it already reached).
    ///
    /// Idempotent: the same request again returns the same run, and a READY run publishes its
    /// READY once (a follower or a resubmit never publishes a second one). Concurrent
    /// requests for one run, in this process or others, elect one leader through the SQL
    /// lease (renewed while it works); the others wait for its terminal state and answer with
    /// it. Evidence that is only absent is waited for until the plan's deadline
    /// (WAITING_EVIDENCE); evidence that is present but wrong fails the run at once.
    pub async fn run(&self, request: &RunRequest) -> Result<RunOutcome, SrError> {
        request::validate(request)?;
        let run_id = request.scenario_run_id();
        let fingerprint = request::intent_fingerprint(request);
        let registered = lease::register_equivalence(
            &self.sql,
            &request.run_equivalence_key,
            run_id.as_str(),
            fingerprint.as_str(),
        )
        .await?;
        if registered != fingerprint.as_str() {
            return Err(SrError::EquivalenceKeyCollision {
                key: request.run_equivalence_key.clone(),
                run_id: run_id.to_string(),
            });
        }
        let ledger = self.ledger(&run_id);
        let owner = format!(
            "{}-{}",
            self.owner_prefix,
            self.calls.fetch_add(1, Ordering::Relaxed)
        );
        let deadline = Instant::now() + self.config.follower_wait;
        loop {
            if let Some(st) = ledger.status().await?
                && st.state.is_terminal()
                && (st.state != RunState::Ready || self.ready_published(&ledger).await?)
            {
                return self.outcome(&ledger, false).await;
            }
            if lease::try_acquire(&self.sql, run_id.as_str(), &owner, self.config.lease_ttl).await?
            {
                break;
            }
            if Instant::now() > deadline {
                return Err(SrError::LeaseBusy {
                    run_id: run_id.to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let keeper = lease::LeaseKeeper::start(
            self.sql.clone(),
            run_id.to_string(),
            owner.clone(),
            self.config.lease_ttl,
        );
        let result = self.lead(&ledger, &keeper, request, &fingerprint).await;
        drop(keeper);
        if let Err(e) = lease::release(&self.sql, run_id.as_str(), &owner).await {
            // The lease expires on its own; a failed release only delays a later leader.
            tracing::warn!(run_id = %run_id, error = %e, "could not release SR lease");
        }
        result
    }

    /// The status of a run, from the ledger.
    pub async fn status(&self, run_id: &Hex32) -> Result<RunOutcome, SrError> {
        self.outcome(&self.ledger(run_id), false).await
    }

    /// Re-publish READY (same `message_id`) or the terminal status from the ledger.
    pub async fn reemit(&self, run_id: &Hex32, kind: ReemitKind) -> Result<ReemitOutcome, SrError> {
        let ledger = self.ledger(run_id);
        let status = ledger
            .status()
            .await?
            .ok_or_else(|| SrError::UnknownRun(run_id.to_string()))?;
        let not_applicable = |detail: &str| SrError::ReemitNotApplicable {
            run_id: run_id.to_string(),
            state: status.state,
            detail: detail.to_owned(),
        };
        let mut published = Vec::new();
        match status.state {
            RunState::Ready if kind != ReemitKind::TerminalOnly => {
                let path = ledger.ready_signal_ref();
                let signal: RunReadySignal = ledger
                    .read_json(&path)
                    .await?
                    .ok_or_else(|| not_applicable("READY signal not written yet"))?;
                let eb_ref = ready::publish(
                    self.bus().await?,
                    run_id,
                    ControlKind::ReadyReemit,
                    None,
                    &signal.message_id,
                    &signal,
                )
                .await?;
                ledger
                    .record(
                        "REEMIT_PUBLISHED",
                        json!({"kind": "READY", "message_id": signal.message_id.as_str()}),
                    )
                    .await?;
                published.push(("READY_REEMIT".to_owned(), signal.message_id, eb_ref));
            }
            RunState::Failed | RunState::Quarantined if kind != ReemitKind::ReadyOnly => {
                let status_value = serde_json::to_value(&status).unwrap_or_default();
                let key = ids::terminal_reemit_key(run_id, status.state.as_str(), &status_value);
                let signal = RunTerminalSignal {
                    run_id: run_id.clone(),
                    status_state: status.state,
                    status_ref: ledger.status_ref(),
                    record_ref: ledger.record_ref(),
                    reemit_key: key.clone(),
                    reason_code: status.reason_code.clone(),
                    emitted_at_utc: Some(TsUtc::now()),
                };
                let eb_ref = ready::publish(
                    self.bus().await?,
                    run_id,
                    ControlKind::TerminalReemit,
                    Some(status.state),
                    &key,
                    &signal,
                )
                .await?;
                ledger
                    .record(
                        "REEMIT_PUBLISHED",
                        json!({"kind": "TERMINAL", "message_id": key.as_str()}),
                    )
                    .await?;
                published.push(("TERMINAL_REEMIT".to_owned(), key, eb_ref));
            }
            _ => {
                return Err(not_applicable(match kind {
                    ReemitKind::ReadyOnly => "READY re-emit needs state READY",
                    ReemitKind::TerminalOnly => "terminal re-emit needs FAILED or QUARANTINED",
                    ReemitKind::Both => "nothing to re-emit before a terminal state",
                }));
            }
        }
        Ok(ReemitOutcome {
            run_id: run_id.clone(),
            state: status.state,
            published,
        })
    }

    // ------------------------------------------------------------------------- the run

    async fn lead(
        &self,
        ledger: &Ledger,
        lease: &lease::LeaseKeeper,
        request: &RunRequest,
        fingerprint: &Hex64,
    ) -> Result<RunOutcome, SrError> {
        // Another leader may have finished while we waited for the lease.
        let current = ledger.status().await?;
        if let Some(st) = &current
            && st.state.is_terminal()
        {
            if st.state == RunState::Ready {
                self.publish_ready(ledger).await?;
            }
            return self.outcome(ledger, false).await;
        }
        ledger
            .record(
                "RUN_ACCEPTED",
                json!({"intent_fingerprint": fingerprint.as_str()}),
            )
            .await?;
        if current.is_none() {
            ledger.set_state(RunState::Open, None, None).await?;
        }

        // Plan (write-once; a resumed run keeps its stored plan if the intent is the same).
        let policy = &self.config.policy;
        let fresh = plan::build(
            request,
            &policy.policy_rev,
            policy.attempt_limit,
            policy.evidence_wait_seconds,
            &TsUtc::now(),
        );
        let plan_path = ledger.plan_ref();
        let plan: RunPlan = match ledger.read_json::<RunPlan>(&plan_path).await? {
            Some(stored) if plan::same_intent(&stored, &fresh) => stored,
            Some(_) => {
                let r = Reason::quarantined(
                    state::PLAN_DRIFT,
                    plan_path,
                    "stored plan differs from this request's plan",
                );
                return self.fail(ledger, lease, r).await;
            }
            None => match ledger.put_once_json(&plan_path, &fresh).await? {
                Ok(_) => fresh,
                Err(d) => {
                    let r = Reason::quarantined(
                        state::PLAN_DRIFT,
                        d.path,
                        "a different plan was written concurrently",
                    );
                    return self.fail(ledger, lease, r).await;
                }
            },
        };
        ledger
            .record(
                "PLAN_COMMITTED",
                json!({"plan_hash": plan.plan_hash.as_str()}),
            )
            .await?;
        // Governance facts (§7.2): which policy and which plan decide this run.
        ledger
            .record(
                "GOV_POLICY_REV",
                json!({"policy_rev": serde_json::to_value(&plan.policy_rev).unwrap_or_default()}),
            )
            .await?;
        ledger
            .record(
                "GOV_PLAN_HASH",
                json!({"plan_hash": plan.plan_hash.as_str()}),
            )
            .await?;
        self.advance(ledger, RunState::Planned).await?;

        // Engine: reuse on evidence, or "generate it", as the plan's strategy allows.
        let root = std::path::absolute(PathBuf::from(&request.engine_run_root))
            .unwrap_or_else(|_| PathBuf::from(&request.engine_run_root));
        if let Some(reason) = self.obtain_world(ledger, request, &plan, &root).await? {
            return self.fail(ledger, lease, reason).await;
        }

        // Evidence: absent evidence is waited for until the plan's deadline; anything present
        // but wrong fails at once.
        let evidence = match self
            .await_evidence(ledger, lease, request, &plan, &root)
            .await?
        {
            Ok(e) => e,
            Err(reason) => return self.fail(ledger, lease, reason).await,
        };
        let instance_receipts = match self
            .write_instance_receipts(ledger, request, &evidence)
            .await?
        {
            Ok(r) => r,
            Err(reason) => return self.fail(ledger, lease, reason).await,
        };
        ledger
            .record(
                "EVIDENCE_COMPLETE",
                json!({
                    "gates": evidence.gate_receipts.iter().map(|g| g.gate_id.clone()).collect::<Vec<_>>(),
                    "outputs": evidence.outputs.iter().map(|o| json!({
                        "output_id": o.output_id, "sha256": o.digest.hex.as_str()})).collect::<Vec<_>>(),
                }),
            )
            .await?;

        // Facts view, READY signal (both write-once), then READY, then the bus.
        let facts_view = facts::build(
            &FactsInput {
                platform_run_id: &self.config.platform_run_id,
                request,
                policy_rev: &policy.policy_rev,
                intended_outputs: &plan.intended_outputs,
                ledger,
                instance_receipts: &instance_receipts,
                service_release_id: self.config.service_release_id.as_deref(),
                environment: self.config.environment.as_deref(),
            },
            &evidence,
        );
        if let Err(e) = facts_view.validate() {
            let r = Reason::failed("FACTS_VIEW_INVALID", ledger.facts_view_ref(), e.to_string());
            return self.fail(ledger, lease, r).await;
        }
        if let Err(d) = ledger
            .put_once_json(&ledger.facts_view_ref(), &facts_view)
            .await?
        {
            let r = Reason::quarantined(
                state::FACTS_VIEW_DRIFT,
                d.path,
                "a different facts view is already stored for this run",
            );
            return self.fail(ledger, lease, r).await;
        }
        let signal = self.ready_signal(ledger, &facts_view, &plan);
        // Written before READY is declared so that a drift can still fail the run closed.
        if let Err(d) = ledger
            .put_once_json(&ledger.ready_signal_ref(), &signal)
            .await?
        {
            let r = Reason::quarantined(
                state::READY_SIGNAL_DRIFT,
                d.path,
                "a different READY signal is already stored for this run",
            );
            return self.fail(ledger, lease, r).await;
        }
        still_leader(ledger, lease)?;
        ledger
            .set_state(RunState::Ready, None, Some(ledger.facts_view_ref()))
            .await?;
        ledger
            .record(
                "READY_COMMITTED",
                json!({"bundle_hash": facts_view.bundle_hash.as_str()}),
            )
            .await?;
        ledger
            .record(
                "GOV_BUNDLE_HASH",
                json!({"bundle_hash": facts_view.bundle_hash.as_str()}),
            )
            .await?;
        still_leader(ledger, lease)?;
        self.publish_ready(ledger).await?;
        self.outcome(ledger, true).await
    }

    /// Move forward to `to` unless the run is already there or beyond (a resumed run).
    async fn advance(&self, ledger: &Ledger, to: RunState) -> Result<(), SrError> {
        let current = ledger.status().await?.map(|s| s.state);
        if current.is_none_or(|c| c != to && c.can_move_to(to) && !c.is_terminal()) {
            ledger.set_state(to, None, None).await?;
        }
        Ok(())
    }

    /// Get the world at `root` as the plan's strategy says; `Some(reason)` when the run must
    /// fail. AUTO reuses an existing root and invokes the generator for an absent one (if the
    /// request says "generate it"); FORCE_REUSE never invokes; FORCE_INVOKE never reuses and
    /// never overwrites: an existing root is only accepted when this run's own earlier
    /// attempt generated it (a resumed run).
    async fn obtain_world(
        &self,
        ledger: &Ledger,
        request: &RunRequest,
        plan: &RunPlan,
        root: &std::path::Path,
    ) -> Result<Option<Reason>, SrError> {
        let root_str = root.display().to_string();
        let exists = root.exists();
        let reused = || async {
            ledger
                .record(
                    "ENGINE_REUSED",
                    json!({"engine_run_root": root_str, "strategy": plan.strategy.as_str()}),
                )
                .await
                .map(|_| None)
        };
        match plan.strategy {
            Strategy::Auto if exists => reused().await,
            Strategy::ForceReuse if exists => reused().await,
            Strategy::ForceReuse => Ok(Some(Reason::failed(
                state::FORCE_REUSE_ROOT_MISSING,
                root_str.clone(),
                "FORCE_REUSE: the run root does not exist and the strategy forbids invoking the \
                 engine",
            ))),
            Strategy::ForceInvoke if exists => {
                let ours = ledger.events().await?.iter().any(|e| {
                    e.event_kind == "ENGINE_ATTEMPT_FINISHED"
                        && e.details.get("outcome").and_then(|v| v.as_str()) == Some("SUCCEEDED")
                        && e.details.get("engine_run_root").and_then(|v| v.as_str())
                            == Some(root_str.as_str())
                });
                if ours {
                    return Ok(None);
                }
                Ok(Some(Reason::failed(
                    state::FORCE_INVOKE_ROOT_EXISTS,
                    root_str.clone(),
                    "FORCE_INVOKE: a world already exists at the run root and is never \
                     overwritten; use another engine_run_root or AUTO/FORCE_REUSE",
                )))
            }
            Strategy::Auto | Strategy::ForceInvoke => {
                self.invoke_engine(ledger, request, root).await
            }
        }
    }

    /// Collect the evidence, polling while it is only absent and the plan's deadline has not
    /// passed. `Ok(Err(reason))` when the run must fail.
    async fn await_evidence(
        &self,
        ledger: &Ledger,
        lease: &lease::LeaseKeeper,
        request: &RunRequest,
        plan: &RunPlan,
        root: &std::path::Path,
    ) -> Result<Result<Evidence, Reason>, SrError> {
        let deadline = plan.evidence_deadline_utc.unix_micros();
        loop {
            let (root2, req2) = (root.to_path_buf(), request.clone());
            let (outputs, gates) = (plan.intended_outputs.clone(), plan.required_gates.clone());
            let collected = tokio::task::spawn_blocking(move || {
                evidence::collect(&root2, &req2, &outputs, &gates)
            })
            .await
            .map_err(join_err)?;
            let reason = match collected {
                Ok(e) => return Ok(Ok(e)),
                Err(r) if !r.absent => return Ok(Err(r)),
                Err(r) => r,
            };
            let now = TsUtc::now().unix_micros();
            if now >= deadline {
                return Ok(Err(Reason::failed(
                    state::EVIDENCE_MISSING_DEADLINE,
                    reason.path,
                    format!(
                        "{}: {} (still absent at the evidence deadline {})",
                        reason.code, reason.detail, plan.evidence_deadline_utc
                    ),
                )));
            }
            still_leader(ledger, lease)?;
            // Same missing evidence, same event id: one record line however long we wait.
            ledger
                .record(
                    "EVIDENCE_WAITING",
                    json!({
                        "missing": [reason.path],
                        "reason_code": reason.code,
                        "evidence_deadline_utc": plan.evidence_deadline_utc.as_str(),
                    }),
                )
                .await?;
            self.advance(ledger, RunState::WaitingEvidence).await?;
            let left = Duration::from_micros(u64::try_from(deadline - now).unwrap_or(0));
            tokio::time::sleep(self.config.policy.evidence_poll_interval.min(left)).await;
        }
    }

    /// Invoke the stand-in generator into `root`; `Some(reason)` when the run must fail.
    async fn invoke_engine(
        &self,
        ledger: &Ledger,
        request: &RunRequest,
        root: &std::path::Path,
    ) -> Result<Option<Reason>, SrError> {
        let root_str = root.display().to_string();
        let Some(spec) = &request.generate else {
            return Ok(Some(Reason::failed(
                state::ENGINE_RUN_ROOT_MISSING,
                root_str,
                "the run root does not exist and the request does not ask to generate it",
            )));
        };
        let cfg = match request::world_config(spec) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Some(Reason::failed(
                    state::ENGINE_INVOCATION_INVALID,
                    root_str,
                    e.to_string(),
                )));
            }
        };
        if cfg.seed != request.seed || cfg.scenario_id != request.scenario_id {
            return Ok(Some(Reason::failed(
                state::ENGINE_INVOCATION_INVALID,
                root_str,
                format!(
                    "generate config names seed {} / scenario `{}`, the request seed {} / `{}`",
                    cfg.seed, cfg.scenario_id, request.seed, request.scenario_id
                ),
            )));
        }
        self.advance(ledger, RunState::Executing).await?;
        let run_id = ledger.run_id().clone();
        let attempt_id = ids::attempt_id(&run_id, 1);
        let out = root.to_path_buf();
        let started = TsUtc::now();
        let opts = GenerateOptions {
            // The engine echoes SR's run id in its receipt: the world says who asked for it.
            run_id: Some(run_id.to_string()),
            created_utc: None,
        };
        let result =
            tokio::task::spawn_blocking(move || fp_world::generate_with(&cfg, &out, &opts))
                .await
                .map_err(join_err)?;
        let outcome = if result.is_ok() {
            "SUCCEEDED"
        } else {
            "FAILED"
        };
        ledger
            .record(
                "ENGINE_ATTEMPT_FINISHED",
                json!({
                    "attempt_id": attempt_id.as_str(),
                    "attempt_no": 1,
                    "outcome": outcome,
                    "engine_run_root": root_str,
                    "started_at_utc": started.as_str(),
                    "error": result.as_ref().err().map(ToString::to_string),
                }),
            )
            .await?;
        Ok(match result {
            Ok(_) => None,
            Err(e) => Some(Reason::failed(
                state::ENGINE_INVOCATION_FAILED,
                root_str,
                e.to_string(),
            )),
        })
    }

    /// Write one instance proof receipt per located output (write-once, world-scoped).
    async fn write_instance_receipts(
        &self,
        ledger: &Ledger,
        request: &RunRequest,
        evidence: &Evidence,
    ) -> Result<Result<Vec<fp_rails::contracts::scenario_runner::InstanceReceipt>, Reason>, SrError>
    {
        let mut out = Vec::with_capacity(evidence.outputs.len());
        for o in &evidence.outputs {
            let path = facts::instance_receipt_path(ledger, request, &o.output_id)?;
            let receipt = facts::instance_receipt(request, o, &path);
            if let Err(d) = ledger.put_once_json(&path, &receipt).await? {
                let detail = match ledger
                    .read_json::<fp_rails::contracts::scenario_runner::InstanceReceipt>(&d.path)
                    .await
                {
                    Ok(Some(prev)) => format!(
                        "output `{}` now has sha256 {}, an earlier run recorded {}",
                        o.output_id, o.digest.hex, prev.target_digest.hex
                    ),
                    _ => format!("output `{}`: stored receipt differs", o.output_id),
                };
                return Ok(Err(Reason::quarantined(
                    state::INSTANCE_RECEIPT_DRIFT,
                    d.path,
                    detail,
                )));
            }
            out.push(receipt);
        }
        Ok(Ok(out))
    }

    fn ready_signal(&self, ledger: &Ledger, fv: &RunFactsView, plan: &RunPlan) -> RunReadySignal {
        RunReadySignal {
            run_id: fv.run_id.clone(),
            platform_run_id: fv.platform_run_id.clone(),
            scenario_run_id: fv.scenario_run_id.clone(),
            facts_view_ref: ledger.facts_view_ref(),
            bundle_hash: fv.bundle_hash.clone(),
            plan_hash: Some(plan.plan_hash.clone()),
            message_id: ids::ready_message_id(
                fv.platform_run_id.as_str(),
                fv.scenario_run_id.as_str(),
                fv.bundle_hash.as_str(),
            ),
            run_config_digest: facts::run_config_digest(&fv.policy_rev),
            service_release_id: fv.service_release_id.clone(),
            environment: fv.environment.clone(),
            provenance: None,
            manifest_fingerprint: fv.pins.manifest_fingerprint.clone(),
            parameter_hash: fv.pins.parameter_hash.clone(),
            scenario_id: fv.pins.scenario_id.clone(),
            // Omitted so the stored signal is byte-identical on every re-run (write-once);
            // the control wrapper carries the publish time.
            emitted_at_utc: None,
            oracle_pack_ref: fv.oracle_pack_ref.clone(),
        }
    }

    async fn ready_published(&self, ledger: &Ledger) -> Result<bool, SrError> {
        Ok(ledger
            .events()
            .await?
            .iter()
            .any(|e| e.event_kind == "READY_PUBLISHED"))
    }

    /// Publish the stored READY signal unless the record says it was published (lease held).
    async fn publish_ready(&self, ledger: &Ledger) -> Result<(), SrError> {
        if self.ready_published(ledger).await? {
            return Ok(());
        }
        let path = ledger.ready_signal_ref();
        let signal: RunReadySignal =
            ledger
                .read_json(&path)
                .await?
                .ok_or_else(|| SrError::CorruptLedger {
                    path: path.clone(),
                    detail: "run is READY but its READY signal is missing".into(),
                })?;
        let eb_ref = ready::publish(
            self.bus().await?,
            ledger.run_id(),
            ControlKind::Ready,
            None,
            &signal.message_id,
            &signal,
        )
        .await?;
        tracing::info!(run_id = %ledger.run_id(), message_id = %signal.message_id,
            partition = eb_ref.partition, offset = %eb_ref.offset, "READY published");
        ledger
            .record(
                "READY_PUBLISHED",
                json!({"message_id": signal.message_id.as_str()}),
            )
            .await?;
        Ok(())
    }

    /// Record a failure and its evidence, quarantine if it is a conflict, end the run.
    async fn fail(
        &self,
        ledger: &Ledger,
        lease: &lease::LeaseKeeper,
        reason: Reason,
    ) -> Result<RunOutcome, SrError> {
        still_leader(ledger, lease)?;
        let details = json!({
            "reason_code": reason.code,
            "path": reason.path,
            "detail": reason.detail,
        });
        let kind = if reason.state == RunState::Quarantined {
            "EVIDENCE_CONFLICT"
        } else {
            "EVIDENCE_FAIL"
        };
        tracing::warn!(run_id = %ledger.run_id(), code = reason.code, path = %reason.path,
            detail = %reason.detail, "run not admissible");
        ledger.record(kind, details.clone()).await?;
        if reason.state == RunState::Quarantined {
            let doc = RunQuarantine {
                run_id: ledger.run_id().clone(),
                reason_code: reason.code.to_owned(),
                path: reason.path.clone(),
                detail: reason.detail.clone(),
            };
            // First quarantine wins; a second conflict is already in the record.
            let _ = ledger.put_once_json(&ledger.quarantine_ref(), &doc).await?;
        }
        ledger
            .set_state(reason.state, Some(reason.code), None)
            .await?;
        self.outcome(ledger, true).await
    }

    async fn outcome(&self, ledger: &Ledger, led: bool) -> Result<RunOutcome, SrError> {
        let status = ledger
            .status()
            .await?
            .ok_or_else(|| SrError::UnknownRun(ledger.run_id().to_string()))?;
        let (ready_message_id, bundle_hash) = if status.state == RunState::Ready {
            let signal: Option<RunReadySignal> =
                ledger.read_json(&ledger.ready_signal_ref()).await?;
            signal.map_or((None, None), |s| (Some(s.message_id), Some(s.bundle_hash)))
        } else {
            (None, None)
        };
        Ok(RunOutcome {
            run_id: ledger.run_id().clone(),
            platform_run_id: self.config.platform_run_id.clone(),
            state: status.state,
            reason_code: status.reason_code,
            status_ref: ledger.status_ref(),
            record_ref: ledger.record_ref(),
            facts_view_ref: status.facts_view_ref,
            ready_message_id,
            bundle_hash,
            led,
        })
    }
}

/// Stop (without writing) when the lease was taken over by another leader.
fn still_leader(ledger: &Ledger, lease: &lease::LeaseKeeper) -> Result<(), SrError> {
    if lease.held() {
        Ok(())
    } else {
        Err(SrError::LeaseLost {
            run_id: ledger.run_id().to_string(),
        })
    }
}
