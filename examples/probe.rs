use edgesketch::HyperLogLog;
fn main() {
    for &n in &[
        0usize, 1, 3, 10, 100, 1000, 2500, 5000, 10000, 20000, 50000, 200000,
    ] {
        let seeds = 20;
        let (mut sae, mut sb, mut sae_rt) = (0.0, 0.0, 0.0);
        let (mut ours, mut redis, mut heap, mut bits) = (0usize, 0usize, 0usize, String::new());
        let t = std::time::Instant::now();
        for seed in 0..seeds {
            let mut h = HyperLogLog::new(14).unwrap();
            for i in 0..n {
                h.insert(format!("s{seed}-user-{i}").as_bytes());
            }
            let e = h.estimate();
            let rel = if n == 0 {
                e.value
            } else {
                (e.value - n as f64) / n as f64
            };
            sae += rel.abs();
            sb += rel;
            let b = h.to_bytes();
            let back = HyperLogLog::from_bytes(&b).unwrap();
            assert_eq!(back.registers(), h.registers());
            let e2 = back.estimate();
            sae_rt += if n == 0 {
                0.0
            } else {
                ((e2.value - n as f64) / n as f64).abs()
            };
            ours += b.len();
            redis += h.to_redis().unwrap().len();
            heap += h.heap_bytes();
            if seed == 0 {
                bits = format!(
                    "{:?}/{:?} exact={} se={:.5}",
                    h.sparse_key_bits(),
                    back.sparse_key_bits(),
                    e.exact,
                    e.std_error
                );
            }
        }
        let s = seeds as f64;
        println!(
            "n={n:>6} MARE={:.5}% bias={:+.5}% rtMARE={:.5}% ours={:>6} redis={:>6} ratio={:.3} heap={:>6} {bits} {:?}",
            100.0 * sae / s,
            100.0 * sb / s,
            100.0 * sae_rt / s,
            ours / seeds,
            redis / seeds,
            ours as f64 / redis as f64,
            heap / seeds,
            t.elapsed() / seeds as u32
        );
    }
}
