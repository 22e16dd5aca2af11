//! The README's main job: `edgesketch-server demo` starts the server and its synthetic edge
//! workers, which deliver real envelopes; after it stops, the store holds every family.

use std::process::Command;

use edgesketch_server::store::Store;
use edgesketch_server::store::sqlite::SqliteStore;

#[test]
fn the_demo_serves_traffic_from_its_edge_workers_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgesketch-server"))
        .args(["--listen", "127.0.0.1:0", "--www-dir", "/nonexistent"])
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "demo",
            "--seconds",
            "4",
            "--workers",
            "3",
            "--rate",
            "600",
            "--flush-ms",
            "500",
        ])
        .env("EDGESKETCH_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("dashboard:   http://127.0.0.1:"),
        "{stdout}"
    );
    // The last tally: every envelope applied, none dropped.
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.contains("envelopes applied"))
        .unwrap();
    let number = |label: &str| -> u64 {
        let at = last.find(label).unwrap() + label.len();
        last[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(number("events ") > 1_000, "{last}");
    assert!(number("envelopes applied ") >= 3 * 6, "{last}");
    assert_eq!(number("dropped "), 0, "{last}");
    let store = SqliteStore::open(dir.path()).unwrap();
    store.check().unwrap();
    let keys = store.list_keys("demo", "", None, None, 1000).unwrap();
    let mut families: Vec<u8> = keys.iter().map(|k| k.family).collect();
    families.sort_unstable();
    families.dedup();
    assert_eq!(families, (1..=8).collect::<Vec<u8>>(), "{keys:?}");
}
