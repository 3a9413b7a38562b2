//! The admission pipeline end to end (contracts §10.3), one batch at a time: stateless
//! checks on every core, run scope, one index transaction to claim, one bus append per topic,
//! one index transaction to commit, one receipts object per run. Every submission gets its
//! own verdict and receipt (or a retryable refusal that recorded nothing).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fp_bus::{EventBus, OutRecord};
use fp_rails::contracts::common::ActorSourceType;
use fp_rails::contracts::ingestion::{Actor, IgDecision, IngestionReceipt};
use fp_rails::{EbRef, Hex64, PlatformRunId, TsUtc};
use fp_substrate::objects::{ObjectError, Objects};
use serde::Serialize;

use super::audit::{IgAudit, SpikePolicy};
use super::check::{self, Candidate, Checked, LooseEnvelope, Refusal};
use super::error::{IgError, ReasonCode, RetryCode};
use super::health::{Dependency, Health, HealthReport, HealthState};
use super::index::{
    Admission, AdmissionIndex, AdmissionRow, AdmissionState, Claim, ClaimOutcome, CountKey,
    QuarantineEntry,
};
use super::parallel::par_map;
use super::payload_schemas::PayloadSchemas;
use super::policy::IgPolicy;
use super::receipts::{self, QuarantineSubject, Stamp};
use super::scope::RunScope;

mod recovery;

/// How the gate is set up.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// Class map, schema policy, partitioning.
    pub policy: Arc<IgPolicy>,
    /// The platform run receipts are filed under when a submission names none (or an invalid
    /// one).
    pub fallback_platform_run_id: PlatformRunId,
    /// Check world events against SR's READY facts (policy `require_gate_pass`).
    pub require_run_scope: bool,
    /// A bus append not confirmed within this is PUBLISH_AMBIGUOUS.
    pub publish_timeout: Duration,
    /// How long a submission waits for another request's in-flight publish of the same event.
    pub inflight_wait: Duration,
    /// Release and environment stamped on receipts.
    pub stamp: Stamp,
    /// When quarantines are a spike worth an `ig.quarantine.spike` audit event.
    pub quarantine_spike: SpikePolicy,
}

impl GateConfig {
    /// Defaults: run scope on, 10 s publish timeout, 2 s in-flight wait (the reference's).
    pub fn new(policy: Arc<IgPolicy>, fallback_platform_run_id: PlatformRunId) -> Self {
        Self {
            policy,
            fallback_platform_run_id,
            require_run_scope: true,
            publish_timeout: Duration::from_secs(10),
            inflight_wait: Duration::from_secs(2),
            stamp: Stamp {
                service_release_id: format!("fp-ingress/{}", env!("CARGO_PKG_VERSION")),
                environment: None,
            },
            quarantine_spike: SpikePolicy::default(),
        }
    }
}

/// One submission: the bytes as received and who sent them (from authentication, never from
/// the payload).
#[derive(Debug, Clone)]
pub struct Submission {
    /// Raw request bytes.
    pub raw: Bytes,
    /// Authenticated actor.
    pub actor: Actor,
}

impl Submission {
    /// A submission from an anonymous in-process producer (auth disabled).
    pub fn anonymous(raw: impl Into<Bytes>) -> Self {
        Self {
            raw: raw.into(),
            actor: anonymous_actor(),
        }
    }
}

/// The actor of unauthenticated (auth `disabled`) submissions.
pub fn anonymous_actor() -> Actor {
    Actor {
        actor_id: "SYSTEM::ANONYMOUS".into(),
        source_type: ActorSourceType::System,
        auth_mode: Some("disabled".into()),
        principal: None,
    }
}

/// What happened to one submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    /// ADMIT, DUPLICATE or QUARANTINE, with the receipt.
    Decided {
        /// The verdict.
        decision: IgDecision,
        /// The receipt.
        receipt: Box<IngestionReceipt>,
        /// Where the receipt is stored.
        receipt_ref: String,
    },
    /// Nothing was recorded; retry later.
    Retry {
        /// Why.
        error: &'static str,
        /// Detail.
        detail: String,
    },
}

impl Outcome {
    /// The verdict, if any.
    pub fn decision(&self) -> Option<IgDecision> {
        match self {
            Self::Decided { decision, .. } => Some(*decision),
            Self::Retry { .. } => None,
        }
    }

    fn retry(code: RetryCode, detail: String) -> Self {
        Self::Retry {
            error: code.as_str(),
            detail,
        }
    }
}

/// The Ingestion Gate.
pub struct IngestionGate {
    cfg: GateConfig,
    schemas: Arc<PayloadSchemas>,
    index: AdmissionIndex,
    bus: Arc<dyn EventBus>,
    objects: Objects,
    scope: RunScope,
    health: Arc<Health>,
    audit: IgAudit,
}

impl std::fmt::Debug for IngestionGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestionGate")
            .field("policy_rev", self.cfg.policy.policy_rev())
            .field("bus", &self.bus.backend_name())
            .finish()
    }
}

/// A placed receipt waiting for its batch object.
struct Placed {
    index: usize,
    receipt: IngestionReceipt,
    receipt_ref: String,
    /// The receipt's JSON line for the batch object, when already serialised.
    line: Vec<u8>,
}

impl IngestionGate {
    /// Start the gate: compile payload schemas, check every target topic exists, resolve
    /// publishes a previous process left in flight, and record the active policy.
    pub async fn open(
        cfg: GateConfig,
        index: AdmissionIndex,
        bus: Arc<dyn EventBus>,
        objects: Objects,
    ) -> Result<Self, IgError> {
        let schemas = Arc::new(PayloadSchemas::compile(&cfg.policy)?);
        let topics: Vec<String> = bus.topics().await?.into_iter().map(|t| t.name).collect();
        for (event_type, rule) in cfg.policy.rules() {
            if rule.schema.is_some() && !topics.iter().any(|t| **t == *rule.profile.stream) {
                return Err(IgError::Policy {
                    file: super::policy::PARTITIONING_FILE.into(),
                    detail: format!(
                        "`{event_type}` publishes to topic `{}`, which the {} bus does not have \
                         (provision the topics first: `fp eb provision`)",
                        rule.profile.stream,
                        bus.backend_name()
                    ),
                });
            }
        }
        let audit = IgAudit::new(
            Arc::clone(&bus),
            &cfg.policy.policy_rev().policy_id,
            cfg.quarantine_spike,
        );
        let gate = Self {
            audit,
            scope: RunScope::new(objects.clone()),
            cfg,
            schemas,
            index,
            bus,
            objects,
            health: Arc::new(Health::default()),
        };
        gate.recover_in_flight().await?;
        gate.activate_policy().await?;
        Ok(gate)
    }

    /// The configuration.
    pub fn config(&self) -> &GateConfig {
        &self.cfg
    }

    /// The admission index (lookups, summaries, reconciliation).
    pub fn index(&self) -> &AdmissionIndex {
        &self.index
    }

    /// Current health.
    pub fn health(&self) -> HealthReport {
        self.health.report()
    }

    /// Probe every dependency once (index round trip, bus metadata, object store write).
    pub async fn probe(&self) -> HealthReport {
        let mut reasons = Vec::new();
        match self.index.sql().health().await {
            Ok(_) => self.health.succeeded(Dependency::Index),
            Err(_) => reasons.push("OPS_DB_UNHEALTHY".to_owned()),
        }
        match self.bus.topics().await {
            Ok(_) => self.health.succeeded(Dependency::Bus),
            Err(_) => reasons.push("BUS_UNHEALTHY".to_owned()),
        }
        let path = self
            .objects
            .run_prefix(&self.cfg.fallback_platform_run_id)
            .ig_health();
        let snapshot =
            serde_json::json!({"probed_at_utc": TsUtc::now().as_str(), "reasons": reasons});
        match self
            .objects
            .put_overwrite(&path, snapshot.to_string())
            .await
        {
            Ok(()) => self.health.succeeded(Dependency::Objects),
            Err(_) => reasons.push("OBJECT_STORE_UNHEALTHY".to_owned()),
        }
        self.health.set_probe(reasons);
        self.health.report()
    }

    /// Admit one submission.
    pub async fn admit(&self, sub: Submission) -> Result<Outcome, IgError> {
        let mut out = self.admit_batch(vec![sub]).await?;
        out.pop()
            .ok_or_else(|| IgError::Refused("empty admission result".into()))
    }

    /// [`Self::admit_batch`] on its own task, so the batch runs to its commit even if the
    /// caller goes away (an HTTP client disconnecting, a producer task aborted): a batch
    /// dropped between publish and commit would leave its keys in flight until a restart.
    pub async fn admit_batch_detached(
        self: &Arc<Self>,
        subs: Vec<Submission>,
    ) -> Result<Vec<Outcome>, IgError> {
        let gate = Arc::clone(self);
        tokio::spawn(async move { gate.admit_batch(subs).await })
            .await
            .map_err(|e| IgError::Refused(format!("the admission task failed: {e}")))?
    }

    /// Admit a batch: one verdict per submission, in order. Not cancel-safe between its
    /// publish and its commit: callers that may be dropped use [`Self::admit_batch_detached`].
    pub async fn admit_batch(&self, subs: Vec<Submission>) -> Result<Vec<Outcome>, IgError> {
        let n = subs.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let report = self.health.report();
        if report.state == HealthState::Red {
            let detail = format!("ingestion gate is RED: {}", report.reasons.join(", "));
            return Ok((0..n)
                .map(|_| Outcome::retry(RetryCode::IgUnhealthy, detail.clone()))
                .collect());
        }
        let received_at = TsUtc::now();
        let actors: Vec<Actor> = subs.iter().map(|s| s.actor.clone()).collect();
        let checked = self.check_all(subs).await?;

        // Split into candidates and refusals; apply run scope to world events.
        let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
        let mut refusals: Vec<(usize, Refusal)> = Vec::new();
        let mut cands: Vec<(usize, Candidate)> = Vec::new();
        for (i, c) in checked.into_iter().enumerate() {
            match c {
                Checked::Refused(r) => refusals.push((i, *r)),
                Checked::Candidate(c) => {
                    let world = c
                        .rule
                        .schema
                        .as_ref()
                        .is_some_and(|s| s.payload_schema.starts_with("engine:"));
                    if world
                        && self.cfg.require_run_scope
                        && let Some(s) = self.scope.check(&c.env).await?
                    {
                        refusals.push((i, refusal_from(&c, s.reason, s.detail)));
                        continue;
                    }
                    cands.push((i, *c));
                }
            }
        }

        // Claim.
        let claims: Vec<Claim> = cands.iter().map(|(_, c)| claim_of(c)).collect();
        let batch = match self.index.claim(&claims, n as u64).await {
            Ok(b) => {
                self.health.succeeded(Dependency::Index);
                b
            }
            Err(e) => {
                self.health.failed(Dependency::Index);
                return Err(e);
            }
        };
        let mut to_publish: Vec<usize> = Vec::new(); // positions in cands
        let mut waits: Vec<(usize, AdmissionRow)> = Vec::new();
        let mut in_batch_dups: Vec<(usize, String)> = Vec::new();
        let mut duplicates: Vec<(usize, AdmissionRow)> = Vec::new();
        // Only needed when some key was already in flight (usually none is).
        let any_in_flight = batch.outcomes.iter().any(|o| {
            matches!(o, ClaimOutcome::Existing(r) if r.state == AdmissionState::PublishInFlight)
        });
        let claimed_here: std::collections::HashSet<&str> = if any_in_flight {
            cands
                .iter()
                .zip(&batch.outcomes)
                .filter(|(_, o)| matches!(o, ClaimOutcome::Claimed))
                .map(|((_, c), _)| c.dedupe_key.as_str())
                .collect()
        } else {
            Default::default()
        };
        for (pos, ((i, c), o)) in cands.iter().zip(&batch.outcomes).enumerate() {
            match o {
                ClaimOutcome::Claimed => to_publish.push(pos),
                ClaimOutcome::Existing(row) => {
                    if row.payload_hash != c.payload_hash {
                        let detail = format!(
                            "event_id `{}` ({}) was first submitted with payload hash {}; this \
                             submission hashes to {} (a replay must not change the payload)",
                            c.env.event_id, c.rule.event_class, row.payload_hash, c.payload_hash
                        );
                        refusals
                            .push((*i, refusal_from(c, ReasonCode::PayloadHashMismatch, detail)));
                        continue;
                    }
                    match row.state {
                        AdmissionState::Admitted => duplicates.push((pos, (**row).clone())),
                        AdmissionState::PublishInFlight
                            if claimed_here.contains(c.dedupe_key.as_str()) =>
                        {
                            in_batch_dups.push((pos, c.dedupe_key.as_str().to_owned()));
                        }
                        AdmissionState::PublishInFlight => waits.push((pos, (**row).clone())),
                        AdmissionState::PublishAmbiguous => {
                            outcomes[*i] = Some(Outcome::retry(
                                RetryCode::PublishAmbiguousRetry,
                                format!(
                                    "an earlier publish of event `{}` is ambiguous and awaits \
                                     reconciliation (`fp ig reconcile`); it is never republished \
                                     blindly",
                                    c.env.event_id
                                ),
                            ));
                        }
                    }
                }
            }
        }
        // Another request is publishing these right now: wait a little for its commit.
        for (pos, row) in waits {
            let (i, c) = &cands[pos];
            match self.wait_in_flight(&row.dedupe_key).await? {
                Some(done) if done.state == AdmissionState::Admitted => {
                    duplicates.push((pos, done))
                }
                _ => {
                    outcomes[*i] = Some(Outcome::retry(
                        RetryCode::PublishInFlightRetry,
                        format!(
                            "event `{}` is being published by another request; retry shortly",
                            c.env.event_id
                        ),
                    ))
                }
            }
        }

        // Publish: one append per topic.
        let mut by_topic: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &pos in &to_publish {
            by_topic
                .entry(&cands[pos].1.rule.profile.stream)
                .or_default()
                .push(pos);
        }
        let mut eb_refs: HashMap<usize, EbRef> = HashMap::new();
        let mut ambiguous: Vec<usize> = Vec::new();
        for (topic, positions) in by_topic {
            let records: Vec<OutRecord> = positions
                .iter()
                .map(|&p| {
                    OutRecord::new(cands[p].1.partition_key.clone(), cands[p].1.value.clone())
                })
                .collect();
            let published = tokio::time::timeout(
                self.cfg.publish_timeout,
                self.bus.publish_batch(topic, records),
            )
            .await;
            match published {
                Ok(Ok(refs)) if refs.len() == positions.len() => {
                    self.health.succeeded(Dependency::Bus);
                    for (p, r) in positions.into_iter().zip(refs) {
                        eb_refs.insert(p, r);
                    }
                }
                other => {
                    let why = match other {
                        Ok(Ok(_)) => "the bus returned the wrong number of eb_refs".to_owned(),
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => {
                            format!("no acknowledgement within {:?}", self.cfg.publish_timeout)
                        }
                    };
                    tracing::warn!(topic, error = %why, "publish ambiguous");
                    self.health.failed(Dependency::Bus);
                    let amb: Vec<Claim> = positions.iter().map(|&p| claims[p].clone()).collect();
                    if let Err(e) = self.index.mark_ambiguous(&amb).await {
                        self.health.failed(Dependency::Index);
                        return Err(e);
                    }
                    for p in positions {
                        let (i, c) = &cands[p];
                        let detail = format!(
                            "publish to `{topic}` unconfirmed ({why}); the event may or may not \
                             be on the bus and is never republished automatically: \
                             `fp ig reconcile` settles it"
                        );
                        refusals.push((*i, refusal_from(c, ReasonCode::PublishAmbiguous, detail)));
                        ambiguous.push(p);
                    }
                }
            }
        }

        // Receipts: one object per platform run per batch; refs are known before writing.
        let admitted_at = TsUtc::now();
        let mut placed: Vec<Placed> = Vec::new();
        let mut admissions: Vec<Admission> = Vec::new();
        let mut first_ref: HashMap<String, (EbRef, String)> = HashMap::new();
        let mut counts: BTreeMap<CountKey, u64> = BTreeMap::new();
        let published: Vec<(usize, &EbRef)> = to_publish
            .iter()
            .filter_map(|&pos| eb_refs.get(&pos).map(|r| (pos, r)))
            .collect();
        // The batch object's uri per platform run, once (not once per receipt).
        let mut objects_by_run: HashMap<String, String> = HashMap::new();
        for &(pos, _) in &published {
            let run = cands[pos]
                .1
                .env
                .platform_run_id
                .as_ref()
                .unwrap_or(&self.cfg.fallback_platform_run_id);
            if !objects_by_run.contains_key(run.as_str()) {
                let path = self
                    .objects
                    .run_prefix(run)
                    .ig_receipt_batch(batch.first_seq);
                objects_by_run.insert(run.as_str().to_owned(), self.objects.uri_of(&path));
            }
        }
        // Receipts are built and serialised on every core (the batch object is their lines).
        let built = par_map(&published, |&(pos, eb_ref)| {
            let (i, c) = &cands[pos];
            let receipt = self.accepted_receipt(
                c,
                IgDecision::Admit,
                eb_ref,
                admitted_at.as_str(),
                None,
                &actors[*i],
            );
            let receipt_ref = match objects_by_run.get(receipt.platform_run_id.as_str()) {
                Some(uri) => format!("{uri}#{}", receipt.receipt_id),
                None => self.receipt_ref(&receipt, batch.first_seq),
            };
            let line = receipt_line(&receipt);
            (receipt, receipt_ref, line)
        })?;
        for (&(pos, eb_ref), (receipt, receipt_ref, line)) in published.iter().zip(built) {
            let (i, c) = &cands[pos];
            // Only copies of a key admitted in this very batch look their original up.
            if !in_batch_dups.is_empty() {
                first_ref.insert(
                    c.dedupe_key.as_str().to_owned(),
                    (eb_ref.clone(), receipt_ref.clone()),
                );
            }
            admissions.push(Admission {
                dedupe_key: c.dedupe_key.clone(),
                eb_ref: eb_ref.clone(),
                admitted_at_utc: admitted_at.clone(),
                receipt_id: receipt.receipt_id.clone(),
                receipt_ref: receipt_ref.clone(),
                // Only the PostgreSQL index keeps receipt copies (serialising costs as much as
                // admitting); the embedded journal points at the batch object.
                receipt: if self.index.stores_receipts() {
                    // The line is the receipt's JSON and a newline.
                    String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line)).into_owned()
                } else {
                    String::new()
                },
            });
            count(&mut counts, &receipt, "");
            placed.push(Placed {
                index: *i,
                receipt,
                receipt_ref,
                line,
            });
        }
        for (pos, row) in duplicates {
            let (i, c) = &cands[pos];
            let (Some(eb_ref), Some(at)) = (&row.eb_ref, &row.admitted_at_utc) else {
                let detail = format!("admitted row of `{}` lacks its eb_ref", c.env.event_id);
                refusals.push((
                    *i,
                    refusal_from(c, ReasonCode::AdmissionStateInvalid, detail),
                ));
                continue;
            };
            let receipt = self.accepted_receipt(
                c,
                IgDecision::Duplicate,
                eb_ref,
                at,
                row.receipt_ref.as_deref(),
                &actors[*i],
            );
            count(&mut counts, &receipt, "DUPLICATE");
            placed.push(self.place(*i, receipt, batch.first_seq));
        }
        for (pos, key) in in_batch_dups {
            let (i, c) = &cands[pos];
            match first_ref.get(&key) {
                Some((eb_ref, receipt_ref)) => {
                    let receipt = self.accepted_receipt(
                        c,
                        IgDecision::Duplicate,
                        eb_ref,
                        admitted_at.as_str(),
                        Some(receipt_ref),
                        &actors[*i],
                    );
                    count(&mut counts, &receipt, "DUPLICATE");
                    placed.push(self.place(*i, receipt, batch.first_seq));
                }
                // The first copy's publish was ambiguous: so is this one.
                None => {
                    outcomes[*i] = Some(Outcome::retry(
                        RetryCode::PublishAmbiguousRetry,
                        format!(
                            "event `{}` shares an ambiguous publish in this batch",
                            c.env.event_id
                        ),
                    ))
                }
            }
        }

        // Quarantines: raw bytes by digest, the record, the receipt.
        let mut quarantines = Vec::new();
        let quarantined = refusals.len() as u64;
        for (i, r) in refusals {
            let (receipt, entry) = self.quarantine(&r, &received_at, &actors[i]).await?;
            count(&mut counts, &receipt, r.reason.as_str());
            quarantines.push(entry);
            placed.push(self.place(i, receipt, batch.first_seq));
        }

        // The commit point and the receipts object are independent writes: do them together.
        // A receipts object that outlives a failed commit only names events that are on the
        // bus (reconciliation admits them); the verdicts returned below wait for both.
        // Quarantines and counters ride in the same index commit (one transaction on SQLite).
        // The object (fsyncs of file and directory) is the longer write: start it first.
        let ((), committed) = tokio::join!(
            self.write_receipts(&placed, batch.first_seq),
            self.index.commit(
                admissions,
                &claims,
                quarantines,
                counts.into_iter().collect()
            ),
        );
        if let Err(e) = committed {
            self.health.failed(Dependency::Index);
            return Err(e);
        }
        // Counted once durable: a spike describes verdicts that stand.
        self.audit.quarantined(quarantined).await;
        for p in placed {
            outcomes[p.index] = Some(Outcome::Decided {
                decision: p.receipt.decision,
                receipt: Box::new(p.receipt),
                receipt_ref: p.receipt_ref,
            });
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| Outcome::Retry {
                    error: "INTERNAL_ERROR",
                    detail: "no verdict was reached for this submission".into(),
                })
            })
            .collect())
    }

    async fn check_all(&self, subs: Vec<Submission>) -> Result<Vec<Checked>, IgError> {
        let policy = Arc::clone(&self.cfg.policy);
        let schemas = Arc::clone(&self.schemas);
        let raws: Vec<Bytes> = subs.into_iter().map(|s| s.raw).collect();
        tokio::task::spawn_blocking(move || check_parallel(&policy, &schemas, raws))
            .await
            .map_err(|e| IgError::Refused(format!("check stage failed: {e}")))
    }

    fn accepted_receipt(
        &self,
        c: &Candidate,
        decision: IgDecision,
        eb_ref: &EbRef,
        admitted_at: &str,
        original: Option<&str>,
        actor: &Actor,
    ) -> IngestionReceipt {
        receipts::accepted(
            &self.cfg.policy,
            &self.cfg.stamp,
            decision,
            &c.env,
            &c.rule.event_class,
            &c.payload_hash,
            &c.dedupe_key,
            &c.rule.profile.profile_id,
            &c.partition_key,
            eb_ref,
            admitted_at,
            actor,
            original,
            &self.cfg.fallback_platform_run_id,
        )
    }

    fn place(&self, index: usize, receipt: IngestionReceipt, first_seq: u64) -> Placed {
        Placed {
            index,
            receipt_ref: self.receipt_ref(&receipt, first_seq),
            line: receipt_line(&receipt),
            receipt,
        }
    }

    fn receipt_ref(&self, receipt: &IngestionReceipt, first_seq: u64) -> String {
        let path = self
            .objects
            .run_prefix(&receipt.platform_run_id)
            .ig_receipt_batch(first_seq);
        format!("{}#{}", self.objects.uri_of(&path), receipt.receipt_id)
    }

    async fn write_receipts(&self, placed: &[Placed], first_seq: u64) {
        let mut by_run: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
        let mut sorted: Vec<&Placed> = placed.iter().collect();
        sorted.sort_by_key(|p| p.index);
        for p in sorted {
            by_run
                .entry(p.receipt.platform_run_id.as_str())
                .or_default()
                .extend_from_slice(&p.line);
        }
        for (run, bytes) in by_run {
            let Ok(prid) = PlatformRunId::parse(run) else {
                continue;
            };
            let path = self.objects.run_prefix(&prid).ig_receipt_batch(first_seq);
            match self.objects.put_once(&path, bytes).await {
                Ok(_) => self.health.succeeded(Dependency::Objects),
                Err(e) => {
                    // The index holds every ADMIT and QUARANTINE receipt; the object is the
                    // batch copy for auditors. Count it towards RED, keep the verdicts.
                    tracing::warn!(path, error = %e, "receipt batch write failed");
                    self.health.failed(Dependency::Objects);
                }
            }
        }
    }

    async fn quarantine(
        &self,
        r: &Refusal,
        received_at: &TsUtc,
        actor: &Actor,
    ) -> Result<(IngestionReceipt, QuarantineEntry), IgError> {
        let raw_sha = Hex64::digest(&r.raw);
        let subject = QuarantineSubject::from_loose(
            &r.loose,
            r.event_class.as_deref(),
            &raw_sha,
            received_at,
            &self.cfg.fallback_platform_run_id,
        );
        let prefix = self.objects.run_prefix(&subject.platform_run_id);
        let raw_path = prefix.ig_quarantine_raw(&raw_sha);
        self.put_evidence(&raw_path, r.raw.clone()).await?;
        let raw_ref = self.objects.uri_of(&raw_path);
        let record = receipts::record(
            &self.cfg.policy,
            &self.cfg.stamp,
            &subject,
            &r.loose,
            r.reason.as_str(),
            &r.detail,
            &raw_ref,
            &raw_sha,
            received_at,
            actor,
        );
        let record_path = prefix.ig_quarantine_record(&record.quarantine_id);
        let record_bytes = serde_json::to_vec(&record).unwrap_or_default();
        self.put_evidence(&record_path, Bytes::from(record_bytes))
            .await?;
        let record_ref = self.objects.uri_of(&record_path);
        let receipt = receipts::quarantined(
            &self.cfg.policy,
            &self.cfg.stamp,
            &subject,
            r.reason.as_str(),
            &record_ref,
            &raw_ref,
            &raw_sha,
            actor,
        );
        let entry = QuarantineEntry {
            quarantine_id: record.quarantine_id.clone(),
            receipt_id: receipt.receipt_id.clone(),
            platform_run_id: subject.platform_run_id.as_str().to_owned(),
            event_id: subject.event_id.clone(),
            event_type: Some(subject.event_type.clone()),
            event_class: r.event_class.clone(),
            reason_code: r.reason.as_str().to_owned(),
            detail: r.detail.clone(),
            raw_sha256: raw_sha,
            raw_len: r.raw.len() as u64,
            record_ref,
            raw_ref,
            receipt: serde_json::to_string(&receipt).unwrap_or_default(),
            received_at_utc: received_at.clone(),
        };
        Ok((receipt, entry))
    }

    /// Write-once evidence; an existing object (same quarantine id, first one wins) is fine.
    async fn put_evidence(&self, path: &str, bytes: Bytes) -> Result<(), IgError> {
        match self.objects.put_once(path, bytes).await {
            Ok(_) | Err(ObjectError::WriteOnceConflict { .. }) => {
                self.health.succeeded(Dependency::Objects);
                Ok(())
            }
            Err(e) => {
                self.health.failed(Dependency::Objects);
                Err(e.into())
            }
        }
    }

    async fn wait_in_flight(&self, key: &Hex64) -> Result<Option<AdmissionRow>, IgError> {
        let deadline = tokio::time::Instant::now() + self.cfg.inflight_wait;
        loop {
            let row = self.index.get(key).await?;
            let settled = row
                .as_ref()
                .is_none_or(|r| r.state != AdmissionState::PublishInFlight);
            if settled || tokio::time::Instant::now() >= deadline {
                return Ok(row);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn activate_policy(&self) -> Result<(), IgError> {
        let path = self
            .objects
            .run_prefix(&self.cfg.fallback_platform_run_id)
            .ig_policy_active();
        let rev = self.cfg.policy.policy_rev();
        let current = match self.objects.get(&path).await {
            Ok(b) => serde_json::from_slice::<fp_rails::PolicyRev>(&b).ok(),
            Err(ObjectError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if current.as_ref() != Some(rev) {
            let bytes = serde_json::to_vec(rev).unwrap_or_default();
            self.objects.put_overwrite(&path, bytes).await?;
            self.audit.policy_activated(rev, &TsUtc::now()).await;
            tracing::info!(
                revision = %rev.revision,
                digest = %rev.content_digest.as_ref().map(|d| d.as_str()).unwrap_or(""),
                "ingestion gate policy activated"
            );
        }
        Ok(())
    }

    /// Settle rows a previous process left `PUBLISH_IN_FLIGHT`. On a bus this process holds
    /// exclusively (the embedded log, `file_line` offsets), the log is the truth: found
    /// records become ADMITTED, absent ones are released so a retry admits them. On a shared
    /// bus another replica may still be publishing, so they become PUBLISH_AMBIGUOUS for
    /// `fp ig reconcile`.
    async fn recover_in_flight(&self) -> Result<(), IgError> {
        self.recover_journalled_in_flight().await?;
        // The embedded index on the embedded log: claims may stay in memory once the log's
        // tail is settled (see `recovery`).
        if self.bus.offset_kind() == fp_rails::OffsetKind::FileLine && !self.index.stores_receipts()
        {
            let admitted = self.recover_bus_tail().await?;
            if admitted > 0 {
                tracing::info!(
                    admitted,
                    "admitted publishes a previous process left uncommitted"
                );
            }
            self.index.keep_claims_in_memory().await;
        }
        Ok(())
    }

    async fn recover_journalled_in_flight(&self) -> Result<(), IgError> {
        let rows: Vec<AdmissionRow> = self
            .index
            .unresolved()
            .await?
            .into_iter()
            .filter(|r| r.state == AdmissionState::PublishInFlight)
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        if self.bus.offset_kind() == fp_rails::OffsetKind::FileLine {
            let report = self.settle(rows, true).await?;
            tracing::info!(
                admitted = report.admitted,
                released = report.released,
                "recovered in-flight admissions from the embedded bus"
            );
        } else {
            let claims: Vec<Claim> = rows.iter().map(claim_of_row).collect();
            self.index.mark_ambiguous(&claims).await?;
            tracing::warn!(
                rows = claims.len(),
                "in-flight admissions marked PUBLISH_AMBIGUOUS; run `fp ig reconcile`"
            );
        }
        Ok(())
    }

    /// Reconcile unresolved rows against the bus: found → ADMITTED with the bus's eb_ref;
    /// absent → released when `release_absent` (an operator's decision), else left as is.
    pub async fn reconcile(&self, release_absent: bool) -> Result<ReconcileReport, IgError> {
        let rows = self.index.unresolved().await?;
        self.settle(rows, release_absent).await
    }

    async fn settle(
        &self,
        rows: Vec<AdmissionRow>,
        release_absent: bool,
    ) -> Result<ReconcileReport, IgError> {
        let mut wanted: HashMap<String, AdmissionRow> = rows
            .into_iter()
            .map(|r| (r.dedupe_key.as_str().to_owned(), r))
            .collect();
        let mut report = ReconcileReport::default();
        let topics: std::collections::BTreeSet<String> =
            wanted.values().map(|r| r.topic.clone()).collect();
        for topic in topics {
            for part in self.bus.partitions(&topic).await? {
                let mut from = fp_bus::ReadFrom::Earliest;
                loop {
                    let batch = self.bus.read(&topic, part.partition, &from, 10_000).await?;
                    if batch.records.is_empty() {
                        break;
                    }
                    for rec in &batch.records {
                        let Ok(env) = fp_rails::CanonicalEnvelope::from_json_bytes(&rec.value)
                        else {
                            continue;
                        };
                        let rule = self.cfg.policy.rule(&env.event_type);
                        let prid = env
                            .platform_run_id
                            .as_ref()
                            .map(|p| p.as_str())
                            .unwrap_or("");
                        let key =
                            fp_rails::ids::ig_dedupe_key(prid, &rule.event_class, &env.event_id);
                        let Some(row) = wanted.remove(key.as_str()) else {
                            continue;
                        };
                        let eb_ref = rec.eb_ref(&topic, part.partition, self.bus.offset_kind());
                        let done = self.admitted_by_recovery(row, &env, rule, eb_ref);
                        self.index.resolve_admitted(done).await?;
                        report.admitted += 1;
                    }
                    if wanted.is_empty() {
                        break;
                    }
                    from = batch.next;
                }
            }
        }
        if release_absent {
            let keys: Vec<Hex64> = wanted.values().map(|r| r.dedupe_key.clone()).collect();
            report.released = self.index.release(&keys).await?;
        } else {
            report.unresolved = wanted.len() as u64;
        }
        Ok(report)
    }
}

/// What reconciliation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// Rows found on the bus and now ADMITTED.
    pub admitted: u64,
    /// Rows absent from the bus and released (a retry admits them).
    pub released: u64,
    /// Rows absent and left for an operator.
    pub unresolved: u64,
}

/// A receipt's line in its batch object: its JSON and a newline (empty if it cannot be
/// serialised, which a contract-checked receipt always can).
fn receipt_line(receipt: &IngestionReceipt) -> Vec<u8> {
    let mut line = Vec::with_capacity(1600);
    if serde_json::to_writer(&mut line, receipt).is_ok() {
        line.push(b'\n');
    } else {
        line.clear();
    }
    line
}

fn check_parallel(policy: &IgPolicy, schemas: &PayloadSchemas, raws: Vec<Bytes>) -> Vec<Checked> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if raws.len() < 256 || threads < 2 {
        return raws
            .into_iter()
            .map(|r| check::check(policy, schemas, r))
            .collect();
    }
    let chunk = raws.len().div_ceil(threads);
    let mut parts: Vec<Vec<Bytes>> = Vec::new();
    let mut it = raws.into_iter().peekable();
    while it.peek().is_some() {
        parts.push(it.by_ref().take(chunk).collect());
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                s.spawn(move || {
                    part.into_iter()
                        .map(|r| check::check(policy, schemas, r))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn claim_of(c: &Candidate) -> Claim {
    Claim {
        dedupe_key: c.dedupe_key.clone(),
        platform_run_id: c
            .env
            .platform_run_id
            .as_ref()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        event_class: c.rule.event_class.to_string(),
        event_id: c.env.event_id.clone(),
        payload_hash: c.payload_hash.clone(),
        topic: c.rule.profile.stream.to_string(),
        partition_key: c.partition_key.clone(),
    }
}

fn claim_of_row(r: &AdmissionRow) -> Claim {
    Claim {
        dedupe_key: r.dedupe_key.clone(),
        platform_run_id: r.platform_run_id.clone(),
        event_class: r.event_class.clone(),
        event_id: r.event_id.clone(),
        payload_hash: r.payload_hash.clone(),
        topic: r.topic.clone(),
        partition_key: r.partition_key.clone(),
    }
}

fn refusal_from(c: &Candidate, reason: ReasonCode, detail: String) -> Refusal {
    Refusal {
        reason,
        detail,
        event_class: Some(c.rule.event_class.to_string()),
        loose: LooseEnvelope::from_envelope(&c.env),
        raw: c.value.clone(),
    }
}

fn count(counts: &mut BTreeMap<CountKey, u64>, r: &IngestionReceipt, reason: &str) {
    *counts
        .entry(CountKey {
            platform_run_id: r.platform_run_id.as_str().to_owned(),
            decision: r.decision.as_str().to_owned(),
            event_class: r.event_class.clone(),
            reason_code: reason.to_owned(),
        })
        .or_default() += 1;
}
