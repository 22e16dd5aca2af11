use edgesketch::HyperLogLog;
fn main() {
    let n: u64 = std::env::args().nth(1).unwrap().parse().unwrap();
    let t = std::time::Instant::now();
    let reps = (5_000_000 / n).max(1);
    for _ in 0..reps {
        let mut h = HyperLogLog::new(14).unwrap();
        for i in 0..n {
            h.insert(&i.to_le_bytes());
        }
        std::hint::black_box(&h);
    }
    println!(
        "{:.1} ns/item",
        t.elapsed().as_nanos() as f64 / (reps * n) as f64
    );
}
