//! One conformance suite for SQL state, run against every backend: a SQLite file and
//! PostgreSQL (`FP_TEST_PG_DSN`, each test in its own freshly created schema).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use fp_substrate::sql::{
    Migration, SqlBackend, SqlError, SqlOptions, SqlRow, SqlStore, SqlTx, SqlValue,
};

/// A backend the suite can run against.
trait Fixture: Sized {
    /// Prepare an isolated, empty database, or `None` (after printing SKIP).
    async fn setup(test: &str) -> Option<Self>;
    /// URL of the isolated database; opening it twice reaches the same data.
    fn url(&self) -> String;
    /// A URL that cannot work, the host (or file) its error must name, and a secret it
    /// must not show.
    fn bad_url(&self) -> (String, &'static str, &'static str);
    async fn open(&self) -> SqlStore {
        SqlStore::open(&self.url()).await.unwrap()
    }
}

struct SqliteFile {
    dir: tempfile::TempDir,
}

impl Fixture for SqliteFile {
    async fn setup(_test: &str) -> Option<Self> {
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
        })
    }
    fn url(&self) -> String {
        format!("sqlite://{}/state/fp.db", self.dir.path().display())
    }
    fn bad_url(&self) -> (String, &'static str, &'static str) {
        // The parent is a file, so the database can never be created.
        (
            "sqlite:///dev/null/fp/state.db".to_owned(),
            "/dev/null/fp",
            "",
        )
    }
}

struct Postgres {
    schema: fp_substrate::testing::PgSchema,
}

impl Fixture for Postgres {
    async fn setup(test: &str) -> Option<Self> {
        Some(Self {
            schema: fp_substrate::testing::PgSchema::create(test).await?,
        })
    }
    fn url(&self) -> String {
        self.schema.url()
    }
    fn bad_url(&self) -> (String, &'static str, &'static str) {
        // Port 1 refuses connections at once.
        (
            "postgresql://fp_user:s3cr3t-pw@127.0.0.1:1/nowhere".to_owned(),
            "127.0.0.1:1",
            "s3cr3t-pw",
        )
    }
}

// ---- helpers --------------------------------------------------------------------------------

async fn ddl(store: &SqlStore, sql: &'static str) {
    store
        .transact(move |tx| tx.execute_batch(sql))
        .await
        .unwrap();
}

async fn query(store: &SqlStore, sql: &'static str, params: Vec<SqlValue>) -> Vec<SqlRow> {
    store
        .transact(move |tx| tx.query(sql, &params))
        .await
        .unwrap()
}

async fn count(store: &SqlStore, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    store
        .transact(move |tx| tx.query_opt(&sql, &[])?.unwrap().get_i64("n"))
        .await
        .unwrap()
}

// ---- the suite ------------------------------------------------------------------------------

async fn values_round_trip<F: Fixture>(fx: &F) {
    let store = fx.open().await;
    ddl(
        &store,
        "CREATE TABLE vals (id BIGINT PRIMARY KEY, i BIGINT, r DOUBLE PRECISION, t TEXT, b BYTEA)",
    )
    .await;
    let all_bytes: Vec<u8> = (0..=255).collect();
    let rows: Vec<[SqlValue; 4]> = vec![
        [
            i64::MIN.into(),
            0.0.into(),
            "".into(),
            Vec::<u8>::new().into(),
        ],
        [
            i64::MAX.into(),
            (-1.5).into(),
            "h\u{e9}llo \u{4e16}\u{754c} \u{1f680}".into(),
            all_bytes.clone().into(),
        ],
        [
            0.into(),
            f64::MAX.into(),
            "it's $1 -- not a comment".into(),
            vec![0u8, 0, 0].into(),
        ],
        [
            (-1).into(),
            f64::MIN_POSITIVE.into(),
            "tab\tnew\nline".into(),
            vec![0xffu8].into(),
        ],
        [1.into(), f64::INFINITY.into(), "x".into(), SqlValue::Null],
        [
            SqlValue::Null,
            f64::NEG_INFINITY.into(),
            SqlValue::Null,
            vec![1u8].into(),
        ],
        [2.into(), SqlValue::Null, "y".into(), vec![2u8].into()],
        [3.into(), 0.1.into(), "z".into(), vec![3u8].into()],
    ];
    let to_insert = rows.clone();
    store
        .transact(move |tx| {
            for (id, [i, r, t, b]) in to_insert.into_iter().enumerate() {
                let n = tx.execute(
                    "INSERT INTO vals (id, i, r, t, b) VALUES ($1, $2, $3, $4, $5)",
                    &[SqlValue::from(id as i64), i, r, t, b],
                )?;
                assert_eq!(n, 1);
            }
            Ok(())
        })
        .await
        .unwrap();
    let back = query(
        &store,
        "SELECT id, i, r, t, b FROM vals ORDER BY id",
        vec![],
    )
    .await;
    assert_eq!(back.len(), rows.len());
    for (row, expected) in back.iter().zip(&rows) {
        assert_eq!(
            &row.values()[1..],
            &expected[..],
            "row {:?}",
            row.values()[0]
        );
    }
    assert_eq!(back[0].columns(), ["id", "i", "r", "t", "b"]);
    assert_eq!(back[0].get_i64("i").unwrap(), i64::MIN);
    assert_eq!(back[1].get_i64(1).unwrap(), i64::MAX);
    assert_eq!(back[1].get_blob("b").unwrap(), all_bytes);
    assert_eq!(back[5].get::<Option<i64>, _>("i").unwrap(), None);

    // Placeholders keep their numbers, and `$1` inside a literal is left alone.
    let swapped = query(
        &store,
        "SELECT $2 AS a, $1 AS b, '$1' AS lit",
        vec!["first".into(), "second".into()],
    )
    .await;
    assert_eq!(swapped[0].get_str("a").unwrap(), "second");
    assert_eq!(swapped[0].get_str("b").unwrap(), "first");
    assert_eq!(swapped[0].get_str("lit").unwrap(), "$1");

    // Aggregates read back as the same type on both backends.
    let sums = query(
        &store,
        "SELECT SUM(id) AS s, COUNT(*) AS c FROM vals",
        vec![],
    )
    .await;
    assert_eq!(sums[0].get_i64("s").unwrap(), 28);
    assert_eq!(sums[0].get_i64("c").unwrap(), 8);
}

async fn typed_getters_report_mismatches<F: Fixture>(fx: &F) {
    let store = fx.open().await;
    ddl(
        &store,
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)",
    )
    .await;
    store
        .transact(|tx| {
            tx.execute(
                "INSERT INTO kv (k, v) VALUES ($1, $2)",
                &["a".into(), 1.into()],
            )
        })
        .await
        .unwrap();
    let rows = query(&store, "SELECT k, v FROM kv", vec![]).await;
    let err = rows[0].get_i64("k").unwrap_err();
    assert!(
        matches!(&err, SqlError::ColumnType { column, expected: "integer", .. } if column == "k"),
        "{err:?}"
    );
    assert!(matches!(
        rows[0].get_i64("missing"),
        Err(SqlError::ColumnNotFound { .. })
    ));
    assert!(matches!(
        rows[0].get_str(7),
        Err(SqlError::ColumnNotFound { .. })
    ));

    let none = store
        .transact(|tx| tx.query_opt("SELECT v FROM kv WHERE k = $1", &["zz".into()]))
        .await
        .unwrap();
    assert!(none.is_none());
    store
        .transact(|tx| {
            tx.execute(
                "INSERT INTO kv (k, v) VALUES ($1, $2)",
                &["b".into(), 2.into()],
            )
        })
        .await
        .unwrap();
    let err = store
        .transact(|tx| tx.query_opt("SELECT v FROM kv", &[]))
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::TooManyRows { found: 2 }), "{err:?}");
}

async fn commit_persists_across_reopen<F: Fixture>(fx: &F) {
    {
        let store = fx.open().await;
        ddl(
            &store,
            "CREATE TABLE kept (id BIGINT PRIMARY KEY, note TEXT NOT NULL)",
        )
        .await;
        store
            .transact(|tx| {
                tx.execute(
                    "INSERT INTO kept (id, note) VALUES ($1, $2)",
                    &[7.into(), "durable".into()],
                )
            })
            .await
            .unwrap();
    }
    let reopened = fx.open().await;
    let rows = query(
        &reopened,
        "SELECT note FROM kept WHERE id = $1",
        vec![7.into()],
    )
    .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get_str("note").unwrap(), "durable");
}

const STATE_DEDUPE_CHECKPOINT: &str = "
    CREATE TABLE entity_state (entity TEXT PRIMARY KEY, total BIGINT NOT NULL);
    CREATE TABLE seen (event_id TEXT PRIMARY KEY);
    CREATE TABLE checkpoint (part BIGINT PRIMARY KEY, next_offset BIGINT NOT NULL);";

/// The platform's pattern: state + dedupe row + checkpoint, then `fail` decides the outcome.
fn apply_event(
    tx: &mut dyn SqlTx,
    event_id: &str,
    offset: i64,
    fail: Option<&'static str>,
) -> Result<bool, SqlError> {
    let fresh = tx.execute(
        "INSERT INTO seen (event_id) VALUES ($1) ON CONFLICT DO NOTHING",
        &[event_id.into()],
    )?;
    if fresh == 1 {
        tx.execute(
            "INSERT INTO entity_state (entity, total) VALUES ($1, $2) \
             ON CONFLICT (entity) DO UPDATE SET total = entity_state.total + $2",
            &["card-1".into(), 10.into()],
        )?;
    }
    tx.execute(
        "INSERT INTO checkpoint (part, next_offset) VALUES ($1, $2) \
         ON CONFLICT (part) DO UPDATE SET next_offset = $2",
        &[0.into(), (offset + 1).into()],
    )?;
    match fail {
        Some(why) => Err(SqlError::abort(why)),
        None => Ok(fresh == 1),
    }
}

async fn error_rolls_back_state_dedupe_and_checkpoint<F: Fixture>(fx: &F) {
    let store = fx.open().await;
    ddl(&store, STATE_DEDUPE_CHECKPOINT).await;

    let err = store
        .transact(|tx| apply_event(tx, "e1", 0, Some("downstream refused")))
        .await
        .unwrap_err();
    match &err {
        SqlError::Aborted(inner) => assert_eq!(inner.to_string(), "downstream refused"),
        other => panic!("expected Aborted, got {other:?}"),
    }
    for table in ["seen", "entity_state", "checkpoint"] {
        assert_eq!(
            count(&store, table).await,
            0,
            "{table} kept a row after rollback"
        );
    }

    // A backend failure half-way (third statement) rolls back the first two as well.
    let err = store
        .transact(|tx| {
            apply_event(tx, "e1", 0, None)?;
            tx.execute("INSERT INTO seen (event_id) VALUES ($1)", &["e1".into()])
        })
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::UniqueViolation { .. }), "{err:?}");
    for table in ["seen", "entity_state", "checkpoint"] {
        assert_eq!(
            count(&store, table).await,
            0,
            "{table} kept a row after rollback"
        );
    }

    // Committed, then replayed: the dedupe row makes the replay a no-op for state.
    assert!(
        store
            .transact(|tx| apply_event(tx, "e1", 0, None))
            .await
            .unwrap()
    );
    assert!(
        !store
            .transact(|tx| apply_event(tx, "e1", 0, None))
            .await
            .unwrap()
    );
    let total = query(&store, "SELECT total FROM entity_state", vec![]).await;
    assert_eq!(total[0].get_i64("total").unwrap(), 10);
    let cp = query(&store, "SELECT next_offset FROM checkpoint", vec![]).await;
    assert_eq!(cp[0].get_i64("next_offset").unwrap(), 1);
}

async fn unique_violation_is_typed<F: Fixture>(fx: &F) {
    let store = fx.open().await;
    ddl(&store, "CREATE TABLE dedupe (dedupe_key TEXT NOT NULL, CONSTRAINT dedupe_pk PRIMARY KEY (dedupe_key))").await;
    let insert = |key: &'static str| {
        move |tx: &mut dyn SqlTx| {
            tx.execute("INSERT INTO dedupe (dedupe_key) VALUES ($1)", &[key.into()])
        }
    };
    store.transact(insert("k1")).await.unwrap();
    let err = store.transact(insert("k1")).await.unwrap_err();
    match &err {
        SqlError::UniqueViolation { constraint, .. } => {
            assert!(constraint.contains("dedupe"), "constraint `{constraint}`")
        }
        other => panic!("expected UniqueViolation, got {other:?}"),
    }
    // Insert-if-absent without an error: zero rows affected.
    let n = store
        .transact(|tx| {
            tx.execute(
                "INSERT INTO dedupe (dedupe_key) VALUES ($1) ON CONFLICT DO NOTHING",
                &["k1".into()],
            )
        })
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(count(&store, "dedupe").await, 1);
}

async fn concurrent_increments_are_not_lost<F: Fixture>(fx: &F) {
    let store = fx.open().await;
    ddl(
        &store,
        "CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)",
    )
    .await;
    store
        .transact(|tx| tx.execute("INSERT INTO counter (id, n) VALUES (1, 0)", &[]))
        .await
        .unwrap();
    let task = |store: SqlStore| {
        tokio::spawn(async move {
            for _ in 0..100 {
                let rows = store
                    .transact(|tx| {
                        tx.query(
                            "UPDATE counter SET n = n + 1 WHERE id = $1 RETURNING n",
                            &[1.into()],
                        )
                    })
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 1);
            }
        })
    };
    let (a, b) = tokio::join!(task(store.clone()), task(store.clone()));
    a.unwrap();
    b.unwrap();
    let rows = query(&store, "SELECT n FROM counter WHERE id = 1", vec![]).await;
    assert_eq!(rows[0].get_i64("n").unwrap(), 200);
}

const V1: Migration = Migration {
    version: 1,
    name: "receipts",
    sql: "CREATE TABLE receipts (receipt_id TEXT PRIMARY KEY, body BYTEA NOT NULL);",
};
const V2: Migration = Migration {
    version: 2,
    name: "receipts index",
    sql: "CREATE TABLE offsets (part BIGINT PRIMARY KEY, next_offset BIGINT NOT NULL);
          INSERT INTO offsets (part, next_offset) VALUES (0, 0);",
};
const V3: Migration = Migration {
    version: 3,
    name: "receipt score",
    sql: "ALTER TABLE receipts ADD COLUMN score DOUBLE PRECISION;",
};

async fn migrations_are_idempotent_and_refuse_drift<F: Fixture>(fx: &F) {
    let store = fx.open().await;
    let first = store.migrate("ig", &[V1, V2]).await.unwrap();
    assert_eq!(first.applied, vec![1, 2]);
    let again = store.migrate("ig", &[V1, V2]).await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.already_applied, vec![1, 2]);
    assert_eq!(count(&store, "offsets").await, 1, "migration ran twice");

    // Components are independent.
    let other = store.migrate("dla", &[V1_OTHER]).await.unwrap();
    assert_eq!(other.applied, vec![1]);

    // Editing an applied migration is drift.
    let edited = Migration {
        sql: "CREATE TABLE receipts (receipt_id TEXT PRIMARY KEY);",
        ..V1
    };
    let err = store.migrate("ig", &[edited, V2]).await.unwrap_err();
    assert!(
        matches!(&err, SqlError::MigrationDrift { component, version: 1, .. } if component == "ig"),
        "{err:?}"
    );
    // So is a database newer than the build.
    let err = store.migrate("ig", &[V1]).await.unwrap_err();
    assert!(
        matches!(err, SqlError::MigrationDrift { version: 2, .. }),
        "{err:?}"
    );

    let later = store.migrate("ig", &[V1, V2, V3]).await.unwrap();
    assert_eq!(later.applied, vec![3]);

    // A failing migration leaves nothing behind and is retried next time.
    let broken = Migration {
        version: 4,
        name: "broken",
        sql: "CREATE TABLE half (id BIGINT); THIS IS NOT SQL;",
    };
    assert!(store.migrate("ig", &[V1, V2, V3, broken]).await.is_err());
    let versions = query(
        &store,
        "SELECT version FROM fp_schema_migrations WHERE component = $1 ORDER BY version",
        vec!["ig".into()],
    )
    .await;
    let versions: Vec<i64> = versions.iter().map(|r| r.get_i64(0).unwrap()).collect();
    assert_eq!(versions, vec![1, 2, 3]);
    let half = store
        .transact(|tx| tx.query("SELECT COUNT(*) FROM half", &[]))
        .await;
    assert!(half.is_err(), "the failed migration's table survived");

    // Bad migration lists are refused before touching the database.
    let err = store.migrate("ig", &[V2, V1]).await.unwrap_err();
    assert!(matches!(err, SqlError::InvalidMigration { .. }), "{err:?}");
}

const V1_OTHER: Migration = Migration {
    version: 1,
    name: "records",
    sql: "CREATE TABLE dla_records (audit_id TEXT PRIMARY KEY);",
};

async fn concurrent_migrators_apply_once<F: Fixture>(fx: &F) {
    // Two separate handles (two processes' worth of connections) racing on a fresh database.
    let a = fx.open().await;
    let b = fx.open().await;
    let (ra, rb) = tokio::join!(
        a.migrate("ig", &[V1, V2, V3]),
        b.migrate("ig", &[V1, V2, V3])
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let mut applied = [ra.applied.clone(), rb.applied.clone()].concat();
    applied.sort_unstable();
    assert_eq!(applied, vec![1, 2, 3], "{ra:?} {rb:?}");
    assert_eq!(count(&a, "offsets").await, 1);
}

async fn health_reports_round_trip<F: Fixture>(fx: &F) {
    let store = fx.open().await;
    let rtt = store.health().await.unwrap();
    assert!(rtt < Duration::from_secs(5), "{rtt:?}");
}

async fn blocking_api_works_from_any_thread<F: Fixture>(fx: &F) {
    let url = fx.url();
    // From inside the runtime (PostgreSQL work is moved off the async worker) ...
    let store = SqlStore::open_blocking(&url).unwrap();
    store
        .transact_blocking(|tx| tx.execute_batch("CREATE TABLE b (x BIGINT)"))
        .unwrap();
    store.migrate_blocking("blocking", &[V1]).unwrap();
    // ... and from a plain thread.
    let n = std::thread::spawn(move || {
        store
            .transact_blocking(|tx| {
                tx.execute("INSERT INTO b (x) VALUES ($1)", &[5.into()])?;
                tx.query_opt("SELECT SUM(x) AS s FROM b", &[])?
                    .unwrap()
                    .get_i64("s")
            })
            .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(n, 5);
}

async fn bad_url_is_a_clear_redacted_error<F: Fixture>(fx: &F) {
    let (url, names, secret) = fx.bad_url();
    let err = SqlStore::open_with(
        &url,
        SqlOptions {
            connect_timeout: Duration::from_secs(3),
            ..SqlOptions::default()
        },
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(names),
        "error does not name `{names}`: {text}"
    );
    if !secret.is_empty() {
        assert!(!text.contains(secret), "error leaks the password: {text}");
        assert!(
            !format!("{err:?}").contains(secret),
            "debug leaks the password"
        );
    }
    assert!(err.is_unavailable(), "{err:?}");
    // A URL no backend understands is refused as such, password hidden too.
    let err = SqlStore::open("mysql://u:hunter2@db.example/x")
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::InvalidUrl { .. }), "{err:?}");
    assert!(err.to_string().contains("db.example") && !err.to_string().contains("hunter2"));
}

/// Instantiate every case for one backend.
macro_rules! sql_suite {
    ($backend:ident, $fixture:ty) => {
        mod $backend {
            use super::*;
            sql_suite!(@cases $fixture;
                values_round_trip,
                typed_getters_report_mismatches,
                commit_persists_across_reopen,
                error_rolls_back_state_dedupe_and_checkpoint,
                unique_violation_is_typed,
                concurrent_increments_are_not_lost,
                migrations_are_idempotent_and_refuse_drift,
                concurrent_migrators_apply_once,
                health_reports_round_trip,
                blocking_api_works_from_any_thread,
                bad_url_is_a_clear_redacted_error,
            );
        }
    };
    (@cases $fixture:ty; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let name = concat!(module_path!(), "::", stringify!($case));
                let Some(fx) = <$fixture as Fixture>::setup(name).await else { return };
                tokio::time::timeout(Duration::from_secs(120), super::$case(&fx))
                    .await
                    .expect("case timed out");
            }
        )*
    };
}

sql_suite!(sqlite_file, SqliteFile);
sql_suite!(postgres, Postgres);

// ---- PostgreSQL only: the pool replaces a connection the server killed ----------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pool_replaces_a_killed_connection() {
    let Some(fx) = Postgres::setup("postgres_pool_replaces_a_killed_connection").await else {
        return;
    };
    let store = SqlStore::open_with(
        &fx.url(),
        SqlOptions {
            pool_size: 1,
            ..SqlOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(store.backend(), SqlBackend::Postgres);
    let pid = |store: &SqlStore| {
        let store = store.clone();
        async move {
            store
                .transact(|tx| {
                    tx.query_opt("SELECT pg_backend_pid() AS pid", &[])?
                        .unwrap()
                        .get_i64("pid")
                })
                .await
        }
    };
    let before = pid(&store).await.unwrap();
    let admin = SqlStore::open(&fx.url()).await.unwrap();
    let killed = admin
        .transact(move |tx| {
            tx.query_opt(
                "SELECT pg_terminate_backend($1::int) AS ok",
                &[before.into()],
            )?
            .unwrap()
            .get::<bool, _>("ok")
        })
        .await
        .unwrap();
    assert!(killed);
    // Give the server a moment to close the socket.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = pid(&store).await.unwrap();
    assert_ne!(before, after, "the dead connection was reused");
    assert!(store.health().await.is_ok());
}
