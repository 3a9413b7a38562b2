//! Faults at the gate: a bus that never confirms, a bus that appends and then errors, and an
//! index that disappears. Nothing acknowledged is lost and nothing is published twice.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use common::ig::*;
use fp_bus::{BusError, BusFuture, EventBus, OutRecord, PartitionInfo, ReadBatch, ReadFrom};
use fp_bus::{EmbeddedBus, EmbeddedConfig, TopicSpec};
use fp_ingress::ingestion_gate::{HealthState, Outcome, Submission};
use fp_rails::contracts::ingestion::IgDecision;
use fp_rails::{EbRef, OffsetKind};
use fp_substrate::testing::PgSchema;

const OK: u8 = 0;
const HANG: u8 = 1;
const APPEND_THEN_FAIL: u8 = 2;
const SLOW: u8 = 3;

/// Delegates to a real bus; publishes can be made to hang or to fail after appending.
struct FaultyBus {
    inner: Arc<dyn EventBus>,
    mode: AtomicU8,
}

impl EventBus for FaultyBus {
    fn backend_name(&self) -> &'static str {
        "faulty"
    }
    fn offset_kind(&self) -> OffsetKind {
        // Not the exclusive embedded log: in-flight rows must go through reconciliation.
        OffsetKind::KafkaOffset
    }
    fn provision<'a>(&'a self, topics: &'a [TopicSpec]) -> BusFuture<'a, ()> {
        self.inner.provision(topics)
    }
    fn topics(&self) -> BusFuture<'_, Vec<TopicSpec>> {
        self.inner.topics()
    }
    fn partitions<'a>(&'a self, topic: &'a str) -> BusFuture<'a, Vec<PartitionInfo>> {
        self.inner.partitions(topic)
    }
    fn publish_batch<'a>(
        &'a self,
        topic: &'a str,
        records: Vec<OutRecord>,
    ) -> BusFuture<'a, Vec<EbRef>> {
        Box::pin(async move {
            match self.mode.load(Ordering::SeqCst) {
                HANG => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Err(BusError::Internal("never".into()))
                }
                APPEND_THEN_FAIL => {
                    self.inner.publish_batch(topic, records).await?;
                    Err(BusError::Internal(
                        "connection reset after the append".into(),
                    ))
                }
                SLOW => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    self.inner.publish_batch(topic, records).await
                }
                _ => self.inner.publish_batch(topic, records).await,
            }
        })
    }
    fn read<'a>(
        &'a self,
        topic: &'a str,
        partition: u32,
        from: &'a ReadFrom,
        max_records: usize,
    ) -> BusFuture<'a, ReadBatch> {
        self.inner.read(topic, partition, from, max_records)
    }
}

const TOPIC: &str = "fp.bus.traffic.fraud.v1";

async fn on_bus(bus: &dyn EventBus) -> usize {
    let mut n = 0;
    for p in bus.partitions(TOPIC).await.unwrap() {
        n += bus
            .read(TOPIC, p.partition, &ReadFrom::Earliest, 100_000)
            .await
            .unwrap()
            .records
            .len();
    }
    n
}

fn reason(o: &Outcome) -> String {
    match o {
        Outcome::Decided { receipt, .. } => receipt.reason_codes.as_ref().unwrap()[0].clone(),
        Outcome::Retry { error, .. } => (*error).to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfirmed_publishes_are_ambiguous_until_reconciled() {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn EventBus> =
        Arc::new(EmbeddedBus::open(dir.path().join("bus"), EmbeddedConfig::default()).unwrap());
    let faulty = Arc::new(FaultyBus {
        inner,
        mode: AtomicU8::new(OK),
    });
    let url = format!("sqlite:{}", dir.path().join("state.db").display());
    let h = Harness::with_bus(dir.path(), &url, faulty.clone(), 2).await;
    h.make_ready("READY").await;
    let mut cfg = h.config();
    cfg.publish_timeout = Duration::from_millis(200);
    cfg.inflight_wait = Duration::from_millis(100);
    let gate = h.gate_with(cfg).await;
    let lost = bytes(&traffic_envelope(1));
    let landed = bytes(&traffic_envelope(2));

    // Timeout: QUARANTINE PUBLISH_AMBIGUOUS with a receipt; a retry is told to wait.
    faulty.mode.store(HANG, Ordering::SeqCst);
    let o = gate
        .admit(Submission::anonymous(lost.clone()))
        .await
        .unwrap();
    assert_eq!(o.decision(), Some(IgDecision::Quarantine));
    assert_eq!(reason(&o), "PUBLISH_AMBIGUOUS");
    // Appended but unconfirmed.
    faulty.mode.store(APPEND_THEN_FAIL, Ordering::SeqCst);
    let o = gate
        .admit(Submission::anonymous(landed.clone()))
        .await
        .unwrap();
    assert_eq!(reason(&o), "PUBLISH_AMBIGUOUS");
    faulty.mode.store(OK, Ordering::SeqCst);
    let o = gate
        .admit(Submission::anonymous(lost.clone()))
        .await
        .unwrap();
    assert_eq!(
        reason(&o),
        "PUBLISH_AMBIGUOUS_RETRY",
        "never republished blindly"
    );
    assert_eq!(on_bus(faulty.as_ref()).await, 1);

    // Reconcile: the landed one is found and admitted; the lost one waits for an operator.
    let r = gate.reconcile(false).await.unwrap();
    assert_eq!((r.admitted, r.unresolved, r.released), (1, 1, 0));
    assert_eq!(
        gate.admit(Submission::anonymous(landed))
            .await
            .unwrap()
            .decision(),
        Some(IgDecision::Duplicate)
    );
    let r = gate.reconcile(true).await.unwrap();
    assert_eq!((r.admitted, r.released), (0, 1));
    assert_eq!(
        gate.admit(Submission::anonymous(lost))
            .await
            .unwrap()
            .decision(),
        Some(IgDecision::Admit)
    );
    assert_eq!(
        on_bus(faulty.as_ref()).await,
        2,
        "each event on the bus exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_index_turns_the_gate_red_and_admits_nothing() {
    let Some(pg) = PgSchema::create("ig_faults_index").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path(), &pg.url()).await;
    h.make_ready("READY").await;
    let gate = h.gate().await;
    assert_eq!(
        gate.admit(Submission::anonymous(bytes(&traffic_envelope(1))))
            .await
            .unwrap()
            .decision(),
        Some(IgDecision::Admit)
    );
    h.sql
        .transact(|tx| tx.execute_batch("DROP TABLE ig_admissions"))
        .await
        .unwrap();
    // The failing call is an error (nothing acknowledged), then the gate is RED and answers
    // retry-later without touching anything.
    assert!(
        gate.admit(Submission::anonymous(bytes(&traffic_envelope(2))))
            .await
            .is_err()
    );
    assert_eq!(gate.health().state, HealthState::Red);
    let o = gate
        .admit(Submission::anonymous(bytes(&traffic_envelope(3))))
        .await
        .unwrap();
    assert_eq!(reason(&o), "IG_UNHEALTHY");
    assert_eq!(on_bus(h.bus.as_ref()).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_going_away_does_not_cancel_a_detached_batch() {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn EventBus> =
        Arc::new(EmbeddedBus::open(dir.path().join("bus"), EmbeddedConfig::default()).unwrap());
    let faulty = Arc::new(FaultyBus {
        inner,
        mode: AtomicU8::new(SLOW),
    });
    let url = format!("sqlite:{}", dir.path().join("state.db").display());
    let h = Harness::with_bus(dir.path(), &url, faulty.clone(), 2).await;
    h.make_ready("READY").await;
    let gate = Arc::new(h.gate().await);
    let env = bytes(&traffic_envelope(7));
    // The caller gives up while the publish is under way (an HTTP client hanging up).
    let gone = tokio::time::timeout(
        Duration::from_millis(50),
        gate.admit_batch_detached(vec![Submission::anonymous(env.clone())]),
    )
    .await;
    assert!(gone.is_err(), "the caller left before the verdict");
    // The batch still runs to its commit: the event is on the bus once and a resend of it
    // is a DUPLICATE, not a key stuck in flight (which the plain `admit_batch` leaves:
    // PUBLISH_IN_FLIGHT_RETRY until a restart).
    tokio::time::sleep(Duration::from_millis(600)).await;
    faulty.mode.store(OK, Ordering::SeqCst);
    let o = gate.admit(Submission::anonymous(env)).await.unwrap();
    assert_eq!(o.decision(), Some(IgDecision::Duplicate), "{o:?}");
    assert_eq!(on_bus(faulty.as_ref()).await, 1);
}
