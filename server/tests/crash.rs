//! Crash safety: the real binary is killed with SIGKILL at random moments under ingest load and
//! restarted on the same store, again and again. Afterwards every envelope that was ever
//! acknowledged is present exactly once (a resend is a duplicate, and the counter equals the sum
//! of every envelope made, each delivered until acknowledged), none lost from a HyperLogLog that
//! takes them as deltas, sparse entries and the registers dense ones raised (its registers equal
//! the union of every envelope's), and the database is intact.
//!
//! `EDGESKETCH_CRASH_ITERATIONS` sets the number of kills (default 20).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgesketch::{HyperLogLog, Recorder, ReplicaId, SeriesConfig, Sketch};
use edgesketch_server::store::Store;
use edgesketch_server::store::sqlite::SqliteStore;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The server process, killed when dropped (also when a failed assertion unwinds, so no
/// orphan keeps the test's output pipes open).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgesketch-server"))
        .args(["--open", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir)
        .env("EDGESKETCH_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting edgesketch-server");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server says where it listens");
    (Server(child), base)
}

/// An envelope and what it adds to the counter.
#[derive(Clone)]
struct Made {
    bytes: Vec<u8>,
    amount: u64,
}

#[derive(Default)]
struct Ledger {
    /// Acknowledged (applied or duplicate) at least once.
    acked: Vec<Made>,
    /// Made but never acknowledged (lost to a kill, or never sent).
    pending: Vec<Made>,
    total: u64,
    /// Every item put into the "visitors" HyperLogLog of any envelope made.
    visitors: Option<HyperLogLog>,
}

async fn send(client: &reqwest::Client, base: &str, bytes: &[u8]) -> Result<String, String> {
    let r = client
        .post(format!("{base}/v1/ingest"))
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        // Anything but a 2xx during the test is a bug, except the server dying mid-answer.
        panic!("{status}: {}", String::from_utf8_lossy(&body));
    }
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    Ok(v["outcome"].as_str().unwrap().to_string())
}

async fn sender(
    base: String,
    recorder: Arc<Mutex<Recorder>>,
    book: Arc<Mutex<Ledger>>,
    seed: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    let per_second = SeriesConfig::new(1_000, 3_600_000, 3_600_000, 60_000).unwrap();
    // First what earlier kills left unacknowledged, then new envelopes.
    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let next = book.lock().unwrap().pending.pop();
        let made = match next {
            Some(m) => m,
            None => {
                let amount = rng.random_range(1..100u64);
                let now = now_ms();
                let mut r = recorder.lock().unwrap();
                r.counter("total").unwrap().increment(amount);
                r.window_counter("per-second", per_second, now)
                    .unwrap()
                    .add(amount as i64, now)
                    .unwrap();
                r.hyperloglog("senders", 12)
                    .unwrap()
                    .insert(&amount.to_le_bytes());
                // New items each time: the key grows past the size where the server appends
                // small entries as deltas and folds them in now and then. One envelope in 25
                // carries a dense entry: once the key is dense and large, the server appends
                // only the registers it raised.
                let count = if rng.random_ratio(1, 25) { 30_000 } else { 12 };
                let items: Vec<[u8; 16]> = (0..count)
                    .map(|_| rng.random::<u128>().to_le_bytes())
                    .collect();
                let visitors = r.hyperloglog("visitors", 14).unwrap();
                for item in &items {
                    visitors.insert(item);
                }
                let bytes = r.envelope(now).unwrap().unwrap().bytes;
                let mut book = book.lock().unwrap();
                book.total += amount;
                let all = book
                    .visitors
                    .get_or_insert_with(|| HyperLogLog::new(14).unwrap());
                for item in &items {
                    all.insert(item);
                }
                drop(book);
                Made { bytes, amount }
            }
        };
        match send(&client, &base, &made.bytes).await {
            Ok(_) => book.lock().unwrap().acked.push(made),
            Err(_) => {
                // The server died: this one is not acknowledged; a later run resends it.
                book.lock().unwrap().pending.push(made);
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_acknowledged_envelope_and_applies_none_twice() {
    let iterations: usize = std::env::var("EDGESKETCH_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let book = Arc::new(Mutex::new(Ledger::default()));
    let recorders: Vec<Arc<Mutex<Recorder>>> = (1..=4u8)
        .map(|i| Arc::new(Mutex::new(Recorder::with_replica(ReplicaId([i; 16])))))
        .collect();
    let mut rng = SmallRng::seed_from_u64(2026);
    let mut acked_before_kill = Vec::new();
    for iteration in 0..iterations {
        let (mut child, base) = start(dir.path());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tasks: Vec<_> = recorders
            .iter()
            .enumerate()
            .map(|(i, r)| {
                tokio::spawn(sender(
                    base.clone(),
                    r.clone(),
                    book.clone(),
                    (iteration * 10 + i) as u64,
                    stop.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..400))).await;
        child.0.kill().expect("SIGKILL");
        child.0.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }
        acked_before_kill.push(book.lock().unwrap().acked.len());
    }
    // A last start: deliver what is still pending, then check.
    let (child, base) = start(dir.path());
    let client = reqwest::Client::new();
    let pending = std::mem::take(&mut book.lock().unwrap().pending);
    for made in pending {
        send(&client, &base, &made.bytes).await.unwrap();
        book.lock().unwrap().acked.push(made);
    }
    let book = std::mem::take(&mut *book.lock().unwrap());
    assert!(
        book.acked.len() > iterations,
        "the load made too few envelopes to test anything: {}",
        book.acked.len()
    );
    // Present exactly once: every acknowledged envelope is a duplicate now...
    for made in &book.acked {
        assert_eq!(
            send(&client, &base, &made.bytes).await.unwrap(),
            "duplicate"
        );
    }
    // ...and the counter holds each envelope's amount once.
    let r = common::http_get(&client, &format!("{base}/v1/counter?key=total"), None).await;
    let v: serde_json::Value = serde_json::from_slice(&r).unwrap();
    assert_eq!(v["value"].as_u64().unwrap(), book.total);
    let amounts: u64 = book.acked.iter().map(|m| m.amount).sum();
    assert_eq!(amounts, book.total);
    // ...and no item of any of them is missing from the HyperLogLog.
    let raw = common::http_get(&client, &format!("{base}/v1/raw?key=visitors"), None).await;
    let Sketch::HyperLogLog(stored) = Sketch::from_bytes(&raw).unwrap() else {
        panic!("visitors is not a HyperLogLog");
    };
    assert_eq!(
        stored.registers(),
        book.visitors.as_ref().unwrap().registers(),
        "the stored HyperLogLog is the union of every envelope's"
    );
    drop(child);
    SqliteStore::open(dir.path()).unwrap().check().unwrap();
    println!(
        "{iterations} kills; {} envelopes, acknowledged before each kill: {acked_before_kill:?}",
        book.acked.len()
    );
}
