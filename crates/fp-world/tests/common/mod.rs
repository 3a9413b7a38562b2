#![allow(dead_code, clippy::unwrap_used)]
//! Shared helpers: small worlds and an independent reading of the files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fp_world::{WorldConfig, WorldSummary};

pub fn small_config() -> WorldConfig {
    WorldConfig {
        seed: 42,
        scenario_id: "baseline_v1".into(),
        flows: 2_000,
        days: 3,
        fraud_rate: 0.05,
        ..WorldConfig::default()
    }
}

pub fn generate_small(dir: &Path, name: &str) -> (PathBuf, WorldSummary) {
    let root = dir.join(name);
    let s = fp_world::generate(&small_config(), &root).unwrap();
    (root, s)
}

/// Every file under `root` (relative POSIX path → bytes).
pub fn all_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

pub fn sha(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// The single parquet file of output `id` (found by walking, not through the catalogue).
pub fn output_file(root: &Path, id: &str) -> PathBuf {
    let files = all_files(root);
    let hits: Vec<&String> = files
        .keys()
        .filter(|k| {
            k.split('/').nth(3) == Some(id)
                || (id == "arrival_events_5B" && k.starts_with("data/layer2/5B/arrival_events/"))
        })
        .filter(|k| k.ends_with(".parquet"))
        .collect();
    assert_eq!(hits.len(), 1, "{id}: {hits:?}");
    root.join(hits[0])
}
