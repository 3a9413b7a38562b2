//! The semantic invariants of engine_interface.md §10.5 plus the catalogue's structural rules
//! (schema, path-embed identity, primary keys, ordering, referential coverage). They run on
//! tables in memory: the generator runs them before publishing (their results are the 5B/6B
//! gate reports) and `verify` runs them again on the tables it reads back from disk.

// Parallel columns are indexed by row; iterator chains over 5 slices read worse.
#![allow(clippy::needless_range_loop)]

mod bulk;

use std::collections::HashMap;

use arrow_array::{
    Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use serde_json::{Value, json};

use crate::catalogue::{self, OutputSpec};
use crate::fasthash::{FastMap, FastSet};
use crate::identity::WorldIdentity;
use crate::model::truth::{BANK_FRAUD_LABELS, CASE_EVENT_TYPES};
use crate::timefmt::{TsBuf, local_into, parse_ts_utc, zone_offset_min};
use bulk::{ArrivalRow, RowOf};

/// Event type vocabulary (flow-shape policy).
pub const EVENT_TYPES: [&str; 7] = [
    "AUTH_REQUEST",
    "STEP_UP_CHALLENGE",
    "STEP_UP_COMPLETE",
    "AUTH_RESPONSE",
    "CLEARING",
    "REFUND",
    "REVERSAL",
];

/// Result of one invariant.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Rule id, e.g. `6B.s2.events_contiguous`.
    pub rule: &'static str,
    /// Segment whose gate reports it.
    pub seg: &'static str,
    /// Output the rule is about.
    pub output: &'static str,
    /// Metrics on success, detail on failure.
    pub result: Result<Value, String>,
}

/// Tables by output id (one batch each).
pub type Tables = HashMap<&'static str, RecordBatch>;

type R<T> = Result<T, String>;

struct T<'a> {
    id: &'static str,
    b: &'a RecordBatch,
}

impl<'a> T<'a> {
    fn col<A: 'static>(&self, c: &str) -> R<&'a A> {
        self.b
            .column_by_name(c)
            .and_then(|a| a.as_any().downcast_ref::<A>())
            .ok_or_else(|| format!("{}: column `{c}` missing or mistyped", self.id))
    }
    fn i64(&self, c: &str) -> R<&'a [i64]> {
        Ok(self.col::<Int64Array>(c)?.values())
    }
    fn u64(&self, c: &str) -> R<&'a [u64]> {
        Ok(self.col::<UInt64Array>(c)?.values())
    }
    fn f64(&self, c: &str) -> R<&'a [f64]> {
        Ok(self.col::<Float64Array>(c)?.values())
    }
    fn s(&self, c: &str) -> R<&'a StringArray> {
        self.col::<StringArray>(c)
    }
    fn b(&self, c: &str) -> R<&'a BooleanArray> {
        self.col::<BooleanArray>(c)
    }
    fn n(&self) -> usize {
        self.b.num_rows()
    }
}

fn get<'a>(t: &'a Tables, spec: &OutputSpec) -> R<T<'a>> {
    t.get(spec.id)
        .map(|b| T { id: spec.id, b })
        .ok_or_else(|| format!("{} not loaded", spec.id))
}

fn ensure(ok: bool, msg: impl FnOnce() -> String) -> R<()> {
    if ok { Ok(()) } else { Err(msg()) }
}

/// Schema equality with the catalogue (names, types, nullability, order).
fn schema(t: &T<'_>, spec: &OutputSpec) -> R<Value> {
    let want = spec.schema();
    let got = t.b.schema();
    ensure(want.fields().len() == got.fields().len(), || {
        format!(
            "{} columns, catalogue has {}",
            got.fields().len(),
            want.fields().len()
        )
    })?;
    for (w, g) in want.fields().iter().zip(got.fields()) {
        ensure(
            w.name() == g.name()
                && w.data_type() == g.data_type()
                && w.is_nullable() == g.is_nullable(),
            || {
                format!(
                    "column `{}` {:?} nullable={} differs from catalogue `{}` {:?} nullable={}",
                    g.name(),
                    g.data_type(),
                    g.is_nullable(),
                    w.name(),
                    w.data_type(),
                    w.is_nullable()
                )
            },
        )?;
    }
    Ok(json!({"columns": want.fields().len()}))
}

/// Path-embed equality of the identity columns present.
fn identity(t: &T<'_>, id: &WorldIdentity) -> R<Value> {
    let n = t.n();
    let const_str = |c: &str, v: &str| -> R<()> {
        if t.b.column_by_name(c).is_none() {
            return Ok(());
        }
        let a = t.s(c)?;
        ensure(bulk::all_equal_to(a, v), || {
            format!("`{c}` differs from the path token `{v}`")
        })
    };
    const_str("manifest_fingerprint", &id.manifest_fingerprint)?;
    const_str("parameter_hash", &id.parameter_hash)?;
    const_str("scenario_id", &id.scenario_id)?;
    if let Ok(s) = t.i64("seed") {
        ensure(s.iter().all(|&x| x as u64 == id.seed), || {
            format!("`seed` differs from the path token {}", id.seed)
        })?;
    } else if let Ok(s) = t.u64("seed") {
        ensure(s.iter().all(|&x| x == id.seed), || {
            format!("`seed` differs from the path token {}", id.seed)
        })?;
    } else {
        return Err("`seed` missing".into());
    }
    Ok(json!({"rows": n}))
}

/// Keys strictly increasing = sorted by the ordering and unique on the primary key.
fn sorted_unique<K: Ord + std::fmt::Debug>(keys: impl Iterator<Item = K>, what: &str) -> R<usize> {
    let mut prev: Option<K> = None;
    let mut n = 0;
    for k in keys {
        if let Some(p) = &prev {
            ensure(*p < k, || {
                format!("{what}: key {k:?} after {p:?} (unsorted or duplicate primary key)")
            })?;
        }
        prev = Some(k);
        n += 1;
    }
    Ok(n)
}

fn two_decimals(x: f64) -> bool {
    x > 0.0 && ((x * 100.0).round() - x * 100.0).abs() < 1e-6
}

/// One rule, ready to run.
type Rule<'a> = Box<dyn Fn() -> Outcome + Send + Sync + 'a>;

/// Run every invariant. Outcomes come in a fixed order; the first failure is the one to name.
///
/// The rules only read the tables, so they run on every core; the outcomes are gathered in
/// rule order whatever the threads' timing.
pub fn run(t: &Tables, id: &WorldIdentity) -> Vec<Outcome> {
    let mut first: Vec<Rule<'_>> = Vec::new();
    for spec in catalogue::OUTPUTS {
        let seg: &'static str = if spec.segment == "5B" { "5B" } else { "6B" };
        first.push(Box::new(move || Outcome {
            rule: "schema_matches_catalogue",
            seg,
            output: spec.id,
            result: get(t, spec).and_then(|tt| schema(&tt, spec)),
        }));
        first.push(Box::new(move || Outcome {
            rule: "path_embed_identity",
            seg,
            output: spec.id,
            result: get(t, spec).and_then(|tt| identity(&tt, id)),
        }));
    }
    let mut out = crate::pool::parallel(&first, |r| r());
    if out.iter().any(|o| o.result.is_err()) {
        return out;
    }
    out.extend(crate::pool::parallel(&rules(t), |r| r()));
    out
}

/// The rules past the schema and identity of every table, in outcome order.
fn rules(t: &Tables) -> Vec<Rule<'_>> {
    let mut rules: Vec<Rule<'_>> = Vec::new();
    macro_rules! rule {
        ($seg:literal, $rule:literal, $spec:expr, $body:expr) => {{
            rules.push(Box::new(move || {
                let result: R<Value> = (|| $body)();
                Outcome {
                    rule: $rule,
                    seg: $seg,
                    output: $spec.id,
                    result,
                }
            }));
        }};
    }
    use catalogue::*;

    // ---------------------------------------------------------------- 5B
    rule!("5B", "5B.pk_unique_sorted", ARRIVAL_EVENTS, {
        let a = get(t, &ARRIVAL_EVENTS)?;
        let (m, ts, seq) = (a.u64("merchant_id")?, a.s("ts_utc")?, a.i64("arrival_seq")?);
        let n = sorted_unique(
            (0..a.n()).map(|i| (m[i], ts.value(i), seq[i])),
            "ordering (merchant_id, ts_utc, arrival_seq)",
        )?;
        // Rows are sorted by merchant first, so a merchant whose `arrival_seq` increases along
        // its rows has no duplicate key; only otherwise are the keys counted through a set.
        let increasing = (1..a.n()).all(|i| m[i] != m[i - 1] || seq[i] > seq[i - 1]);
        let distinct = if increasing {
            n
        } else {
            (0..a.n())
                .map(|i| (m[i], seq[i]))
                .collect::<FastSet<(u64, i64)>>()
                .len()
        };
        ensure(distinct == n, || {
            "duplicate (merchant_id, arrival_seq)".into()
        })?;
        Ok(json!({"rows": n, "distinct_pk": distinct}))
    });
    rule!("5B", "5B.arrival_seq_per_merchant", ARRIVAL_EVENTS, {
        let a = get(t, &ARRIVAL_EVENTS)?;
        let (m, seq) = (a.u64("merchant_id")?, a.i64("arrival_seq")?);
        let mut merchants = 0;
        for i in 0..a.n() {
            let expect = if i == 0 || m[i] != m[i - 1] {
                merchants += 1;
                1
            } else {
                seq[i - 1] + 1
            };
            ensure(seq[i] == expect, || {
                format!(
                    "merchant {} arrival_seq {} where {expect} expected",
                    m[i], seq[i]
                )
            })?;
        }
        Ok(json!({"merchants": merchants}))
    });
    rule!("5B", "5B.time_fields", ARRIVAL_EVENTS, {
        let a = get(t, &ARRIVAL_EVENTS)?;
        let (ts, b) = (a.s("ts_utc")?, a.i64("bucket_index")?);
        let pairs = [
            ("tzid_primary", "ts_local_primary"),
            ("tzid_settlement", "ts_local_settlement"),
            ("tzid_operational", "ts_local_operational"),
        ];
        let cols = pairs
            .iter()
            .map(|(tzc, lc)| Ok((*tzc, *lc, a.s(tzc)?, a.s(lc)?)))
            .collect::<R<Vec<_>>>()?;
        let mut buf: TsBuf = [0; 32];
        for i in 0..a.n() {
            let us = parse_ts_utc(ts.value(i))
                .ok_or_else(|| format!("ts_utc `{}` is not rfc3339 micros", ts.value(i)))?;
            ensure(b[i] >= 0, || format!("bucket_index {} < 0", b[i]))?;
            for &(tzc, lc, tz, l) in &cols {
                if tz.is_null(i) && l.is_null(i) {
                    continue;
                }
                let off = zone_offset_min(tz.value(i))
                    .ok_or_else(|| format!("{tzc} `{}` unknown", tz.value(i)))?;
                ensure(
                    !l.is_null(i) && l.value(i) == local_into(us, off, &mut buf),
                    || {
                        format!(
                            "{lc} `{}` is not ts_utc {} in {}",
                            l.value(i),
                            ts.value(i),
                            tz.value(i)
                        )
                    },
                )?;
            }
        }
        Ok(json!({"rows": a.n()}))
    });
    rule!("5B", "5B.virtual_routing", ARRIVAL_EVENTS, {
        let a = get(t, &ARRIVAL_EVENTS)?;
        let (v, site, edge) = (
            a.b("is_virtual")?,
            a.col::<UInt64Array>("site_id")?,
            a.col::<UInt64Array>("edge_id")?,
        );
        let mut virt = 0;
        for i in 0..a.n() {
            let ok = if v.value(i) {
                virt += 1;
                edge.is_valid(i) && site.is_null(i)
            } else {
                site.is_valid(i) && edge.is_null(i)
            };
            ensure(ok, || {
                format!(
                    "row {i}: is_virtual={} inconsistent with site_id/edge_id",
                    v.value(i)
                )
            })?;
        }
        Ok(json!({"virtual": virt, "physical": a.n() - virt}))
    });

    // ---------------------------------------------------------------- 6B S1
    rule!(
        "6B",
        "6B.s1.one_entity_row_per_arrival",
        ARRIVAL_ENTITIES,
        {
            let (a, e) = (get(t, &ARRIVAL_EVENTS)?, get(t, &ARRIVAL_ENTITIES)?);
            ensure(a.n() == e.n(), || {
                format!("{} entity rows for {} arrivals", e.n(), a.n())
            })?;
            let (am, aseq, ats) = (a.u64("merchant_id")?, a.i64("arrival_seq")?, a.s("ts_utc")?);
            let (em, eseq, ets) = (e.u64("merchant_id")?, e.i64("arrival_seq")?, e.s("ts_utc")?);
            sorted_unique(
                (0..e.n()).map(|i| (em[i], eseq[i])),
                "ordering (merchant_id, arrival_seq)",
            )?;
            let same = am == em && aseq == eseq && bulk::same_strings(ats, ets);
            for i in (0..a.n()).filter(|_| !same) {
                ensure(
                    am[i] == em[i] && aseq[i] == eseq[i] && ats.value(i) == ets.value(i),
                    || {
                        format!(
                            "entity row {i} ({}, {}) does not match arrival ({}, {}) or its ts_utc",
                            em[i], eseq[i], am[i], aseq[i]
                        )
                    },
                )?;
            }
            Ok(json!({"rows": e.n(), "arrivals": a.n()}))
        }
    );
    rule!("6B", "6B.s1.entity_graph", ARRIVAL_ENTITIES, {
        let e = get(t, &ARRIVAL_ENTITIES)?;
        let (p, acc, ins, dev, ip) = (
            e.i64("party_id")?,
            e.i64("account_id")?,
            e.i64("instrument_id")?,
            e.i64("device_id")?,
            e.i64("ip_id")?,
        );
        let mut metrics = serde_json::Map::new();
        for (name, child, parent) in [
            ("account->party", acc, p),
            ("instrument->account", ins, acc),
            ("device->party", dev, p),
            ("ip->device", ip, dev),
        ] {
            let mut m: FastMap<i64, i64> = FastMap::default();
            for i in 0..e.n() {
                let prev = *m.entry(child[i]).or_insert(parent[i]);
                ensure(prev == parent[i], || {
                    format!(
                        "{name}: {} linked to both {prev} and {}",
                        child[i], parent[i]
                    )
                })?;
            }
            metrics.insert(name.to_owned(), json!(m.len()));
        }
        Ok(Value::Object(metrics))
    });
    rule!("6B", "6B.s1.session_index_aggregates", SESSION_INDEX, {
        let (e, s) = (get(t, &ARRIVAL_ENTITIES)?, get(t, &SESSION_INDEX)?);
        let (sid, ets) = (e.i64("session_id")?, e.s("ts_utc")?);
        let mut agg: FastMap<i64, (i64, &str, &str)> = FastMap::default();
        for i in 0..e.n() {
            let t = ets.value(i);
            let r = agg.entry(sid[i]).or_insert((0, t, t));
            r.0 += 1;
            if t < r.1 {
                r.1 = t;
            }
            if t > r.2 {
                r.2 = t;
            }
        }
        let (ss, sc, st, se) = (
            s.i64("session_id")?,
            s.i64("arrival_count")?,
            s.s("session_start_utc")?,
            s.s("session_end_utc")?,
        );
        sorted_unique(ss.iter(), "ordering (session_id)")?;
        ensure(s.n() == agg.len(), || {
            format!("{} sessions indexed, {} distinct in s1", s.n(), agg.len())
        })?;
        for i in 0..s.n() {
            let a = agg
                .get(&ss[i])
                .ok_or_else(|| format!("session {} not in s1", ss[i]))?;
            ensure(
                a.0 == sc[i] && a.1 == st.value(i) && a.2 == se.value(i),
                || format!("session {} aggregates differ from s1", ss[i]),
            )?;
        }
        Ok(json!({"sessions": s.n()}))
    });

    // ---------------------------------------------------------------- 6B S2/S3
    for (spec, ev_spec, fraud) in [
        (&FLOW_ANCHOR_BASELINE, &EVENT_STREAM_BASELINE, false),
        (&FLOW_ANCHOR_FRAUD, &EVENT_STREAM_FRAUD, true),
    ] {
        let rule_anchor: &'static str = if fraud {
            "6B.s3.flow_per_arrival"
        } else {
            "6B.s2.flow_per_arrival"
        };
        rules.push(Box::new(move || {
            let result = (|| -> R<Value> {
                let (e, f) = (get(t, &ARRIVAL_ENTITIES)?, get(t, spec)?);
                let fid = f.i64("flow_id")?;
                sorted_unique(fid.iter(), "ordering (flow_id)")?;
                ensure(f.n() == e.n(), || {
                    format!("{} flows for {} arrivals", f.n(), e.n())
                })?;
                let (em, eseq) = (e.u64("merchant_id")?, e.i64("arrival_seq")?);
                let idx = ArrivalRow::new(em, eseq);
                let (fm, fseq, fts, amt) = (
                    f.u64("merchant_id")?,
                    f.i64("arrival_seq")?,
                    f.s("ts_utc")?,
                    f.f64("amount")?,
                );
                let ets = e.s("ts_utc")?;
                let cols = [
                    "party_id",
                    "account_id",
                    "instrument_id",
                    "device_id",
                    "ip_id",
                ];
                let cols = cols
                    .iter()
                    .map(|c| Ok((*c, f.i64(c)?, e.i64(c)?)))
                    .collect::<R<Vec<_>>>()?;
                let mut seen = vec![false; e.n()];
                for i in 0..f.n() {
                    let j = idx.get(fm[i], fseq[i]).ok_or_else(|| {
                        format!("flow {}: arrival ({}, {}) missing", fid[i], fm[i], fseq[i])
                    })?;
                    ensure(!std::mem::replace(&mut seen[j], true), || {
                        format!(
                            "flow {}: arrival ({}, {}) has two flows",
                            fid[i], fm[i], fseq[i]
                        )
                    })?;
                    ensure(fts.value(i) == ets.value(j), || {
                        format!("flow {}: ts_utc differs from its arrival", fid[i])
                    })?;
                    for &(c, fc, ec) in &cols {
                        ensure(fc[i] == ec[j], || {
                            format!("flow {}: {c} differs from s1", fid[i])
                        })?;
                    }
                    ensure(two_decimals(amt[i]), || {
                        format!(
                            "flow {}: amount {} not positive with 2 decimals",
                            fid[i], amt[i]
                        )
                    })?;
                }
                Ok(json!({"flows": f.n()}))
            })();
            Outcome {
                rule: rule_anchor,
                seg: "6B",
                output: spec.id,
                result,
            }
        }));
        let rule_events: &'static str = if fraud {
            "6B.s3.events"
        } else {
            "6B.s2.events"
        };
        rules.push(Box::new(move || {
        let result = (|| -> R<Value> {
            let (f, ev) = (get(t, spec)?, get(t, ev_spec)?);
            let (fid, fts, famt) = (f.i64("flow_id")?, f.s("ts_utc")?, f.f64("amount")?);
            let mut idx = RowOf::new(fid);
            let flags = if fraud {
                Some((
                    f.b("fraud_flag")?,
                    f.s("campaign_id")?,
                    ev.b("fraud_flag")?,
                    ev.s("campaign_id")?,
                ))
            } else {
                None
            };
            let (efid, eseq, ets, eamt, ety) = (
                ev.i64("flow_id")?,
                ev.i64("event_seq")?,
                ev.s("ts_utc")?,
                ev.f64("amount")?,
                ev.s("event_type")?,
            );
            sorted_unique(
                (0..ev.n()).map(|i| (efid[i], eseq[i])),
                "ordering (flow_id, event_seq)",
            )?;
            let mut covered = 0;
            for i in 0..ev.n() {
                let j = idx
                    .get(efid[i])
                    .ok_or_else(|| format!("event ({}, {}): flow missing", efid[i], eseq[i]))?;
                let first = i == 0 || efid[i - 1] != efid[i];
                if first {
                    covered += 1;
                    ensure(
                        eseq[i] == 0
                            && ets.value(i) == fts.value(j)
                            && ety.value(i) == "AUTH_REQUEST",
                        || {
                            format!(
                                "flow {}: first event must be AUTH_REQUEST seq 0 at the flow ts",
                                efid[i]
                            )
                        },
                    )?;
                } else {
                    ensure(eseq[i] == eseq[i - 1] + 1, || {
                        format!("flow {}: event_seq not contiguous", efid[i])
                    })?;
                    ensure(ets.value(i) >= ets.value(i - 1), || {
                        format!("flow {}: event ts decreasing", efid[i])
                    })?;
                }
                parse_ts_utc(ets.value(i))
                    .ok_or_else(|| format!("event ts `{}` malformed", ets.value(i)))?;
                ensure(EVENT_TYPES.contains(&ety.value(i)), || {
                    format!(
                        "event ({}, {}): type `{}` not in the vocabulary",
                        efid[i],
                        eseq[i],
                        ety.value(i)
                    )
                })?;
                ensure(eamt[i] == famt[j], || {
                    format!(
                        "event ({}, {}): amount differs from its flow",
                        efid[i], eseq[i]
                    )
                })?;
                if let Some((ff, fc, ef, ec)) = flags {
                    ensure(
                        ef.value(i) == ff.value(j)
                            && ec.is_null(i) == fc.is_null(j)
                            && (ec.is_null(i) || ec.value(i) == fc.value(j)),
                        || {
                            format!(
                                "event ({}, {}): fraud_flag/campaign_id differ from its flow",
                                efid[i], eseq[i]
                            )
                        },
                    )?;
                }
            }
            ensure(covered == f.n(), || {
                format!("{} of {} flows have events", covered, f.n())
            })?;
            Ok(json!({"events": ev.n(), "flows_with_events": covered}))
        })();
        Outcome {
            rule: rule_events,
            seg: "6B",
            output: ev_spec.id,
            result,
        }
        }));
    }
    rule!(
        "6B",
        "6B.s3.same_flows_and_events_as_s2",
        FLOW_ANCHOR_FRAUD,
        {
            let (a2, a3, e2, e3) = (
                get(t, &FLOW_ANCHOR_BASELINE)?,
                get(t, &FLOW_ANCHOR_FRAUD)?,
                get(t, &EVENT_STREAM_BASELINE)?,
                get(t, &EVENT_STREAM_FRAUD)?,
            );
            ensure(a2.i64("flow_id")? == a3.i64("flow_id")?, || {
                "flow_id sets differ".into()
            })?;
            ensure(
                e2.i64("flow_id")? == e3.i64("flow_id")?
                    && e2.i64("event_seq")? == e3.i64("event_seq")?,
                || "(flow_id, event_seq) sets differ".into(),
            )?;
            let (t2, t3) = (e2.s("event_type")?, e3.s("event_type")?);
            let same =
                bulk::same_strings(t2, t3) || (0..e2.n()).all(|i| t2.value(i) == t3.value(i));
            ensure(same, || "event types differ".into())?;
            Ok(json!({"flows": a3.n(), "events": e3.n()}))
        }
    );
    rule!(
        "6B",
        "6B.s3.fraud_flag_and_campaigns",
        CAMPAIGN_CATALOGUE,
        {
            let (f, c) = (get(t, &FLOW_ANCHOR_FRAUD)?, get(t, &CAMPAIGN_CATALOGUE)?);
            let (cid, rate) = (c.s("campaign_id")?, c.f64("fraud_rate")?);
            sorted_unique((0..c.n()).map(|i| cid.value(i)), "ordering (campaign_id)")?;
            let mut tagged: FastMap<&str, u64> = (0..c.n()).map(|i| (cid.value(i), 0)).collect();
            let (ff, fc) = (f.b("fraud_flag")?, f.s("campaign_id")?);
            let mut flagged = 0u64;
            for i in 0..f.n() {
                ensure(ff.value(i) == fc.is_valid(i), || {
                    format!("flow row {i}: fraud_flag != (campaign_id IS NOT NULL)")
                })?;
                if fc.is_valid(i) {
                    flagged += 1;
                    *tagged.get_mut(fc.value(i)).ok_or_else(|| {
                        format!("campaign `{}` not in the catalogue", fc.value(i))
                    })? += 1;
                }
            }
            for i in 0..c.n() {
                let want = tagged[cid.value(i)] as f64 / f.n().max(1) as f64;
                ensure(
                    (rate[i] - want).abs() < 1e-12 && tagged[cid.value(i)] > 0,
                    || {
                        format!(
                            "campaign `{}`: fraud_rate {} != tagged/total {want}",
                            cid.value(i),
                            rate[i]
                        )
                    },
                )?;
            }
            Ok(
                json!({"campaigns": c.n(), "flagged_flows": flagged, "fraud_rate": flagged as f64 / f.n().max(1) as f64}),
            )
        }
    );

    // ---------------------------------------------------------------- 6B S4
    rule!("6B", "6B.s4.flow_truth_coverage", FLOW_TRUTH, {
        let (f, l) = (get(t, &FLOW_ANCHOR_FRAUD)?, get(t, &FLOW_TRUTH)?);
        ensure(l.i64("flow_id")? == f.i64("flow_id")?, || {
            "truth rows do not cover exactly the S3 flows".into()
        })?;
        let (it, fl, ff) = (
            l.b("is_fraud_truth")?,
            l.s("fraud_label")?,
            f.b("fraud_flag")?,
        );
        let mut fraud = 0;
        for i in 0..l.n() {
            ensure(
                fl.is_valid(i) && ["LEGIT", "FRAUD", "ABUSE"].contains(&fl.value(i)),
                || format!("row {i}: fraud_label not in vocabulary"),
            )?;
            ensure(it.value(i) == (fl.value(i) != "LEGIT"), || {
                format!("row {i}: is_fraud_truth != (fraud_label != LEGIT)")
            })?;
            ensure(!ff.value(i) || it.value(i), || {
                format!("row {i}: fraud_flag set on a LEGIT flow")
            })?;
            fraud += it.value(i) as usize;
        }
        Ok(json!({"rows": l.n(), "fraud_truth": fraud}))
    });
    rule!("6B", "6B.s4.bank_view_coverage", FLOW_BANK_VIEW, {
        let (f, l) = (get(t, &FLOW_ANCHOR_FRAUD)?, get(t, &FLOW_BANK_VIEW)?);
        ensure(l.i64("flow_id")? == f.i64("flow_id")?, || {
            "bank rows do not cover exactly the S3 flows".into()
        })?;
        let (ib, bl) = (l.b("is_fraud_bank_view")?, l.s("bank_label")?);
        let vocab = [
            "BANK_CONFIRMED_FRAUD",
            "BANK_CONFIRMED_LEGIT",
            "NO_CASE_OPENED",
            "CUSTOMER_DISPUTE_REJECTED",
            "CHARGEBACK_WRITTEN_OFF",
        ];
        let mut pos = 0;
        for i in 0..l.n() {
            ensure(bl.is_valid(i) && vocab.contains(&bl.value(i)), || {
                format!("row {i}: bank_label not in vocabulary")
            })?;
            ensure(
                ib.value(i) == BANK_FRAUD_LABELS.contains(&bl.value(i)),
                || format!("row {i}: is_fraud_bank_view inconsistent with bank_label"),
            )?;
            pos += ib.value(i) as usize;
        }
        Ok(json!({"rows": l.n(), "bank_fraud": pos}))
    });
    rule!("6B", "6B.s4.event_label_coverage", EVENT_LABELS, {
        let (e, l, tr, bk) = (
            get(t, &EVENT_STREAM_FRAUD)?,
            get(t, &EVENT_LABELS)?,
            get(t, &FLOW_TRUTH)?,
            get(t, &FLOW_BANK_VIEW)?,
        );
        ensure(
            l.i64("flow_id")? == e.i64("flow_id")? && l.i64("event_seq")? == e.i64("event_seq")?,
            || "event labels do not cover exactly the S3 events".into(),
        )?;
        let mut idx = RowOf::new(tr.i64("flow_id")?);
        let (lt, lb, lf) = (
            l.b("is_fraud_truth")?,
            l.b("is_fraud_bank_view")?,
            l.i64("flow_id")?,
        );
        let (tt, bb) = (tr.b("is_fraud_truth")?, bk.b("is_fraud_bank_view")?);
        for i in 0..l.n() {
            let j = idx
                .get(lf[i])
                .ok_or_else(|| format!("label flow {} has no truth row", lf[i]))?;
            ensure(
                lt.value(i) == tt.value(j) && lb.value(i) == bb.value(j),
                || {
                    format!(
                        "event label ({}, row {i}) differs from its flow labels",
                        lf[i]
                    )
                },
            )?;
        }
        Ok(json!({"rows": l.n()}))
    });
    rule!("6B", "6B.s4.case_timeline", CASE_TIMELINE, {
        let (c, f, bk) = (
            get(t, &CASE_TIMELINE)?,
            get(t, &FLOW_ANCHOR_FRAUD)?,
            get(t, &FLOW_BANK_VIEW)?,
        );
        let (cid, seq, cf, cty, cts) = (
            c.i64("case_id")?,
            c.i64("case_event_seq")?,
            c.i64("flow_id")?,
            c.s("case_event_type")?,
            c.s("ts_utc")?,
        );
        sorted_unique(
            (0..c.n()).map(|i| (cid[i], seq[i])),
            "ordering (case_id, case_event_seq)",
        )?;
        let mut idx = RowOf::new(f.i64("flow_id")?);
        let (fts, bl) = (f.s("ts_utc")?, bk.s("bank_label")?);
        let mut cases = 0;
        let mut i = 0;
        while i < c.n() {
            let mut k = i;
            while k < c.n() && cid[k] == cid[i] {
                k += 1;
            }
            cases += 1;
            let j = idx
                .get(cf[i])
                .ok_or_else(|| format!("case {}: flow {} missing", cid[i], cf[i]))?;
            ensure(bl.value(j) != "NO_CASE_OPENED", || {
                format!("case {}: flow {} is NO_CASE_OPENED", cid[i], cf[i])
            })?;
            ensure(seq[i] == 0 && seq[k - 1] == 5, || {
                format!(
                    "case {}: needs slots 0 (CASE_OPENED) and 5 (CASE_CLOSED)",
                    cid[i]
                )
            })?;
            for r in i..k {
                ensure(cf[r] == cf[i], || format!("case {}: several flows", cid[i]))?;
                ensure(
                    (0..6).contains(&seq[r]) && cty.value(r) == CASE_EVENT_TYPES[seq[r] as usize],
                    || format!("case {}: slot {} has type {}", cid[i], seq[r], cty.value(r)),
                )?;
                parse_ts_utc(cts.value(r))
                    .ok_or_else(|| format!("case {}: ts malformed", cid[i]))?;
                ensure(
                    cts.value(r) >= fts.value(j) && (r == i || cts.value(r) >= cts.value(r - 1)),
                    || {
                        format!(
                            "case {}: timestamps not increasing from the flow ts",
                            cid[i]
                        )
                    },
                )?;
            }
            i = k;
        }
        Ok(json!({"cases": cases, "rows": c.n()}))
    });
    rules
}
