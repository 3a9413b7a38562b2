//! Consumer checkpoints live in the consumer's own transaction: state and offset commit or roll
//! back together, on SQLite and PostgreSQL, and a restarted consumer resumes exactly there.
#![allow(clippy::unwrap_used)]

use fp_bus::checkpoints;
use fp_bus::{EmbeddedBus, EmbeddedConfig, EventBus, OutRecord, ReadFrom, TopicSpec};
use fp_rails::{OffsetKind, TsUtc};
use fp_substrate::sql::{SqlError, SqlStore};
use fp_substrate::testing::PgSchema;

/// A consumer name nobody else uses, so tests sharing a database never see each other's rows.
fn unique_consumer(tag: &str) -> String {
    fp_substrate::testing::unique(tag)
}

async fn state_and_checkpoint_commit_together(store: SqlStore) {
    checkpoints::migrate(&store).await.unwrap();
    store
        .transact(|tx| {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS test_consumer_state (consumer TEXT PRIMARY KEY, applied BIGINT NOT NULL)",
            )
        })
        .await
        .unwrap();
    let consumer = unique_consumer("atomic");
    let topic = "fp.bus.traffic.fraud.v1";

    // committed: state says 5 applied, checkpoint says next = 5
    let c = consumer.clone();
    store
        .transact(move |tx| {
            tx.execute(
                "INSERT INTO test_consumer_state (consumer, applied) VALUES ($1, 5)",
                &[c.as_str().into()],
            )?;
            let wm = TsUtc::parse("2026-01-01T00:00:05.000000Z").unwrap();
            checkpoints::save(
                tx,
                &c,
                topic,
                0,
                &ReadFrom::Checkpoint("5".into()),
                OffsetKind::FileLine,
                Some(&wm),
            )
        })
        .await
        .unwrap();

    // rolled back: a failure after both writes leaves neither
    let c = consumer.clone();
    let err = store
        .transact(move |tx| {
            tx.execute(
                "UPDATE test_consumer_state SET applied = 9 WHERE consumer = $1",
                &[c.as_str().into()],
            )?;
            checkpoints::save(
                tx,
                &c,
                topic,
                0,
                &ReadFrom::Checkpoint("9".into()),
                OffsetKind::FileLine,
                None,
            )?;
            Err::<(), _>(SqlError::abort(std::io::Error::other(
                "crash before commit",
            )))
        })
        .await;
    assert!(err.is_err());

    let c = consumer.clone();
    let (applied, stored) = store
        .transact(move |tx| {
            let applied = tx
                .query_opt(
                    "SELECT applied FROM test_consumer_state WHERE consumer = $1",
                    &[c.as_str().into()],
                )?
                .unwrap()
                .get_i64(0)?;
            Ok((applied, checkpoints::load(tx, &c, topic)?))
        })
        .await
        .unwrap();
    assert_eq!(applied, 5);
    let cp = stored.get(&0).unwrap();
    assert_eq!(cp.next, ReadFrom::Checkpoint("5".into()));
    assert_eq!(cp.offset_kind, "file_line");
    assert_eq!(
        cp.watermark_ts_utc.as_ref().map(TsUtc::as_str),
        Some("2026-01-01T00:00:05.000000Z")
    );
    assert!(!stored.contains_key(&1));

    let c = consumer.clone();
    store
        .transact(move |tx| {
            tx.execute(
                "DELETE FROM fp_consumer_checkpoints WHERE consumer = $1",
                &[c.as_str().into()],
            )
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_state_and_checkpoint_commit_together() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    state_and_checkpoint_commit_together(SqlStore::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_state_and_checkpoint_commit_together() {
    let Some(schema) = PgSchema::create("postgres_state_and_checkpoint_commit_together").await
    else {
        return;
    };
    state_and_checkpoint_commit_together(SqlStore::open(&schema.url()).await.unwrap()).await;
}

#[tokio::test]
async fn restarted_consumer_resumes_at_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let topic = "fp.bus.traffic.fraud.v1";
    let key = fp_rails::ids::partition_key(&serde_json::json!(1001));
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let bus_root = dir.path().join("bus");
    {
        let bus = EmbeddedBus::open(&bus_root, EmbeddedConfig::default()).unwrap();
        bus.provision(&[TopicSpec::new(topic, 1)]).await.unwrap();
        let records = (0..10)
            .map(|i| OutRecord::new(key.clone(), format!("r{i}")))
            .collect();
        bus.publish_batch(topic, records).await.unwrap();
        let store = SqlStore::open(&url).await.unwrap();
        checkpoints::migrate(&store).await.unwrap();
        let batch = bus.read(topic, 0, &ReadFrom::Earliest, 4).await.unwrap();
        assert_eq!(batch.records.len(), 4);
        let next = batch.next.clone();
        store
            .transact(move |tx| {
                checkpoints::save(tx, "resume", topic, 0, &next, OffsetKind::FileLine, None)
            })
            .await
            .unwrap();
    }
    // "restart": everything reopened from disk
    let bus = EmbeddedBus::open(&bus_root, EmbeddedConfig::default()).unwrap();
    let store = SqlStore::open(&url).await.unwrap();
    let stored = store
        .transact(|tx| checkpoints::load(tx, "resume", topic))
        .await
        .unwrap();
    let from = stored.get(&0).unwrap().next.clone();
    let rest = bus.read(topic, 0, &from, 100).await.unwrap();
    let values: Vec<String> = rest
        .records
        .iter()
        .map(|r| String::from_utf8(r.value.to_vec()).unwrap())
        .collect();
    assert_eq!(values, (4..10).map(|i| format!("r{i}")).collect::<Vec<_>>());
}
