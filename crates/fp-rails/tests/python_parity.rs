//! Differential test: our canonical JSON against CPython's `json.dumps` on random documents.
//!
//! Python is the reference implementation's own encoder, so agreement here is the strongest
//! evidence of hash compatibility beyond the fixed §21 vectors. Needs `python3` on PATH; under
//! the test command (`FP_TEST_REQUIRE_SERVICES=1`) its absence is a failure, elsewhere a skip.

use std::io::Write;
use std::process::{Command, Stdio};

use fp_rails::canonical::{cj, cj_sr};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Number, Value};

const PY: &str = r#"
import json, sys
for line in sys.stdin:
    v = json.loads(line)
    print(json.dumps(v, sort_keys=True, ensure_ascii=True, separators=(",", ":")))
    print(json.dumps(v, sort_keys=True))
"#;

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Number(i.into())),
        any::<u64>().prop_map(|u| Value::Number(u.into())),
        // finite floats across the whole exponent range, plus "human" amounts
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0u32..10_000_000u32).prop_map(|c| Value::from(f64::from(c) / 100.0)),
        // mantissas around the fixed/scientific switch points (1e-4 and 1e16)
        (1u32..100_000u32, -12i32..20).prop_map(|(m, e)| Value::from(f64::from(m) * 10f64.powi(e))),
        any::<String>().prop_map(Value::String),
        "[a-zA-Z0-9 _\\-\"\\\\/\t\n\u{7f}\u{e9}\u{2028}\u{1F600}]{0,12}".prop_map(Value::String),
    ]
}

fn document() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_\u{e9}\u{1F600}]{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

#[test]
fn canonical_json_matches_cpython() {
    let mut runner = TestRunner::new(Config {
        cases: 1,
        ..Config::default()
    });
    let docs: Vec<Value> = (0..600)
        .map(|_| {
            document()
                .new_tree(&mut runner)
                .expect("strategy")
                .current()
        })
        .collect();

    let child = Command::new("python3")
        .args(["-c", PY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if std::env::var("FP_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("python3 is required for the parity test: {e}")
        }
        Err(e) => {
            eprintln!("SKIP canonical_json_matches_cpython: python3 unavailable ({e})");
            return;
        }
    };
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for d in &docs {
            writeln!(stdin, "{}", serde_json::to_string(d).expect("json")).expect("write");
        }
    }
    let out = child.wait_with_output().expect("python runs");
    assert!(out.status.success(), "python failed");
    let text = String::from_utf8(out.stdout).expect("ascii output");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), docs.len() * 2);
    for (i, d) in docs.iter().enumerate() {
        assert_eq!(cj(d), lines[2 * i], "CJ differs for {d}");
        assert_eq!(cj_sr(d), lines[2 * i + 1], "CJ-SR differs for {d}");
    }
}
