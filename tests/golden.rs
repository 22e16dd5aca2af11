//! Golden vectors of snapshot format v1, checked in under tests/golden/v1 with a manifest that
//! says how each was made and what it must decode to. They pin the format: a change that alters
//! these bytes is a format change and needs a new version, not a regenerated fixture.
//!
//! Regenerate (only for a deliberate format change, or to add vectors):
//! `EDGESKETCH_BLESS=1 cargo test --test golden`.

mod common;

use std::path::{Path, PathBuf};

use edgesketch::hash::murmur64a;
use edgesketch::{HyperLogLog, ReplicaId, Snapshot};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1")
}

fn bless() -> bool {
    std::env::var_os("EDGESKETCH_BLESS").is_some()
}

/// `prefix0 .. prefix{count-1}`: how the manifest names item streams (easy to rebuild in any
/// language).
fn items(spec: &Value) -> Vec<String> {
    let prefix = spec["prefix"].as_str().unwrap();
    let count = spec["count"].as_u64().unwrap();
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

fn build(precision: u8, spec: &Value) -> HyperLogLog {
    let mut h = HyperLogLog::new(precision).unwrap();
    for item in items(spec) {
        h.insert(item.as_bytes());
    }
    h
}

fn registers_hash(h: &HyperLogLog) -> String {
    format!("{:016x}", murmur64a(&h.registers(), 0))
}

/// What the manifest records about a decoded sketch.
fn describe(h: &HyperLogLog) -> Value {
    let e = h.estimate();
    json!({
        "precision": h.precision(),
        "sparse_key_bits": h.sparse_key_bits(),
        "estimate": e.value,
        "exact": e.exact,
        "redis_estimate": h.redis_estimate(),
        "registers_hash": registers_hash(h),
    })
}

fn spec(prefix: &str, count: u64) -> Value {
    json!({ "prefix": prefix, "count": count })
}

/// The vectors: what each file holds and how to make it.
fn definitions() -> Vec<Value> {
    let mut defs = Vec::new();
    for (name, p, n) in [
        ("hll_p14_empty", 14, 0),
        ("hll_p14_n1", 14, 1),
        ("hll_p14_n100", 14, 100),
        ("hll_p14_n1000", 14, 1000),
        ("hll_p14_n5000", 14, 5000),
        ("hll_p14_n12000", 14, 12_000),
        ("hll_p14_n100000", 14, 100_000),
        ("hll_p4_n1000", 4, 1000),
        ("hll_p18_n3000", 18, 3000),
    ] {
        defs.push(
            json!({ "file": format!("{name}.bin"), "kind": "hll", "precision": p,
                          "items": spec("golden:user-", n) }),
        );
    }
    defs.push(
        json!({ "file": "hll_p14_from_redis_n300.bin", "kind": "hll_via_redis", "precision": 14,
                      "items": spec("golden:redis-", 300) }),
    );
    defs.push(
        json!({ "file": "redis_sparse_n100.bin", "kind": "redis", "precision": 14,
                      "items": spec("golden:user-", 100) }),
    );
    defs.push(
        json!({ "file": "redis_dense_n20000.bin", "kind": "redis", "precision": 14,
                      "items": spec("golden:user-", 20_000) }),
    );
    defs.push(json!({ "file": "snapshot_empty.bin", "kind": "snapshot",
                      "replica": "000102030405060708090a0b0c0d0e0f", "sequence": 0, "created_ms": 0,
                      "entries": [] }));
    defs.push(json!({ "file": "snapshot_three_entries.bin", "kind": "snapshot",
                      "replica": "8f1c2e3d4a5b6c7d8e9fa0b1c2d3e4f5", "sequence": 42,
                      "created_ms": 1_764_115_200_000u64,
                      "entries": [
                          { "key": "uniques:article:7", "precision": 14, "items": spec("reader-", 250) },
                          { "key": "uniques:home", "precision": 14, "items": spec("visitor-", 40_000) },
                          { "key": "uniques:ünïcode/ключ", "precision": 12, "items": spec("x", 3) }
                      ] }));
    defs
}

fn replica(hex: &str) -> ReplicaId {
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    ReplicaId(id)
}

/// Builds a vector's bytes from its definition.
fn make(def: &Value) -> Vec<u8> {
    let p = def["precision"].as_u64().map(|p| p as u8);
    match def["kind"].as_str().unwrap() {
        "hll" => build(p.unwrap(), &def["items"]).to_bytes(),
        "hll_via_redis" => {
            let redis = build(p.unwrap(), &def["items"]).to_redis().unwrap();
            HyperLogLog::from_redis(&redis).unwrap().to_bytes()
        }
        "redis" => build(p.unwrap(), &def["items"]).to_redis().unwrap(),
        "snapshot" => {
            let mut s = Snapshot::new(
                replica(def["replica"].as_str().unwrap()),
                def["sequence"].as_u64().unwrap(),
                def["created_ms"].as_u64().unwrap(),
            );
            for entry in def["entries"].as_array().unwrap() {
                let h = build(entry["precision"].as_u64().unwrap() as u8, &entry["items"]);
                s.insert(entry["key"].as_str().unwrap(), h).unwrap();
            }
            s.encode()
        }
        other => panic!("unknown kind {other}"),
    }
}

/// Decodes a vector's file the way its kind says and describes what came out.
fn read(def: &Value, bytes: &[u8]) -> (Value, Vec<u8>) {
    match def["kind"].as_str().unwrap() {
        "hll" | "hll_via_redis" => {
            let h = HyperLogLog::from_bytes(bytes).unwrap();
            (describe(&h), h.to_bytes())
        }
        "redis" => {
            let h = HyperLogLog::from_redis(bytes).unwrap();
            (describe(&h), h.to_redis().unwrap())
        }
        "snapshot" => {
            let s = Snapshot::decode(bytes).unwrap();
            let entries: Vec<Value> = s
                .iter()
                .map(|(key, sketch)| {
                    let mut d = describe(sketch.as_hyperloglog().unwrap());
                    d["key"] = json!(key);
                    d["family"] = json!(sketch.family().name());
                    d
                })
                .collect();
            (json!({ "entries": entries }), s.encode())
        }
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn golden_vectors_decode_check_and_reencode_byte_equal() {
    let manifest_path = dir().join("manifest.json");
    if bless() {
        std::fs::create_dir_all(dir()).unwrap();
        let mut vectors = Vec::new();
        for def in definitions() {
            let bytes = make(&def);
            let (facts, _) = read(&def, &bytes);
            std::fs::write(dir().join(def["file"].as_str().unwrap()), &bytes).unwrap();
            let mut v = def.clone();
            v["bytes"] = json!(bytes.len());
            v["expect"] = facts;
            vectors.push(v);
        }
        let manifest = json!({
            "format_version": 1,
            "about": "Golden vectors of edgesketch snapshot format v1 (docs/FORMAT.md). Items are \
                      `prefix + i` for i in 0..count, UTF-8. registers_hash is MurmurHash64A (seed 0) \
                      of the registers, one byte each. Regenerate: EDGESKETCH_BLESS=1 cargo test --test golden",
            "vectors": vectors,
        });
        std::fs::write(
            &manifest_path,
            serde_json::to_string_pretty(&manifest).unwrap() + "\n",
        )
        .unwrap();
    }
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(&manifest_path).unwrap_or_else(|e| {
            panic!(
                "missing {} ({e}); regenerate with `EDGESKETCH_BLESS=1 cargo test --test golden`",
                manifest_path.display()
            )
        }),
    )
    .unwrap();
    let vectors = manifest["vectors"].as_array().unwrap();
    assert_eq!(
        vectors.len(),
        definitions().len(),
        "manifest and definitions disagree; re-bless?"
    );
    for v in vectors {
        let file = v["file"].as_str().unwrap();
        let path = dir().join(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "missing golden vector {} ({e}); regenerate with `EDGESKETCH_BLESS=1 cargo test --test golden`",
                path.display()
            )
        });
        assert_eq!(
            bytes.len() as u64,
            v["bytes"].as_u64().unwrap(),
            "{file}: length"
        );
        let (facts, reencoded) = read(v, &bytes);
        assert_eq!(facts, v["expect"], "{file}: decoded facts");
        assert_eq!(
            reencoded, bytes,
            "{file}: decode then encode must give the same bytes"
        );
        assert_eq!(
            make(v),
            bytes,
            "{file}: the encoder no longer produces this vector"
        );
    }
}
