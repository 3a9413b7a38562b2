//! The SQLite (embedded) side of [`AdmissionIndex`]: the journal of [`super::journal`] plus
//! the memory state of [`super::mem_index`]. One async mutex serialises claims and commits,
//! and is held across each journal append so the map and the journal never disagree.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use fp_rails::Hex64;
use fp_substrate::sql::SqlStore;
use tokio::sync::Mutex;

use super::error::IgError;
use super::index::{
    Admission, AdmissionIndex, AdmissionRow, AdmissionState, Claim, ClaimBatch, ClaimOutcome,
    Recorded, in_flight_row, record_in, reserve_seq,
};
use super::journal::{self, Loc, Pos};
use super::journal_codec::{self as codec, AdmittedDelta, Entry, Marks, key_bytes};
use super::mem_index::{Known, MemState};

/// Receipt sequence numbers reserved per durable reservation when claims stay in memory (a
/// gap after a restart is harmless: the numbers only name receipt objects).
const SEQ_BLOCK: u64 = 1 << 20;

pub(super) type Mem = Arc<Mutex<MemState>>;

/// Replay the journal.
pub(super) async fn open(sql: &SqlStore) -> Result<Mem, IgError> {
    let (map, replayed_marks) = sql.transact(|tx| journal::load(tx)).await?;
    Ok(Arc::new(Mutex::new(MemState {
        map,
        replayed_marks,
        ..MemState::default()
    })))
}

impl AdmissionIndex {
    pub(super) async fn claim_sqlite(
        &self,
        mem: &Mem,
        claims: &[Claim],
        receipts: i64,
    ) -> Result<ClaimBatch, IgError> {
        let mut st = mem.lock().await;
        let mut fresh: Vec<usize> = Vec::new();
        let mut existing: Vec<(usize, Loc)> = Vec::new();
        let mut outcomes: Vec<Option<ClaimOutcome>> = vec![None; claims.len()];
        let mut in_batch: HashMap<[u8; 32], usize> = HashMap::new();
        let mut dup_in_batch: Vec<(usize, usize)> = Vec::new();
        for (i, c) in claims.iter().enumerate() {
            let k = key_bytes(&c.dedupe_key);
            match st.known(&k) {
                Known::Journal(loc) => existing.push((i, loc)),
                Known::Pending(row) => {
                    outcomes[i] = Some(ClaimOutcome::Existing(Box::new(row.clone())));
                }
                Known::Absent => {
                    if let Some(first) = in_batch.get(&k) {
                        dup_in_batch.push((i, *first));
                    } else {
                        in_batch.insert(k, i);
                        fresh.push(i);
                    }
                }
            }
        }
        let in_memory = st.claims_in_memory;
        // Claims in memory: the receipt numbers come from a durably reserved block, and a
        // transaction is only needed to read rows that exist or to reserve the next block.
        let want = u64::try_from(receipts).unwrap_or(0);
        let local_seq = (in_memory && st.seqs.end - st.seqs.start >= want).then(|| {
            let first = st.seqs.start;
            st.seqs.start += want;
            first
        });
        let rows: Vec<Entry> = if in_memory {
            Vec::new()
        } else {
            fresh
                .iter()
                .map(|&i| Entry::Full(Box::new(in_flight_row(&claims[i]))))
                .collect()
        };
        let locs: Vec<Loc> = existing.iter().map(|(_, l)| *l).collect();
        let (seq, existing_rows, first_seq) =
            if rows.is_empty() && locs.is_empty() && local_seq.is_some() {
                (None, Vec::new(), local_seq.unwrap_or(0))
            } else {
                let reserve = if in_memory {
                    receipts.max(i64::try_from(SEQ_BLOCK).unwrap_or(i64::MAX))
                } else {
                    receipts
                };
                let (seq, found, first) = self
                    .sql
                    .transact(move |tx| {
                        let seq = if rows.is_empty() {
                            None
                        } else {
                            Some(journal::append(tx, &rows)?)
                        };
                        let mut cache = journal::Cache::default();
                        let mut found = Vec::with_capacity(locs.len());
                        for loc in locs {
                            found.push(journal::fetch(tx, &mut cache, loc)?);
                        }
                        let first = match local_seq {
                            Some(s) => s,
                            None => reserve_seq(tx, reserve)?,
                        };
                        Ok((seq, found, first))
                    })
                    .await?;
                if in_memory && local_seq.is_none() {
                    let end = first.saturating_add(u64::try_from(reserve).unwrap_or(0));
                    st.seqs = first.saturating_add(want)..end;
                }
                (seq, found, first)
            };
        for (idx, &i) in fresh.iter().enumerate() {
            let k = key_bytes(&claims[i].dedupe_key);
            match seq {
                Some(seq) => {
                    let base = Pos {
                        seq,
                        idx: u32::try_from(idx).unwrap_or(u32::MAX),
                    };
                    let state = AdmissionState::PublishInFlight;
                    st.map.insert(
                        k,
                        Loc {
                            state,
                            base,
                            delta: None,
                        },
                    );
                }
                None => {
                    st.pending.insert(k, in_flight_row(&claims[i]));
                }
            }
            outcomes[i] = Some(ClaimOutcome::Claimed);
        }
        for ((i, _), row) in existing.into_iter().zip(existing_rows) {
            outcomes[i] = Some(ClaimOutcome::Existing(Box::new(row)));
        }
        for (i, first) in dup_in_batch {
            outcomes[i] = Some(ClaimOutcome::Existing(Box::new(in_flight_row(
                &claims[first],
            ))));
        }
        Ok(ClaimBatch {
            outcomes: outcomes
                .into_iter()
                .map(|o| o.unwrap_or(ClaimOutcome::Claimed))
                .collect(),
            first_seq,
        })
    }

    /// The SQLite commit: a whole ADMITTED row for a claim held in memory, an ADMITTED
    /// transition for a journalled claim, a whole row for a key released meanwhile.
    pub(super) async fn admit_sqlite(
        &self,
        mem: &Mem,
        admissions: Vec<Admission>,
        claims: &[Claim],
        recorded: Recorded,
    ) -> Result<(), IgError> {
        let by_key: HashMap<&str, &Claim> =
            claims.iter().map(|c| (c.dedupe_key.as_str(), c)).collect();
        let mut st = mem.lock().await;
        let mut entries = Vec::with_capacity(admissions.len());
        let mut own: HashSet<[u8; 32]> = HashSet::with_capacity(admissions.len());
        for a in admissions {
            let k = key_bytes(&a.dedupe_key);
            own.insert(k);
            let delta = AdmittedDelta {
                eb_ref: a.eb_ref,
                admitted_at_utc: Some(a.admitted_at_utc.as_str().to_owned()),
                receipt_id: Some(a.receipt_id),
                receipt_ref: Some(a.receipt_ref),
            };
            let mut row = match st.known(&k) {
                Known::Journal(_) => {
                    entries.push(Entry::Admitted(k, Box::new(delta)));
                    continue;
                }
                Known::Pending(r) => r.clone(),
                Known::Absent => match by_key.get(a.dedupe_key.as_str()) {
                    Some(c) => in_flight_row(c),
                    None => {
                        return Err(IgError::Refused(format!(
                            "admission of unclaimed key {}",
                            a.dedupe_key
                        )));
                    }
                },
            };
            row.state = AdmissionState::Admitted;
            row.eb_ref = Some(delta.eb_ref);
            row.admitted_at_utc = delta.admitted_at_utc;
            row.receipt_id = delta.receipt_id;
            row.receipt_ref = delta.receipt_ref;
            entries.push(Entry::Full(Box::new(row)));
        }
        let marks = st.marks_for(
            &own,
            entries.iter().filter_map(|e| match e {
                Entry::Full(r) => r.eb_ref.as_ref(),
                Entry::Admitted(_, d) => Some(&d.eb_ref),
                _ => None,
            }),
        );
        self.append_entries(&mut st, entries, marks, recorded).await
    }

    /// Append one journal record (and what else the transaction records), apply it to the
    /// map, and forget the pending claims it settles.
    pub(super) async fn append_entries(
        &self,
        st: &mut MemState,
        entries: Vec<Entry>,
        marks: Marks,
        recorded: Recorded,
    ) -> Result<(), IgError> {
        if entries.is_empty() && marks.is_empty() && recorded.is_empty() {
            return Ok(());
        }
        let write = !entries.is_empty() || !marks.is_empty();
        // Encoded on the blocking thread: the caller's task is concurrently writing the
        // batch's receipts object, and should not wait for this CPU work first.
        let (seq, entries) = self
            .sql
            .transact(move |tx| {
                let seq = if write {
                    Some(journal::append_body(tx, codec::encode(&entries, &marks))?)
                } else {
                    None
                };
                record_in(tx, &recorded)?;
                Ok((seq, entries))
            })
            .await?;
        if let Some(seq) = seq {
            let keys: Vec<[u8; 32]> = entries.iter().map(Entry::key).collect();
            journal::apply_all(&mut st.map, seq, &entries, &keys)?;
            for k in &keys {
                st.pending.remove(k);
            }
        }
        Ok(())
    }

    /// Final states for rows; see [`AdmissionIndex::write_rows`].
    pub(super) async fn write_rows_sqlite(
        &self,
        mem: &Mem,
        rows: Vec<AdmissionRow>,
        transitions: bool,
    ) -> Result<(), IgError> {
        let mut st = mem.lock().await;
        let entries = rows
            .into_iter()
            .map(|r| {
                let k = key_bytes(&r.dedupe_key);
                if !transitions || !matches!(st.known(&k), Known::Journal(_)) {
                    return Entry::Full(Box::new(r));
                }
                match (r.state, r.eb_ref) {
                    (AdmissionState::PublishAmbiguous, _) => Entry::Ambiguous(k),
                    (AdmissionState::Admitted, Some(eb_ref)) => Entry::Admitted(
                        k,
                        Box::new(AdmittedDelta {
                            eb_ref,
                            admitted_at_utc: r.admitted_at_utc,
                            receipt_id: r.receipt_id,
                            receipt_ref: r.receipt_ref,
                        }),
                    ),
                    (_, eb_ref) => Entry::Full(Box::new(AdmissionRow { eb_ref, ..r })),
                }
            })
            .collect();
        self.append_entries(&mut st, entries, Marks::new(), Recorded::default())
            .await
    }

    pub(super) async fn release_sqlite(&self, mem: &Mem, keys: &[Hex64]) -> Result<u64, IgError> {
        let mut st = mem.lock().await;
        let mut entries = Vec::new();
        let mut dropped = 0;
        let mut seen = HashSet::new();
        for h in keys {
            let k = key_bytes(h);
            if !seen.insert(k) {
                continue;
            }
            match st.known(&k) {
                Known::Journal(loc) if loc.state != AdmissionState::Admitted => {
                    entries.push(Entry::Released(k));
                }
                // Never journalled: forgetting it is enough.
                Known::Pending(_) => {
                    st.pending.remove(&k);
                    dropped += 1;
                }
                _ => {}
            }
        }
        let n = entries.len() as u64 + dropped;
        self.append_entries(&mut st, entries, Marks::new(), Recorded::default())
            .await?;
        Ok(n)
    }

    pub(super) async fn unresolved_sqlite(&self, mem: &Mem) -> Result<Vec<AdmissionRow>, IgError> {
        let (mut locs, pending): (Vec<Loc>, Vec<AdmissionRow>) = {
            let st = mem.lock().await;
            (
                st.map
                    .values()
                    .filter(|l| l.state != AdmissionState::Admitted)
                    .copied()
                    .collect(),
                st.pending.values().cloned().collect(),
            )
        };
        locs.sort_by_key(Loc::latest);
        let mut rows: Vec<AdmissionRow> = self
            .sql
            .transact(move |tx| {
                let mut cache = journal::Cache::default();
                locs.into_iter()
                    .map(|l| journal::fetch(tx, &mut cache, l))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        rows.extend(pending);
        Ok(rows)
    }

    pub(super) async fn get_sqlite(
        &self,
        mem: &Mem,
        key: &Hex64,
    ) -> Result<Option<AdmissionRow>, IgError> {
        // The memory says where the row is (no journal scan while polling).
        let loc = match mem.lock().await.known(&key_bytes(key)) {
            Known::Journal(loc) => loc,
            Known::Pending(r) => return Ok(Some(r.clone())),
            Known::Absent => return Ok(None),
        };
        let row = self
            .sql
            .transact(move |tx| journal::fetch(tx, &mut journal::Cache::default(), loc))
            .await?;
        Ok(Some(row))
    }

    /// Keep new claims in memory instead of journalling them. Only for a gate that holds the
    /// embedded bus exclusively and has run [`Self::recover_tail`] (see [`super::mem_index`]).
    pub async fn keep_claims_in_memory(&self) {
        if let Some(mem) = &self.mem {
            mem.lock().await.claims_in_memory = true;
        }
    }

    /// Where recovery starts reading each embedded-log partition (empty: from the start).
    pub async fn replayed_marks(&self) -> HashMap<(String, u32), u64> {
        match &self.mem {
            Some(mem) => mem.lock().await.replayed_marks.clone(),
            None => HashMap::new(),
        }
    }

    /// Whether the index has any row (or claim) for a key.
    pub async fn knows(&self, key: &Hex64) -> Result<bool, IgError> {
        match &self.mem {
            Some(mem) => Ok(!matches!(
                mem.lock().await.known(&key_bytes(key)),
                Known::Absent
            )),
            None => Ok(self.get(key).await?.is_some()),
        }
    }

    /// Record what recovery found on the embedded log past the marks (whole ADMITTED rows)
    /// and the new marks, in one transaction.
    pub async fn recover_tail(
        &self,
        rows: Vec<AdmissionRow>,
        marks: HashMap<(String, u32), u64>,
    ) -> Result<(), IgError> {
        let Some(mem) = &self.mem else {
            return Err(IgError::Refused(
                "bus tail recovery needs the embedded index".into(),
            ));
        };
        let mut st = mem.lock().await;
        let entries = rows.into_iter().map(|r| Entry::Full(Box::new(r))).collect();
        self.append_entries(&mut st, entries, marks, Recorded::default())
            .await?;
        st.replayed_marks.clear();
        Ok(())
    }
}
