//! The gate over HTTP (contracts §10.1), wire-compatible with the reference:
//! `POST /v1/ingest/push` (one envelope → `{decision, receipt, receipt_ref}`),
//! `POST /v1/ingest/batch` (NDJSON or a JSON array → one result per envelope),
//! `GET /v1/ops/health`, `GET /v1/ops/lookup?event_id=|receipt_id=|dedupe_key=`.
//!
//! Every rejection is a JSON `{error, detail}` with a 4xx, or 503/429 with `Retry-After` when
//! retrying later will work (RED health, in-flight or ambiguous publishes, overload). The
//! actor comes from authentication only; API keys are never logged nor written to receipts
//! (the actor names the key's principal, not the key).

// Handlers return a ready `Response` as their error: the axum idiom for early rejections.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use fp_rails::contracts::common::ActorSourceType;
use fp_rails::contracts::ingestion::Actor;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::batcher::Batcher;
use super::gate::{IngestionGate, Outcome, Submission, anonymous_actor};
use super::health::HealthState;
use super::index::{Lookup, LookupHit};

/// How the service authenticates writers.
#[derive(Clone)]
pub enum Auth {
    /// No authentication: actor `SYSTEM::ANONYMOUS`.
    Disabled,
    /// A shared-secret header; each key maps to the principal it authenticates.
    ApiKey {
        /// Header name (`X-IG-Api-Key`).
        header: String,
        /// key → principal.
        keys: HashMap<String, String>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Disabled => f.write_str("Auth::Disabled"),
            Self::ApiKey { header, keys } => f
                .debug_struct("Auth::ApiKey")
                .field("header", header)
                .field("principals", &keys.values().collect::<Vec<_>>())
                .finish(),
        }
    }
}

impl Auth {
    /// Parse an API-key list: entries separated by commas or newlines, each `principal=key`
    /// or a bare key (the reference's allowlist format; its principal is then
    /// `key-<first 8 hex of sha256(key)>`, so the key itself never reaches a receipt).
    pub fn api_keys(header: &str, list: &str) -> Result<Self, String> {
        let mut keys = HashMap::new();
        for entry in list
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if entry.starts_with('#') {
                continue;
            }
            let (principal, key) = match entry.split_once('=') {
                Some((p, k)) if !p.trim().is_empty() && !k.trim().is_empty() => {
                    (p.trim().to_owned(), k.trim().to_owned())
                }
                Some(_) => return Err("an API-key entry `principal=key` has an empty side".into()),
                None => {
                    let digest = fp_rails::Hex64::digest(entry);
                    (format!("key-{}", &digest.as_str()[..8]), entry.to_owned())
                }
            };
            keys.insert(key, principal);
        }
        if keys.is_empty() {
            return Err("auth mode api_key needs at least one key (IG_API_KEYS)".into());
        }
        Ok(Self::ApiKey {
            header: header.to_owned(),
            keys,
        })
    }

    fn actor(&self, headers: &HeaderMap) -> Result<Actor, Response> {
        match self {
            Self::Disabled => Ok(anonymous_actor()),
            Self::ApiKey { header, keys } => {
                let presented = headers.get(header.as_str()).and_then(|v| v.to_str().ok());
                let Some(presented) = presented else {
                    return Err(error(
                        StatusCode::UNAUTHORIZED,
                        "UNAUTHORIZED",
                        &format!("missing `{header}` header"),
                    ));
                };
                // Compare against every key without early exit on the first byte mismatch.
                let mut found: Option<&String> = None;
                for (k, principal) in keys {
                    if constant_time_eq(k.as_bytes(), presented.as_bytes()) {
                        found = Some(principal);
                    }
                }
                match found {
                    Some(principal) => {
                        let actor_id = if principal.starts_with("SYSTEM::")
                            || principal.starts_with("HUMAN::")
                        {
                            principal.clone()
                        } else {
                            format!("SYSTEM::{principal}")
                        };
                        Ok(Actor {
                            actor_id,
                            source_type: ActorSourceType::System,
                            auth_mode: Some("api_key".into()),
                            principal: Some(principal.clone()),
                        })
                    }
                    None => Err(error(
                        StatusCode::UNAUTHORIZED,
                        "UNAUTHORIZED",
                        &format!("the `{header}` value is not an accepted key"),
                    )),
                }
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Service settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// Requests processed at once; more are answered 429 with `Retry-After`.
    pub max_in_flight: usize,
    /// Writer authentication.
    pub auth: Auth,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_in_flight: 256,
            auth: Auth::Disabled,
        }
    }
}

struct AppState {
    gate: Arc<IngestionGate>,
    batcher: Batcher,
    cfg: HttpConfig,
    permits: Semaphore,
}

/// The router (start it with `axum::serve`).
pub fn router(gate: Arc<IngestionGate>, cfg: HttpConfig) -> Router {
    let state = Arc::new(AppState {
        batcher: Batcher::start(Arc::clone(&gate)),
        permits: Semaphore::new(cfg.max_in_flight),
        gate,
        cfg,
    });
    Router::new()
        .route("/v1/ingest/push", post(push))
        .route("/v1/ingest/batch", post(batch))
        .route("/v1/ops/health", get(health))
        .route("/v1/ops/lookup", get(lookup))
        .fallback(not_found)
        .with_state(state)
}

fn error(status: StatusCode, code: &str, detail: &str) -> Response {
    let mut r = (status, axum::Json(json!({"error": code, "detail": detail}))).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "unknown endpoint; see /v1/ingest/push, /v1/ingest/batch, /v1/ops/health, /v1/ops/lookup",
    )
}

/// Auth, overload and body limit, in that order.
async fn admit_request(
    st: &AppState,
    req: Request,
) -> Result<(Actor, Bytes, tokio::sync::SemaphorePermit<'_>), Response> {
    let actor = st.cfg.auth.actor(req.headers())?;
    let permit = st.permits.try_acquire().map_err(|_| {
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "too many requests in flight; retry after the indicated delay",
        )
    })?;
    let body = axum::body::to_bytes(req.into_body(), st.cfg.max_body_bytes)
        .await
        .map_err(|_| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &format!(
                    "request body exceeds {} bytes; split it into smaller batches",
                    st.cfg.max_body_bytes
                ),
            )
        })?;
    if st.gate.health().state == HealthState::Red {
        let report = st.gate.health();
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "IG_UNHEALTHY",
            &format!("ingestion gate is RED: {}", report.reasons.join(", ")),
        ));
    }
    Ok((actor, body, permit))
}

fn outcome_response(o: Outcome) -> Response {
    match o {
        Outcome::Decided { .. } => (StatusCode::OK, axum::Json(o)).into_response(),
        Outcome::Retry {
            error: code,
            detail,
        } => error(StatusCode::SERVICE_UNAVAILABLE, code, &detail),
    }
}

async fn push(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let (actor, body, _permit) = match admit_request(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match st.batcher.submit(Submission { raw: body, actor }).await {
        Ok(o) => outcome_response(o),
        Err(e) => {
            tracing::warn!(error = %e, "push failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "IG_UNAVAILABLE",
                &format!("the gate could not record a verdict (nothing was admitted): {e}"),
            )
        }
    }
}

async fn batch(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let (actor, body, _permit) = match admit_request(&st, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let items = match split_batch(&body) {
        Ok(items) => items,
        Err(detail) => return error(StatusCode::BAD_REQUEST, "BATCH_INVALID", &detail),
    };
    if items.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "BATCH_EMPTY",
            "the batch holds no envelopes",
        );
    }
    let subs = items
        .into_iter()
        .map(|raw| Submission {
            raw,
            actor: actor.clone(),
        })
        .collect();
    // Detached: a client hanging up must not cancel a batch between publish and commit.
    match st.gate.admit_batch_detached(subs).await {
        Ok(outcomes) => {
            let mut counts: std::collections::BTreeMap<&str, u64> = Default::default();
            for o in &outcomes {
                let k = match o {
                    Outcome::Decided { decision, .. } => decision.as_str(),
                    Outcome::Retry { .. } => "RETRY",
                };
                *counts.entry(k).or_default() += 1;
            }
            // Serialised straight from the outcomes: a `json!` tree of a thousand receipts
            // cost more than the admission's own checks.
            #[derive(serde::Serialize)]
            struct BatchAnswer<'a> {
                counts: &'a std::collections::BTreeMap<&'a str, u64>,
                results: &'a [Outcome],
            }
            let answer = BatchAnswer {
                counts: &counts,
                results: &outcomes,
            };
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "IG_UNAVAILABLE",
            &format!("the gate could not record verdicts (nothing was admitted): {e}"),
        ),
    }
}

/// NDJSON (one envelope per non-empty line) or a JSON array of envelopes. Lines are passed
/// through byte for byte, so a bad line is quarantined with its exact bytes; array elements
/// are re-serialised (NDJSON is the fast path).
fn split_batch(body: &Bytes) -> Result<Vec<Bytes>, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let items: Vec<Value> = serde_json::from_slice(body)
            .map_err(|e| format!("the body starts with `[` but is not a JSON array: {e}"))?;
        return Ok(items
            .into_iter()
            .map(|v| Bytes::from(serde_json::to_vec(&v).unwrap_or_default()))
            .collect());
    }
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in body.iter().enumerate() {
        if *b == b'\n' {
            push_line(body, start, i, &mut out);
            start = i + 1;
        }
    }
    push_line(body, start, body.len(), &mut out);
    Ok(out)
}

fn push_line(body: &Bytes, start: usize, end: usize, out: &mut Vec<Bytes>) {
    let line = body.slice(start..end);
    if line.iter().any(|b| !b.is_ascii_whitespace()) {
        out.push(line);
    }
}

async fn health(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = st.cfg.auth.actor(&headers) {
        return r;
    }
    let report = st.gate.probe().await;
    (StatusCode::OK, axum::Json(report)).into_response()
}

async fn lookup(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = st.cfg.auth.actor(&headers) {
        return r;
    }
    let key = if let Some(v) = q.get("event_id") {
        Lookup::EventId(v.clone())
    } else if let Some(v) = q.get("receipt_id") {
        Lookup::ReceiptId(v.clone())
    } else if let Some(v) = q.get("dedupe_key") {
        Lookup::DedupeKey(v.clone())
    } else {
        return error(
            StatusCode::BAD_REQUEST,
            "MISSING_QUERY",
            "give one of event_id, receipt_id or dedupe_key",
        );
    };
    match st.gate.index().lookup(key).await {
        Ok(hits) => {
            let hits: Vec<Value> = hits.into_iter().map(hit_json).collect();
            (StatusCode::OK, axum::Json(json!({"hits": hits}))).into_response()
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "OPS_DB_UNHEALTHY",
            &e.to_string(),
        ),
    }
}

fn hit_json(h: LookupHit) -> Value {
    match h {
        LookupHit::Admission(r) => json!({
            "kind": "admission",
            "state": r.state.as_str(),
            "dedupe_key": r.dedupe_key,
            "event_id": r.event_id,
            "event_class": r.event_class,
            "platform_run_id": r.platform_run_id,
            "payload_hash": r.payload_hash,
            "eb_ref": r.eb_ref,
            "receipt_ref": r.receipt_ref,
            "receipt": r.receipt.and_then(|t| serde_json::from_str::<Value>(&t).ok()),
        }),
        LookupHit::Quarantine {
            receipt,
            record_ref,
            raw_ref,
            reason_code,
        } => json!({
            "kind": "quarantine",
            "reason_code": reason_code,
            "record_ref": record_ref,
            "raw_ref": raw_ref,
            "receipt": serde_json::from_str::<Value>(&receipt).ok(),
        }),
    }
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
