use edgesketch::HyperLogLog;
fn main() {
    for &n in &[100usize, 1000, 5000, 10000, 20000, 100000, 1000000] {
        let keys: Vec<String> = (0..n).map(|i| format!("user-{i}")).collect();
        let reps = (2_000_000 / n).max(1);
        let mut heap = 0;
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for _ in 0..reps {
                let mut h = HyperLogLog::new(14).unwrap();
                for k in &keys {
                    h.insert(k.as_bytes());
                }
                heap = h.heap_bytes();
                std::hint::black_box(&h);
            }
            best = best.min(t.elapsed().as_nanos() as f64 / (reps * n) as f64);
        }
        let per = best;
        println!("n={n:>7} insert {per:.1} ns/item heap={heap}");
    }
}
