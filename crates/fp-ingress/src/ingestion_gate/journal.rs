//! The SQLite layout of the admission index: one journal record per index transaction (a
//! batch of entries in the binary format of [`super::journal_codec`], in a BLOB), never
//! updated in place, replayed into a memory map `dedupe_key → (state, where its row is)` on
//! open. One insert per batch instead of one per event: random-key B-tree inserts and per-row
//! bound values were the gate's wall (docs/perf.md, 2026-11-29). Receipts are not copied here;
//! they live in the batch objects.
//!
//! A key's row is its *base* entry (a whole row, written when the key is claimed) plus at
//! most one *transition* entry (ADMITTED or PUBLISH_AMBIGUOUS, carrying only what changed),
//! so a commit writes ~60 bytes per event instead of the whole row again.

use std::collections::{HashMap, HashSet};

use fp_substrate::sql::{SqlError, SqlTx};

use super::error::IgError;
use super::index::{AdmissionRow, AdmissionState};
use super::journal_codec::{self as codec, Entry, Marks};
use super::journal_legacy;

/// Where an entry is: record `seq`, entry `idx` within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Pos {
    pub seq: i64,
    pub idx: u32,
}

/// Where a key's row is.
#[derive(Debug, Clone, Copy)]
pub(super) struct Loc {
    pub state: AdmissionState,
    /// The whole row as claimed (or as last written whole).
    pub base: Pos,
    /// The transition applied on top of `base`, if any.
    pub delta: Option<Pos>,
}

impl Loc {
    /// The latest entry about the key.
    pub fn latest(&self) -> Pos {
        self.delta.unwrap_or(self.base)
    }
}

/// `dedupe_key` (raw bytes) → latest row.
pub(super) type MemMap = HashMap<[u8; 32], Loc>;

fn corrupt(detail: impl Into<String>) -> SqlError {
    SqlError::abort(corrupt_error(detail))
}

/// The typed error for a journal that does not decode or does not add up.
pub(super) fn corrupt_error(detail: impl Into<String>) -> IgError {
    IgError::Corrupt {
        what: "admission journal",
        at: "ig_admission_batches".into(),
        detail: detail.into(),
    }
}

fn decode(seq: i64, body: &[u8]) -> Result<Vec<Entry>, SqlError> {
    Ok(decode_with_marks(seq, body)?.0)
}

fn decode_with_marks(seq: i64, body: &[u8]) -> Result<(Vec<Entry>, Marks), SqlError> {
    let decoded = match body.first() {
        // Records written before the binary format: a JSON array, no marks.
        Some(b'[') => journal_legacy::decode(body).map(|e| (e, Marks::new())),
        Some(_) => codec::decode(body),
        None => Err("empty record".to_owned()),
    };
    decoded.map_err(|e| corrupt(format!("record {seq}: {e}")))
}

/// Apply one entry (at `pos`, about `key`) to the map. Fails when a transition names a key
/// without a row.
pub(super) fn apply(map: &mut MemMap, pos: Pos, key: [u8; 32], e: &Entry) -> Result<(), String> {
    let state = match e {
        Entry::Full(r) => {
            map.insert(
                key,
                Loc {
                    state: r.state,
                    base: pos,
                    delta: None,
                },
            );
            return Ok(());
        }
        Entry::Released(_) => {
            map.remove(&key);
            return Ok(());
        }
        Entry::Admitted(..) => AdmissionState::Admitted,
        Entry::Ambiguous(_) => AdmissionState::PublishAmbiguous,
    };
    let loc = map.get_mut(&key).ok_or_else(|| {
        format!(
            "entry {} of record {} moves a key that has no row",
            pos.idx, pos.seq
        )
    })?;
    loc.state = state;
    loc.delta = Some(pos);
    Ok(())
}

/// Apply a whole record's entries (about `keys`, in order), as written at `seq`.
pub(super) fn apply_all(
    map: &mut MemMap,
    seq: i64,
    entries: &[Entry],
    keys: &[[u8; 32]],
) -> Result<(), IgError> {
    for (idx, (e, k)) in entries.iter().zip(keys).enumerate() {
        let idx = u32::try_from(idx).map_err(|_| corrupt_error("record too large"))?;
        apply(map, Pos { seq, idx }, *k, e).map_err(corrupt_error)?;
    }
    Ok(())
}

/// Replay every record into the map; also the highest mark of every bus partition.
pub(super) fn load(tx: &mut dyn SqlTx) -> Result<(MemMap, Marks), SqlError> {
    let mut map = MemMap::new();
    let mut marks = Marks::new();
    for row in tx.query(
        "SELECT seq, body FROM ig_admission_batches ORDER BY seq",
        &[],
    )? {
        let seq = row.get_i64(0)?;
        let (entries, m) = decode_with_marks(seq, &row.get_blob(1)?)?;
        for (idx, e) in entries.iter().enumerate() {
            let idx = u32::try_from(idx).map_err(|_| corrupt("record too large"))?;
            apply(&mut map, Pos { seq, idx }, e.key(), e).map_err(corrupt)?;
        }
        for (tp, next) in m {
            let at = marks.entry(tp).or_insert(next);
            *at = (*at).max(next);
        }
    }
    Ok((map, marks))
}

/// Append one record; returns its seq.
pub(super) fn append(tx: &mut dyn SqlTx, entries: &[Entry]) -> Result<i64, SqlError> {
    append_body(tx, codec::encode(entries, &Marks::new()))
}

/// Append an encoded record; returns its seq.
pub(super) fn append_body(tx: &mut dyn SqlTx, body: Vec<u8>) -> Result<i64, SqlError> {
    let row = tx
        .query_opt(
            "INSERT INTO ig_admission_batches (body) VALUES ($1) RETURNING seq",
            &[body.into()],
        )?
        .ok_or_else(|| corrupt("insert returned no seq"))?;
    row.get_i64(0)
}

/// A transition applied to a row.
fn transition(row: &mut AdmissionRow, e: &Entry) -> Result<(), String> {
    match e {
        Entry::Admitted(_, d) => {
            row.state = AdmissionState::Admitted;
            row.eb_ref = Some(d.eb_ref.clone());
            row.admitted_at_utc = d.admitted_at_utc.clone();
            row.receipt_id = d.receipt_id.clone();
            row.receipt_ref = d.receipt_ref.clone();
        }
        Entry::Ambiguous(_) => {
            // As written by `mark_ambiguous` before transitions existed: the claim, ambiguous.
            row.state = AdmissionState::PublishAmbiguous;
            row.eb_ref = None;
            row.admitted_at_utc = None;
            row.receipt_id = None;
            row.receipt_ref = None;
        }
        Entry::Full(_) | Entry::Released(_) => return Err("not a transition".into()),
    }
    Ok(())
}

/// Decoded records, cached per seq for the duration of one transaction.
#[derive(Default)]
pub(super) struct Cache(HashMap<i64, Vec<Entry>>);

fn entry_at<'c>(tx: &mut dyn SqlTx, cache: &'c mut Cache, pos: Pos) -> Result<&'c Entry, SqlError> {
    let entries = match cache.0.entry(pos.seq) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            let row = tx
                .query_opt(
                    "SELECT body FROM ig_admission_batches WHERE seq = $1",
                    &[pos.seq.into()],
                )?
                .ok_or_else(|| corrupt(format!("record {} vanished", pos.seq)))?;
            e.insert(decode(pos.seq, &row.get_blob(0)?)?)
        }
    };
    entries
        .get(pos.idx as usize)
        .ok_or_else(|| corrupt(format!("record {} has no entry {}", pos.seq, pos.idx)))
}

/// The row at a location.
pub(super) fn fetch(
    tx: &mut dyn SqlTx,
    cache: &mut Cache,
    loc: Loc,
) -> Result<AdmissionRow, SqlError> {
    let mut row = match entry_at(tx, cache, loc.base)? {
        Entry::Full(r) => (**r).clone(),
        _ => {
            return Err(corrupt(format!(
                "entry {} of record {} is not a whole row",
                loc.base.idx, loc.base.seq
            )));
        }
    };
    if let Some(d) = loc.delta {
        let e = entry_at(tx, cache, d)?;
        transition(&mut row, e)
            .map_err(|why| corrupt(format!("entry {} of record {}: {why}", d.idx, d.seq)))?;
    }
    Ok(row)
}

/// The latest row of every key that has a row matching `pred` (ops lookups: a full scan,
/// acceptable for the embedded index).
pub(super) fn scan(
    tx: &mut dyn SqlTx,
    pred: &dyn Fn(&AdmissionRow) -> bool,
) -> Result<Vec<AdmissionRow>, SqlError> {
    let mut latest: HashMap<[u8; 32], AdmissionRow> = HashMap::new();
    let mut matched: Vec<[u8; 32]> = Vec::new();
    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    for row in tx.query(
        "SELECT seq, body FROM ig_admission_batches ORDER BY seq",
        &[],
    )? {
        let seq = row.get_i64(0)?;
        for e in decode(seq, &row.get_blob(1)?)? {
            let k = e.key();
            match e {
                Entry::Released(_) => {
                    latest.remove(&k);
                    continue;
                }
                Entry::Full(r) => {
                    latest.insert(k, *r);
                }
                ref t => {
                    let r = latest
                        .get_mut(&k)
                        .ok_or_else(|| corrupt(format!("record {seq} moves an unknown key")))?;
                    transition(r, t).map_err(|why| corrupt(format!("record {seq}: {why}")))?;
                }
            }
            if latest.get(&k).is_some_and(pred) && seen.insert(k) {
                matched.push(k);
            }
        }
    }
    Ok(matched
        .into_iter()
        .filter_map(|k| latest.remove(&k))
        .collect())
}
