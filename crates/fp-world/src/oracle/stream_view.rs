//! Stream views (engine_interface.md §8.3): per streamed output, the rows in `ts_utc` order
//! (ties broken by the primary key) under `stream_view/ts_utc/output_id={id}/`:
//!
//! * `part-00000.parquet`: the source's columns, rows reordered, written with the same
//!   deterministic writer settings as [`crate::write`] (so two builds are byte-identical);
//! * `_stream_sort_receipt.json`: `stream_view_id, source_locator_digest, sorted_stats,
//!   sort_keys, world_key, created_utc` (the reference's receipt fields);
//! * `_stream_view_manifest.json`, written last: the view's commit marker (ids, source locator
//!   and sha256, stats, sort keys, part files with sha256).
//!
//! Built once: an existing manifest whose source digest matches is reused; one built from other
//! source bytes is refused ([`OracleError::SourceChanged`]). The source itself is checked
//! against the digest its gate bundle lists before anything is built, and the pack must be
//! sealed.
//!
//! Memory and speed: one output is decoded whole; the sort is of packed `(ts, key, key, row)`
//! tuples (the constant identity columns of the key are dropped), and the reordered rows are
//! gathered (`take`) and encoded one row group at a time, constant columns not gathered at
//! all. The source rows are not time-ordered (the flow and event outputs are in `flow_id`
//! order), so a merge of sorted runs would not save the sort; bounding memory further means
//! sorting row-group runs to spill files and merging them.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, SchemaRef};
use bytes::Bytes;
use fp_substrate::objects::{ObjectStoreConfig, Objects};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::pack::{STREAM_VIEW_DIR, WorldKey, read_doc, sealed_manifest};
use super::{OracleError, join, now_utc, sha_hex};
use crate::catalogue::{self, OutputSpec};
use crate::gates::{self, json_bytes};
use crate::identity::WorldIdentity;
use crate::{timefmt, write};

/// The outputs WSP streams: the traffic outputs, then the context outputs.
pub const STREAMED_OUTPUTS: [&str; 6] = [
    "s3_event_stream_with_fraud_6B",
    "s2_event_stream_baseline_6B",
    "arrival_events_5B",
    "s1_arrival_entities_6B",
    "s3_flow_anchor_with_fraud_6B",
    "s2_flow_anchor_baseline_6B",
];

/// Manifest file name in each view directory.
pub const VIEW_MANIFEST_FILE: &str = "_stream_view_manifest.json";
/// Receipt file name in each view directory.
pub const SORT_RECEIPT_FILE: &str = "_stream_sort_receipt.json";
/// The one part file of a view.
pub const PART_FILE: &str = "part-00000.parquet";
/// `partition_granularity` of every view (one flat directory per output).
const GRANULARITY: &str = "flat";
const DOC_VERSION: &str = "v0";
/// The time column every streamed output is ordered by.
const TS: &str = "ts_utc";
/// The gate bundle members listing every output file's sha256 (written by [`crate::generate`]).
const DIGESTS_5B: &str = "output_digests_5B.json";
const DIGESTS_6B: &str = "s5_output_digests_6B.json";

/// Where the view's source came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceLocator {
    /// Run-root-relative path of the source part file.
    pub path: String,
    /// Absolute URI of the source at build time.
    pub uri: String,
    /// sha256 of the source bytes.
    pub sha256_hex: String,
    /// Rows in the source.
    pub row_count: u64,
}

/// One part file of a view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartFile {
    /// Path relative to the view directory.
    pub path: String,
    /// sha256 of its bytes.
    pub sha256_hex: String,
    /// Rows.
    pub row_count: u64,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// `_stream_view_manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamViewManifest {
    /// `"v0"`.
    pub version: String,
    /// `fp_rails::ids::stream_view_id(engine_run_root, scenario_id, output_id, sort_keys,
    /// "flat")`.
    pub stream_view_id: String,
    /// The output.
    pub output_id: String,
    /// The pack this view belongs to.
    pub oracle_pack_id: String,
    /// The world key.
    pub world_key: WorldKey,
    /// URI of the run root the view was built under.
    pub engine_run_root: String,
    /// The source.
    pub source: SourceLocator,
    /// `ts_utc` then the primary key columns.
    pub sort_keys: Vec<String>,
    /// `"flat"`.
    pub partition_granularity: String,
    /// Rows in the view (= rows in the source).
    pub row_count: u64,
    /// Smallest `ts_utc` (absent for an empty output).
    pub min_ts_utc: Option<String>,
    /// Largest `ts_utc` (absent for an empty output).
    pub max_ts_utc: Option<String>,
    /// The part files, in read order.
    pub parts: Vec<PartFile>,
    /// When the view was built.
    pub created_utc: String,
}

/// `sorted_stats` of the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SortedStats {
    /// Rows.
    pub row_count: u64,
    /// Smallest `ts_utc`.
    pub min_ts_utc: Option<String>,
    /// Largest `ts_utc`.
    pub max_ts_utc: Option<String>,
}

/// `_stream_sort_receipt.json` (the reference's receipt fields plus `version`, `output_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSortReceipt {
    /// `"v0"`.
    pub version: String,
    /// As in the manifest.
    pub stream_view_id: String,
    /// The output.
    pub output_id: String,
    /// sha256 of the canonical JSON of the source locator list `[{path, sha256_hex}]`.
    pub source_locator_digest: String,
    /// Stats of the sorted rows.
    pub sorted_stats: SortedStats,
    /// As in the manifest.
    pub sort_keys: Vec<String>,
    /// The world key.
    pub world_key: WorldKey,
    /// When the view was built.
    pub created_utc: String,
}

/// Options of a build that do not change the view's data.
#[derive(Debug, Clone, Default)]
pub struct StreamViewOptions {
    /// `created_utc` of a new view; the clock when absent.
    pub created_utc: Option<String>,
}

/// Built now or reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StreamViewOutcome {
    /// Written now.
    Built,
    /// An existing view of the same source bytes was kept.
    Reused,
}

/// The result of building one view.
#[derive(Debug, Clone, Serialize)]
pub struct StreamViewReport {
    /// Built or reused.
    pub outcome: StreamViewOutcome,
    /// Store-relative path of the view's manifest.
    pub manifest_path: String,
    /// The manifest as stored.
    pub manifest: StreamViewManifest,
}

/// Store-relative directory of `output_id`'s view under the run root `prefix`.
pub fn view_dir(prefix: &str, output_id: &str) -> String {
    join(
        prefix,
        &format!("{STREAM_VIEW_DIR}/ts_utc/output_id={output_id}"),
    )
}

fn streamed_spec(output_id: &str) -> Result<&'static OutputSpec, OracleError> {
    STREAMED_OUTPUTS
        .contains(&output_id)
        .then(|| catalogue::output(output_id))
        .flatten()
        .ok_or_else(|| OracleError::NotStreamed(output_id.to_owned()))
}

/// Build (or reuse) the views of every streamed output; reports in [`STREAMED_OUTPUTS`] order.
///
/// The outputs are independent, so they are built concurrently (each sort runs on the
/// blocking pool): the build is CPU-bound and this uses every core.
pub async fn build_stream_views(
    objects: &Objects,
    prefix: &str,
    opts: &StreamViewOptions,
) -> Result<Vec<StreamViewReport>, OracleError> {
    let mut set = tokio::task::JoinSet::new();
    for (i, id) in STREAMED_OUTPUTS.into_iter().enumerate() {
        let (objects, prefix, opts) = (objects.clone(), prefix.to_owned(), opts.clone());
        set.spawn(async move { (i, build_stream_view(&objects, &prefix, id, &opts).await) });
    }
    let mut results: Vec<Option<Result<StreamViewReport, OracleError>>> =
        STREAMED_OUTPUTS.iter().map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (i, r) = joined.map_err(|e| OracleError::Invalid {
            path: view_dir(prefix, "*"),
            detail: format!("build task failed: {e}"),
        })?;
        results[i] = Some(r);
    }
    // The first error in output order, so the answer does not depend on task timing.
    results
        .into_iter()
        .zip(STREAMED_OUTPUTS)
        .map(|(r, id)| {
            r.unwrap_or_else(|| {
                Err(OracleError::Invalid {
                    path: view_dir(prefix, id),
                    detail: "build task did not report".into(),
                })
            })
        })
        .collect()
}

/// Build (or reuse) the view of one streamed output of the sealed pack under `prefix`.
pub async fn build_stream_view(
    objects: &Objects,
    prefix: &str,
    output_id: &str,
    opts: &StreamViewOptions,
) -> Result<StreamViewReport, OracleError> {
    let spec = streamed_spec(output_id)?;
    let pack = sealed_manifest(objects, prefix).await?;
    let wk = pack.world_key.clone();
    let id = WorldIdentity {
        manifest_fingerprint: wk.manifest_fingerprint.clone(),
        parameter_hash: wk.parameter_hash.clone(),
        seed: wk.seed,
        scenario_id: wk.scenario_id.clone(),
    };

    // The source, checked against the digest its gate bundle lists.
    let src_rel = spec.file_path(&id, 0);
    let src_path = join(prefix, &src_rel);
    let src = objects.get(&src_path).await?;
    let src_sha = sha_hex(&src);
    let listed = listed_digest(objects, prefix, spec, &id, &src_rel).await?;
    if listed != src_sha {
        return Err(OracleError::SourceChanged {
            path: src_path,
            detail: format!("sha256 {src_sha} != {listed} listed by its gate bundle"),
        });
    }

    let dir = view_dir(prefix, output_id);
    let manifest_path = format!("{dir}/{VIEW_MANIFEST_FILE}");
    if let Some(existing) = read_doc::<StreamViewManifest>(objects, &manifest_path).await? {
        if existing.source.sha256_hex == src_sha && existing.source.path == src_rel {
            return Ok(StreamViewReport {
                outcome: StreamViewOutcome::Reused,
                manifest_path,
                manifest: existing,
            });
        }
        return Err(OracleError::SourceChanged {
            path: manifest_path,
            detail: format!(
                "view was built from {} sha256 {}, source is now {src_rel} sha256 {src_sha}",
                existing.source.path, existing.source.sha256_hex
            ),
        });
    }

    let mut sort_keys = vec![TS.to_owned()];
    sort_keys.extend(spec.primary_key.iter().map(|k| (*k).to_owned()));
    let key_refs: Vec<&str> = sort_keys.iter().map(String::as_str).collect();
    let engine_run_root = objects.uri_of(prefix.trim_matches('/'));
    let view_id = fp_rails::ids::stream_view_id(
        &engine_run_root,
        &wk.scenario_id,
        output_id,
        &key_refs,
        GRANULARITY,
    );

    // Decode, sort, encode: CPU-bound, so off the async worker threads.
    let src_for_task = src.clone();
    let shown = src_path.clone();
    let built = tokio::task::spawn_blocking(move || sort_output(spec, src_for_task, &shown))
        .await
        .map_err(|e| OracleError::Invalid {
            path: src_path.clone(),
            detail: format!("sort task failed: {e}"),
        })??;

    let receipt_path = format!("{dir}/{SORT_RECEIPT_FILE}");
    let source_locator_digest = sha_hex(
        fp_rails::canonical::cj(&json!([{"path": src_rel, "sha256_hex": src_sha}])).as_bytes(),
    );
    // A build interrupted after the receipt keeps the receipt's time, so the retry's
    // write-once puts see identical bytes.
    let created_utc = match read_doc::<StreamSortReceipt>(objects, &receipt_path).await {
        Ok(Some(r))
            if r.stream_view_id == view_id.as_str()
                && r.source_locator_digest == source_locator_digest =>
        {
            r.created_utc
        }
        _ => opts.created_utc.clone().unwrap_or_else(now_utc),
    };
    let stats = SortedStats {
        row_count: built.rows,
        min_ts_utc: built.min_ts.clone(),
        max_ts_utc: built.max_ts.clone(),
    };
    let receipt = StreamSortReceipt {
        version: DOC_VERSION.to_owned(),
        stream_view_id: view_id.as_str().to_owned(),
        output_id: output_id.to_owned(),
        source_locator_digest,
        sorted_stats: stats,
        sort_keys: sort_keys.clone(),
        world_key: wk.clone(),
        created_utc: created_utc.clone(),
    };
    let manifest = StreamViewManifest {
        version: DOC_VERSION.to_owned(),
        stream_view_id: view_id.as_str().to_owned(),
        output_id: output_id.to_owned(),
        oracle_pack_id: pack.oracle_pack_id.clone(),
        world_key: wk,
        engine_run_root: engine_run_root.clone(),
        source: SourceLocator {
            path: src_rel.clone(),
            uri: objects.uri_of(&src_path),
            sha256_hex: src_sha,
            row_count: built.rows,
        },
        sort_keys,
        partition_granularity: GRANULARITY.to_owned(),
        row_count: built.rows,
        min_ts_utc: built.min_ts,
        max_ts_utc: built.max_ts,
        parts: vec![PartFile {
            path: PART_FILE.to_owned(),
            sha256_hex: sha_hex(&built.bytes),
            row_count: built.rows,
            size_bytes: built.bytes.len() as u64,
        }],
        created_utc,
    };
    objects
        .put_once(&format!("{dir}/{PART_FILE}"), built.bytes)
        .await?;
    objects
        .put_once(
            &receipt_path,
            json_bytes(&to_value(&receipt, &receipt_path)?),
        )
        .await?;
    objects
        .put_once(
            &manifest_path,
            json_bytes(&to_value(&manifest, &manifest_path)?),
        )
        .await?;
    Ok(StreamViewReport {
        outcome: StreamViewOutcome::Built,
        manifest_path,
        manifest,
    })
}

fn to_value<T: Serialize>(doc: &T, path: &str) -> Result<Value, OracleError> {
    serde_json::to_value(doc).map_err(|e| OracleError::Invalid {
        path: path.to_owned(),
        detail: e.to_string(),
    })
}

/// The sha256 the gate bundle of `spec`'s segment lists for `src_rel`.
async fn listed_digest(
    objects: &Objects,
    prefix: &str,
    spec: &OutputSpec,
    id: &WorldIdentity,
    src_rel: &str,
) -> Result<String, OracleError> {
    let g = gates::gate(spec.segment).ok_or_else(|| OracleError::Invalid {
        path: spec.id.to_owned(),
        detail: format!("no gate for segment {}", spec.segment),
    })?;
    let name = if spec.segment == "5B" {
        DIGESTS_5B
    } else {
        DIGESTS_6B
    };
    let path = join(
        prefix,
        &format!("{}/{name}", g.bundle_dir(&id.manifest_fingerprint)),
    );
    let doc: Value = read_doc(objects, &path)
        .await?
        .ok_or_else(|| OracleError::Invalid {
            path: path.clone(),
            detail: "output digest list missing".into(),
        })?;
    doc.get("outputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|o| o.get("path").and_then(Value::as_str) == Some(src_rel))
        .and_then(|o| o.get("sha256_hex").and_then(Value::as_str))
        .map(str::to_owned)
        .ok_or_else(|| OracleError::Invalid {
            path,
            detail: format!("`{src_rel}` is not listed"),
        })
}

/// A sorted output, encoded.
struct Built {
    bytes: Vec<u8>,
    rows: u64,
    min_ts: Option<String>,
    max_ts: Option<String>,
}

fn pq_err(path: &str) -> impl Fn(parquet::errors::ParquetError) -> OracleError + '_ {
    move |e| OracleError::Parquet {
        path: path.to_owned(),
        detail: e.to_string(),
    }
}

/// A primary-key column, typed once so the comparator does no downcasting.
enum KeyCol<'a> {
    I64(&'a [i64]),
    U64(&'a [u64]),
    Str(&'a StringArray),
}

impl KeyCol<'_> {
    fn cmp(&self, a: usize, b: usize) -> Ordering {
        match self {
            KeyCol::I64(v) => v[a].cmp(&v[b]),
            KeyCol::U64(v) => v[a].cmp(&v[b]),
            KeyCol::Str(s) => s.value(a).cmp(s.value(b)),
        }
    }

    /// Whether every row holds the same value (seed, fingerprint and scenario are constant
    /// within a world, so comparing them would only cost time).
    fn is_constant(&self, n: usize) -> bool {
        (1..n).all(|i| self.cmp(0, i) == Ordering::Equal)
    }
}

fn sort_output(spec: &OutputSpec, src: Bytes, path: &str) -> Result<Built, OracleError> {
    let invalid = |detail: String| OracleError::Invalid {
        path: path.to_owned(),
        detail,
    };
    let (got, constants, batch) = decode_varying(src, path)?;
    // Same columns, types and nullability as the catalogue, so the view carries the schema
    // the interface promises whatever metadata the source file had.
    let want = spec.schema();
    let same = want.fields().len() == got.fields().len()
        && want.fields().iter().zip(got.fields()).all(|(w, g)| {
            w.name() == g.name()
                && w.data_type() == g.data_type()
                && w.is_nullable() == g.is_nullable()
        });
    if !same {
        return Err(invalid(format!(
            "schema differs from the catalogue's `{}`",
            spec.id
        )));
    }
    let n = batch.num_rows();
    if u32::try_from(n).is_err() {
        return Err(invalid(format!(
            "{n} rows: more than one in-memory sort handles"
        )));
    }

    let col = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| invalid(format!("no column `{name}`")))
    };
    let ts_col = col(TS)?;
    let ts_str = ts_col
        .as_string_opt::<i32>()
        .ok_or_else(|| invalid("`ts_utc` is not a string column".into()))?;
    if ts_str.null_count() > 0 {
        return Err(invalid("`ts_utc` has nulls".into()));
    }
    let mut ts = Vec::with_capacity(n);
    for i in 0..n {
        let s = ts_str.value(i);
        ts.push(
            timefmt::parse_ts_utc(s)
                .ok_or_else(|| invalid(format!("row {i}: unparseable ts_utc `{s}`")))?,
        );
    }
    let mut keys = Vec::new();
    for name in spec.primary_key {
        let Ok(c) = col(name) else {
            // Not decoded: constant (and non-null) by the file's statistics.
            if want.index_of(name).is_ok_and(|i| constants[i].is_some()) {
                continue;
            }
            return Err(invalid(format!("no column `{name}`")));
        };
        if c.null_count() > 0 {
            return Err(invalid(format!("primary key column `{name}` has nulls")));
        }
        let k = match c.data_type() {
            DataType::Int64 => KeyCol::I64(c.as_primitive::<Int64Type>().values()),
            DataType::UInt64 => KeyCol::U64(c.as_primitive::<UInt64Type>().values()),
            DataType::Utf8 => KeyCol::Str(c.as_string::<i32>()),
            other => {
                return Err(invalid(format!(
                    "primary key column `{name}` has unsupported type {other}"
                )));
            }
        };
        if !k.is_constant(n) {
            keys.push(k);
        }
    }

    let idx = sorted_order(&ts, &keys)
        .map_err(|(a, b)| invalid(format!("rows {a} and {b} share ts_utc and primary key")))?;
    let (min_ts, max_ts) = match (idx.first(), idx.last()) {
        (Some(&a), Some(&b)) => (
            Some(ts_str.value(a as usize).to_owned()),
            Some(ts_str.value(b as usize).to_owned()),
        ),
        _ => (None, None),
    };
    drop(ts);
    drop(keys);
    let bytes = encode_sorted(&want, &constants, &batch, &idx, path)?;
    Ok(Built {
        bytes,
        rows: n as u64,
        min_ts,
        max_ts,
    })
}

/// Order-preserving `u64` of an integer key value.
fn key_u64(k: &KeyCol<'_>, i: usize) -> Option<u64> {
    match k {
        KeyCol::I64(v) => Some((v[i] as u64) ^ (1 << 63)),
        KeyCol::U64(v) => Some(v[i]),
        KeyCol::Str(_) => None,
    }
}

/// The row order by `(ts, keys)`; `Err((a, b))` names two rows with equal keys.
///
/// With at most two integer key columns (every streamed output: the constant identity
/// columns are dropped), rows are sorted as packed `(ts, k1, k2, row)` tuples, which needs no
/// indirection per comparison; otherwise through a comparator.
fn sorted_order(ts: &[i64], keys: &[KeyCol<'_>]) -> Result<Vec<u32>, (u32, u32)> {
    let n = ts.len();
    if keys.len() <= 2 && keys.iter().all(|k| !matches!(k, KeyCol::Str(_))) {
        let k = |c: usize, i: usize| keys.get(c).and_then(|k| key_u64(k, i)).unwrap_or(0);
        let mut v: Vec<(i64, u64, u64, u32)> = (0..n)
            .map(|i| (ts[i], k(0, i), k(1, i), i as u32))
            .collect();
        v.sort_unstable();
        if let Some(w) = v
            .windows(2)
            .find(|w| (w[0].0, w[0].1, w[0].2) == (w[1].0, w[1].1, w[1].2))
        {
            return Err((w[0].3, w[1].3));
        }
        return Ok(v.into_iter().map(|t| t.3).collect());
    }
    let cmp = |a: usize, b: usize| {
        ts[a].cmp(&ts[b]).then_with(|| {
            keys.iter()
                .fold(Ordering::Equal, |o, k| o.then_with(|| k.cmp(a, b)))
        })
    };
    let mut idx: Vec<u32> = (0..n as u32).collect();
    idx.sort_unstable_by(|&a, &b| cmp(a as usize, b as usize));
    // The primary key is unique, so the order is total; a duplicate would make it ambiguous.
    if let Some(w) = idx
        .windows(2)
        .find(|w| cmp(w[0] as usize, w[1] as usize) == Ordering::Equal)
    {
        return Err((w[0], w[1]));
    }
    Ok(idx)
}

/// Encode the view: the decoded columns of `batch` in the order `idx` and the constant
/// columns, one row group at a time (each group's rows are gathered with `take` and written
/// before the next, so the reordered output is never whole in memory; a constant column is
/// one row group's worth of its value, sliced).
fn encode_sorted(
    schema: &SchemaRef,
    constants: &[Option<ArrayRef>],
    batch: &RecordBatch,
    idx: &[u32],
    path: &str,
) -> Result<Vec<u8>, OracleError> {
    let invalid = |e: arrow_schema::ArrowError| OracleError::Invalid {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let props = write::view_writer_properties(schema).map_err(|detail| OracleError::Parquet {
        path: path.to_owned(),
        detail,
    })?;
    let mut w =
        ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props)).map_err(pq_err(path))?;
    let mut decoded = batch.columns().iter();
    let sources: Vec<Result<ArrayRef, ArrayRef>> = constants
        .iter()
        .map(|k| match k {
            Some(c) => Ok(Ok(c.clone())),
            None => decoded
                .next()
                .cloned()
                .map(Err)
                .ok_or_else(|| OracleError::Invalid {
                    path: path.to_owned(),
                    detail: "decoded columns do not match the schema".into(),
                }),
        })
        .collect::<Result<_, _>>()?;
    for chunk in idx.chunks(write::ROW_GROUP_ROWS) {
        let take = UInt32Array::from(chunk.to_vec());
        let mut cols = Vec::with_capacity(sources.len());
        for src in &sources {
            cols.push(match src {
                Ok(constant) => constant.slice(0, chunk.len()),
                Err(c) => arrow_select::take::take(c.as_ref(), &take, None).map_err(invalid)?,
            });
        }
        let part = RecordBatch::try_new(schema.clone(), cols).map_err(invalid)?;
        w.write(&part).map_err(pq_err(path))?;
    }
    w.into_inner().map_err(pq_err(path))
}

/// The value of a non-nullable column that every row group's statistics give as one exact
/// value (the identity columns of a world), as one row group's worth of rows; `None` when
/// the statistics do not say so (the column is then decoded).
fn constant_from_stats(
    meta: &parquet::file::metadata::ParquetMetaData,
    col: usize,
    field: &arrow_schema::Field,
) -> Option<ArrayRef> {
    if field.is_nullable() || meta.num_row_groups() == 0 {
        return None;
    }
    let mut value: Option<&[u8]> = None;
    for rg in meta.row_groups() {
        let st = rg.columns().get(col)?.statistics()?;
        let (min, max) = (st.min_bytes_opt()?, st.max_bytes_opt()?);
        if !(st.min_is_exact() && st.max_is_exact()) || min != max {
            return None;
        }
        match value {
            Some(v) if v != min => return None,
            _ => value = Some(min),
        }
    }
    let v = value?;
    let n = write::ROW_GROUP_ROWS;
    match field.data_type() {
        DataType::Utf8 => {
            let s = std::str::from_utf8(v).ok()?;
            let mut b = arrow_array::builder::StringBuilder::with_capacity(n, n * s.len());
            for _ in 0..n {
                b.append_value(s);
            }
            Some(Arc::new(b.finish()))
        }
        DataType::Int64 => {
            let x = i64::from_le_bytes(v.try_into().ok()?);
            Some(Arc::new(arrow_array::Int64Array::from(vec![x; n])))
        }
        DataType::UInt64 => {
            let x = u64::from_le_bytes(v.try_into().ok()?);
            Some(Arc::new(arrow_array::UInt64Array::from(vec![x; n])))
        }
        _ => None,
    }
}

/// Decode the source, except the columns its statistics show constant: the file's schema,
/// per column its constant (or `None`: decoded), and the decoded columns as one batch.
fn decode_varying(
    bytes: Bytes,
    path: &str,
) -> Result<(SchemaRef, Vec<Option<ArrayRef>>, RecordBatch), OracleError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(pq_err(path))?;
    let schema = builder.schema().clone();
    let meta = builder.metadata().clone();
    // Only top-level primitive columns: arrow field i is parquet leaf i.
    let flat = meta.file_metadata().schema_descr().num_columns() == schema.fields().len();
    let constants: Vec<Option<ArrayRef>> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            (flat && f.name() != TS)
                .then(|| constant_from_stats(&meta, i, f))
                .flatten()
        })
        .collect();
    let keep: Vec<usize> = (0..constants.len())
        .filter(|&i| constants[i].is_none())
        .collect();
    let mask = parquet::arrow::ProjectionMask::roots(
        meta.file_metadata().schema_descr(),
        keep.iter().copied(),
    );
    let rows = meta.file_metadata().num_rows().max(1) as usize;
    let reader = builder
        .with_projection(mask)
        .with_batch_size(rows)
        .build()
        .map_err(pq_err(path))?;
    let projected = Arc::new(schema.project(&keep).map_err(|e| OracleError::Parquet {
        path: path.to_owned(),
        detail: e.to_string(),
    })?);
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| OracleError::Parquet {
            path: path.to_owned(),
            detail: e.to_string(),
        })?);
    }
    let batch = match batches.len() {
        0 => RecordBatch::new_empty(projected),
        1 => batches.remove(0),
        _ => arrow_select::concat::concat_batches(&projected, &batches).map_err(|e| {
            OracleError::Parquet {
                path: path.to_owned(),
                detail: e.to_string(),
            }
        })?,
    };
    Ok((schema, constants, batch))
}

// ------------------------------------------------------------------------------ reader

/// Reads one stream view in order: what WSP consumes.
///
/// `open` fetches the manifest and every part file and checks each part's sha256 (fail
/// closed); decoding is lazy, one record batch at a time.
#[derive(Debug, Clone)]
pub struct StreamViewReader {
    manifest: StreamViewManifest,
    parts: Vec<(String, Bytes)>,
}

impl StreamViewReader {
    /// Open the view of `output_id` under the run root `prefix` of `objects`.
    pub async fn open(
        objects: &Objects,
        prefix: &str,
        output_id: &str,
    ) -> Result<Self, OracleError> {
        streamed_spec(output_id)?;
        let dir = view_dir(prefix, output_id);
        let manifest_path = format!("{dir}/{VIEW_MANIFEST_FILE}");
        let manifest: StreamViewManifest =
            read_doc(objects, &manifest_path)
                .await?
                .ok_or_else(|| OracleError::Invalid {
                    path: manifest_path.clone(),
                    detail: "no stream view (run `fp oracle stream-view` first)".into(),
                })?;
        if manifest.output_id != output_id {
            return Err(OracleError::Invalid {
                path: manifest_path,
                detail: format!("manifest is for `{}`", manifest.output_id),
            });
        }
        let mut parts = Vec::with_capacity(manifest.parts.len());
        for p in &manifest.parts {
            let path = format!("{dir}/{}", p.path);
            let bytes = objects.get(&path).await?;
            let sha = sha_hex(&bytes);
            if sha != p.sha256_hex {
                return Err(OracleError::SourceChanged {
                    path,
                    detail: format!("sha256 {sha} != {} in the manifest", p.sha256_hex),
                });
            }
            parts.push((path, bytes));
        }
        Ok(Self { manifest, parts })
    }

    /// Open the view of `output_id` of a run root that is a local directory.
    pub async fn open_local(root: &Path, output_id: &str) -> Result<Self, OracleError> {
        let objects = Objects::open(&ObjectStoreConfig::local(root))?;
        Self::open(&objects, "", output_id).await
    }

    /// The view's manifest (row count, min/max `ts_utc`, sort keys, ids).
    pub fn manifest(&self) -> &StreamViewManifest {
        &self.manifest
    }

    /// The rows in view order, `batch_size` rows per batch (at least 1).
    pub fn batches(&self, batch_size: usize) -> Batches<'_> {
        Batches {
            parts: self.parts.iter(),
            current: None,
            batch_size: batch_size.max(1),
            failed: false,
        }
    }

    /// The rows in view order as JSON objects (the envelope payload form).
    pub fn rows(&self) -> impl Iterator<Item = Result<Map<String, Value>, OracleError>> + '_ {
        self.batches(8192).flat_map(|b| match b {
            Ok(batch) => (0..batch.num_rows())
                .map(|i| row_to_json(&batch, i))
                .collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    }
}

/// Iterator of record batches over a view's parts, in order; stops after the first error.
pub struct Batches<'a> {
    parts: std::slice::Iter<'a, (String, Bytes)>,
    current: Option<(&'a str, ParquetRecordBatchReader)>,
    batch_size: usize,
    failed: bool,
}

impl Iterator for Batches<'_> {
    type Item = Result<RecordBatch, OracleError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            if let Some((path, reader)) = &mut self.current {
                match reader.next() {
                    Some(Ok(b)) => return Some(Ok(b)),
                    Some(Err(e)) => {
                        self.failed = true;
                        return Some(Err(OracleError::Parquet {
                            path: (*path).to_owned(),
                            detail: e.to_string(),
                        }));
                    }
                    None => self.current = None,
                }
            }
            let (path, bytes) = self.parts.next()?;
            match ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
                .and_then(|b| b.with_batch_size(self.batch_size).build())
            {
                Ok(r) => self.current = Some((path.as_str(), r)),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(pq_err(path)(e)));
                }
            }
        }
    }
}

/// Row `row` of `batch` as a JSON object keyed by column name (nulls as `null`, non-finite
/// floats as `null` since JSON has no NaN).
pub fn row_to_json(batch: &RecordBatch, row: usize) -> Result<Map<String, Value>, OracleError> {
    let schema = batch.schema();
    let mut m = Map::with_capacity(schema.fields().len());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        let c: &Arc<dyn Array> = c;
        let v = if c.is_null(row) {
            Value::Null
        } else {
            match c.data_type() {
                DataType::Utf8 => Value::from(c.as_string::<i32>().value(row)),
                DataType::Int64 => Value::from(c.as_primitive::<Int64Type>().value(row)),
                DataType::UInt64 => Value::from(c.as_primitive::<UInt64Type>().value(row)),
                DataType::Float64 => {
                    serde_json::Number::from_f64(c.as_primitive::<Float64Type>().value(row))
                        .map_or(Value::Null, Value::Number)
                }
                DataType::Boolean => Value::from(c.as_boolean().value(row)),
                other => {
                    return Err(OracleError::Invalid {
                        path: f.name().clone(),
                        detail: format!("unsupported column type {other}"),
                    });
                }
            }
        };
        m.insert(f.name().clone(), v);
    }
    Ok(m)
}
