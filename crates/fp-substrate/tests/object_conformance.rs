//! One conformance suite for the object store, run against every backend: a local directory
//! and S3 (moto, via `FP_TEST_S3_ENDPOINT`, bucket `fp-test`).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use fp_rails::digest::ContentDigest;
use fp_rails::locator::ObjectRef;
use fp_rails::{Hex32, PlatformRunId};
use fp_substrate::objects::{ObjectError, ObjectStoreConfig, Objects, PutOutcome};

/// A backend the suite can run against.
trait Fixture: Sized {
    /// Prepare an isolated store, or `None` (after printing SKIP) if the service is missing.
    async fn setup(test: &str) -> Option<Self>;
    /// Wiring for the isolated store; opening it twice reaches the same objects.
    fn config(&self) -> ObjectStoreConfig;
    fn open(&self) -> Objects {
        Objects::open(&self.config()).unwrap()
    }
}

struct LocalDir {
    dir: tempfile::TempDir,
}

impl Fixture for LocalDir {
    async fn setup(_test: &str) -> Option<Self> {
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
        })
    }
    fn config(&self) -> ObjectStoreConfig {
        // A not-yet-existing subdirectory: open must create it.
        ObjectStoreConfig::local(self.dir.path().join("store"))
    }
}

struct S3Moto {
    endpoint: String,
    prefix: String,
}

impl Fixture for S3Moto {
    async fn setup(test: &str) -> Option<Self> {
        let Some(endpoint) = std::env::var("FP_TEST_S3_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
        else {
            return common::missing(test, "S3 (moto)", "FP_TEST_S3_ENDPOINT is not set");
        };
        let Some((host, port)) = common::host_port(&endpoint, 80) else {
            return common::missing(test, "S3 (moto)", &format!("`{endpoint}` is not a URL"));
        };
        if !common::reachable(&host, port) {
            return common::missing(test, "S3 (moto)", &format!("`{endpoint}` does not answer"));
        }
        Some(Self {
            endpoint,
            prefix: common::unique("t"),
        })
    }
    fn config(&self) -> ObjectStoreConfig {
        let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "testing".to_owned());
        ObjectStoreConfig {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".to_owned()),
            path_style: true,
            allow_http: true,
            access_key_id: Some(env("AWS_ACCESS_KEY_ID")),
            secret_access_key: Some(env("AWS_SECRET_ACCESS_KEY")),
            ..ObjectStoreConfig::with_url(format!("s3://fp-test/{}", self.prefix))
        }
    }
}

// ---- the suite ------------------------------------------------------------------------------

async fn write_once_is_idempotent<F: Fixture>(fx: &F) {
    let store = fx.open();
    let path = "sr/run_plan/a.json";
    assert_eq!(
        store.put_once(path, b"plan-1".to_vec()).await.unwrap(),
        PutOutcome::Created
    );
    assert_eq!(
        store.put_once(path, b"plan-1".to_vec()).await.unwrap(),
        PutOutcome::AlreadyIdentical
    );
    assert_eq!(store.get(path).await.unwrap().as_ref(), b"plan-1");
}

async fn write_once_conflict_names_the_path<F: Fixture>(fx: &F) {
    let store = fx.open();
    let path = "sr/ready_signal/b.json";
    store.put_once(path, b"first".to_vec()).await.unwrap();
    let err = store.put_once(path, b"second".to_vec()).await.unwrap_err();
    assert!(
        matches!(&err, ObjectError::WriteOnceConflict { path: p } if p == path),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(path) && text.contains("differs"), "{text}");
    // The loser changed nothing.
    assert_eq!(store.get(path).await.unwrap().as_ref(), b"first");
}

async fn racing_writers_one_wins<F: Fixture>(fx: &F) {
    let store = fx.open();
    let path = "registry/bundles/b/v1/bundle_publication.json";
    let (a, b) = tokio::join!(
        store.put_once(path, b"writer-a".to_vec()),
        store.put_once(path, b"writer-b".to_vec())
    );
    let created = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Ok(PutOutcome::Created)))
        .count();
    let conflicts = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(ObjectError::WriteOnceConflict { .. })))
        .count();
    assert_eq!((created, conflicts), (1, 1), "{a:?} {b:?}");
    let winner = if a.is_ok() { "writer-a" } else { "writer-b" };
    assert_eq!(store.get(path).await.unwrap().as_ref(), winner.as_bytes());
}

async fn missing_objects_are_typed<F: Fixture>(fx: &F) {
    let store = fx.open();
    let err = store.get("nothing/here.json").await.unwrap_err();
    assert!(
        matches!(&err, ObjectError::NotFound { path } if path == "nothing/here.json"),
        "{err:?}"
    );
    assert!(!store.exists("nothing/here.json").await.unwrap());
    let digest = ContentDigest::of(b"x");
    let err = store
        .get_verified_digest("nothing/here.json", &digest)
        .await
        .unwrap_err();
    assert!(matches!(err, ObjectError::NotFound { .. }), "{err:?}");
    store
        .put_once("some/thing.json", b"{}".to_vec())
        .await
        .unwrap();
    assert!(store.exists("some/thing.json").await.unwrap());
}

async fn verified_read_fails_closed_after_tampering<F: Fixture>(fx: &F) {
    let store = fx.open();
    let path = "sr/run_facts_view/c.json";
    let original = br#"{"bundle_hash":"abc"}"#.to_vec();
    store.put_once(path, original.clone()).await.unwrap();
    let reference = ObjectRef::new(path, &original);
    assert_eq!(
        store.get_verified(&reference).await.unwrap().as_ref(),
        &original[..]
    );
    // An absolute URI under this store's root resolves to the same object.
    let absolute = ObjectRef::new(store.uri_of(path), &original);
    assert_eq!(
        store.get_verified(&absolute).await.unwrap().as_ref(),
        &original[..]
    );

    store
        .put_overwrite(path, br#"{"bundle_hash":"evil"}"#.to_vec())
        .await
        .unwrap();
    let err = store.get_verified(&reference).await.unwrap_err();
    match &err {
        ObjectError::DigestMismatch(m) => {
            assert_eq!(m.path, path);
            assert_eq!(m.expected, reference.digest.hex.as_str());
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(err.to_string().contains(path), "{err}");
    let err = store
        .get_verified_digest(path, &reference.digest)
        .await
        .unwrap_err();
    assert!(matches!(err, ObjectError::DigestMismatch(_)), "{err:?}");
    // A reference into another store is refused rather than read from the wrong place.
    let foreign = ObjectRef::new("s3://elsewhere/x.json", &original);
    assert!(matches!(
        store.get_verified(&foreign).await.unwrap_err(),
        ObjectError::InvalidPath(_)
    ));
}

async fn listing_is_sorted_and_prefix_scoped<F: Fixture>(fx: &F) {
    let store = fx.open();
    let names = [
        "ig/receipts/batch-00000000000000000003.jsonl",
        "ig/receipts/batch-00000000000000000001.jsonl",
        "ig/receipts/batch-00000000000000000002.jsonl",
        "ig/receipts_extra/x.json",
        "ig/quarantine/q.json",
        "other/z.json",
    ];
    for n in names {
        store.put_once(n, n.as_bytes().to_vec()).await.unwrap();
    }
    let receipts = store.list("ig/receipts").await.unwrap();
    assert_eq!(
        receipts,
        vec![
            "ig/receipts/batch-00000000000000000001.jsonl",
            "ig/receipts/batch-00000000000000000002.jsonl",
            "ig/receipts/batch-00000000000000000003.jsonl",
        ]
    );
    assert_eq!(store.list("ig/receipts").await.unwrap(), receipts, "stable");
    let mut everything: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    everything.sort();
    assert_eq!(store.list("").await.unwrap(), everything);
    assert!(store.list("never/written").await.unwrap().is_empty());
    assert!(matches!(
        store.list("ig/").await.unwrap_err(),
        ObjectError::InvalidPath(_)
    ));
}

async fn overwrite_replaces_and_reopen_sees_it<F: Fixture>(fx: &F) {
    let store = fx.open();
    let path = "ig/health/last_probe.json";
    store.put_overwrite(path, b"v1".to_vec()).await.unwrap();
    store.put_overwrite(path, b"v2".to_vec()).await.unwrap();
    let reopened = fx.open();
    assert_eq!(reopened.get(path).await.unwrap().as_ref(), b"v2");
    reopened.delete(path).await.unwrap();
    reopened.delete(path).await.unwrap();
    assert!(!store.exists(path).await.unwrap());
}

async fn unsafe_paths_are_refused<F: Fixture>(fx: &F) {
    let store = fx.open();
    for bad in ["", "/abs", "a/../b", "a//b", "a/", "sp ace", "x#1"] {
        let err = store.put_once(bad, b"x".to_vec()).await.unwrap_err();
        assert!(
            matches!(err, ObjectError::InvalidPath(_)),
            "{bad:?}: {err:?}"
        );
        assert!(matches!(
            store.get(bad).await.unwrap_err(),
            ObjectError::InvalidPath(_)
        ));
    }
}

async fn prefix_map_paths_round_trip<F: Fixture>(fx: &F) {
    let store = fx.open();
    let run = PlatformRunId::parse("platform_20260101T000000Z").unwrap();
    let rp = store.run_prefix(&run);
    let run_id = Hex32::parse("0123456789abcdef0123456789abcdef").unwrap();
    let plan = rp.sr_run_plan(&run_id);
    let batch = rp.ig_receipt_batch(0);
    store.put_once(&plan, b"{}".to_vec()).await.unwrap();
    store.put_once(&batch, b"{}\n".to_vec()).await.unwrap();
    let mut expected = vec![batch, plan];
    expected.sort();
    assert_eq!(store.list(rp.as_str()).await.unwrap(), expected);
}

/// Instantiate every case for one backend.
macro_rules! object_suite {
    ($backend:ident, $fixture:ty) => {
        mod $backend {
            use super::*;
            object_suite!(@cases $fixture;
                write_once_is_idempotent,
                write_once_conflict_names_the_path,
                racing_writers_one_wins,
                missing_objects_are_typed,
                verified_read_fails_closed_after_tampering,
                listing_is_sorted_and_prefix_scoped,
                overwrite_replaces_and_reopen_sees_it,
                unsafe_paths_are_refused,
                prefix_map_paths_round_trip,
            );
        }
    };
    (@cases $fixture:ty; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let name = concat!(module_path!(), "::", stringify!($case));
                let Some(fx) = <$fixture as Fixture>::setup(name).await else { return };
                tokio::time::timeout(Duration::from_secs(60), super::$case(&fx))
                    .await
                    .expect("case timed out");
            }
        )*
    };
}

object_suite!(local_dir, LocalDir);
object_suite!(s3_moto, S3Moto);
