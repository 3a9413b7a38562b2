//! Reading journal records written before the binary format (a JSON array of whole rows per
//! record), so an index written by an earlier build still opens. Never written any more.

use fp_rails::{EbRef, Hex32, Hex64, OffsetKind, TsUtc};
use serde::Deserialize;

use super::index::{AdmissionRow, AdmissionState};
use super::journal_codec::{Entry, key_bytes};

const RELEASED: &str = "RELEASED";

#[derive(Debug, Deserialize)]
struct Rec {
    k: String,
    s: String,
    p: String,
    c: String,
    e: String,
    h: String,
    t: String,
    pk: String,
    #[serde(default)]
    ep: Option<u32>,
    #[serde(default)]
    eo: Option<String>,
    #[serde(default)]
    ek: Option<OffsetKind>,
    #[serde(default)]
    et: Option<String>,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    r: Option<String>,
    #[serde(default)]
    rr: Option<String>,
}

fn entry(r: Rec) -> Result<Entry, String> {
    let hex64 = |s: String| Hex64::parse(s).map_err(|e| e.to_string());
    let dedupe_key = hex64(r.k)?;
    if r.s == RELEASED {
        return Ok(Entry::Released(key_bytes(&dedupe_key)));
    }
    let state = AdmissionState::parse(&r.s).ok_or_else(|| format!("state {}", r.s))?;
    let eb_ref = match (r.eo, r.ep, r.ek) {
        (Some(offset), Some(partition), Some(offset_kind)) => Some(EbRef {
            topic: r.t.clone(),
            partition,
            offset,
            offset_kind,
            published_at_utc: match r.et {
                Some(t) => Some(TsUtc::parse(t).map_err(|e| e.to_string())?),
                None => None,
            },
        }),
        _ => None,
    };
    Ok(Entry::Full(Box::new(AdmissionRow {
        dedupe_key,
        state,
        platform_run_id: r.p,
        event_class: r.c,
        event_id: r.e,
        payload_hash: hex64(r.h)?,
        topic: r.t,
        partition_key: hex64(r.pk)?,
        eb_ref,
        admitted_at_utc: r.at,
        receipt_id: match r.r {
            Some(s) => Some(Hex32::parse(s).map_err(|e| e.to_string())?),
            None => None,
        },
        receipt_ref: r.rr,
        receipt: None,
    })))
}

/// Decode a legacy record into whole-row entries (tombstones become `Released`).
pub(super) fn decode(body: &[u8]) -> Result<Vec<Entry>, String> {
    let recs: Vec<Rec> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    recs.into_iter().map(entry).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_record_decodes_to_whole_rows_and_tombstones() {
        let k = "ab".repeat(32);
        let body = format!(
            r#"[{{"k":"{k}","s":"ADMITTED","p":"","c":"traffic","e":"e1","h":"{k}","t":"fp.traffic","pk":"{k}","ep":0,"eo":"5","ek":"file_line","at":"2026-11-29T05:00:00.000000Z","r":"{r}","rr":"x#{r}"}},{{"k":"{k}","s":"RELEASED","p":"","c":"traffic","e":"e1","h":"{k}","t":"fp.traffic","pk":"{k}"}}]"#,
            r = "cd".repeat(16)
        );
        let entries = decode(body.as_bytes()).unwrap();
        assert_eq!(entries.len(), 2);
        match &entries[0] {
            Entry::Full(r) => {
                assert_eq!(r.state, AdmissionState::Admitted);
                assert_eq!(r.eb_ref.as_ref().unwrap().offset, "5");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(entries[1], Entry::Released(_)));
        assert!(decode(b"[{\"k\":1}]").is_err());
    }
}
