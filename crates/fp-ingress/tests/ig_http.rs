//! The gate over HTTP: reference-compatible push, batches (NDJSON and arrays), auth, body
//! limit, lookup, health, and a clear 4xx for every rejection.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::http::Client;
use common::ig::*;
use fp_ingress::ingestion_gate::http::{Auth, HttpConfig, router, serve};
use serde_json::json;

struct Server {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn start(cfg: HttpConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("state.db").display());
    let h = Harness::new(dir.path(), &url).await;
    h.make_ready("READY").await;
    let gate = Arc::new(h.gate().await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, router(gate, cfg), async move {
        let _ = rx.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        _dir: dir,
    }
}

const KEY: &str = "s3cr3t-wsp-key";

fn keyed() -> HttpConfig {
    HttpConfig {
        max_body_bytes: 64 * 1024,
        max_in_flight: 64,
        auth: Auth::api_keys("X-IG-Api-Key", &format!("wsp={KEY}")).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_is_reference_compatible_and_authenticated() {
    let s = start(keyed()).await;
    let mut c = Client::connect(s.addr).await.unwrap();
    let env = serde_json::to_vec(&traffic_envelope(1)).unwrap();
    // No key, wrong key: 401 with a JSON body, nothing admitted.
    let r = c
        .request("POST", "/v1/ingest/push", &[], &env)
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "UNAUTHORIZED");
    let r = c
        .request("POST", "/v1/ingest/push", &[("X-IG-Api-Key", "nope")], &env)
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    // The reference's request and response bodies.
    let r = c
        .request("POST", "/v1/ingest/push", &[("X-IG-Api-Key", KEY)], &env)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    assert_eq!(body["decision"], "ADMIT");
    assert_eq!(body["receipt"]["decision"], "ADMIT");
    assert!(
        body["receipt_ref"]
            .as_str()
            .unwrap()
            .contains("ig/receipts/batch-")
    );
    assert_eq!(body["receipt"]["actor"]["actor_id"], "SYSTEM::wsp");
    assert!(
        !String::from_utf8_lossy(&r.body).contains(KEY),
        "the key leaked"
    );
    let r = c
        .request("POST", "/v1/ingest/push", &[("X-IG-Api-Key", KEY)], &env)
        .await
        .unwrap();
    assert_eq!(r.json()["decision"], "DUPLICATE");
    // A quarantine is a 200 with its decision.
    let r = c
        .request(
            "POST",
            "/v1/ingest/push",
            &[("X-IG-Api-Key", KEY)],
            b"{not json",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["decision"], "QUARANTINE");
    assert_eq!(r.json()["receipt"]["reason_codes"][0], "ENVELOPE_INVALID");
    // Lookup by event id finds the admission.
    let id = traffic_envelope(1)["event_id"].as_str().unwrap().to_owned();
    let r = c
        .request(
            "GET",
            &format!("/v1/ops/lookup?event_id={id}"),
            &[("X-IG-Api-Key", KEY)],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["hits"][0]["state"], "ADMITTED");
    let r = c
        .request("GET", "/v1/ops/lookup", &[("X-IG-Api-Key", KEY)], b"")
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("MISSING_QUERY"))
    );
    let r = c
        .request("GET", "/v1/ops/health", &[("X-IG-Api-Key", KEY)], b"")
        .await
        .unwrap();
    assert_eq!(r.json()["state"], "GREEN");
    let r = c.request("GET", "/nowhere", &[], b"").await.unwrap();
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_limits() {
    let s = start(keyed()).await;
    let mut c = Client::connect(s.addr).await.unwrap();
    let mut ndjson = Vec::new();
    for n in 0..20 {
        ndjson.extend(serde_json::to_vec(&traffic_envelope(n)).unwrap());
        ndjson.push(b'\n');
    }
    ndjson.extend(b"{\"broken\": \n");
    let r = c
        .request(
            "POST",
            "/v1/ingest/batch",
            &[("X-IG-Api-Key", KEY)],
            &ndjson,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let b = r.json();
    assert_eq!(b["counts"]["ADMIT"], 20);
    assert_eq!(b["counts"]["QUARANTINE"], 1);
    assert_eq!(b["results"].as_array().unwrap().len(), 21);
    // A JSON array works too; replays are duplicates.
    let arr = serde_json::to_vec(&json!([traffic_envelope(0), traffic_envelope(99)])).unwrap();
    let r = c
        .request("POST", "/v1/ingest/batch", &[("X-IG-Api-Key", KEY)], &arr)
        .await
        .unwrap();
    assert_eq!(r.json()["counts"], json!({"ADMIT": 1, "DUPLICATE": 1}));
    // Over the limit: 413 with a JSON body.
    let big = vec![b' '; 70 * 1024];
    let r = c
        .request("POST", "/v1/ingest/push", &[("X-IG-Api-Key", KEY)], &big)
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status, 413);
        assert_eq!(r.json()["error"], "PAYLOAD_TOO_LARGE");
    }
    let mut c = Client::connect(s.addr).await.unwrap();
    let r = c
        .request(
            "POST",
            "/v1/ingest/batch",
            &[("X-IG-Api-Key", KEY)],
            b"[1, 2",
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("BATCH_INVALID"))
    );
}
