//! The Kinesis backend on moto: the shared conformance suite (`fp_bus::conformance`, the same
//! functions the embedded log runs), plus routing, bootstrap and retry tests.
//!
//! moto runs at `FP_TEST_KINESIS_ENDPOINT`, else `FP_TEST_S3_ENDPOINT` (`scripts/test.sh`
//! starts one moto that serves both). Without it the tests print SKIP, or fail under
//! `FP_TEST_REQUIRE_SERVICES=1` (decision 0006). Each test uses its own stream prefix and
//! deletes its streams afterwards; volumes stay small because moto slows down as streams fill.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use fp_bus::kinesis::testing::{
    CallError, Class, EntryResult, plan_segments, put_segment, put_with_retry,
};
use fp_bus::kinesis::{KinesisBus, KinesisConfig, RetryPolicy, explicit_hash_key};
use fp_bus::{BusError, EventBus, OutRecord, ReadFrom, TopicSpec, conformance};
use fp_substrate::testing::{host_port, missing, reachable, unique};

/// The moto endpoint, or the SKIP/fail decision.
fn endpoint(test: &str) -> Option<String> {
    let url = std::env::var("FP_TEST_KINESIS_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| {
            std::env::var("FP_TEST_S3_ENDPOINT")
                .ok()
                .filter(|v| !v.is_empty())
        });
    let Some(url) = url else {
        return missing(
            test,
            "Kinesis (moto)",
            "FP_TEST_KINESIS_ENDPOINT / FP_TEST_S3_ENDPOINT is not set",
        );
    };
    let Some((host, port)) = host_port(&url, 80) else {
        return missing(test, "Kinesis (moto)", &format!("`{url}` is not a URL"));
    };
    if !reachable(&host, port) {
        return missing(
            test,
            "Kinesis (moto)",
            &format!("{host}:{port} does not answer"),
        );
    }
    Some(url)
}

fn config(endpoint: &str, prefix: &str) -> KinesisConfig {
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "testing".to_owned())
    };
    KinesisConfig {
        endpoint: Some(endpoint.to_owned()),
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
        stream_prefix: Some(prefix.to_owned()),
        shards: conformance::PARTITIONS,
        access_key_id: Some(env("AWS_ACCESS_KEY_ID")),
        secret_access_key: Some(env("AWS_SECRET_ACCESS_KEY")),
        ..KinesisConfig::default()
    }
}

/// A bus whose streams all start with a fresh prefix; `cleanup` deletes every stream under
/// it (explicitly: deletion is async, so it cannot live in `Drop`).
struct TestBus {
    bus: Arc<KinesisBus>,
    url: String,
    prefix: String,
}

impl TestBus {
    async fn new(test: &str) -> Option<Self> {
        let url = endpoint(test)?;
        let prefix = format!("{}.", unique("fpt"));
        let bus = KinesisBus::connect(config(&url, &prefix)).await.unwrap();
        Some(Self {
            bus: Arc::new(bus),
            url,
            prefix,
        })
    }

    fn dyn_bus(&self) -> Arc<dyn EventBus> {
        Arc::clone(&self.bus) as Arc<dyn EventBus>
    }

    /// Delete every stream under this bus's prefix.
    async fn cleanup(self) {
        let topics = self.bus.topics().await.unwrap();
        for t in topics {
            self.bus.delete_topic(&t.name).await.unwrap();
        }
        assert!(
            self.bus.topics().await.unwrap().is_empty(),
            "streams left behind"
        );
    }
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let Some(t) = TestBus::new(concat!("kinesis::", stringify!($case))).await else {
                return;
            };
            conformance::$case(t.dyn_bus(), "c").await;
            t.cleanup().await;
        }
    )*};
}

fp_bus::conformance_cases!(cases);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_via_run_all() {
    let Some(t) = TestBus::new("kinesis::whole_suite_via_run_all").await else {
        return;
    };
    conformance::run_all(t.dyn_bus(), "suite").await;
    t.cleanup().await;
}

/// Two independent buses (two SDK clients) route every key to the same shard, and that shard
/// is the one whose hash range holds the key's explicit hash key (CreateStream splits the
/// 128-bit space evenly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_hash_key_routing_is_deterministic_across_buses() {
    let Some(a) = TestBus::new("kinesis::routing").await else {
        return;
    };
    // Same streams, second client.
    let b = KinesisBus::connect(config(&a.url, &a.prefix))
        .await
        .unwrap();
    let topic = "route";
    let shards = 4u32;
    a.bus
        .provision(&[TopicSpec::new(topic, shards)])
        .await
        .unwrap();
    for i in 0..40u64 {
        let k = conformance::key(i);
        let ra = a
            .bus
            .publish(
                topic,
                OutRecord::new(k.clone(), conformance::value("ra", i)),
            )
            .await
            .unwrap();
        let rb = b
            .publish(
                topic,
                OutRecord::new(k.clone(), conformance::value("rb", i)),
            )
            .await
            .unwrap();
        assert_eq!(ra.partition, rb.partition, "key {i} routed differently");
        let h: u128 = explicit_hash_key(&k).parse().unwrap();
        let width = u128::MAX / u128::from(shards) + 1;
        let want = u32::try_from(h / width).unwrap().min(shards - 1);
        assert_eq!(
            ra.partition, want,
            "key {i}: hash key {h} is in shard {want}"
        );
    }
    a.cleanup().await;
}

/// Provisioning (create if absent, wait ACTIVE) is idempotent, from one bus and from a second
/// one; a conflicting shard count is refused; an invalid spec never reaches the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_is_idempotent() {
    let Some(t) = TestBus::new("kinesis::bootstrap").await else {
        return;
    };
    let specs = [TopicSpec::new("boot.a", 1), TopicSpec::new("boot.b", 2)];
    t.bus.provision(&specs).await.unwrap();
    t.bus.provision(&specs).await.unwrap();
    t.bus.provision(&specs[1..]).await.unwrap();
    let listed = t.bus.topics().await.unwrap();
    assert_eq!(listed, specs.to_vec());
    let e = t
        .bus
        .provision(&[TopicSpec::new("boot.a", 3)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            BusError::TopicConflict {
                existing: 1,
                requested: 3,
                ..
            }
        ),
        "{e:?}"
    );
    let e = t
        .bus
        .provision(&[TopicSpec::new("boot/bad", 1)])
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::InvalidTopicName { .. }), "{e:?}");
    // Publishing works right after bootstrap, and a deleted topic becomes unknown again.
    let r = t
        .bus
        .publish(
            "boot.b",
            OutRecord::new(conformance::key(1), conformance::value("boot", 1)),
        )
        .await
        .unwrap();
    assert!(r.partition < 2);
    t.bus.delete_topic("boot.b").await.unwrap();
    t.bus.delete_topic("boot.b").await.unwrap();
    let e = t
        .bus
        .read("boot.b", 0, &ReadFrom::Earliest, 1)
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::UnknownTopic { .. }), "{e:?}");
    t.cleanup().await;
}

/// A service that is down is a `Remote` error after the bounded retries, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_service_gives_up_after_bounded_retries() {
    // Port 9 (discard) on localhost: nothing listens there in the test environment.
    let bus = KinesisBus::connect(KinesisConfig {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(10),
        },
        attempt_timeout: Duration::from_secs(2),
        ..config("http://127.0.0.1:9", "nowhere.")
    })
    .await
    .unwrap();
    let started = Instant::now();
    let e = bus.read("t", 0, &ReadFrom::Earliest, 1).await.unwrap_err();
    assert!(
        matches!(&e, BusError::Remote { attempts: 3, .. }),
        "expected Remote after 3 attempts, got {e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// The publish retry path without a network: a PutRecords that fails some entries
/// (throttled), then fails as a whole (5xx), then succeeds, re-sends only the failed entries
/// in input order; segments never carry a key twice, so a key's records cannot overtake each
/// other when one is retried.
#[tokio::test]
async fn partial_failure_retry_path_without_network() {
    let policy = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    };
    let keys = ["k1", "k2", "k3", "k1", "k4"];
    let segments = plan_segments(&keys, &[10; 5]);
    assert_eq!(segments, vec![0..3, 3..5], "k1 twice: two requests");

    let sent = std::sync::Mutex::new(Vec::<Vec<usize>>::new());
    let whole_failures = std::sync::atomic::AtomicU32::new(0);
    let mut acked = vec![None; keys.len()];
    let mut next_seq = 0u32;
    for seg in segments {
        put_segment(&policy, seg, &mut acked, |pending: Vec<usize>| {
            let round = {
                let mut s = sent.lock().unwrap();
                s.push(pending.clone());
                s.len()
            };
            // Round 1: entry 1 (k2) throttled. Round 2 (its retry): the whole call gets a
            // 503 once before it goes through.
            let response: Vec<EntryResult> = pending
                .iter()
                .map(|&i| {
                    if round == 1 && i == 1 {
                        EntryResult::Failed {
                            code: "ProvisionedThroughputExceededException".into(),
                            message: "Rate exceeded".into(),
                        }
                    } else {
                        next_seq += 1;
                        EntryResult::Ok {
                            sequence: next_seq.to_string(),
                            shard_id: "shardId-000000000000".into(),
                        }
                    }
                })
                .collect();
            let policy = &policy;
            let whole_failures = &whole_failures;
            async move {
                put_with_retry(policy, || {
                    let first = round == 2
                        && whole_failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
                    let response = response.clone();
                    async move {
                        if first {
                            Err(CallError::new(Class::Transient, "HTTP 503"))
                        } else {
                            Ok(response)
                        }
                    }
                })
                .await
            }
        })
        .await
        .unwrap();
    }
    assert_eq!(
        *sent.lock().unwrap(),
        vec![vec![0, 1, 2], vec![1], vec![3, 4]],
        "only the failed entry is re-sent, before the next segment"
    );
    let seqs: Vec<u32> = acked
        .iter()
        .map(|a| a.as_ref().unwrap().sequence.parse().unwrap())
        .collect();
    // k1's two records keep their order (1 < 4) although k2 was retried in between.
    assert_eq!(seqs, [1, 3, 2, 4, 5]);
    assert_eq!(
        whole_failures.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one failed whole call, one retry"
    );
}

/// Functional throughput figure on moto (moto is slow and single-threaded: this is not a
/// Kinesis benchmark). `cargo test -p fp-bus --test kinesis -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark figure; needs moto"]
async fn moto_publish_and_read_500() {
    let Some(t) = TestBus::new("kinesis::moto_publish_and_read_500").await else {
        return;
    };
    const N: u64 = 500;
    let topic = "bench";
    t.bus
        .provision(&[TopicSpec::new(topic, conformance::PARTITIONS)])
        .await
        .unwrap();
    let records: Vec<OutRecord> = (0..N)
        .map(|i| OutRecord::new(conformance::key(i), conformance::value("bench", i)))
        .collect();
    let started = Instant::now();
    let mut refs = Vec::new();
    for chunk in records.chunks(100) {
        refs.extend(t.bus.publish_batch(topic, chunk.to_vec()).await.unwrap());
    }
    let published = started.elapsed();
    let started = Instant::now();
    let mut read = 0usize;
    for p in 0..conformance::PARTITIONS {
        let mut from = ReadFrom::Earliest;
        loop {
            let b = t.bus.read(topic, p, &from, 100).await.unwrap();
            if b.records.is_empty() {
                break;
            }
            read += b.records.len();
            from = b.next;
        }
    }
    let reading = started.elapsed();
    assert_eq!(read, refs.len());
    let rate = |d: Duration| N as f64 / d.as_secs_f64();
    println!(
        "moto kinesis: publish {N} records in batches of 100: {:.0} records/s ({published:?}); \
         read back: {:.0} records/s ({reading:?}); end to end {:.0} records/s",
        rate(published),
        rate(reading),
        rate(published + reading)
    );
    t.cleanup().await;
}
