//! The world as the 12 interface tables (Arrow record batches), rows in dictionary order.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};

use crate::WorldError;
use crate::catalogue::{self, OutputSpec};
use crate::identity::WorldIdentity;
use crate::model::World;
use crate::model::truth::{BANK_FRAUD_LABELS, CASE_EVENT_TYPES, LEGIT};
use crate::timefmt::{ZONES, ts_local, ts_utc};

/// One output's rows.
#[derive(Debug, Clone)]
pub struct Table {
    /// Catalogue entry.
    pub spec: &'static OutputSpec,
    /// Rows (one batch).
    pub batch: RecordBatch,
}

fn s<P: AsRef<str>, I: IntoIterator<Item = P>>(v: I) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}
fn konst(v: &str, n: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n)))
}
fn i64s(v: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(v))
}
fn u64s(v: Vec<u64>) -> ArrayRef {
    Arc::new(UInt64Array::from(v))
}
fn f64s(v: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(v))
}
fn bools(v: Vec<bool>) -> ArrayRef {
    Arc::new(BooleanArray::from(v))
}

struct Ident<'a> {
    id: &'a WorldIdentity,
}

impl Ident<'_> {
    fn seed_i(&self, n: usize) -> ArrayRef {
        i64s(vec![self.id.seed as i64; n])
    }
    fn mf(&self, n: usize) -> ArrayRef {
        konst(&self.id.manifest_fingerprint, n)
    }
    fn ph(&self, n: usize) -> ArrayRef {
        konst(&self.id.parameter_hash, n)
    }
    fn sc(&self, n: usize) -> ArrayRef {
        konst(&self.id.scenario_id, n)
    }
    /// seed, mf, ph, scenario_id (6B order).
    fn id4(&self, n: usize) -> [ArrayRef; 4] {
        [self.seed_i(n), self.mf(n), self.ph(n), self.sc(n)]
    }
}

fn batch(spec: &'static OutputSpec, cols: Vec<ArrayRef>) -> Result<Table, WorldError> {
    let batch = RecordBatch::try_new(spec.schema(), cols)
        .map_err(|e| WorldError::Internal(format!("{}: {e}", spec.id)))?;
    Ok(Table { spec, batch })
}

/// Build all 12 tables.
pub fn build(w: &World, id: &WorldIdentity) -> Result<Vec<Table>, WorldError> {
    let ident = Ident { id };
    let n = w.arrivals.len();
    let ts: Vec<String> = w.arrivals.iter().map(|a| ts_utc(a.ts_us)).collect();
    let merchant_ids: Vec<u64> = w
        .arrivals
        .iter()
        .map(|a| w.merchants[a.merchant as usize].id)
        .collect();
    let seqs: Vec<i64> = w.arrivals.iter().map(|a| a.arrival_seq).collect();
    let mut out = Vec::with_capacity(12);

    // arrival_events_5B
    {
        let m = |a: &crate::model::Arrival| &w.merchants[a.merchant as usize];
        let tz = |a: &crate::model::Arrival| ZONES[m(a).zone];
        let optz = |a: &crate::model::Arrival| ZONES[m(a).op_zone];
        let routing = fp_rails::digest::sha256_hex(format!(
            "fp-world.routing.v1|{}",
            id.manifest_fingerprint
        ));
        out.push(batch(
            &catalogue::ARRIVAL_EVENTS,
            vec![
                ident.mf(n),
                ident.ph(n),
                u64s(vec![id.seed; n]),
                ident.sc(n),
                u64s(merchant_ids.clone()),
                s(w.arrivals.iter().map(|a| tz(a).0)),
                Arc::new(StringArray::from_iter(
                    w.arrivals.iter().map(|a| Some(m(a).channel.as_str())),
                )),
                i64s(w.arrivals.iter().map(|a| a.bucket).collect()),
                i64s(seqs.clone()),
                s(ts.iter()),
                s(w.arrivals.iter().map(|a| tz(a).0)),
                s(w.arrivals.iter().map(|a| ts_local(a.ts_us, tz(a).1))),
                Arc::new(StringArray::from_iter(
                    w.arrivals.iter().map(|a| Some(tz(a).0)),
                )),
                Arc::new(StringArray::from_iter(
                    w.arrivals.iter().map(|a| Some(ts_local(a.ts_us, tz(a).1))),
                )),
                Arc::new(StringArray::from_iter(
                    w.arrivals.iter().map(|a| Some(optz(a).0)),
                )),
                Arc::new(StringArray::from_iter(
                    w.arrivals
                        .iter()
                        .map(|a| Some(ts_local(a.ts_us, optz(a).1))),
                )),
                Arc::new(StringArray::from_iter(std::iter::repeat_n(
                    Some(routing.as_str()),
                    n,
                ))),
                bools(w.arrivals.iter().map(|a| m(a).is_virtual).collect()),
                Arc::new(StringArray::from_iter(std::iter::repeat_n(
                    Some("fp-world-1.0.0"),
                    n,
                ))),
                Arc::new(UInt64Array::from_iter(
                    w.arrivals
                        .iter()
                        .map(|a| (!m(a).is_virtual).then_some(a.route)),
                )),
                Arc::new(UInt64Array::from_iter(
                    w.arrivals
                        .iter()
                        .map(|a| m(a).is_virtual.then_some(a.route)),
                )),
            ],
        )?);
    }

    // s1_arrival_entities_6B
    out.push(batch(
        &catalogue::ARRIVAL_ENTITIES,
        vec![
            ident.sc(n),
            i64s(seqs.clone()),
            u64s(merchant_ids.clone()),
            s(ts.iter()),
            i64s(w.arrivals.iter().map(|a| a.party_id).collect()),
            i64s(w.arrivals.iter().map(|a| a.account_id).collect()),
            i64s(w.arrivals.iter().map(|a| a.instrument_id).collect()),
            i64s(w.arrivals.iter().map(|a| a.device_id).collect()),
            i64s(w.arrivals.iter().map(|a| a.ip_id).collect()),
            i64s(w.session_ids.clone()),
            ident.seed_i(n),
            ident.mf(n),
            ident.ph(n),
        ],
    )?);

    // s1_session_index_6B: aggregate by session id; anchors = the earliest arrival's ids.
    {
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by_key(|&i| (w.session_ids[i], w.arrivals[i].ts_us, i));
        let mut rows: Vec<(i64, i64, i64, i64, usize)> = Vec::new(); // sid, count, min, max, first
        for &i in &idx {
            let sid = w.session_ids[i];
            let t = w.arrivals[i].ts_us;
            match rows.last_mut() {
                Some(r) if r.0 == sid => {
                    r.1 += 1;
                    r.3 = r.3.max(t);
                }
                _ => rows.push((sid, 1, t, t, i)),
            }
        }
        let k = rows.len();
        let a = |r: &(i64, i64, i64, i64, usize)| &w.arrivals[r.4];
        out.push(batch(
            &catalogue::SESSION_INDEX,
            vec![
                i64s(rows.iter().map(|r| r.0).collect()),
                i64s(rows.iter().map(|r| r.1).collect()),
                s(rows.iter().map(|r| ts_utc(r.2))),
                s(rows.iter().map(|r| ts_utc(r.3))),
                ident.seed_i(k),
                ident.mf(k),
                ident.sc(k),
                i64s(rows.iter().map(|r| a(r).party_id).collect()),
                i64s(rows.iter().map(|r| a(r).device_id).collect()),
                i64s(rows.iter().map(|r| a(r).account_id).collect()),
                i64s(rows.iter().map(|r| a(r).instrument_id).collect()),
                u64s(rows.iter().map(|r| merchant_ids[r.4]).collect()),
            ],
        )?);
    }

    // Flow order.
    let mut fo: Vec<usize> = (0..n).collect();
    fo.sort_by_key(|&i| w.flow_ids[i]);
    let campaign_id = |i: usize| {
        w.arrivals[i]
            .campaign
            .map(|c| w.campaigns[c as usize].id.as_str())
    };
    let anchor = |fraud: bool| -> Vec<ArrayRef> {
        let mut cols = vec![
            i64s(fo.iter().map(|&i| w.flow_ids[i]).collect()),
            i64s(fo.iter().map(|&i| seqs[i]).collect()),
            u64s(fo.iter().map(|&i| merchant_ids[i]).collect()),
            i64s(fo.iter().map(|&i| w.arrivals[i].party_id).collect()),
            i64s(fo.iter().map(|&i| w.arrivals[i].account_id).collect()),
            i64s(fo.iter().map(|&i| w.arrivals[i].instrument_id).collect()),
            i64s(fo.iter().map(|&i| w.arrivals[i].device_id).collect()),
            i64s(fo.iter().map(|&i| w.arrivals[i].ip_id).collect()),
            s(fo.iter().map(|&i| &ts[i])),
            f64s(
                fo.iter()
                    .map(|&i| {
                        if fraud {
                            w.arrivals[i].amount
                        } else {
                            w.arrivals[i].base_amount
                        }
                    })
                    .collect(),
            ),
        ];
        cols.extend(ident.id4(n));
        if fraud {
            cols.push(bools(
                fo.iter()
                    .map(|&i| w.arrivals[i].campaign.is_some())
                    .collect(),
            ));
            cols.push(Arc::new(StringArray::from_iter(
                fo.iter().map(|&i| campaign_id(i)),
            )));
        }
        cols
    };
    let base_anchor = anchor(false);
    let fraud_anchor = anchor(true);

    // Events in (flow_id, event_seq) order.
    let mut ev_flow: Vec<usize> = Vec::with_capacity(n * 3);
    let mut ev_seq: Vec<i64> = Vec::with_capacity(n * 3);
    let mut ev_type: Vec<&'static str> = Vec::with_capacity(n * 3);
    let mut ev_ts: Vec<String> = Vec::with_capacity(n * 3);
    for &i in &fo {
        let t = w.arrivals[i].ts_us;
        for (k, (ty, off)) in w.events[i].sequence().into_iter().enumerate() {
            ev_flow.push(i);
            ev_seq.push(k as i64);
            ev_type.push(ty);
            ev_ts.push(if off == 0 {
                ts[i].clone()
            } else {
                ts_utc(t + off)
            });
        }
    }
    let ne = ev_flow.len();
    let events = |fraud: bool| -> Vec<ArrayRef> {
        let mut cols = vec![
            i64s(ev_flow.iter().map(|&i| w.flow_ids[i]).collect()),
            i64s(ev_seq.clone()),
            s(ev_type.iter()),
            s(ev_ts.iter()),
            f64s(
                ev_flow
                    .iter()
                    .map(|&i| {
                        if fraud {
                            w.arrivals[i].amount
                        } else {
                            w.arrivals[i].base_amount
                        }
                    })
                    .collect(),
            ),
        ];
        cols.extend(ident.id4(ne));
        if fraud {
            cols.push(bools(
                ev_flow
                    .iter()
                    .map(|&i| w.arrivals[i].campaign.is_some())
                    .collect(),
            ));
            cols.push(Arc::new(StringArray::from_iter(
                ev_flow.iter().map(|&i| campaign_id(i)),
            )));
        }
        cols
    };
    out.push(batch(&catalogue::FLOW_ANCHOR_BASELINE, base_anchor)?);
    out.push(batch(&catalogue::EVENT_STREAM_BASELINE, events(false))?);

    // Campaign catalogue: realised campaigns only, by campaign_id.
    {
        let mut cs: Vec<&crate::model::campaigns::Campaign> =
            w.campaigns.iter().filter(|c| c.tagged > 0).collect();
        cs.sort_by(|a, b| a.id.cmp(&b.id));
        let k = cs.len();
        out.push(batch(
            &catalogue::CAMPAIGN_CATALOGUE,
            vec![
                s(cs.iter().map(|c| &c.id)),
                s(cs.iter().map(|c| c.template.label())),
                f64s(
                    cs.iter()
                        .map(|c| c.tagged as f64 / n.max(1) as f64)
                        .collect(),
                ),
                ident.sc(k),
                ident.seed_i(k),
                ident.mf(k),
                ident.ph(k),
            ],
        )?);
    }
    out.push(batch(&catalogue::FLOW_ANCHOR_FRAUD, fraud_anchor)?);
    out.push(batch(&catalogue::EVENT_STREAM_FRAUD, events(true))?);

    // Truth products.
    let truth = |i: usize| w.outcomes[i].fraud_label != LEGIT;
    let bank = |i: usize| BANK_FRAUD_LABELS.contains(&w.outcomes[i].bank_label);
    let mut cols = vec![
        i64s(fo.iter().map(|&i| w.flow_ids[i]).collect()),
        bools(fo.iter().map(|&i| truth(i)).collect()),
        Arc::new(StringArray::from_iter(
            fo.iter().map(|&i| Some(w.outcomes[i].fraud_label)),
        )) as ArrayRef,
    ];
    cols.extend(ident.id4(n));
    out.push(batch(&catalogue::FLOW_TRUTH, cols)?);
    let mut cols = vec![
        i64s(fo.iter().map(|&i| w.flow_ids[i]).collect()),
        bools(fo.iter().map(|&i| bank(i)).collect()),
        Arc::new(StringArray::from_iter(
            fo.iter().map(|&i| Some(w.outcomes[i].bank_label)),
        )) as ArrayRef,
    ];
    cols.extend(ident.id4(n));
    out.push(batch(&catalogue::FLOW_BANK_VIEW, cols)?);
    let mut cols = vec![
        i64s(ev_flow.iter().map(|&i| w.flow_ids[i]).collect()),
        i64s(ev_seq.clone()),
        bools(ev_flow.iter().map(|&i| truth(i)).collect()),
        bools(ev_flow.iter().map(|&i| bank(i)).collect()),
    ];
    cols.extend(ident.id4(ne));
    out.push(batch(&catalogue::EVENT_LABELS, cols)?);

    // Case timeline by (case_id, slot).
    {
        let mut rows: Vec<(i64, i64, i64, &'static str, i64)> = Vec::new();
        for i in 0..n {
            if let Some(cid) = w.case_ids[i] {
                for &(slot, t) in &w.outcomes[i].case {
                    rows.push((
                        cid,
                        slot as i64,
                        w.flow_ids[i],
                        CASE_EVENT_TYPES[slot as usize],
                        t,
                    ));
                }
            }
        }
        rows.sort_by_key(|r| (r.0, r.1));
        let k = rows.len();
        let mut cols = vec![
            i64s(rows.iter().map(|r| r.0).collect()),
            i64s(rows.iter().map(|r| r.1).collect()),
            i64s(rows.iter().map(|r| r.2).collect()),
            s(rows.iter().map(|r| r.3)),
            s(rows.iter().map(|r| ts_utc(r.4))),
        ];
        cols.extend(ident.id4(k));
        out.push(batch(&catalogue::CASE_TIMELINE, cols)?);
    }
    Ok(out)
}
