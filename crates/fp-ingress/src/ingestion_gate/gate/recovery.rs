//! Restart recovery on the embedded bus when claims are held in memory: the bus records past
//! the journal's marks whose keys the index does not know were published by a process that
//! died before its commit. They are on the bus, so they are admitted now (as reconciliation
//! would), and a retry of them is a DUPLICATE (docs/decisions/0009, "claims in memory").

use std::collections::{BTreeSet, HashMap, HashSet};

use fp_bus::ReadFrom;
use fp_rails::contracts::common::ActorSourceType;
use fp_rails::contracts::ingestion::{Actor, IgDecision};
use fp_rails::envelope::CanonicalEnvelope;
use fp_rails::{EbRef, TsUtc};

use super::super::check::{self, Checked};
use super::super::error::IgError;
use super::super::index::{AdmissionRow, AdmissionState, in_flight_row};
use super::super::policy::TypeRule;
use super::super::receipts;
use super::{IngestionGate, claim_of};

/// Records per bus read while recovering.
const READ: usize = 10_000;

pub(super) fn recovery_actor() -> Actor {
    Actor {
        actor_id: "SYSTEM::ig_reconcile".into(),
        source_type: ActorSourceType::System,
        auth_mode: None,
        principal: None,
    }
}

impl IngestionGate {
    /// `row` as admitted at `eb_ref` by recovery or reconciliation, with its ADMIT receipt.
    pub(super) fn admitted_by_recovery(
        &self,
        row: AdmissionRow,
        env: &CanonicalEnvelope,
        rule: &TypeRule,
        eb_ref: EbRef,
    ) -> AdmissionRow {
        let admitted_at = TsUtc::now();
        let receipt = receipts::accepted(
            &self.cfg.policy,
            &self.cfg.stamp,
            IgDecision::Admit,
            env,
            &rule.event_class,
            &row.payload_hash,
            &row.dedupe_key,
            &rule.profile.profile_id,
            &row.partition_key,
            &eb_ref,
            admitted_at.as_str(),
            &recovery_actor(),
            None,
            &self.cfg.fallback_platform_run_id,
        );
        let mut done = row;
        done.state = AdmissionState::Admitted;
        done.eb_ref = Some(eb_ref);
        done.admitted_at_utc = Some(admitted_at.as_str().to_owned());
        done.receipt_id = Some(receipt.receipt_id.clone());
        done.receipt_ref = Some(format!("reconciled:{}", receipt.receipt_id));
        done.receipt = serde_json::to_string(&receipt).ok();
        done
    }

    /// Admit what the embedded log holds past the journal's marks and the index does not
    /// know, then advance the marks to the end of the log. Returns how many were admitted.
    pub(super) async fn recover_bus_tail(&self) -> Result<u64, IgError> {
        let marks = self.index.replayed_marks().await;
        let topics: BTreeSet<String> = self
            .cfg
            .policy
            .rules()
            .values()
            .filter(|r| r.schema.is_some())
            .map(|r| r.profile.stream.to_string())
            .collect();
        let mut rows = Vec::new();
        let mut seen = HashSet::new();
        let mut new_marks = HashMap::new();
        for topic in topics {
            for part in self.bus.partitions(&topic).await? {
                let tp = (topic.clone(), part.partition);
                let mut from = match marks.get(&tp) {
                    Some(next) => ReadFrom::Checkpoint(next.to_string()),
                    None => ReadFrom::Earliest,
                };
                loop {
                    let batch = self.bus.read(&topic, part.partition, &from, READ).await?;
                    if batch.records.is_empty() {
                        break;
                    }
                    for rec in &batch.records {
                        // Not an envelope the current policy admits: not ours to settle.
                        let Checked::Candidate(c) =
                            check::check(&self.cfg.policy, &self.schemas, rec.value.clone())
                        else {
                            continue;
                        };
                        if !seen.insert(c.dedupe_key.clone())
                            || self.index.knows(&c.dedupe_key).await?
                        {
                            continue;
                        }
                        let eb_ref = rec.eb_ref(&topic, part.partition, self.bus.offset_kind());
                        let row = in_flight_row(&claim_of(&c));
                        rows.push(self.admitted_by_recovery(row, &c.env, &c.rule, eb_ref));
                    }
                    from = batch.next;
                }
                if let ReadFrom::Checkpoint(next) = &from
                    && let Ok(next) = next.parse::<u64>()
                {
                    new_marks.insert(tp, next);
                }
            }
        }
        let n = rows.len() as u64;
        self.index.recover_tail(rows, new_marks).await?;
        Ok(n)
    }
}
