//! Load generator for the merge server beside Redis (the issue's server benchmark).
//!
//! Pre-builds envelopes per scenario with the core crate's `Recorder` (several replicas, each
//! envelope a new sequence, created now), drives a running `edgesketch-server` with `--clients`
//! concurrent clients (one HTTP/1.1 keep-alive connection each, one request in flight each) for
//! at most `--seconds` or until the envelopes run out, and records the latency of every request
//! from sending it to reading the whole answer (which the server gives after the durable commit).
//! Then it starts `redis-server` three times on a free 127.0.0.1 port (`--appendonly no`;
//! `--appendonly yes --appendfsync always`; `--appendonly no --hll-sparse-max-bytes 0`, so that
//! PFMERGE never works on Redis's sparse representation) and, with the same number of clients (one
//! connection and one thread each), sends the same HyperLogLog payloads in Redis's own format:
//! per envelope one pipeline of `SET tmp:<client> <bytes>` + `PFMERGE <key> tmp:<client>` for
//! each HyperLogLog and `INCRBY <key> <n>` for each counter, one round trip. Prints markdown
//! tables, with the CPU time and memory of the target process (/proc/<pid>).
//!
//! ```text
//! cargo run --release -p edgesketch-server --example loadgen -- \
//!     --server http://127.0.0.1:PORT --server-pid PID
//! ```
//!
//! `--soak SECONDS` instead sends small envelopes (built on the fly) to the server for that long
//! and prints one row every `--sample-secs` with the interval's rate and latencies and the
//! server's memory. scripts/bench-server.sh runs both; docs/BENCHMARKS.md shows the results.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use edgesketch::{HyperLogLog, Recorder, ReplicaId};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// HyperLogLog precision of every sketch (Redis's).
const PRECISION: u8 = 14;
/// Small scenario: HyperLogLogs and counters per envelope, items per HyperLogLog, key spaces.
const SMALL_HLLS: usize = 3;
const SMALL_COUNTERS: usize = 2;
const SMALL_ITEMS: std::ops::RangeInclusive<usize> = 5..=40;
const SMALL_HLL_KEYS: u32 = 1_000;
const SMALL_COUNTER_KEYS: u32 = 100;
/// Dense scenario: distinct dense HyperLogLogs to draw from, items in each, keys merged into.
/// (20,000 items still encode sparse in an envelope, 10.4 KB; from ~50,000 on they are dense.)
const DENSE_POOL: usize = 128;
const DENSE_ITEMS: usize = 100_000;
/// Items of its own added to each dense envelope's HyperLogLog, so that every envelope brings
/// something new to its key (the pool alone stops raising registers once a key holds it all).
const DENSE_FRESH_ITEMS: usize = 2_000;
const DENSE_KEYS: u32 = 64;
/// The targets, as the tables name them.
const SERVER: &str = "edgesketch-server";
const REDIS_NO_AOF: &str = "Redis 7 `appendonly no`";
const REDIS_FSYNC: &str = "Redis 7 `appendfsync always`";
const REDIS_DENSE: &str = "Redis 7 `appendonly no`, `hll-sparse-max-bytes 0`";
/// Replicas (senders) per client.
const REPLICAS_PER_CLIENT: usize = 4;

#[derive(Debug, Parser)]
#[command(about = "Load generator: edgesketch-server beside Redis PFMERGE")]
struct Args {
    /// Base URL of a running server started with --open (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    server: String,
    /// Process id of that server, to read its memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The server's data directory, to report its size in the soak.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Which scenario(s) to run.
    #[arg(long, value_enum, default_value_t = Which::All)]
    scenario: Which,
    /// Concurrent clients (each one connection, one request in flight).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Longest time of one scenario against one target, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Envelopes pre-built for the small scenario (the count bound).
    #[arg(long, default_value_t = 60_000)]
    small_envelopes: usize,
    /// Envelopes pre-built for the dense scenario (the count bound).
    #[arg(long, default_value_t = 60_000)]
    dense_envelopes: usize,
    /// The redis-server program.
    #[arg(long, default_value = "redis-server")]
    redis_server: String,
    /// Leave Redis out.
    #[arg(long)]
    no_redis: bool,
    /// Instead of the benchmark: send small envelopes to the server for this many seconds.
    #[arg(long)]
    soak: Option<u64>,
    /// Seconds between two soak samples.
    #[arg(long, default_value_t = 10)]
    sample_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    Small,
    Dense,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Small,
    Dense,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Small => "small",
            Scenario::Dense => "dense",
        }
    }

    fn tag(self) -> u8 {
        match self {
            Scenario::Small => 1,
            Scenario::Dense => 2,
        }
    }
}

/// Key and Redis HyperLogLog string of each HyperLogLog in an envelope.
type RedisHlls = Vec<(String, Arc<Vec<u8>>)>;
/// Key and increment of each counter in an envelope.
type Increments = Vec<(String, u64)>;

/// One envelope and the same work in Redis terms.
struct Work {
    envelope: Vec<u8>,
    hlls: RedisHlls,
    counters: Increments,
}

/// A scenario's pre-built envelopes, one list per client (each list in sequence order).
struct Workload {
    scenario: Scenario,
    per_client: Vec<Vec<Work>>,
}

impl Workload {
    fn len(&self) -> usize {
        self.per_client.iter().map(Vec::len).sum()
    }

    fn describe(&self) -> String {
        let all = self.per_client.iter().flatten();
        let n = self.len().max(1) as f64;
        let (mut env, mut redis, mut hlls, mut counters) = (0usize, 0usize, 0usize, 0usize);
        for w in all {
            env += w.envelope.len();
            redis += w.hlls.iter().map(|(_, b)| b.len()).sum::<usize>();
            hlls += w.hlls.len();
            counters += w.counters.len();
        }
        format!(
            "{}: {} envelopes; per envelope {:.1} HyperLogLogs + {:.1} counters, {:.0} bytes as an envelope, {:.0} bytes of Redis HyperLogLog strings",
            self.scenario.name(),
            self.len(),
            hlls as f64 / n,
            counters as f64 / n,
            env as f64 / n,
            redis as f64 / n,
        )
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A replica id unique to this process, scenario, client and slot (so reruns against the same
/// server are new senders, never duplicates).
fn replica(nonce: u64, tag: u8, client: usize, slot: usize) -> ReplicaId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&nonce.to_le_bytes());
    id[8] = tag;
    id[9..13].copy_from_slice(&(client as u32).to_le_bytes());
    id[13..15].copy_from_slice(&(slot as u16).to_le_bytes());
    ReplicaId(id)
}

fn distinct_keys(rng: &mut SmallRng, space: u32, n: usize) -> Vec<u32> {
    let mut keys: Vec<u32> = Vec::with_capacity(n);
    while keys.len() < n {
        let k = rng.random_range(0..space);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

/// Records one small envelope's content into `recorder`; returns the Redis side of it (without
/// the Redis strings, which take ~50 µs each to make, unless `redis`).
fn record_small(
    recorder: &mut Recorder,
    rng: &mut SmallRng,
    redis: bool,
) -> edgesketch::Result<(RedisHlls, Increments)> {
    let mut hlls = Vec::with_capacity(SMALL_HLLS);
    for k in distinct_keys(rng, SMALL_HLL_KEYS, SMALL_HLLS) {
        let key = format!("bench:small:hll:{k}");
        let mut h = HyperLogLog::new(PRECISION)?;
        for _ in 0..rng.random_range(SMALL_ITEMS) {
            h.insert(&rng.random::<u64>().to_le_bytes());
        }
        recorder.hyperloglog(&key, PRECISION)?.merge(&h)?;
        if redis {
            hlls.push((key, Arc::new(h.to_redis()?)));
        }
    }
    let mut counters = Vec::with_capacity(SMALL_COUNTERS);
    for k in distinct_keys(rng, SMALL_COUNTER_KEYS, SMALL_COUNTERS) {
        let key = format!("bench:small:count:{k}");
        let n = rng.random_range(1..=10u64);
        recorder.counter(&key)?.increment(n);
        counters.push((key, n));
    }
    Ok((hlls, counters))
}

/// One client's envelopes, in sequence order per replica.
fn build_client(
    scenario: Scenario,
    count: usize,
    client: usize,
    nonce: u64,
    pool: &[HyperLogLog],
    now: i64,
) -> edgesketch::Result<Vec<Work>> {
    let mut rng =
        SmallRng::seed_from_u64(nonce ^ (u64::from(scenario.tag()) << 56) ^ client as u64);
    let mut recorders: Vec<Recorder> = (0..REPLICAS_PER_CLIENT)
        .map(|s| Recorder::with_replica(replica(nonce, scenario.tag(), client, s)))
        .collect();
    let mut works = Vec::with_capacity(count);
    for i in 0..count {
        let recorder = &mut recorders[i % REPLICAS_PER_CLIENT];
        let (hlls, counters) = match scenario {
            Scenario::Small => record_small(recorder, &mut rng, true)?,
            Scenario::Dense => {
                let mut h = pool[rng.random_range(0..pool.len())].clone();
                for _ in 0..DENSE_FRESH_ITEMS {
                    h.insert(&rng.random::<u64>().to_le_bytes());
                }
                let key = format!("bench:dense:hll:{}", rng.random_range(0..DENSE_KEYS));
                recorder.hyperloglog(&key, PRECISION)?.merge(&h)?;
                (vec![(key, Arc::new(h.to_redis()?))], Vec::new())
            }
        };
        let envelope = recorder
            .envelope(now)?
            .expect("something was recorded")
            .bytes;
        works.push(Work {
            envelope,
            hlls,
            counters,
        });
    }
    Ok(works)
}

/// Builds `total` envelopes of `scenario` for `clients` clients, on every core.
fn build(
    scenario: Scenario,
    total: usize,
    clients: usize,
    nonce: u64,
) -> edgesketch::Result<Workload> {
    let mut rng = SmallRng::seed_from_u64(nonce ^ u64::from(scenario.tag()));
    let pool: Vec<HyperLogLog> = if scenario == Scenario::Dense {
        (0..DENSE_POOL)
            .map(|_| {
                let mut h = HyperLogLog::new(PRECISION)?;
                for _ in 0..DENSE_ITEMS {
                    h.insert(&rng.random::<u64>().to_le_bytes());
                }
                Ok(h)
            })
            .collect::<edgesketch::Result<_>>()?
    } else {
        Vec::new()
    };
    let now = now_ms();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_client = std::thread::scope(|scope| {
        let pool = &pool;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..clients)
                        .step_by(threads)
                        .map(|c| {
                            let count = total / clients + usize::from(c < total % clients);
                            build_client(scenario, count, c, nonce, pool, now).map(|w| (c, w))
                        })
                        .collect::<edgesketch::Result<Vec<_>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(clients);
        for handle in handles {
            all.extend(handle.join().expect("a building thread panicked")?);
        }
        all.sort_by_key(|(c, _)| *c);
        Ok::<_, edgesketch::Error>(all.into_iter().map(|(_, w)| w).collect())
    })?;
    Ok(Workload {
        scenario,
        per_client,
    })
}

/// What one client saw.
#[derive(Default)]
struct Outcome {
    /// Latency of each successful request, in microseconds.
    latencies: Vec<u32>,
    /// Failures by kind, with the count and the first answer seen.
    errors: BTreeMap<String, (u64, String)>,
}

impl Outcome {
    fn error(&mut self, kind: String, detail: String) {
        self.errors.entry(kind).or_insert((0, detail)).0 += 1;
    }

    fn absorb(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        for (kind, (n, detail)) in other.errors {
            self.errors.entry(kind).or_insert((0, detail)).0 += n;
        }
    }
}

/// One row of the results.
struct Row {
    scenario: &'static str,
    target: String,
    ok: usize,
    elapsed: Duration,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    memory: Option<Memory>,
    /// CPU seconds the target process used during the run.
    target_cpu_s: Option<f64>,
    /// CPU seconds this load generator used during the run.
    loadgen_cpu_s: Option<f64>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

fn percentile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1_000.0
}

/// CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat ("self" for this
/// one), in Linux's USER_HZ ticks of 1/100 s.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// CPU counters at the start of a run: the target's and our own.
struct CpuStart {
    target: Option<f64>,
    loadgen: Option<f64>,
}

impl CpuStart {
    fn now(pid: Option<u32>) -> Self {
        CpuStart {
            target: pid.and_then(|p| cpu_seconds(&p.to_string())),
            loadgen: cpu_seconds("self"),
        }
    }

    fn since(&self, pid: Option<u32>) -> (Option<f64>, Option<f64>) {
        let target = pid.and_then(|p| cpu_seconds(&p.to_string()));
        let delta = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
        (
            delta(self.target, target),
            delta(self.loadgen, cpu_seconds("self")),
        )
    }
}

fn row(
    scenario: Scenario,
    target: &str,
    mut outcome: Outcome,
    elapsed: Duration,
    memory: Option<Memory>,
    (target_cpu_s, loadgen_cpu_s): (Option<f64>, Option<f64>),
) -> Row {
    outcome.latencies.sort_unstable();
    for (kind, (n, detail)) in &outcome.errors {
        eprintln!(
            "  {} / {target}: {n} failed: {kind}: {detail}",
            scenario.name()
        );
    }
    Row {
        scenario: scenario.name(),
        target: target.to_string(),
        ok: outcome.latencies.len(),
        elapsed,
        p50_ms: percentile_ms(&outcome.latencies, 0.50),
        p99_ms: percentile_ms(&outcome.latencies, 0.99),
        max_ms: outcome
            .latencies
            .last()
            .map_or(f64::NAN, |&l| f64::from(l) / 1e3),
        errors: outcome.errors.values().map(|(n, _)| n).sum(),
        memory,
        target_cpu_s,
        loadgen_cpu_s,
    }
}

/// A process's resident memory from /proc/<pid>/status, in KiB.
#[derive(Clone, Copy)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
}

fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// POSTs one envelope; Ok(()) only for 200 with outcome "applied".
async fn post(http: &reqwest::Client, url: &str, body: Vec<u8>) -> Result<(), (String, String)> {
    let answer = http
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .map_err(|e| ("transport".to_string(), e.to_string()))?;
    let status = answer.status();
    let text = answer
        .text()
        .await
        .map_err(|e| ("reading the answer".to_string(), e.to_string()))?;
    if status.is_success() && text.contains("\"outcome\":\"applied\"") {
        Ok(())
    } else {
        Err((format!("HTTP {status}"), text))
    }
}

async fn run_server(
    url: &str,
    workload: &Arc<Workload>,
    deadline: Duration,
) -> (Outcome, Duration) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..workload.per_client.len())
        .map(|c| {
            let workload = Arc::clone(workload);
            let url = url.to_string();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut outcome = Outcome::default();
                for work in &workload.per_client[c] {
                    if start.elapsed() >= deadline {
                        break;
                    }
                    let sent = Instant::now();
                    match post(&http, &url, work.envelope.clone()).await {
                        Ok(()) => outcome
                            .latencies
                            .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32),
                        Err((kind, detail)) => outcome.error(kind, detail),
                    }
                }
                outcome
            })
        })
        .collect();
    let mut all = Outcome::default();
    for task in tasks {
        match task.await {
            Ok(outcome) => all.absorb(outcome),
            Err(e) => all.error("client task".into(), e.to_string()),
        }
    }
    (all, start.elapsed())
}

/// A redis-server of our own, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start_redis(program: &str, durability: &[&str]) -> Result<RedisServer, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir for redis: {e}"))?;
    let port = free_port().map_err(|e| format!("no free port: {e}"))?;
    let child = Command::new(program)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--daemonize", "no", "--protected-mode", "yes"])
        .arg("--dir")
        .arg(dir.path())
        .arg("--logfile")
        .arg(dir.path().join("redis.log"))
        .args(durability)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let server = RedisServer {
        child,
        port,
        _dir: dir,
    };
    let client = redis::Client::open(server.url()).map_err(|e| e.to_string())?;
    let started = Instant::now();
    loop {
        if let Ok(mut con) = client.get_connection()
            && redis::cmd("PING").query::<String>(&mut con).is_ok()
        {
            return Ok(server);
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("redis-server on port {port} did not answer"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl RedisServer {
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

fn run_redis(
    redis: &RedisServer,
    workload: &Arc<Workload>,
    deadline: Duration,
) -> (Outcome, Duration) {
    let client = match redis::Client::open(redis.url()) {
        Ok(c) => c,
        Err(e) => {
            let mut o = Outcome::default();
            o.error("redis client".into(), e.to_string());
            return (o, Duration::from_secs(1));
        }
    };
    // Connect every client first, so connecting is not timed.
    let mut connections = Vec::new();
    for _ in 0..workload.per_client.len() {
        match client.get_connection() {
            Ok(con) => connections.push(con),
            Err(e) => {
                let mut o = Outcome::default();
                o.error("redis connect".into(), e.to_string());
                return (o, Duration::from_secs(1));
            }
        }
    }
    let start = Instant::now();
    let threads: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(c, mut con)| {
            let workload = Arc::clone(workload);
            std::thread::spawn(move || {
                let tmp = format!("bench:tmp:{c}");
                let mut outcome = Outcome::default();
                for work in &workload.per_client[c] {
                    if start.elapsed() >= deadline {
                        break;
                    }
                    let sent = Instant::now();
                    let mut pipe = redis::pipe();
                    for (key, bytes) in &work.hlls {
                        pipe.cmd("SET").arg(&tmp).arg(bytes.as_slice()).ignore();
                        pipe.cmd("PFMERGE").arg(key).arg(&tmp).ignore();
                    }
                    for (key, n) in &work.counters {
                        pipe.cmd("INCRBY").arg(key).arg(*n).ignore();
                    }
                    match pipe.exec(&mut con) {
                        Ok(()) => outcome
                            .latencies
                            .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32),
                        Err(e) => outcome.error(format!("{:?}", e.kind()), e.to_string()),
                    }
                }
                outcome
            })
        })
        .collect();
    let mut all = Outcome::default();
    for thread in threads {
        match thread.join() {
            Ok(outcome) => all.absorb(outcome),
            Err(_) => all.error("client thread".into(), "panicked".into()),
        }
    }
    (all, start.elapsed())
}

/// Sums and counts from the server's /metrics (Prometheus text), for batch statistics.
async fn server_metrics(http: &reqwest::Client, base: &str) -> BTreeMap<String, f64> {
    let url = format!("{}/metrics", base.trim_end_matches('/'));
    let Ok(answer) = http.get(url).send().await else {
        return BTreeMap::new();
    };
    let text = answer.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse::<f64>().ok()?))
        })
        .collect()
}

/// What the server's own metrics say about a run: batches and commit times.
fn batch_note(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> String {
    let delta = |name: &str| {
        after.get(name).copied().unwrap_or(f64::NAN) - before.get(name).copied().unwrap_or(0.0)
    };
    let batches = delta("edgesketch_batch_envelopes_count");
    let envelopes = delta("edgesketch_batch_envelopes_sum");
    let commits = delta("edgesketch_commit_duration_seconds_count");
    let commit_s = delta("edgesketch_commit_duration_seconds_sum");
    let writes = |kind: &str| {
        let label = format!("{{kind=\"{kind}\"}}");
        (
            delta(&format!("edgesketch_sketch_writes_total{label}")),
            delta(&format!("edgesketch_sketch_written_bytes_total{label}")),
        )
    };
    let ((wholes, whole_bytes), (deltas, delta_bytes)) = (writes("whole"), writes("delta"));
    format!(
        "{batches:.0} batches, {:.1} envelopes per batch, {:.2} ms per commit on average; \
         sketches written whole {wholes:.0} times ({:.0} bytes each on average), \
         deltas appended {deltas:.0} times ({:.0} bytes each)",
        envelopes / batches,
        commit_s * 1e3 / commits,
        whole_bytes / wholes,
        delta_bytes / deltas,
    )
}

/// Redis's own time per call of the commands a run used (`INFO commandstats`).
fn redis_note(redis: &RedisServer) -> String {
    let Ok(client) = redis::Client::open(redis.url()) else {
        return String::new();
    };
    let Ok(mut con) = client.get_connection() else {
        return String::new();
    };
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut con)
        .unwrap_or_default();
    let _ = redis::cmd("CONFIG").arg("RESETSTAT").exec(&mut con);
    info.lines()
        .filter_map(|l| {
            let (cmd, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            if !matches!(cmd, "set" | "pfmerge" | "incrby") {
                return None;
            }
            let field = |f: &str| {
                rest.split(',')
                    .find_map(|kv| kv.strip_prefix(f)?.strip_prefix('='))
                    .unwrap_or("?")
            };
            Some(format!(
                "{} {} calls, {} µs per call",
                cmd.to_uppercase(),
                field("calls"),
                field("usec_per_call")
            ))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn print_table(rows: &[Row], clients: usize, notes: &[String]) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | target | envelopes | envelopes/s | p50 ms | p99 ms | max ms | errors | target CPU µs/envelope | loadgen CPU | target RSS after, MiB | target peak RSS (VmHWM), MiB |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let (rss, hwm) = r.memory.map_or(("?".into(), "?".into()), |m| {
            (
                format!("{:.0}", mib(m.rss_kib)),
                format!("{:.0}", mib(m.hwm_kib)),
            )
        });
        let per_envelope = r.target_cpu_s.map_or("?".into(), |s| {
            format!("{:.0}", s * 1e6 / r.ok.max(1) as f64)
        });
        let loadgen = r.loadgen_cpu_s.map_or("?".into(), |s| {
            format!("{:.0} %", s * 100.0 / r.elapsed.as_secs_f64())
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {per_envelope} | {loadgen} | {rss} | {hwm} |",
            r.scenario,
            r.target,
            r.ok,
            r.rate(),
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.errors,
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| scenario | server ÷ {REDIS_NO_AOF} | server ÷ {REDIS_FSYNC} | server ÷ {REDIS_DENSE} |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for scenario in ["small", "dense"] {
        let rate = |target: &str| {
            rows.iter()
                .find(|r| r.scenario == scenario && r.target == target)
                .map(Row::rate)
        };
        if let Some(server) = rate(SERVER) {
            let ratio = |t: &str| rate(t).map_or("-".into(), |r| format!("{:.2}x", server / r));
            let _ = writeln!(
                out,
                "| {scenario} | {} | {} | {} |",
                ratio(REDIS_NO_AOF),
                ratio(REDIS_FSYNC),
                ratio(REDIS_DENSE)
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{clients} clients, each one connection with one request in flight (Redis: one pipeline per envelope)."
    );
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    print!("{out}");
}

fn scenarios(which: Which) -> Vec<Scenario> {
    match which {
        Which::Small => vec![Scenario::Small],
        Which::Dense => vec![Scenario::Dense],
        Which::All => vec![Scenario::Small, Scenario::Dense],
    }
}

fn ingest_url(base: &str) -> String {
    format!("{}/v1/ingest", base.trim_end_matches('/'))
}

async fn benchmark(args: &Args, nonce: u64) -> Result<(), String> {
    let deadline = Duration::from_secs(args.seconds);
    let clients = args.clients.max(1);
    let url = ingest_url(&args.server);
    let mut workloads = Vec::new();
    for scenario in scenarios(args.scenario) {
        let total = match scenario {
            Scenario::Small => args.small_envelopes,
            Scenario::Dense => args.dense_envelopes,
        };
        let started = Instant::now();
        let workload = build(scenario, total, clients, nonce).map_err(|e| e.to_string())?;
        eprintln!(
            "built {} in {:.1} s",
            workload.describe(),
            started.elapsed().as_secs_f64()
        );
        workloads.push(Arc::new(workload));
    }
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for workload in &workloads {
        eprintln!("{} / edgesketch-server ...", workload.scenario.name());
        let http = reqwest::Client::new();
        let before = server_metrics(&http, &args.server).await;
        let cpu = CpuStart::now(args.server_pid);
        let (outcome, elapsed) = run_server(&url, workload, deadline).await;
        let cpu = cpu.since(args.server_pid);
        let memory = args.server_pid.and_then(memory);
        notes.push(format!(
            "{} / edgesketch-server: {}",
            workload.scenario.name(),
            batch_note(&before, &server_metrics(&http, &args.server).await)
        ));
        rows.push(row(
            workload.scenario,
            SERVER,
            outcome,
            elapsed,
            memory,
            cpu,
        ));
    }
    if !args.no_redis {
        for (target, durability) in [
            (REDIS_NO_AOF, &["--appendonly", "no"][..]),
            (
                REDIS_FSYNC,
                &["--appendonly", "yes", "--appendfsync", "always"][..],
            ),
            // Destination keys dense from their first write: PFMERGE without Redis's sparse
            // representation (whose cost grows with the registers set, up to 3000 bytes).
            (
                REDIS_DENSE,
                &["--appendonly", "no", "--hll-sparse-max-bytes", "0"][..],
            ),
        ] {
            let redis = start_redis(&args.redis_server, durability)?;
            redis_note(&redis);
            for workload in &workloads {
                eprintln!("{} / {target} ...", workload.scenario.name());
                let workload = Arc::clone(workload);
                let pid = Some(redis.child.id());
                let cpu = CpuStart::now(pid);
                let (outcome, elapsed) = {
                    let redis_ref = &redis;
                    tokio::task::block_in_place(|| run_redis(redis_ref, &workload, deadline))
                };
                let cpu = cpu.since(pid);
                let memory = memory(redis.child.id());
                notes.push(format!(
                    "{} / {target}: {}",
                    workload.scenario.name(),
                    redis_note(&redis)
                ));
                rows.push(row(
                    workload.scenario,
                    target,
                    outcome,
                    elapsed,
                    memory,
                    cpu,
                ));
            }
        }
    }
    print_table(&rows, clients, &notes);
    Ok(())
}

/// Small envelopes built on the fly for `seconds`, one row per sample.
async fn soak(args: &Args, seconds: u64, nonce: u64) -> Result<(), String> {
    let url = ingest_url(&args.server);
    let clients = args.clients.max(1);
    let deadline = Duration::from_secs(seconds);
    let interval: Arc<Mutex<Outcome>> = Arc::default();
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let url = url.clone();
            let interval = Arc::clone(&interval);
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut rng = SmallRng::seed_from_u64(nonce ^ c as u64);
                let mut recorder = Recorder::with_replica(replica(nonce, 3, c, 0));
                while start.elapsed() < deadline {
                    let envelope = match record_small(&mut recorder, &mut rng, false)
                        .and_then(|_| recorder.envelope(now_ms()))
                    {
                        Ok(Some(e)) => e.bytes,
                        Ok(None) => continue,
                        Err(e) => {
                            lock(&interval).error("building".into(), e.to_string());
                            return;
                        }
                    };
                    let sent = Instant::now();
                    let result = post(&http, &url, envelope).await;
                    let micros = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
                    let mut interval = lock(&interval);
                    match result {
                        Ok(()) => interval.latencies.push(micros),
                        Err((kind, detail)) => interval.error(kind, detail),
                    }
                }
            })
        })
        .collect();
    println!(
        "| elapsed s | envelopes | envelopes/s | p50 ms | p99 ms | errors | server VmRSS MiB | server VmHWM MiB | data dir MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let every = Duration::from_secs(args.sample_secs.max(1));
    let mut last = Instant::now();
    let mut total = 0usize;
    let mut failures = 0u64;
    loop {
        let done = start.elapsed() >= deadline;
        tokio::time::sleep(if done {
            Duration::from_millis(100)
        } else {
            every.min(deadline.saturating_sub(start.elapsed()))
        })
        .await;
        let mut taken = std::mem::take(&mut *lock(&interval));
        let now = Instant::now();
        let span = now - last;
        last = now;
        taken.latencies.sort_unstable();
        let errors: u64 = taken.errors.values().map(|(n, _)| n).sum();
        for (kind, (n, detail)) in &taken.errors {
            eprintln!("  soak: {n} failed: {kind}: {detail}");
        }
        total += taken.latencies.len();
        failures += errors;
        let (rss, hwm) = args
            .server_pid
            .and_then(memory)
            .map_or(("?".into(), "?".into()), |m| {
                (
                    format!("{:.0}", mib(m.rss_kib)),
                    format!("{:.0}", mib(m.hwm_kib)),
                )
            });
        let disk = args.data_dir.as_deref().map_or("?".into(), |d| {
            format!("{:.0}", dir_bytes(d) as f64 / 1048576.0)
        });
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {errors} | {rss} | {hwm} | {disk} |",
            if done {
                "end (requests in flight at the deadline)".to_string()
            } else {
                format!("{:.0}", start.elapsed().as_secs_f64())
            },
            taken.latencies.len(),
            taken.latencies.len() as f64 / span.as_secs_f64(),
            percentile_ms(&taken.latencies, 0.50),
            percentile_ms(&taken.latencies, 0.99),
        );
        let _ = std::io::stdout().flush();
        if done || tasks.iter().all(|t| t.is_finished()) {
            break;
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    println!();
    println!(
        "Soak: {total} envelopes applied in {:.0} s ({:.0}/s), {failures} failed; {clients} clients.",
        start.elapsed().as_secs_f64(),
        total as f64 / start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let result = match args.soak {
        Some(seconds) => soak(&args, seconds, nonce).await,
        None => benchmark(&args, nonce).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
