//! A real server on 127.0.0.1:0: ingest and query over HTTP, every envelope delivered 1-3 times
//! shuffled and concurrently, change events, and a restart on the same store.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use edgesketch::{
    AddMode, Aggregate, Best, LedgerConfig, MergeRule, Recorder, ReplicaId, SeriesConfig,
};
use edgesketch_server::store::Store;
use edgesketch_server::store::sqlite::SqliteStore;
use edgesketch_server::{AppState, run};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

struct Live {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Live {
    async fn start(state: AppState) -> Live {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, state, async move {
            let _ = stopped.await;
        }));
        Live {
            base,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

fn state_on(dir: &std::path::Path, clock: Arc<std::sync::atomic::AtomicI64>) -> AppState {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir).unwrap());
    let mut config = edgesketch_server::config::ServerConfig::for_tests(dir.to_path_buf());
    config.open = false;
    AppState::with_store(
        store,
        config,
        auth(),
        Arc::new(move || clock.load(Ordering::SeqCst)),
    )
    .unwrap()
}

/// Envelopes from `senders` recorders, `rounds` each, with every family.
fn traffic(senders: u8, rounds: u32, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let per_second = SeriesConfig::new(1_000, 3_600_000, 3_600_000, 60_000).unwrap();
    let mut out = Vec::new();
    for s in 0..senders {
        let mut r = Recorder::with_replica(ReplicaId([s + 1; 16]));
        for round in 0..rounds {
            for _ in 0..rng.random_range(1..20) {
                let t = NOW - rng.random_range(0..600_000);
                let n = rng.random_range(1..5u64);
                r.counter("orders").unwrap().increment(n);
                r.window_counter("requests", per_second, NOW)
                    .unwrap()
                    .add(n as i64, t)
                    .unwrap();
                let user = format!("user-{}", rng.random_range(0..5_000));
                r.hyperloglog("visitors", 14)
                    .unwrap()
                    .insert(user.as_bytes());
                r.unique_series("daily", per_second, 12, NOW)
                    .unwrap()
                    .add(user.as_bytes(), t)
                    .unwrap();
                let article = format!("a{}", rng.random_range(0..50));
                r.count_min("views", 0.01, 0.01)
                    .unwrap()
                    .add(article.as_bytes(), n);
                r.top_k("top", 64)
                    .unwrap()
                    .insert(article.as_bytes(), n)
                    .unwrap();
                r.quantiles("latency", 0.01)
                    .unwrap()
                    .add(rng.random_range(1.0..500.0))
                    .unwrap();
                r.leaderboard("best", MergeRule::Max, Best::Highest, 0)
                    .unwrap()
                    .add(
                        format!("p{}", rng.random_range(0..40)).as_bytes(),
                        f64::from(rng.random_range(0..10_000u32)),
                        AddMode::GreaterThan,
                    )
                    .unwrap();
            }
            let _ = round;
            out.push(r.envelope(NOW).unwrap().unwrap().bytes);
        }
    }
    out
}

async fn post(client: &reqwest::Client, base: &str, body: Vec<u8>) -> serde_json::Value {
    let r = client
        .post(format!("{base}/v1/ingest"))
        .bearer_auth(ACME)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

async fn raw_state(client: &reqwest::Client, base: &str) -> BTreeMap<String, Vec<u8>> {
    let keys = http_get(client, &format!("{base}/v1/keys?limit=1000"), Some(ACME)).await;
    let keys: serde_json::Value = serde_json::from_slice(&keys).unwrap();
    let mut out = BTreeMap::new();
    for k in keys["keys"].as_array().unwrap() {
        let key = k["key"].as_str().unwrap();
        let bytes = http_get(client, &format!("{base}/v1/raw?key={key}"), Some(ACME)).await;
        out.insert(key.to_string(), bytes);
    }
    out
}

/// Every envelope delivered 1 to 3 times, shuffled, 16 at a time: the server's state equals
/// applying each once in process, and it survives a restart on the same store byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicated_shuffled_concurrent_delivery_applies_each_envelope_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(std::sync::atomic::AtomicI64::new(NOW));
    let live = Live::start(state_on(dir.path(), clock.clone())).await;
    let envelopes = traffic(6, 20, 7);
    let mut reference = Aggregate::new(LedgerConfig::default()).unwrap();
    for e in &envelopes {
        reference.apply(e, NOW).unwrap();
    }
    let mut rng = SmallRng::seed_from_u64(11);
    let mut deliveries: Vec<Vec<u8>> = Vec::new();
    for e in &envelopes {
        for _ in 0..rng.random_range(1..=3) {
            deliveries.push(e.clone());
        }
    }
    deliveries.shuffle(&mut rng);
    let client = reqwest::Client::new();
    let total = deliveries.len();
    let queue = Arc::new(tokio::sync::Mutex::new(deliveries));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (queue, client, base) = (queue.clone(), client.clone(), live.base.clone());
        tasks.push(tokio::spawn(async move {
            let (mut applied, mut duplicate) = (0, 0);
            loop {
                let Some(body) = queue.lock().await.pop() else {
                    return (applied, duplicate);
                };
                match post(&client, &base, body).await["outcome"]
                    .as_str()
                    .unwrap()
                {
                    "applied" => applied += 1,
                    "duplicate" => duplicate += 1,
                    other => panic!("{other}"),
                }
            }
        }));
    }
    let (mut applied, mut duplicate) = (0, 0);
    for t in tasks {
        let (a, d) = t.await.unwrap();
        applied += a;
        duplicate += d;
    }
    assert_eq!(applied, envelopes.len());
    assert_eq!(applied + duplicate, total);
    let served = raw_state(&client, &live.base).await;
    let expected: BTreeMap<String, Vec<u8>> = reference
        .iter()
        .map(|(k, s)| (k.to_string(), s.to_bytes()))
        .collect();
    // Every family byte for byte (the merges are order-independent here: top-K below its
    // capacity, quantiles below their bin limit), except the quantiles' running sum: floating
    // point addition in another order may differ in the last bit, so that one is compared by
    // value.
    assert_eq!(served.len(), 8);
    for (key, bytes) in &expected {
        if key == "latency" {
            let a = edgesketch::Quantiles::from_bytes(&served[key]).unwrap();
            let b = edgesketch::Quantiles::from_bytes(bytes).unwrap();
            assert_eq!((a.count(), a.min(), a.max()), (b.count(), b.min(), b.max()));
            for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
                assert_eq!(a.quantile(q), b.quantile(q), "q {q}");
            }
            assert!((a.sum() - b.sum()).abs() <= b.sum().abs() * 1e-12);
        } else {
            assert_eq!(&served[key], bytes, "{key}");
        }
    }
    let restarted_expectation = served;
    live.stop().await;

    // Restart on the same store: the same state, and every envelope is a duplicate now.
    let live = Live::start(state_on(dir.path(), clock)).await;
    assert_eq!(raw_state(&client, &live.base).await, restarted_expectation);
    for e in envelopes.iter().step_by(7) {
        assert_eq!(
            post(&client, &live.base, e.clone()).await["outcome"],
            "duplicate"
        );
    }
    live.stop().await;
}

/// `/v1/events` announces the keys a commit changed, to the tenant's readers only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_events_reach_the_tenants_readers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(std::sync::atomic::AtomicI64::new(NOW));
    let live = Live::start(state_on(dir.path(), clock)).await;
    let client = reqwest::Client::new();
    let mut acme = client
        .get(format!("{}/v1/events?token={ACME_READ}", live.base))
        .send()
        .await
        .unwrap();
    assert_eq!(acme.headers()["content-type"], "text/event-stream");
    let mut beta = client
        .get(format!("{}/v1/events", live.base))
        .bearer_auth(BETA)
        .send()
        .await
        .unwrap();
    let mut r = Recorder::with_replica(ReplicaId([9; 16]));
    r.counter("signups").unwrap().increment(1);
    post(&client, &live.base, r.envelope(NOW).unwrap().unwrap().bytes).await;
    let mut seen = String::new();
    while !seen.contains("signups") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), acme.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: changed"), "{seen}");
    // Beta's stream carries nothing of acme's (a keep-alive at most).
    let other = tokio::time::timeout(std::time::Duration::from_millis(300), beta.chunk()).await;
    if let Ok(Ok(Some(chunk))) = other {
        assert!(!String::from_utf8_lossy(&chunk).contains("signups"));
    }
    // Shutdown ends the streams instead of waiting for them.
    live.stop().await;
}

/// Clients that never finish their headers (slowloris) are cut off after the header timeout,
/// cannot hold more than `--max-connections` (later ones wait, then are served), and do not hold
/// up a shutdown past its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_and_cannot_lock_out_or_block_shutdown() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let mut config = edgesketch_server::config::ServerConfig::for_tests(dir.path().to_path_buf());
    config.header_timeout_ms = 400;
    config.body_timeout_ms = 400;
    config.max_connections = 2;
    let state = AppState::with_store(store, config, auth(), Arc::new(|| NOW)).unwrap();
    let live = Live::start(state).await;
    let addr = live.base.trim_start_matches("http://").to_string();
    // A connection that sends `opening` and then nothing.
    let stalled = |opening: &'static [u8]| {
        let addr = addr.clone();
        async move {
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            s.write_all(opening).await.unwrap();
            s
        }
    };
    let slow = || stalled(b"POST /v1/ingest HTTP/1.1\r\nHost: x\r\n");

    // Two half-sent requests take both connections; a third request waits for one of them to be
    // cut off, then is answered.
    let (mut a, mut b) = (slow().await, slow().await);
    let started = Instant::now();
    let livez = reqwest::get(format!("{}/livez", live.base)).await.unwrap();
    assert_eq!(livez.status(), 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "served after {waited:?}: no cap"
    );
    // The slow ones were closed by the server (a read ends), not left open.
    for s in [&mut a, &mut b] {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "a connection without headers stayed open");
    }

    // The HTTP/2 preface and nothing after it (h2c prior knowledge): hyper's HTTP/2 has no
    // header timeout, so two of these held both connections for good. The server speaks
    // HTTP/1 only now: they are closed, and others are served.
    let h2c = || stalled(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let (mut c, mut d) = (h2c().await, h2c().await);
    let livez = tokio::time::timeout(
        Duration::from_secs(3),
        reqwest::get(format!("{}/livez", live.base)),
    )
    .await
    .expect("locked out by two h2c connections")
    .unwrap();
    assert_eq!(livez.status(), 200);
    for s in [&mut c, &mut d] {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "an h2c connection stayed open");
    }

    // A shutdown with a half-sent request open ends within its deadline (5.4 s here).
    let _held = slow().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stopping = Instant::now();
    live.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "shutdown took {:?}",
        stopping.elapsed()
    );
}
