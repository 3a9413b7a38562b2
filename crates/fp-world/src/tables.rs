//! The world as the 12 interface tables (Arrow record batches), rows in dictionary order.
//!
//! Built without a `String` per row: timestamps are rendered into a stack buffer and appended
//! to Arrow builders, columns shared by several tables (the arrival order's `ts_utc`,
//! `merchant_id`, `arrival_seq`, the flow order's `flow_id`, the event order's keys) are built
//! once and shared, and the identity columns (constant within a world) are slices of one array
//! per value, so they cost memory once whatever the number of tables.

use std::sync::Arc;

use arrow_array::builder::{StringBuilder, UInt64Builder};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, UInt64Array};

use crate::WorldError;
use crate::catalogue::{self, OutputSpec};
use crate::identity::WorldIdentity;
use crate::model::World;
use crate::model::truth::{BANK_FRAUD_LABELS, CASE_EVENT_TYPES, LEGIT};
use crate::timefmt::{TsBuf, ZONES, local_into, utc_into};

/// One output's rows.
#[derive(Debug, Clone)]
pub struct Table {
    /// Catalogue entry.
    pub spec: &'static OutputSpec,
    /// Rows (one batch).
    pub batch: RecordBatch,
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

/// A string column of `n` rows from `f(row, scratch)`.
fn strs<F>(n: usize, width: usize, mut f: F) -> ArrayRef
where
    F: for<'b> FnMut(usize, &'b mut TsBuf) -> &'b str,
{
    let mut b = StringBuilder::with_capacity(n, n * width);
    let mut buf: TsBuf = [0; 32];
    for i in 0..n {
        b.append_value(f(i, &mut buf));
    }
    Arc::new(b.finish())
}

/// A nullable string column of `n` rows from `f(row)`.
fn opt_strs<'a>(n: usize, width: usize, mut f: impl FnMut(usize) -> Option<&'a str>) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * width);
    for i in 0..n {
        b.append_option(f(i));
    }
    Arc::new(b.finish())
}

/// A string column of `n` rows borrowed from the world.
fn strs_ref<'a>(n: usize, width: usize, mut f: impl FnMut(usize) -> &'a str) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * width);
    for i in 0..n {
        b.append_value(f(i));
    }
    Arc::new(b.finish())
}

/// `ts_utc` of each micros value.
fn ts_col(n: usize, mut us: impl FnMut(usize) -> i64) -> ArrayRef {
    strs(n, 27, |i, buf| utc_into(us(i), buf))
}

/// Which constant column.
#[derive(Clone, Copy)]
enum K {
    SeedI,
    SeedU,
    Mf,
    Ph,
    Sc,
    Routing,
    SpecVersion,
}

/// Constant columns, sliced per table.
struct Consts {
    /// Rows of each column.
    lens: [usize; 7],
    seed: u64,
    strings: [String; 5],
    arrays: [ArrayRef; 7],
}

fn repeat(v: &str, n: usize) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * v.len());
    for _ in 0..n {
        b.append_value(v);
    }
    Arc::new(b.finish())
}

impl Consts {
    /// Columns of `len` rows, and of `n_arrivals` for those only the arrival table has.
    fn new(id: &WorldIdentity, n_arrivals: usize, len: usize) -> Self {
        let routing = fp_rails::digest::sha256_hex(format!(
            "fp-world.routing.v1|{}",
            id.manifest_fingerprint
        ));
        let strings = [
            id.manifest_fingerprint.clone(),
            id.parameter_hash.clone(),
            id.scenario_id.clone(),
            routing,
            "fp-world-1.0.0".to_owned(),
        ];
        let mut c = Consts {
            lens: [0; 7],
            seed: id.seed,
            strings,
            arrays: std::array::from_fn(|_| i64s(Vec::new())),
        };
        for k in [
            K::SeedI,
            K::SeedU,
            K::Mf,
            K::Ph,
            K::Sc,
            K::Routing,
            K::SpecVersion,
        ] {
            let rows = match k {
                K::SeedU | K::Routing | K::SpecVersion => n_arrivals,
                _ => len,
            };
            c.arrays[k as usize] = c.make(k, rows);
            c.lens[k as usize] = rows;
        }
        c
    }

    fn make(&self, k: K, n: usize) -> ArrayRef {
        match k {
            K::SeedI => i64s(vec![self.seed as i64; n]),
            K::SeedU => u64s(vec![self.seed; n]),
            K::Mf => repeat(&self.strings[0], n),
            K::Ph => repeat(&self.strings[1], n),
            K::Sc => repeat(&self.strings[2], n),
            K::Routing => repeat(&self.strings[3], n),
            K::SpecVersion => repeat(&self.strings[4], n),
        }
    }

    /// `n` rows of the constant column `k` (a slice of the shared one).
    fn cut(&self, k: K, n: usize) -> ArrayRef {
        if n <= self.lens[k as usize] {
            self.arrays[k as usize].slice(0, n)
        } else {
            self.make(k, n)
        }
    }
    fn seed_i(&self, n: usize) -> ArrayRef {
        self.cut(K::SeedI, n)
    }
    fn mf(&self, n: usize) -> ArrayRef {
        self.cut(K::Mf, n)
    }
    fn ph(&self, n: usize) -> ArrayRef {
        self.cut(K::Ph, n)
    }
    fn sc(&self, n: usize) -> ArrayRef {
        self.cut(K::Sc, n)
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

/// The events of every flow in `(flow_id, event_seq)` order, compactly.
struct Events {
    /// Arrival index of the event's flow.
    flow: Vec<u32>,
    /// `event_seq`.
    seq: Vec<i64>,
    /// `event_type`.
    ty: Vec<&'static str>,
    /// Event instant (micros).
    ts: Vec<i64>,
}

fn events(w: &World, fo: &[u32]) -> Events {
    let cap = w.arrivals.len() * 3;
    let mut ev = Events {
        flow: Vec::with_capacity(cap),
        seq: Vec::with_capacity(cap),
        ty: Vec::with_capacity(cap),
        ts: Vec::with_capacity(cap),
    };
    for &i in fo {
        let t = w.arrivals[i as usize].ts_us;
        let mut k = 0i64;
        w.events[i as usize].for_each(|ty, off| {
            ev.flow.push(i);
            ev.seq.push(k);
            ev.ty.push(ty);
            ev.ts.push(t + off);
            k += 1;
        });
    }
    ev
}

/// What several tables share, computed once.
struct Ctx<'w> {
    w: &'w World,
    n: usize,
    merchant_ids: Vec<u64>,
    merchant_col: ArrayRef,
    seq_col: ArrayRef,
    ts_arrival: ArrayRef,
    /// Arrival indices in flow order.
    fo: Vec<u32>,
    flow_col: ArrayRef,
    ev: Events,
    ev_flow_col: ArrayRef,
    ev_seq_col: ArrayRef,
    consts: Consts,
}

/// Builds one group of tables.
type Group = fn(&Ctx<'_>) -> Result<Vec<Table>, WorldError>;

/// Build all 12 tables (in catalogue order), the four groups of tables on every core.
pub fn build(w: &World, id: &WorldIdentity) -> Result<Vec<Table>, WorldError> {
    let n = w.arrivals.len();
    if u32::try_from(n).is_err() {
        return Err(WorldError::Config(format!(
            "{n} flows: more than one world holds"
        )));
    }
    let arr = &w.arrivals;
    let merchant_ids: Vec<u64> = arr
        .iter()
        .map(|a| w.merchants[a.merchant as usize].id)
        .collect();
    let mut fo: Vec<u32> = (0..n as u32).collect();
    fo.sort_unstable_by_key(|&i| w.flow_ids[i as usize]);
    let ev = events(w, &fo);
    let ne = ev.flow.len();
    let cx = Ctx {
        w,
        n,
        merchant_col: u64s(merchant_ids.clone()),
        merchant_ids,
        seq_col: i64s(arr.iter().map(|a| a.arrival_seq).collect()),
        ts_arrival: ts_col(n, |i| arr[i].ts_us),
        flow_col: i64s(fo.iter().map(|&i| w.flow_ids[i as usize]).collect()),
        fo,
        ev_flow_col: i64s(ev.flow.iter().map(|&i| w.flow_ids[i as usize]).collect()),
        ev_seq_col: i64s(ev.seq.clone()),
        ev,
        consts: Consts::new(id, n, n.max(ne)),
    };
    let groups: [Group; 4] = [event_tables, arrival_tables, flow_tables, case_tables];
    let mut built: Vec<Table> = Vec::with_capacity(12);
    for g in crate::pool::parallel(&groups, |g| g(&cx)) {
        built.extend(g?);
    }
    // Catalogue order.
    let mut out = Vec::with_capacity(12);
    for spec in catalogue::OUTPUTS {
        let i = built
            .iter()
            .position(|t| t.spec.id == spec.id)
            .ok_or_else(|| WorldError::Internal(format!("{} not built", spec.id)))?;
        out.push(built.swap_remove(i));
    }
    Ok(out)
}

/// `arrival_events_5B`, `s1_arrival_entities_6B`, `s1_session_index_6B`.
fn arrival_tables(cx: &Ctx<'_>) -> Result<Vec<Table>, WorldError> {
    let (w, n, consts) = (cx.w, cx.n, &cx.consts);
    let arr = &w.arrivals;
    let merchant_of = |i: usize| &w.merchants[arr[i].merchant as usize];
    let mut out = Vec::with_capacity(3);
    // arrival_events_5B
    {
        let tz = |i: usize| ZONES[merchant_of(i).zone];
        let optz = |i: usize| ZONES[merchant_of(i).op_zone];
        let tz_col = strs_ref(n, 20, |i| tz(i).0);
        let local_col = strs(n, 26, |i, buf| local_into(arr[i].ts_us, tz(i).1, buf));
        let mut site = UInt64Builder::with_capacity(n);
        let mut edge = UInt64Builder::with_capacity(n);
        for a in arr {
            if w.merchants[a.merchant as usize].is_virtual {
                site.append_null();
                edge.append_value(a.route);
            } else {
                site.append_value(a.route);
                edge.append_null();
            }
        }
        out.push(batch(
            &catalogue::ARRIVAL_EVENTS,
            vec![
                consts.mf(n),
                consts.ph(n),
                consts.cut(K::SeedU, n),
                consts.sc(n),
                cx.merchant_col.clone(),
                tz_col.clone(),
                opt_strs(n, 6, |i| Some(merchant_of(i).channel.as_str())),
                i64s(arr.iter().map(|a| a.bucket).collect()),
                cx.seq_col.clone(),
                cx.ts_arrival.clone(),
                tz_col.clone(),
                local_col.clone(),
                tz_col,
                local_col,
                opt_strs(n, 20, |i| Some(optz(i).0)),
                strs(n, 26, |i, buf| local_into(arr[i].ts_us, optz(i).1, buf)),
                consts.cut(K::Routing, n),
                bools(
                    arr.iter()
                        .map(|a| w.merchants[a.merchant as usize].is_virtual)
                        .collect(),
                ),
                consts.cut(K::SpecVersion, n),
                Arc::new(site.finish()),
                Arc::new(edge.finish()),
            ],
        )?);
    }

    // s1_arrival_entities_6B
    out.push(batch(
        &catalogue::ARRIVAL_ENTITIES,
        vec![
            consts.sc(n),
            cx.seq_col.clone(),
            cx.merchant_col.clone(),
            cx.ts_arrival.clone(),
            i64s(arr.iter().map(|a| a.party_id).collect()),
            i64s(arr.iter().map(|a| a.account_id).collect()),
            i64s(arr.iter().map(|a| a.instrument_id).collect()),
            i64s(arr.iter().map(|a| a.device_id).collect()),
            i64s(arr.iter().map(|a| a.ip_id).collect()),
            i64s(w.session_ids.clone()),
            consts.seed_i(n),
            consts.mf(n),
            consts.ph(n),
        ],
    )?);

    // s1_session_index_6B: aggregate by session id; anchors = the earliest arrival's ids.
    {
        let mut idx: Vec<u32> = (0..n as u32).collect();
        idx.sort_unstable_by_key(|&i| (w.session_ids[i as usize], arr[i as usize].ts_us, i));
        let mut rows: Vec<(i64, i64, i64, i64, usize)> = Vec::new(); // sid, count, min, max, first
        for &i in &idx {
            let i = i as usize;
            let sid = w.session_ids[i];
            let t = arr[i].ts_us;
            match rows.last_mut() {
                Some(r) if r.0 == sid => {
                    r.1 += 1;
                    r.3 = r.3.max(t);
                }
                _ => rows.push((sid, 1, t, t, i)),
            }
        }
        drop(idx);
        let k = rows.len();
        let a = |r: &(i64, i64, i64, i64, usize)| &arr[r.4];
        out.push(batch(
            &catalogue::SESSION_INDEX,
            vec![
                i64s(rows.iter().map(|r| r.0).collect()),
                i64s(rows.iter().map(|r| r.1).collect()),
                ts_col(k, |j| rows[j].2),
                ts_col(k, |j| rows[j].3),
                consts.seed_i(k),
                consts.mf(k),
                consts.sc(k),
                i64s(rows.iter().map(|r| a(r).party_id).collect()),
                i64s(rows.iter().map(|r| a(r).device_id).collect()),
                i64s(rows.iter().map(|r| a(r).account_id).collect()),
                i64s(rows.iter().map(|r| a(r).instrument_id).collect()),
                u64s(rows.iter().map(|r| cx.merchant_ids[r.4]).collect()),
            ],
        )?);
    }

    Ok(out)
}

fn campaign_id(w: &World, i: usize) -> Option<&str> {
    w.arrivals[i]
        .campaign
        .map(|c| w.campaigns[c as usize].id.as_str())
}

/// The flow-ordered tables: both flow anchors, truth labels and bank view.
fn flow_tables(cx: &Ctx<'_>) -> Result<Vec<Table>, WorldError> {
    let (w, n, consts, fo) = (cx.w, cx.n, &cx.consts, &cx.fo);
    let arr = &w.arrivals;
    let merchant_ids = &cx.merchant_ids;
    let fo_i = |k: usize| fo[k] as usize;
    let fraud_flag = |k: usize| arr[fo_i(k)].campaign.is_some();
    let anchor_common: Vec<ArrayRef> = vec![
        cx.flow_col.clone(),
        i64s(fo.iter().map(|&i| arr[i as usize].arrival_seq).collect()),
        u64s(fo.iter().map(|&i| merchant_ids[i as usize]).collect()),
        i64s(fo.iter().map(|&i| arr[i as usize].party_id).collect()),
        i64s(fo.iter().map(|&i| arr[i as usize].account_id).collect()),
        i64s(fo.iter().map(|&i| arr[i as usize].instrument_id).collect()),
        i64s(fo.iter().map(|&i| arr[i as usize].device_id).collect()),
        i64s(fo.iter().map(|&i| arr[i as usize].ip_id).collect()),
        ts_col(n, |k| arr[fo_i(k)].ts_us),
    ];
    let anchor = |fraud: bool| -> Vec<ArrayRef> {
        let mut cols = anchor_common.clone();
        cols.push(f64s(
            fo.iter()
                .map(|&i| {
                    let a = &arr[i as usize];
                    if fraud { a.amount } else { a.base_amount }
                })
                .collect(),
        ));
        cols.extend(consts.id4(n));
        if fraud {
            cols.push(bools((0..n).map(fraud_flag).collect()));
            cols.push(opt_strs(n, 64, |k| campaign_id(w, fo_i(k))));
        }
        cols
    };
    let mut out = vec![
        batch(&catalogue::FLOW_ANCHOR_BASELINE, anchor(false))?,
        batch(&catalogue::FLOW_ANCHOR_FRAUD, anchor(true))?,
    ];
    let mut cols = vec![
        cx.flow_col.clone(),
        bools((0..n).map(|k| truth(w, fo_i(k))).collect()),
        opt_strs(n, 5, |k| Some(w.outcomes[fo_i(k)].fraud_label)),
    ];
    cols.extend(consts.id4(n));
    out.push(batch(&catalogue::FLOW_TRUTH, cols)?);
    let mut cols = vec![
        cx.flow_col.clone(),
        bools((0..n).map(|k| bank(w, fo_i(k))).collect()),
        opt_strs(n, 20, |k| Some(w.outcomes[fo_i(k)].bank_label)),
    ];
    cols.extend(consts.id4(n));
    out.push(batch(&catalogue::FLOW_BANK_VIEW, cols)?);
    Ok(out)
}

fn truth(w: &World, i: usize) -> bool {
    w.outcomes[i].fraud_label != LEGIT
}

fn bank(w: &World, i: usize) -> bool {
    BANK_FRAUD_LABELS.contains(&w.outcomes[i].bank_label)
}

/// The event-ordered tables: both event streams and the event labels.
fn event_tables(cx: &Ctx<'_>) -> Result<Vec<Table>, WorldError> {
    let (w, consts, ev) = (cx.w, &cx.consts, &cx.ev);
    let arr = &w.arrivals;
    let ne = ev.flow.len();
    let ev_type_col = strs_ref(ne, 14, |r| ev.ty[r]);
    let ev_ts_col = ts_col(ne, |r| ev.ts[r]);
    let events = |fraud: bool| -> Vec<ArrayRef> {
        let mut cols = vec![
            cx.ev_flow_col.clone(),
            cx.ev_seq_col.clone(),
            ev_type_col.clone(),
            ev_ts_col.clone(),
            f64s(
                ev.flow
                    .iter()
                    .map(|&i| {
                        let a = &arr[i as usize];
                        if fraud { a.amount } else { a.base_amount }
                    })
                    .collect(),
            ),
        ];
        cols.extend(consts.id4(ne));
        if fraud {
            cols.push(bools(
                ev.flow
                    .iter()
                    .map(|&i| arr[i as usize].campaign.is_some())
                    .collect(),
            ));
            cols.push(opt_strs(ne, 64, |r| campaign_id(w, ev.flow[r] as usize)));
        }
        cols
    };
    let mut out = vec![
        batch(&catalogue::EVENT_STREAM_BASELINE, events(false))?,
        batch(&catalogue::EVENT_STREAM_FRAUD, events(true))?,
    ];
    let mut cols = vec![
        cx.ev_flow_col.clone(),
        cx.ev_seq_col.clone(),
        bools(ev.flow.iter().map(|&i| truth(w, i as usize)).collect()),
        bools(ev.flow.iter().map(|&i| bank(w, i as usize)).collect()),
    ];
    cols.extend(consts.id4(ne));
    out.push(batch(&catalogue::EVENT_LABELS, cols)?);
    Ok(out)
}

/// The campaign catalogue and the case timeline.
fn case_tables(cx: &Ctx<'_>) -> Result<Vec<Table>, WorldError> {
    let (w, n, consts) = (cx.w, cx.n, &cx.consts);
    let mut out = Vec::with_capacity(2);
    // Campaign catalogue: realised campaigns only, by campaign_id.
    {
        let mut cs: Vec<&crate::model::campaigns::Campaign> =
            w.campaigns.iter().filter(|c| c.tagged > 0).collect();
        cs.sort_by(|a, b| a.id.cmp(&b.id));
        let k = cs.len();
        out.push(batch(
            &catalogue::CAMPAIGN_CATALOGUE,
            vec![
                strs_ref(k, 64, |j| &cs[j].id),
                strs_ref(k, 24, |j| cs[j].template.label()),
                f64s(
                    cs.iter()
                        .map(|c| c.tagged as f64 / n.max(1) as f64)
                        .collect(),
                ),
                consts.sc(k),
                consts.seed_i(k),
                consts.mf(k),
                consts.ph(k),
            ],
        )?);
    }
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
            strs_ref(k, 24, |j| rows[j].3),
            ts_col(k, |j| rows[j].4),
        ];
        cols.extend(consts.id4(k));
        out.push(batch(&catalogue::CASE_TIMELINE, cols)?);
    }
    Ok(out)
}
