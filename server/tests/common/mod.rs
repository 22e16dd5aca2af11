//! Shared by the server's tests: a server on a temporary store with a settable clock, tenants
//! with tokens of every kind, and request helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use edgesketch_server::auth::{Auth, Scope, Tenant, token_digest};
use edgesketch_server::config::ServerConfig;
use edgesketch_server::store::Store;
use edgesketch_server::store::sqlite::SqliteStore;
use edgesketch_server::{AppState, app};
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;

/// 2026-11-18T20:26:40Z.
pub const NOW: i64 = 1_795_000_000_000;

/// Read and write for tenant acme.
pub const ACME: &str = "acme-read-write";
/// Read only, acme.
pub const ACME_READ: &str = "acme-read-only";
/// Write only, acme.
pub const ACME_WRITE: &str = "acme-write-only";
/// Read and write for tenant beta.
pub const BETA: &str = "beta-read-write";
/// Tenant tiny: 3 keys, 4,000 bytes.
pub const TINY: &str = "tiny-read-write";

pub fn auth() -> Auth {
    let mut auth = Auth::empty();
    let tenant = |name: &str, max_keys, max_bytes| Tenant {
        name: name.into(),
        max_keys,
        max_bytes,
    };
    let token = |t: &str, scopes: &[Scope]| (token_digest(t), t.to_string(), scopes.to_vec());
    auth.add_tenant(
        tenant("acme", None, None),
        vec![
            token(ACME, &[Scope::Read, Scope::Write]),
            token(ACME_READ, &[Scope::Read]),
            token(ACME_WRITE, &[Scope::Write]),
        ],
    )
    .unwrap();
    auth.add_tenant(
        tenant("beta", None, None),
        vec![token(BETA, &[Scope::Read, Scope::Write])],
    )
    .unwrap();
    auth.add_tenant(
        tenant("tiny", Some(3), Some(4_000)),
        vec![token(TINY, &[Scope::Read, Scope::Write])],
    )
    .unwrap();
    auth
}

pub struct TestServer {
    pub state: AppState,
    pub app: Router,
    pub clock: Arc<AtomicI64>,
    pub dir: TempDir,
}

impl TestServer {
    pub fn set_now(&self, now: i64) {
        self.clock.store(now, Ordering::SeqCst);
    }
}

pub fn config(dir: &TempDir) -> ServerConfig {
    let mut config = ServerConfig::for_tests(dir.path().to_path_buf());
    config.open = false;
    config.batch_wait_ms = 1;
    config
}

/// A server on a fresh store, its clock at [`NOW`], `edit` applied to the defaults.
pub fn server(edit: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    edit(&mut config);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    server_with_store(dir, config, store)
}

pub fn server_with_store(dir: TempDir, config: ServerConfig, store: Arc<dyn Store>) -> TestServer {
    let clock = Arc::new(AtomicI64::new(NOW));
    let reading = clock.clone();
    let state = AppState::with_store(
        store,
        config,
        auth(),
        Arc::new(move || reading.load(Ordering::SeqCst)),
    )
    .unwrap();
    TestServer {
        app: app(state.clone()),
        state,
        clock,
        dir,
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The problem code, checking the problem+json shape.
    pub fn code(&self) -> String {
        assert_eq!(
            self.headers.get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json",
            "{:?}",
            String::from_utf8_lossy(&self.body)
        );
        let v = self.json();
        assert_eq!(v["status"], self.status.as_u16());
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()));
        v["code"].as_str().unwrap().to_string()
    }
}

pub async fn call(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

pub fn get(uri: &str, token: Option<&str>) -> Request<Body> {
    let mut r = Request::builder().method(Method::GET).uri(uri);
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    r.body(Body::empty()).unwrap()
}

pub fn post(uri: &str, token: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut r = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/octet-stream");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    r.body(Body::from(body)).unwrap()
}

pub async fn ingest(app: &Router, token: &str, envelope: &[u8]) -> Answer {
    call(app, post("/v1/ingest", Some(token), envelope.to_vec())).await
}

/// Everything a tenant holds: each key's raw bytes, plus its ledger's senders and usage.
pub async fn state_of(app: &Router, token: &str) -> (BTreeMap<String, Vec<u8>>, Value, Value) {
    let mut keys = BTreeMap::new();
    let listing = call(app, get("/v1/keys?limit=1000", Some(token))).await;
    assert_eq!(listing.status, StatusCode::OK);
    for k in listing.json()["keys"].as_array().unwrap() {
        let key = k["key"].as_str().unwrap();
        let uri = format!("/v1/raw?key={}", urlencode(key));
        let raw = call(app, get(&uri, Some(token))).await;
        assert_eq!(raw.status, StatusCode::OK);
        keys.insert(key.to_string(), raw.body);
    }
    let drift = call(app, get("/v1/drift", Some(token))).await.json();
    let mut tenant = call(app, get("/v1/tenant", Some(token))).await.json();
    tenant["now_ms"] = Value::Null;
    (keys, drift["senders"].clone(), tenant)
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Rewrites an envelope's checksum after a test changed its bytes on purpose.
pub fn reseal(envelope: &mut [u8]) {
    const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    let n = envelope.len();
    let sum = CRC32C.checksum(&envelope[..n - 4]);
    envelope[n - 4..].copy_from_slice(&sum.to_le_bytes());
}

/// GET over HTTP with a bearer token (none in open mode): the body's bytes.
pub async fn http_get(client: &reqwest::Client, url: &str, token: Option<&str>) -> Vec<u8> {
    let mut request = client.get(url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.bytes().await.unwrap().to_vec()
}
