//! `edgesketch-server demo`: the server on its embedded store plus a fleet of synthetic edge
//! workers. Each worker is what a Cloudflare Worker using the npm package does, in Rust: it
//! aggregates its own traffic into a [`Recorder`] (Zipf-popular articles, returning visitors,
//! per-service request counts, error rates and latencies, game scores, orders) and POSTs an
//! envelope every flush interval, retrying the same bytes on network errors, 408, 429 and 5xx
//! (honouring Retry-After) and splitting on 413.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use edgesketch::{Best, MergeRule, Recorder, ReplicaId, SeriesConfig};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{Auth, Scope, Tenant, token_digest};
use crate::config::{DemoConfig, ServerConfig};
use crate::engine::system_clock;
use crate::{AppState, run, shutdown_signal};

/// The demo's tenant.
pub const TENANT: &str = "demo";

/// Services of the demo, with their error rates and median latencies (ms).
const SERVICES: [(&str, f64, f64); 4] = [
    ("api", 0.005, 40.0),
    ("auth", 0.02, 15.0),
    ("search", 0.01, 120.0),
    ("checkout", 0.05, 300.0),
];
const ARTICLES: u32 = 2_000;
const USERS: u32 = 50_000;
const PLAYERS: u32 = 500;

#[derive(Default)]
struct Tally {
    events: AtomicU64,
    sent: AtomicU64,
    applied: AtomicU64,
    duplicates: AtomicU64,
    retries: AtomicU64,
    dropped: AtomicU64,
}

fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for tokens: {e}"))?;
    Ok(hex::encode(bytes))
}

/// Zipf-like rank in `0..n` with exponent `s` (inverse-CDF on a continuous approximation:
/// fast and close enough for synthetic popularity).
fn zipf(rng: &mut SmallRng, n: u32, s: f64) -> u32 {
    // The continuous inverse CDF of x^-s over [1, n + 1), floored: rank r in 1..=n gets about
    // the weight of [r, r + 1), so every rank can occur (the last one too).
    let u: f64 = rng.random();
    let top = f64::from(n) + 1.0;
    let x = if (s - 1.0).abs() < 1e-9 {
        top.powf(u)
    } else {
        let a = 1.0 - s;
        ((top.powf(a) - 1.0) * u + 1.0).powf(1.0 / a)
    };
    (x as u32).saturating_sub(1).min(n - 1)
}

fn normal(rng: &mut SmallRng) -> f64 {
    let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Records one synthetic request into `recorder`.
fn record_event(recorder: &mut Recorder, rng: &mut SmallRng, now: i64) -> edgesketch::Result<()> {
    let per_second = SeriesConfig::new(1_000, 3_600_000, 60_000, 60_000)?;
    let per_ten_seconds = SeriesConfig::new(10_000, 6 * 3_600_000, 60_000, 60_000)?;
    let article = format!("article-{}", zipf(rng, ARTICLES, 1.1));
    recorder
        .top_k("articles:top", 200)?
        .insert(article.as_bytes(), 1)?;
    recorder
        .count_min("articles:views", 0.001, 0.01)?
        .add(article.as_bytes(), 1);
    // Most visitors return (popular ones often); some are new.
    let user = if rng.random::<f64>() < 0.1 {
        format!("new-{}", rng.random::<u64>())
    } else {
        format!("user-{}", zipf(rng, USERS, 0.8))
    };
    let _ = recorder
        .unique_series("visitors:unique", per_ten_seconds, 14, now)?
        .add(user.as_bytes(), now);
    recorder
        .hyperloglog("visitors:all", 14)?
        .insert(user.as_bytes());
    let (service, error_rate, median) = SERVICES[zipf(rng, SERVICES.len() as u32, 0.7) as usize];
    let _ = recorder
        .window_counter(&format!("svc:{service}:requests"), per_second, now)?
        .add(1, now);
    if rng.random::<f64>() < error_rate {
        let _ = recorder
            .window_counter(&format!("svc:{service}:errors"), per_second, now)?
            .add(1, now);
    }
    let latency = median * (0.6 * normal(rng)).exp();
    recorder
        .quantiles(&format!("svc:{service}:latency_ms"), 0.01)?
        .add(latency)?;
    if rng.random::<f64>() < 0.05 {
        let player = format!("player-{}", zipf(rng, PLAYERS, 0.9));
        let score = (1_000.0 + 250.0 * normal(rng)).max(0.0).round();
        recorder
            .leaderboard("game:scores", MergeRule::Max, Best::Highest, 1_000)?
            .add(player.as_bytes(), score, edgesketch::AddMode::GreaterThan)?;
    }
    if rng.random::<f64>() < 0.02 {
        recorder.counter("orders:total")?.increment(1);
    }
    Ok(())
}

fn now_ms() -> i64 {
    (system_clock())()
}

/// POSTs `bytes` until the server answers for good; splits on 413.
async fn deliver(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    recorder: &mut Recorder,
    bytes: Vec<u8>,
    tally: &Tally,
    stop: &watch::Receiver<bool>,
) {
    let mut pending = vec![bytes];
    while let Some(body) = pending.pop() {
        let mut backoff = Duration::from_millis(100);
        loop {
            tally.sent.fetch_add(1, Ordering::Relaxed);
            let answer = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/octet-stream")
                .body(body.clone())
                .send()
                .await;
            let retry_after = match answer {
                Ok(r) if r.status().is_success() => {
                    let text = r.text().await.unwrap_or_default();
                    if text.contains("\"duplicate\"") {
                        tally.duplicates.fetch_add(1, Ordering::Relaxed);
                    } else {
                        tally.applied.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
                Ok(r) if r.status().as_u16() == 413 => {
                    match recorder.split(&body) {
                        Ok(Some((a, b))) => {
                            pending.push(b.bytes);
                            pending.push(a.bytes);
                        }
                        _ => {
                            tally.dropped.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!("an envelope too large to split was dropped");
                        }
                    }
                    break;
                }
                Ok(r)
                    if matches!(r.status().as_u16(), 408 | 429) || r.status().is_server_error() =>
                {
                    r.headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs)
                }
                Ok(r) => {
                    tally.dropped.fetch_add(1, Ordering::Relaxed);
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    tracing::warn!(%status, %text, "envelope refused; dropped");
                    break;
                }
                Err(_) => None,
            };
            if *stop.borrow() && backoff > Duration::from_secs(2) {
                tally.dropped.fetch_add(1, Ordering::Relaxed);
                break;
            }
            tally.retries.fetch_add(1, Ordering::Relaxed);
            let jitter = rand::rng().random_range(0.5..1.0);
            let wait = retry_after.unwrap_or(backoff).mul_f64(jitter);
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

async fn worker(
    index: usize,
    url: String,
    token: String,
    config: DemoConfig,
    tally: Arc<Tally>,
    mut stop: watch::Receiver<bool>,
) {
    let replica = ReplicaId::random().unwrap_or(ReplicaId([index as u8; 16]));
    let mut recorder = Recorder::with_replica(replica);
    let mut rng = SmallRng::seed_from_u64(rand::rng().random());
    let client = reqwest::Client::new();
    let tick = Duration::from_millis(100);
    let per_tick = (config.rate as f64 / config.workers.max(1) as f64 / 10.0).max(0.0);
    let mut ticker = tokio::time::interval(tick);
    let mut last_flush = tokio::time::Instant::now();
    let mut carry = 0.0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => {}
        }
        let stopping = *stop.borrow();
        let now = now_ms();
        carry += per_tick;
        while carry >= 1.0 && !stopping {
            carry -= 1.0;
            if let Err(e) = record_event(&mut recorder, &mut rng, now) {
                tracing::warn!(error = %e, "recording a demo event");
            }
            tally.events.fetch_add(1, Ordering::Relaxed);
        }
        if stopping || last_flush.elapsed() >= Duration::from_millis(config.flush_ms) {
            last_flush = tokio::time::Instant::now();
            match recorder.envelope(now) {
                Ok(Some(envelope)) => {
                    deliver(
                        &client,
                        &url,
                        &token,
                        &mut recorder,
                        envelope.bytes,
                        &tally,
                        &stop,
                    )
                    .await;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "making an envelope"),
            }
        }
        if stopping {
            return;
        }
    }
}

/// Runs the demo until interrupted (or for `demo.seconds`).
pub async fn run_demo(server: ServerConfig, demo: DemoConfig) -> Result<(), String> {
    let write_token = random_token()?;
    let read_token = random_token()?;
    let mut auth = Auth::empty();
    let tokens = vec![
        (
            token_digest(&write_token),
            "demo edge workers".to_string(),
            vec![Scope::Write],
        ),
        (
            // The dashboard's token also writes: its "be an edge client" switch sends envelopes.
            token_digest(&read_token),
            "demo dashboard".to_string(),
            vec![Scope::Read, Scope::Write],
        ),
    ];
    auth.add_tenant(
        Tenant {
            name: TENANT.into(),
            max_keys: None,
            max_bytes: None,
        },
        tokens,
    )?;
    let listener = TcpListener::bind(server.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", server.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("listener address: {e}"))?;
    let state = AppState::open(server.clone(), auth, system_clock())?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (server_stop_tx, server_stop_rx) = watch::channel(false);
    let server_task = tokio::spawn(run(listener, state, async move {
        let mut rx = server_stop_rx;
        let _ = rx.wait_for(|s| *s).await;
    }));
    println!(
        "edgesketch demo: merge server on http://{addr} (store: {})",
        server.data_dir.display()
    );
    println!("  dashboard:   http://{addr}/#tenant={TENANT}&token={read_token}");
    if !server.www_dir.join("vendor").is_dir() {
        println!(
            "               (not built in {}: run `bash scripts/build-www.sh`, or use scripts/run-demo.sh)",
            server.www_dir.display()
        );
    }
    println!("  dashboard token (read + write): {read_token}");
    println!("  write token: {write_token}");
    println!(
        "  try:         curl -H 'Authorization: Bearer {read_token}' 'http://{addr}/v1/topk?key=articles:top&k=5'"
    );
    println!(
        "  {} edge workers sending ~{} events/s, flushing every {} ms; ctrl-c to stop",
        demo.workers, demo.rate, demo.flush_ms
    );
    let tally = Arc::new(Tally::default());
    let url = format!("http://{addr}/v1/ingest");
    let workers: Vec<_> = (0..demo.workers)
        .map(|i| {
            tokio::spawn(worker(
                i,
                url.clone(),
                write_token.clone(),
                demo.clone(),
                tally.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    let report = {
        let tally = tally.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(10));
            ticker.tick().await;
            loop {
                ticker.tick().await;
                print_tally(&tally);
            }
        })
    };
    // The traffic runs until `stop_tx` says so (the end of the demo, or --traffic-seconds);
    // `drained` tells when every worker has flushed what it held.
    let (drained_tx, mut drained_rx) = watch::channel(false);
    let traffic = {
        let tally = tally.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _ = stop.wait_for(|s| *s).await;
            for w in workers {
                let _ = w.await;
            }
            report.abort();
            print_tally(&tally);
            let _ = drained_tx.send(true);
        })
    };
    let stop_tx = Arc::new(stop_tx);
    if let Some(s) = demo.traffic_seconds {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(s)).await;
            if !stop_tx.send_replace(true) {
                let _ = drained_rx.wait_for(|d| *d).await;
                // Scripts and tests wait for this line: every envelope made has been applied.
                println!("traffic stopped after {s} s (--traffic-seconds); still serving");
            }
        });
    }
    match demo.seconds {
        Some(s) => {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(s)) => {}
                () = shutdown_signal() => {}
            }
        }
        None => shutdown_signal().await,
    }
    println!("stopping: workers flush what they hold");
    stop_tx.send_replace(true);
    let _ = traffic.await;
    let _ = server_stop_tx.send(true);
    server_task
        .await
        .map_err(|e| format!("server task: {e}"))?
        .map_err(|e| format!("server: {e}"))
}

fn print_tally(t: &Tally) {
    println!(
        "  events {} · envelopes applied {} · duplicates {} · retries {} · dropped {}",
        t.events.load(Ordering::Relaxed),
        t.applied.load(Ordering::Relaxed),
        t.duplicates.load(Ordering::Relaxed),
        t.retries.load(Ordering::Relaxed),
        t.dropped.load(Ordering::Relaxed),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_draws_every_rank_most_often_the_first() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut seen = [0u32; 4];
        for _ in 0..100_000 {
            seen[zipf(&mut rng, 4, 0.7) as usize] += 1;
        }
        // Weights of ranks 1..=4 under x^-0.7 are about 1 : 0.62 : 0.46 : 0.38 (each rank the
        // integral over [r, r + 1)); the last rank was once never drawn.
        assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");
        assert!(seen[3] > 10_000, "{seen:?}");
        for n in [1, 2, 1000] {
            for _ in 0..1000 {
                assert!(zipf(&mut rng, n, 1.1) < n);
            }
        }
    }
}
