use super::interpolate::tests::MapEnv;
use super::*;

const LOCAL: &str = include_str!("../../../../config/profiles/local.yaml");
const PARITY: &str = include_str!("../../../../config/profiles/local_parity.yaml");

fn parity_env() -> MapEnv {
    MapEnv::of(&[
        ("FP_S3_ENDPOINT", "http://127.0.0.1:5000"),
        ("FP_KINESIS_ENDPOINT", "http://127.0.0.1:5000"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID"),
        ("AWS_SECRET_ACCESS_KEY", "very-secret-access-key"),
        ("IG_API_KEYS", "wsp-key-123,df-key-456"),
        ("IG_CLIENT_API_KEY", "wsp-key-123"),
    ])
}

#[test]
fn every_shipped_profile_loads() {
    let local = parse(LOCAL, "local", &MapEnv::of(&[])).expect("local loads with no env");
    assert_eq!(local.profile.profile_id, "local");
    assert!(matches!(
        local.profile.wiring.event_bus,
        BusWiring::Embedded { partitions: 4, .. }
    ));

    let parity = parse(PARITY, "local_parity", &parity_env()).expect("parity loads");
    assert!(matches!(
        parity.profile.wiring.event_bus,
        BusWiring::Kinesis { shards: 2, .. }
    ));

    let cloud_env = MapEnv::of(&[
        ("FP_OBJECT_BUCKET", "fp-objects"),
        ("FP_ORACLE_BUCKET", "fp-oracle"),
        ("AWS_REGION", "eu-west-2"),
        ("FP_PG_DSN", "postgresql://fp:pw@rds.internal/fp"),
        ("FP_IG_URL", "https://ig.internal"),
        ("file:/run/secrets/ig_api_keys", "k1,k2\n"),
        ("file:/run/secrets/ig_client_api_key", "k1\n"),
    ]);
    for name in ["dev", "prod"] {
        let text = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .expect("builtin");
        let p = parse(text, name, &cloud_env).expect("cloud profile loads");
        assert_eq!(p.environment(), name);
        assert_eq!(p.profile.wiring.state.url.redacted(), REDACTED);
    }
}

#[test]
fn shown_profile_redacts_every_secret() {
    let env = parity_env();
    let p = parse(PARITY, "local_parity", &env).expect("parity loads");
    let shown = serde_json::to_string(&p.to_display_value()).expect("json");
    let yaml = p.to_display_yaml();
    for secret in [
        "AKIAEXAMPLEKEYID",
        "very-secret-access-key",
        "wsp-key-123",
        "df-key-456",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        assert!(!yaml.contains(secret), "{secret} leaked in {yaml}");
    }
    assert!(shown.contains("\"access_key_id\":\"***\""), "{shown}");
    assert!(yaml.contains("***"), "{yaml}");
    // the real value is still available to the code that needs it
    let auth = &p.profile.wiring.ingestion_gate.auth;
    assert_eq!(
        auth.api_keys.as_ref().map(Secret::expose),
        Some("wsp-key-123,df-key-456")
    );
}

#[test]
fn missing_variable_is_named() {
    let mut env = parity_env();
    env.0.remove("FP_S3_ENDPOINT");
    let err = parse(PARITY, "local_parity", &env).expect_err("missing var");
    assert!(
        matches!(&err, ProfileError::MissingVariable { var, key }
            if var == "FP_S3_ENDPOINT" && key == "wiring.object_store.endpoint"),
        "{err}"
    );
    let mut env = parity_env();
    env.0.remove("IG_API_KEYS");
    let err = parse(PARITY, "local_parity", &env).expect_err("missing secret");
    assert!(err.to_string().contains("IG_API_KEYS"), "{err}");
    // every missing variable is named in one error, each once
    let mut env = parity_env();
    env.0.remove("AWS_ACCESS_KEY_ID");
    env.0.remove("FP_KINESIS_ENDPOINT");
    let err = parse(PARITY, "local_parity", &env).expect_err("two missing");
    let msg = err.to_string();
    assert!(
        matches!(&err, ProfileError::MissingVariables(v) if v.len() == 2),
        "{msg}"
    );
    assert_eq!(msg.matches("`AWS_ACCESS_KEY_ID`").count(), 1, "{msg}");
    assert!(msg.contains("FP_KINESIS_ENDPOINT"), "{msg}");
}

#[test]
fn unknown_keys_are_named() {
    let text = LOCAL.replace(
        "    url: ${FP_DATA_DIR:-.fp}/objects",
        "    bukcet: x\n    url: y",
    );
    let err = parse(&text, "local", &MapEnv::of(&[])).expect_err("unknown key");
    let msg = err.to_string();
    assert!(
        msg.contains("wiring.object_store") && msg.contains("bukcet"),
        "{msg}"
    );

    let text = LOCAL.replace(
        "  traffic_mode: fraud",
        "  traffic_mode: fraud\n  speedup: 2",
    );
    let err = parse(&text, "local", &MapEnv::of(&[])).expect_err("unknown policy key");
    assert!(err.to_string().contains("speedup"), "{err}");

    let text = LOCAL.replace(
        "    kind: embedded\n    root: ${FP_DATA_DIR:-.fp}/bus",
        "    kind: kafka\n    root: x",
    );
    let err = parse(&text, "local", &MapEnv::of(&[])).expect_err("unknown bus kind");
    assert!(err.to_string().contains("kafka"), "{err}");
}

#[test]
fn literal_and_misplaced_secrets_are_refused() {
    let text = PARITY.replace("${secret:IG_API_KEYS}", "plain-key");
    let err = parse(&text, "local_parity", &parity_env()).expect_err("literal secret");
    assert!(
        matches!(&err, ProfileError::LiteralSecret { key } if key == "wiring.ingestion_gate.auth.api_keys"),
        "{err}"
    );
    let text = PARITY.replace("url: s3://fraud-platform", "url: ${secret:IG_API_KEYS}");
    let err = parse(&text, "local_parity", &parity_env()).expect_err("secret in plain field");
    assert!(
        matches!(&err, ProfileError::SecretInPlainField { key } if key == "wiring.object_store.url"),
        "{err}"
    );
}

#[test]
fn policy_rev_tracks_policy_content_only() {
    let env = MapEnv::of(&[]);
    let base = parse(LOCAL, "local", &env).expect("loads").policy_rev;
    assert_eq!(base.policy_id, PLATFORM_POLICY_ID);
    assert_eq!(base.revision, "platform-v0");
    assert!(base.content_digest.is_some());

    // wiring and comments do not change the policy revision
    let rewired = LOCAL
        .replace("partitions: 4", "partitions: 8")
        .replace("# local:", "# LOCAL:");
    assert_eq!(
        parse(&rewired, "local", &env).expect("loads").policy_rev,
        base
    );
    // an outcome-affecting value does
    let stricter = LOCAL.replace("stream_speedup: max", "stream_speedup: 60");
    assert_ne!(
        parse(&stricter, "local", &env).expect("loads").policy_rev,
        base
    );
    // the same policy in another profile has the same digest (local vs dev share policy
    // except pacing, which is policy)
    let parity = parse(PARITY, "local_parity", &parity_env())
        .expect("loads")
        .policy_rev;
    assert_ne!(parity.content_digest, base.content_digest);
}

#[test]
fn semantic_checks_name_the_key() {
    let env = MapEnv::of(&[]);
    let cases = [
        (
            "stream_speedup: max",
            "stream_speedup: 0",
            "policy.stream_speedup",
        ),
        (
            "bind: 127.0.0.1:8081",
            "bind: localhost",
            "wiring.ingestion_gate.bind",
        ),
        (
            "partitions: 4",
            "partitions: 0",
            "wiring.event_bus.partitions",
        ),
        (
            "url: sqlite:${FP_DATA_DIR:-.fp}/state.db",
            "url: mysql://x",
            "wiring.state.url",
        ),
        (
            "mode: disabled",
            "mode: api_key",
            "wiring.ingestion_gate.auth.api_keys",
        ),
    ];
    for (from, to, key) in cases {
        let text = LOCAL.replace(from, to);
        assert_ne!(text, LOCAL, "replacement {from} did not apply");
        let err = parse(&text, "local", &env).expect_err(to);
        assert!(
            matches!(&err, ProfileError::Invalid { key: k, .. } if k == key),
            "{to}: {err}"
        );
    }
}

#[test]
fn names_resolve_to_files_then_builtins() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("profiles")).expect("mkdir");
    let custom = LOCAL.replace("profile_id: local", "profile_id: custom");
    std::fs::write(dir.path().join("profiles/custom.yaml"), custom).expect("write");
    let env = MapEnv::of(&[]);
    let p = load("custom", Some(dir.path()), &env).expect("custom from dir");
    assert_eq!(p.profile.profile_id, "custom");
    let p = load("local", Some(dir.path()), &env).expect("builtin fallback");
    assert_eq!(p.source, "builtin:local");
    let err = load("nope", Some(dir.path()), &env).expect_err("unknown profile");
    assert!(err.to_string().contains("local_parity"), "{err}");
}
