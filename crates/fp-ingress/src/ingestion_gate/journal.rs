//! The SQLite layout of the admission index: one journal record per index transaction (a
//! batch of rows, compact JSON in a BLOB), never updated in place, replayed into a memory map
//! `dedupe_key → (state, record, position)` on open. One insert per batch instead of one per
//! event: random-key B-tree inserts and per-row bound values were the gate's wall
//! (docs/perf.md, 2026-11-29). Receipts are not copied here; they live in the batch objects.

use std::collections::HashMap;

use fp_rails::{EbRef, Hex32, Hex64, OffsetKind, TsUtc};
use fp_substrate::sql::{SqlError, SqlTx};
use serde::{Deserialize, Serialize};

use super::error::IgError;
use super::index::{AdmissionRow, AdmissionState};

const RELEASED: &str = "RELEASED";

/// Where a key's latest row is.
#[derive(Debug, Clone, Copy)]
pub(super) struct Loc {
    pub state: AdmissionState,
    pub seq: i64,
    pub idx: u32,
}

/// `dedupe_key` (raw bytes) → latest row.
pub(super) type MemMap = HashMap<[u8; 32], Loc>;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Rec {
    k: String,
    s: String,
    p: String,
    c: String,
    e: String,
    h: String,
    t: String,
    pk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ep: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    eo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ek: Option<OffsetKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    et: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rr: Option<String>,
}

fn corrupt(detail: impl Into<String>) -> SqlError {
    SqlError::abort(IgError::Corrupt {
        what: "admission journal",
        at: "ig_admission_batches".into(),
        detail: detail.into(),
    })
}

pub(super) fn key_bytes(h: &Hex64) -> [u8; 32] {
    let mut out = [0u8; 32];
    // A Hex64 is 64 validated hex characters.
    let _ = hex::decode_to_slice(h.as_str(), &mut out);
    out
}

fn to_rec(r: &AdmissionRow, released: bool) -> Rec {
    let eb = r.eb_ref.as_ref();
    Rec {
        k: r.dedupe_key.as_str().to_owned(),
        s: if released {
            RELEASED.to_owned()
        } else {
            r.state.as_str().to_owned()
        },
        p: r.platform_run_id.clone(),
        c: r.event_class.clone(),
        e: r.event_id.clone(),
        h: r.payload_hash.as_str().to_owned(),
        t: r.topic.clone(),
        pk: r.partition_key.as_str().to_owned(),
        ep: eb.map(|e| e.partition),
        eo: eb.map(|e| e.offset.clone()),
        ek: eb.map(|e| e.offset_kind),
        et: eb.and_then(|e| e.published_at_utc.as_ref().map(|t| t.as_str().to_owned())),
        at: r.admitted_at_utc.clone(),
        r: r.receipt_id.as_ref().map(|x| x.as_str().to_owned()),
        rr: r.receipt_ref.clone(),
    }
}

fn from_rec(r: &Rec) -> Result<AdmissionRow, SqlError> {
    let hex64 = |s: &str| Hex64::parse(s).map_err(|e| corrupt(format!("{s}: {e}")));
    let state = AdmissionState::parse(&r.s).ok_or_else(|| corrupt(format!("state {}", r.s)))?;
    let eb_ref = match (&r.eo, r.ep, r.ek) {
        (Some(offset), Some(partition), Some(offset_kind)) => Some(EbRef {
            topic: r.t.clone(),
            partition,
            offset: offset.clone(),
            offset_kind,
            published_at_utc: match &r.et {
                Some(t) => Some(TsUtc::parse(t.clone()).map_err(|e| corrupt(e.to_string()))?),
                None => None,
            },
        }),
        _ => None,
    };
    Ok(AdmissionRow {
        dedupe_key: hex64(&r.k)?,
        state,
        platform_run_id: r.p.clone(),
        event_class: r.c.clone(),
        event_id: r.e.clone(),
        payload_hash: hex64(&r.h)?,
        topic: r.t.clone(),
        partition_key: hex64(&r.pk)?,
        eb_ref,
        admitted_at_utc: r.at.clone(),
        receipt_id: match &r.r {
            Some(s) => Some(Hex32::parse(s.clone()).map_err(|e| corrupt(e.to_string()))?),
            None => None,
        },
        receipt_ref: r.rr.clone(),
        receipt: None,
    })
}

fn decode(seq: i64, body: &[u8]) -> Result<Vec<Rec>, SqlError> {
    serde_json::from_slice(body).map_err(|e| corrupt(format!("record {seq}: {e}")))
}

/// Replay every record into the map.
pub(super) fn load(tx: &mut dyn SqlTx) -> Result<MemMap, SqlError> {
    let mut map = MemMap::new();
    for row in tx.query(
        "SELECT seq, body FROM ig_admission_batches ORDER BY seq",
        &[],
    )? {
        let seq = row.get_i64(0)?;
        for (idx, rec) in decode(seq, &row.get_blob(1)?)?.iter().enumerate() {
            let key = key_bytes(&Hex64::parse(rec.k.clone()).map_err(|e| corrupt(e.to_string()))?);
            if rec.s == RELEASED {
                map.remove(&key);
                continue;
            }
            let state =
                AdmissionState::parse(&rec.s).ok_or_else(|| corrupt(format!("state {}", rec.s)))?;
            let idx = u32::try_from(idx).map_err(|_| corrupt("record too large"))?;
            map.insert(key, Loc { state, seq, idx });
        }
    }
    Ok(map)
}

/// Append one record (rows in order; `released` writes tombstones); returns its seq.
pub(super) fn append(
    tx: &mut dyn SqlTx,
    rows: &[AdmissionRow],
    released: bool,
) -> Result<i64, SqlError> {
    let recs: Vec<Rec> = rows.iter().map(|r| to_rec(r, released)).collect();
    let body = serde_json::to_vec(&recs).map_err(|e| corrupt(e.to_string()))?;
    let row = tx
        .query_opt(
            "INSERT INTO ig_admission_batches (body) VALUES ($1) RETURNING seq",
            &[body.into()],
        )?
        .ok_or_else(|| corrupt("insert returned no seq"))?;
    row.get_i64(0)
}

/// Decoded records, cached per seq for the duration of one transaction.
#[derive(Default)]
pub(super) struct Cache(HashMap<i64, Vec<Rec>>);

/// The row at a location.
pub(super) fn fetch(
    tx: &mut dyn SqlTx,
    cache: &mut Cache,
    loc: Loc,
) -> Result<AdmissionRow, SqlError> {
    let recs = match cache.0.entry(loc.seq) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            let row = tx
                .query_opt(
                    "SELECT body FROM ig_admission_batches WHERE seq = $1",
                    &[loc.seq.into()],
                )?
                .ok_or_else(|| corrupt(format!("record {} vanished", loc.seq)))?;
            e.insert(decode(loc.seq, &row.get_blob(0)?)?)
        }
    };
    let rec = recs
        .get(loc.idx as usize)
        .ok_or_else(|| corrupt(format!("record {} has no row {}", loc.seq, loc.idx)))?;
    from_rec(rec)
}

/// The latest row of every key that has a row matching `pred` (ops lookups: a full scan,
/// acceptable for the embedded index).
pub(super) fn scan(
    tx: &mut dyn SqlTx,
    pred: &dyn Fn(&AdmissionRow) -> bool,
) -> Result<Vec<AdmissionRow>, SqlError> {
    let mut latest: HashMap<String, Option<AdmissionRow>> = HashMap::new();
    let mut matched: Vec<String> = Vec::new();
    for row in tx.query(
        "SELECT seq, body FROM ig_admission_batches ORDER BY seq",
        &[],
    )? {
        let seq = row.get_i64(0)?;
        for rec in decode(seq, &row.get_blob(1)?)? {
            if rec.s == RELEASED {
                latest.insert(rec.k.clone(), None);
                continue;
            }
            let r = from_rec(&rec)?;
            if pred(&r) && !matched.contains(&rec.k) {
                matched.push(rec.k.clone());
            }
            latest.insert(rec.k.clone(), Some(r));
        }
    }
    Ok(matched
        .into_iter()
        .filter_map(|k| latest.remove(&k).flatten())
        .collect())
}
