#![allow(clippy::unwrap_used)]
//! Oracle Store: sealing (local directory and S3 via moto) and stream views.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fp_substrate::objects::{ObjectStoreConfig, Objects};
use fp_substrate::testing;
use fp_world::catalogue;
use fp_world::identity::WorldIdentity;
use fp_world::oracle::{
    self, OracleError, SealOptions, SealOutcome, StreamViewOptions, StreamViewOutcome,
    StreamViewReader,
};
use fp_world::{WorldConfig, WorldSummary};
use serde_json::{Map, Value};

const T0: &str = "2026-01-01T00:00:00.000000Z";
const T1: &str = "2026-02-02T00:00:00.000000Z";

fn config() -> WorldConfig {
    WorldConfig {
        flows: 1_500,
        ..common::small_config()
    }
}

fn world(dir: &Path, name: &str) -> (PathBuf, WorldSummary) {
    let root = dir.join(name);
    let s = fp_world::generate(&config(), &root).unwrap();
    (root, s)
}

fn at(t: &str) -> SealOptions {
    SealOptions {
        at_utc: Some(t.to_owned()),
    }
}

fn view_opts() -> StreamViewOptions {
    StreamViewOptions {
        created_utc: Some(T0.to_owned()),
    }
}

fn local(root: &Path) -> Objects {
    Objects::open(&ObjectStoreConfig::local(root)).unwrap()
}

fn identity(s: &WorldSummary) -> WorldIdentity {
    WorldIdentity {
        manifest_fingerprint: s.manifest_fingerprint.clone(),
        parameter_hash: s.parameter_hash.clone(),
        seed: s.seed,
        scenario_id: s.scenario_id.clone(),
    }
}

#[tokio::test]
async fn seal_local_then_reseal_is_a_noop() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, s) = world(tmp.path(), "w");
    let r = oracle::seal_local(&root, &at(T0)).await.unwrap();
    assert_eq!(r.outcome, SealOutcome::Sealed);

    // The manifest: exactly the reference schema's seven fields, the reference id recipe.
    let mbytes = std::fs::read(root.join(oracle::MANIFEST_FILE)).unwrap();
    let m: Value = serde_json::from_slice(&mbytes).unwrap();
    let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "catalogue_digest",
            "created_at_utc",
            "engine_release",
            "gate_map_digest",
            "oracle_pack_id",
            "version",
            "world_key"
        ]
    );
    assert_eq!(m["version"], "v0");
    assert_eq!(m["created_at_utc"], T0);
    assert_eq!(
        m["world_key"]["manifest_fingerprint"],
        s.manifest_fingerprint
    );
    assert_eq!(m["world_key"]["seed"], s.seed);
    assert!(
        m["engine_release"]
            .as_str()
            .unwrap()
            .starts_with("fp-world-standin/")
    );
    let want = fp_rails::ids::oracle_pack_id(
        &s.manifest_fingerprint,
        &s.parameter_hash,
        &s.scenario_id,
        s.seed,
        oracle::ENGINE_RELEASE,
        &oracle::catalogue_digest(),
        &oracle::gate_map_digest(),
    );
    assert_eq!(m["oracle_pack_id"], want.as_str());
    assert!(mbytes.ends_with(b"}\n"));
    let seal_bytes = std::fs::read(root.join(oracle::SEAL_FILE)).unwrap();
    let seal: Value = serde_json::from_slice(&seal_bytes).unwrap();
    assert_eq!(seal["seal_status"], "SEALED_OK");
    assert_eq!(seal["oracle_pack_id"], want.as_str());
    assert_eq!(seal["sealed_at_utc"], T0);

    // Sealing again (another time) writes nothing and keeps the first timestamps.
    let again = oracle::seal_local(&root, &at(T1)).await.unwrap();
    assert_eq!(again.outcome, SealOutcome::AlreadySealed);
    assert_eq!(again.manifest.created_at_utc, T0);
    assert_eq!(
        std::fs::read(root.join(oracle::MANIFEST_FILE)).unwrap(),
        mbytes
    );
    assert_eq!(
        std::fs::read(root.join(oracle::SEAL_FILE)).unwrap(),
        seal_bytes
    );
    // The sealed world still verifies (the markers are outside every gate).
    fp_world::verify(&root).unwrap();
}

#[tokio::test]
async fn tampered_world_or_foreign_manifest_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, s) = world(tmp.path(), "w");
    let id = identity(&s);

    // A changed data byte: verification fails, nothing is written.
    let rel = catalogue::EVENT_STREAM_FRAUD.file_path(&id, 0);
    let original = std::fs::read(root.join(&rel)).unwrap();
    let mut bytes = original.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(root.join(&rel), &bytes).unwrap();
    let err = oracle::seal_local(&root, &at(T0)).await.unwrap_err();
    match &err {
        OracleError::NotVerified { source, .. } => {
            assert!(source.to_string().contains(&rel), "{err}")
        }
        other => panic!("expected NotVerified, got {other}"),
    }
    assert!(!root.join(oracle::MANIFEST_FILE).exists());
    assert!(!root.join(oracle::SEAL_FILE).exists());

    // Restored and sealed; then a manifest for another world under the same root is refused.
    std::fs::write(root.join(&rel), &original).unwrap();
    oracle::seal_local(&root, &at(T0)).await.unwrap();
    let mpath = root.join(oracle::MANIFEST_FILE);
    let mut m: Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    m["world_key"]["seed"] = Value::from(7);
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    let err = oracle::seal_local(&root, &at(T0)).await.unwrap_err();
    match &err {
        OracleError::ManifestMismatch { path, .. } => assert_eq!(path, oracle::MANIFEST_FILE),
        other => panic!("expected ManifestMismatch, got {other}"),
    }
    assert!(err.to_string().contains("world_key"), "{err}");

    // A seal with another status is refused too.
    let fresh = tempfile::tempdir().unwrap();
    let (root2, _) = world(fresh.path(), "w");
    oracle::seal_local(&root2, &at(T0)).await.unwrap();
    let spath = root2.join(oracle::SEAL_FILE);
    let txt = std::fs::read_to_string(&spath)
        .unwrap()
        .replace("SEALED_OK", "SEALED_FAILED");
    std::fs::write(&spath, txt).unwrap();
    match oracle::seal_local(&root2, &at(T0)).await.unwrap_err() {
        OracleError::SealMismatch { path, .. } => assert_eq!(path, oracle::SEAL_FILE),
        other => panic!("expected SealMismatch, got {other}"),
    }
}

/// `(ts_utc, primary key values)` of a JSON row, comparable.
fn sort_key(spec: &catalogue::OutputSpec, row: &Map<String, Value>) -> (String, Vec<String>) {
    let pk = spec
        .primary_key
        .iter()
        .map(|k| {
            let v = &row[*k];
            // Integers compared numerically through zero-padding; strings as they are.
            match v.as_u64().or_else(|| v.as_i64().map(|i| i as u64)) {
                Some(n) => format!("{n:020}"),
                None => v.as_str().unwrap().to_owned(),
            }
        })
        .collect();
    (row["ts_utc"].as_str().unwrap().to_owned(), pk)
}

/// Every row of the source file of `spec`, keyed by primary key.
fn source_rows(
    root: &Path,
    id: &WorldIdentity,
    spec: &catalogue::OutputSpec,
) -> BTreeMap<Vec<String>, Map<String, Value>> {
    let batch = fp_world::read::read_table(&root.join(spec.file_path(id, 0))).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..batch.num_rows() {
        let row = oracle::row_to_json(&batch, i).unwrap();
        let (_, pk) = sort_key(spec, &row);
        assert!(out.insert(pk, row).is_none(), "duplicate primary key");
    }
    out
}

async fn check_views(objects: &Objects, prefix: &str, root_for_source: &Path, s: &WorldSummary) {
    let id = identity(s);
    for output_id in oracle::STREAMED_OUTPUTS {
        let spec = catalogue::output(output_id).unwrap();
        let reader = StreamViewReader::open(objects, prefix, output_id)
            .await
            .unwrap();
        let rows: Vec<Map<String, Value>> = reader.rows().map(Result::unwrap).collect();
        // Globally ordered by (ts_utc, primary key), strictly (the key is unique).
        for w in rows.windows(2) {
            assert!(
                sort_key(spec, &w[0]) < sort_key(spec, &w[1]),
                "{output_id}: {:?} !< {:?}",
                sort_key(spec, &w[0]),
                sort_key(spec, &w[1])
            );
        }
        // Exactly the source rows.
        let src = source_rows(root_for_source, &id, spec);
        let view: BTreeMap<Vec<String>, Map<String, Value>> = rows
            .iter()
            .map(|r| (sort_key(spec, r).1, r.clone()))
            .collect();
        assert_eq!(view.len(), rows.len(), "{output_id}: duplicate rows");
        assert!(view == src, "{output_id}: view rows differ from the source");
        // Stats.
        let m = reader.manifest();
        assert_eq!(m.row_count, rows.len() as u64);
        assert!(m.row_count > 0, "{output_id} is empty");
        assert_eq!(m.source.row_count, m.row_count);
        assert_eq!(
            m.min_ts_utc.as_deref(),
            rows.first().and_then(|r| r["ts_utc"].as_str())
        );
        assert_eq!(
            m.max_ts_utc.as_deref(),
            rows.last().and_then(|r| r["ts_utc"].as_str())
        );
        let mut keys = vec!["ts_utc"];
        keys.extend(spec.primary_key);
        assert_eq!(m.sort_keys, keys);
        assert_eq!(
            m.stream_view_id,
            fp_rails::ids::stream_view_id(
                &objects.uri_of(prefix),
                &s.scenario_id,
                output_id,
                &keys,
                "flat"
            )
            .as_str()
        );
        // Batches: same columns as the source, in catalogue order.
        let b = reader.batches(1000).next().unwrap().unwrap();
        assert_eq!(b.schema().fields().len(), spec.columns.len());
        assert!(b.num_rows() <= 1000);
    }
}

#[tokio::test]
async fn stream_views_are_ordered_complete_reused_and_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, s) = world(tmp.path(), "w");
    let objects = local(&root);

    // No view of an unsealed pack.
    match oracle::build_stream_views(&objects, "", &view_opts()).await {
        Err(OracleError::NotSealed { path }) => assert_eq!(path, oracle::SEAL_FILE),
        other => panic!("expected NotSealed, got {other:?}"),
    }
    oracle::seal(&objects, "", &at(T0)).await.unwrap();
    let built = oracle::build_stream_views(&objects, "", &view_opts())
        .await
        .unwrap();
    assert_eq!(built.len(), 6);
    assert!(built.iter().all(|r| r.outcome == StreamViewOutcome::Built));
    for r in &built {
        let dir = root.join(format!(
            "stream_view/ts_utc/output_id={}",
            r.manifest.output_id
        ));
        for f in [
            "part-00000.parquet",
            "_stream_view_manifest.json",
            "_stream_sort_receipt.json",
        ] {
            assert!(dir.join(f).is_file(), "{}/{f}", dir.display());
        }
    }
    check_views(&objects, "", &root, &s).await;

    // Built once: a second build reuses every view and writes nothing.
    let before = common::all_files(&root);
    let again = oracle::build_stream_views(&objects, "", &view_opts())
        .await
        .unwrap();
    assert!(again.iter().all(|r| r.outcome == StreamViewOutcome::Reused));
    assert!(common::all_files(&root) == before);
    // The stream view does not disturb the world or the seal.
    fp_world::verify(&root).unwrap();
    assert_eq!(
        oracle::seal(&objects, "", &at(T1)).await.unwrap().outcome,
        SealOutcome::AlreadySealed
    );

    // Deterministic: the same world elsewhere gives byte-identical parts and receipts' stats.
    let (root2, _) = world(tmp.path(), "w2");
    let objects2 = local(&root2);
    oracle::seal(&objects2, "", &at(T1)).await.unwrap();
    let built2 = oracle::build_stream_views(&objects2, "", &StreamViewOptions::default())
        .await
        .unwrap();
    for (a, b) in built.iter().zip(&built2) {
        let part = format!(
            "stream_view/ts_utc/output_id={}/part-00000.parquet",
            a.manifest.output_id
        );
        assert!(
            std::fs::read(root.join(&part)).unwrap() == std::fs::read(root2.join(&part)).unwrap(),
            "{part} differs between two builds"
        );
        assert_eq!(a.manifest.parts, b.manifest.parts);
        assert_eq!(a.manifest.min_ts_utc, b.manifest.min_ts_utc);
    }

    // A source changed after sealing is refused, naming the file.
    let id = identity(&s);
    let rel = catalogue::FLOW_ANCHOR_BASELINE.file_path(&id, 0);
    let mut bytes = std::fs::read(root2.join(&rel)).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x01;
    std::fs::write(root2.join(&rel), &bytes).unwrap();
    std::fs::remove_dir_all(root2.join("stream_view/ts_utc/output_id=s2_flow_anchor_baseline_6B"))
        .unwrap();
    match oracle::build_stream_view(&objects2, "", "s2_flow_anchor_baseline_6B", &view_opts()).await
    {
        Err(OracleError::SourceChanged { path, .. }) => assert_eq!(path, rel),
        other => panic!("expected SourceChanged, got {other:?}"),
    }
    // Only streamed outputs have views.
    assert!(matches!(
        oracle::build_stream_view(&objects2, "", "s4_flow_truth_labels_6B", &view_opts()).await,
        Err(OracleError::NotStreamed(_))
    ));
}

/// moto at `FP_TEST_S3_ENDPOINT`, bucket `fp-test`, a fresh prefix; `None` after SKIP.
fn s3_store(test: &str) -> Option<(Objects, String)> {
    let Some(endpoint) = std::env::var("FP_TEST_S3_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
    else {
        return testing::missing(test, "S3 (moto)", "FP_TEST_S3_ENDPOINT is not set");
    };
    let Some((host, port)) = testing::host_port(&endpoint, 80) else {
        return testing::missing(test, "S3 (moto)", &format!("`{endpoint}` is not a URL"));
    };
    if !testing::reachable(&host, port) {
        return testing::missing(test, "S3 (moto)", &format!("`{endpoint}` does not answer"));
    }
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "testing".to_owned());
    let cfg = ObjectStoreConfig {
        endpoint: Some(endpoint),
        region: Some("us-east-1".to_owned()),
        path_style: true,
        allow_http: true,
        access_key_id: Some(env("AWS_ACCESS_KEY_ID")),
        secret_access_key: Some(env("AWS_SECRET_ACCESS_KEY")),
        ..ObjectStoreConfig::with_url(format!("s3://fp-test/{}", testing::unique("oracle")))
    };
    Some((Objects::open(&cfg).unwrap(), "runs/w".to_owned()))
}

#[tokio::test]
async fn seal_and_stream_view_on_s3() {
    let Some((objects, prefix)) = s3_store("seal_and_stream_view_on_s3") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (root, s) = world(tmp.path(), "w");
    let n = oracle::upload_world(&root, &objects, &prefix)
        .await
        .unwrap();
    assert!(n > 12);
    // Re-uploading is a no-op (write-once, same bytes).
    oracle::upload_world(&root, &objects, &prefix)
        .await
        .unwrap();

    let r = oracle::seal(&objects, &prefix, &at(T0)).await.unwrap();
    assert_eq!(r.outcome, SealOutcome::Sealed);
    assert_eq!(
        r.manifest_path,
        format!("{prefix}/{}", oracle::MANIFEST_FILE)
    );
    assert!(objects.exists(&r.seal_path).await.unwrap());
    // Same pack id as the same world sealed locally.
    let local_seal = oracle::seal_local(&root, &at(T1)).await.unwrap();
    assert_eq!(
        r.manifest.oracle_pack_id,
        local_seal.manifest.oracle_pack_id
    );
    let again = oracle::seal(&objects, &prefix, &at(T1)).await.unwrap();
    assert_eq!(again.outcome, SealOutcome::AlreadySealed);
    assert_eq!(again.seal.sealed_at_utc, T0);

    let built = oracle::build_stream_views(&objects, &prefix, &view_opts())
        .await
        .unwrap();
    assert!(built.iter().all(|b| b.outcome == StreamViewOutcome::Built));
    check_views(&objects, &prefix, &root, &s).await;
    let again = oracle::build_stream_views(&objects, &prefix, &view_opts())
        .await
        .unwrap();
    assert!(again.iter().all(|b| b.outcome == StreamViewOutcome::Reused));

    // A tampered object on S3 is caught by the verifier before anything is sealed (the local
    // root is sealed and has views by now: upload_world copies only the engine's files).
    let prefix2 = "runs/tampered";
    oracle::upload_world(&root, &objects, prefix2)
        .await
        .unwrap();
    let listed = objects.list(prefix2).await.unwrap();
    assert_eq!(listed.len(), n);
    assert!(
        !listed
            .iter()
            .any(|p| p.contains("stream_view") || p.contains("_SEALED"))
    );
    let id = identity(&s);
    let rel = catalogue::ARRIVAL_EVENTS.file_path(&id, 0);
    let path = format!("{prefix2}/{rel}");
    let mut bytes = objects.get(&path).await.unwrap().to_vec();
    let k = bytes.len() / 2;
    bytes[k] ^= 0xff;
    objects.put_overwrite(&path, bytes).await.unwrap();
    assert!(matches!(
        oracle::seal(&objects, prefix2, &at(T0)).await,
        Err(OracleError::NotVerified { .. })
    ));
    assert!(
        !objects
            .exists(&format!("{prefix2}/{}", oracle::SEAL_FILE))
            .await
            .unwrap()
    );
}

/// Stream view build throughput on a larger world (target: >= 2,000,000 rows/s):
/// `cargo test -p fp-world --release --test oracle -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput; run with --release -- --ignored --nocapture"]
async fn stream_view_throughput() {
    let flows: u64 = std::env::var("FP_WORLD_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("w");
    let cfg = WorldConfig {
        flows,
        days: 7,
        ..WorldConfig::default()
    };
    fp_world::generate(&cfg, &root).unwrap();
    let objects = local(&root);
    oracle::seal(&objects, "", &at(T0)).await.unwrap();
    let t = std::time::Instant::now();
    let built = oracle::build_stream_views(&objects, "", &view_opts())
        .await
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let rows: u64 = built.iter().map(|b| b.manifest.row_count).sum();
    println!(
        "flows={flows} stream views: {rows} rows in {secs:.3}s = {:.0} rows/s",
        rows as f64 / secs
    );
}
