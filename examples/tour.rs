//! A short tour of the core crate: count distinct visitors on two "edge workers", ship their
//! snapshots, merge them, and hand the result to Redis.
//!
//! `cargo run --example tour`

use edgesketch::{HyperLogLog, ReplicaId, Snapshot};

fn main() -> Result<(), edgesketch::Error> {
    // Two senders see overlapping visitors.
    let mut berlin = HyperLogLog::default();
    let mut lisbon = HyperLogLog::default();
    for i in 0..40_000 {
        berlin.insert(format!("visitor-{i}").as_bytes());
    }
    for i in 30_000..45_000 {
        lisbon.insert(format!("visitor-{i}").as_bytes());
    }
    show("berlin", &berlin);
    show("lisbon", &lisbon);

    // Each ships a snapshot envelope: replica id + sequence number make retries harmless.
    let mut envelope = Snapshot::new(ReplicaId([0xb1; 16]), 1, 1_764_115_200_000);
    envelope.insert("uniques:home", lisbon)?;
    let bytes = envelope.encode();
    println!("\nlisbon's envelope: {} bytes", bytes.len());

    // The merge side decodes and merges.
    let received = Snapshot::decode(&bytes)?;
    let mut total = berlin.clone();
    if let Some(sketch) = received
        .get("uniques:home")
        .and_then(|s| s.as_hyperloglog())
    {
        total.merge(sketch)?;
    }
    show("merged (truth 45000)", &total);

    // Small sets are counted exactly, and cost a few bytes.
    let mut few = HyperLogLog::default();
    for name in ["ada", "grace", "linus", "ada"] {
        few.insert(name.as_bytes());
    }
    show("few", &few);

    // Redis speaks the same bytes: SET this, then PFCOUNT gives redis_estimate().
    let redis = total.to_redis()?;
    println!(
        "\nRedis string: {} bytes ({}), PFCOUNT will say {}",
        redis.len(),
        if redis[4] == 0 { "dense" } else { "sparse" },
        total.redis_estimate()
    );
    Ok(())
}

fn show(name: &str, h: &HyperLogLog) {
    let e = h.estimate();
    println!(
        "{name:>22}: {:>9.1}  ±{:.2} %  95 % in [{:.0}, {:.0}]{}  snapshot {} B, Redis {} B",
        e.value,
        100.0 * e.std_error,
        e.lower,
        e.upper,
        if e.exact { " (exact)" } else { "" },
        h.to_bytes().len(),
        h.to_redis().map(|r| r.len()).unwrap_or(0),
    );
}
