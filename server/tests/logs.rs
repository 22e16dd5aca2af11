//! What the server logs. Its own test binary: tracing caches whether a callsite is enabled per
//! process, so a subscriber set for one test among others that run without one sees no spans.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use edgesketch::{Counter, ReplicaId, Snapshot};

/// Request spans at debug level name the path, never the query string, where a beacon's write
/// token rides.
#[tokio::test]
async fn request_logs_never_show_a_query_token() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = server(|_| {});
    let mut envelope = Snapshot::new(ReplicaId([3; 16]), 1, NOW);
    let mut orders = Counter::new();
    orders.increment(1);
    envelope.insert("orders", orders).unwrap();
    let beacon = Request::builder()
        .method(Method::POST)
        .uri(format!("/v1/ingest?token={ACME_WRITE}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(envelope.encode()))
        .unwrap();
    assert_eq!(call(&s.app, beacon).await.status, StatusCode::OK);
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("path=/v1/ingest"), "{log}");
    assert!(!log.contains(ACME_WRITE), "{log}");
}
