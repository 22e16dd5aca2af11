//! A live Redis is the oracle: our strings must mean to Redis what its own mean, and the other way
//! round. Starts `redis-server` on a free 127.0.0.1 port (see `common`); fails, never skips, if
//! Redis is missing.

mod common;

use common::{RedisServer, items};
use edgesketch::HyperLogLog;
use redis::Connection;

const SIZES: [usize; 10] = [0, 1, 3, 10, 100, 1000, 2500, 5000, 20_000, 200_000];
const SEEDS: [u64; 3] = [1, 2, 3];

fn pfadd(con: &mut Connection, key: &str, items: &[String]) {
    redis::cmd("DEL").arg(key).exec(con).unwrap();
    // An empty PFADD still creates the key, as an empty HyperLogLog.
    if items.is_empty() {
        redis::cmd("PFADD").arg(key).exec(con).unwrap();
    }
    for chunk in items.chunks(2000) {
        redis::cmd("PFADD").arg(key).arg(chunk).exec(con).unwrap();
    }
}

fn pfcount(con: &mut Connection, key: &str) -> u64 {
    redis::cmd("PFCOUNT").arg(key).query(con).unwrap()
}

fn get(con: &mut Connection, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query(con).unwrap()
}

fn set(con: &mut Connection, key: &str, bytes: &[u8]) {
    redis::cmd("SET").arg(key).arg(bytes).exec(con).unwrap();
}

fn sketch(p: u8, items: &[String]) -> HyperLogLog {
    let mut h = HyperLogLog::new(p).unwrap();
    for item in items {
        h.insert(item.as_bytes());
    }
    h
}

#[test]
fn redis_agrees_with_us_on_counts_registers_and_merges() {
    let server = RedisServer::start();
    let mut con = server.connect();
    for &n in &SIZES {
        for &seed in &SEEDS {
            let members = items(seed, n);
            let ours = sketch(14, &members);
            let ctx = format!("n={n} seed={seed}");

            // Our bytes, SET into Redis, count as our Redis-mode estimate.
            let exported = ours.to_redis().unwrap();
            set(&mut con, "ours", &exported);
            assert_eq!(
                pfcount(&mut con, "ours"),
                ours.redis_estimate(),
                "{ctx}: PFCOUNT of our bytes"
            );

            // Redis's own sketch of the same members counts the same and has the same registers.
            pfadd(&mut con, "theirs", &members);
            assert_eq!(
                pfcount(&mut con, "theirs"),
                ours.redis_estimate(),
                "{ctx}: PFCOUNT of PFADD"
            );
            let imported = HyperLogLog::from_redis(&get(&mut con, "theirs")).unwrap();
            assert_eq!(
                imported.registers(),
                ours.registers(),
                "{ctx}: registers of GET"
            );
            assert_eq!(imported.redis_estimate(), ours.redis_estimate(), "{ctx}");

            // PFMERGE of our bytes with a Redis-built key equals our merge.
            let others = items(seed + 100, n / 2 + 1);
            pfadd(&mut con, "redis-built", &others);
            redis::cmd("DEL").arg("merged").exec(&mut con).unwrap();
            redis::cmd("PFMERGE")
                .arg("merged")
                .arg("ours")
                .arg("redis-built")
                .exec(&mut con)
                .unwrap();
            let mut merged = ours.clone();
            merged.merge(&sketch(14, &others)).unwrap();
            let from_redis = HyperLogLog::from_redis(&get(&mut con, "merged")).unwrap();
            assert_eq!(
                from_redis.registers(),
                merged.registers(),
                "{ctx}: PFMERGE registers"
            );
            assert_eq!(
                pfcount(&mut con, "merged"),
                merged.redis_estimate(),
                "{ctx}: PFMERGE count"
            );
            // Multi-key PFCOUNT merges on the fly.
            let union: u64 = redis::cmd("PFCOUNT")
                .arg("ours")
                .arg("redis-built")
                .query(&mut con)
                .unwrap();
            assert_eq!(union, merged.redis_estimate(), "{ctx}: PFCOUNT of two keys");
        }
    }
}

#[test]
fn redis_keeps_working_on_our_strings() {
    // PFADD onto a string we wrote: Redis must parse our sparse opcodes and update them in place.
    let server = RedisServer::start();
    let mut con = server.connect();
    for &n in &[0usize, 1, 10, 100, 1000, 5000] {
        let first = items(7, n);
        let second = items(8, n + 3);
        let mut ours = sketch(14, &first);
        set(&mut con, "k", &ours.to_redis().unwrap());
        for chunk in second.chunks(1000) {
            redis::cmd("PFADD")
                .arg("k")
                .arg(chunk)
                .exec(&mut con)
                .unwrap();
        }
        for item in &second {
            ours.insert(item.as_bytes());
        }
        let back = HyperLogLog::from_redis(&get(&mut con, "k")).unwrap();
        assert_eq!(back.registers(), ours.registers(), "n={n}");
        assert_eq!(pfcount(&mut con, "k"), ours.redis_estimate(), "n={n}");
    }
}

#[test]
fn finer_precisions_fold_to_what_redis_builds() {
    let server = RedisServer::start();
    let mut con = server.connect();
    for &p in &[15u8, 16, 18] {
        for &n in &[1usize, 100, 3000, 50_000] {
            let members = items(u64::from(p), n);
            let ours = sketch(p, &members);
            pfadd(&mut con, "theirs", &members);
            let theirs = HyperLogLog::from_redis(&get(&mut con, "theirs")).unwrap();
            assert_eq!(
                ours.fold(14).unwrap().registers(),
                theirs.registers(),
                "p={p} n={n}"
            );
            set(&mut con, "ours", &ours.to_redis().unwrap());
            assert_eq!(
                pfcount(&mut con, "ours"),
                ours.redis_estimate(),
                "p={p} n={n}"
            );
            assert_eq!(
                pfcount(&mut con, "theirs"),
                ours.redis_estimate(),
                "p={p} n={n}"
            );
        }
    }
}

#[test]
fn numbers_as_decimal_text_match_redis() {
    // Redis arguments are strings: PFADD k 42 hashes "42".
    let server = RedisServer::start();
    let mut con = server.connect();
    redis::cmd("DEL").arg("nums").exec(&mut con).unwrap();
    let mut ours = HyperLogLog::default();
    for i in 0..3000u64 {
        redis::cmd("PFADD")
            .arg("nums")
            .arg(i)
            .exec(&mut con)
            .unwrap();
        ours.insert(i.to_string().as_bytes());
    }
    assert_eq!(pfcount(&mut con, "nums"), ours.redis_estimate());
    let theirs = HyperLogLog::from_redis(&get(&mut con, "nums")).unwrap();
    assert_eq!(theirs.registers(), ours.registers());
}

#[test]
fn leaderboards_order_and_update_like_redis_sorted_sets() {
    use edgesketch::{AddMode, Best, Leaderboard, MergeRule, Order};
    let server = RedisServer::start();
    let mut con = server.connect();
    let modes = [
        (AddMode::Set, None),
        (AddMode::GreaterThan, Some("GT")),
        (AddMode::LessThan, Some("LT")),
        (AddMode::OnlyNew, Some("NX")),
        (AddMode::OnlyExisting, Some("XX")),
        (AddMode::Increment, Some("INCR")),
    ];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for round in 0..20 {
        redis::cmd("DEL").arg("board").exec(&mut con).unwrap();
        let mut board = Leaderboard::new(MergeRule::Max, Best::Highest, 0).unwrap();
        for _ in 0..500 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let member = format!("p{}", x % 97);
            let score = ((x >> 20) % 41) as f64 / 2.0 - 10.0;
            let (mode, flag) = modes[((x >> 40) % 6) as usize];
            board.add(member.as_bytes(), score, mode).unwrap();
            let mut cmd = redis::cmd("ZADD");
            cmd.arg("board");
            if let Some(flag) = flag {
                cmd.arg(flag);
            }
            cmd.arg(score).arg(&member).exec(&mut con).unwrap();
            if (x >> 50) % 17 == 0 {
                board.remove(member.as_bytes());
                redis::cmd("ZREM")
                    .arg("board")
                    .arg(&member)
                    .exec(&mut con)
                    .unwrap();
            }
        }
        let theirs: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg("board")
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(&mut con)
            .unwrap();
        let ours: Vec<(String, f64)> = board
            .range_by_rank(0, u64::MAX, Order::Ascending)
            .into_iter()
            .map(|e| (String::from_utf8(e.member).unwrap(), e.score))
            .collect();
        assert_eq!(ours, theirs, "round {round}: ZRANGE");
        for (member, _) in &theirs {
            let rank: u64 = redis::cmd("ZREVRANK")
                .arg("board")
                .arg(member)
                .query(&mut con)
                .unwrap();
            assert_eq!(board.rank(member.as_bytes(), Order::Descending), Some(rank));
        }
        let by_score: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
            .arg("board")
            .arg(-3.5)
            .arg(4)
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(0)
            .arg(7)
            .query(&mut con)
            .unwrap();
        let ours: Vec<(String, f64)> = board
            .range_by_score(-3.5, 4.0, Order::Ascending, 7)
            .into_iter()
            .map(|e| (String::from_utf8(e.member).unwrap(), e.score))
            .collect();
        assert_eq!(ours, by_score, "round {round}: ZRANGEBYSCORE");
        let rev: Vec<(String, f64)> = redis::cmd("ZREVRANGE")
            .arg("board")
            .arg(3)
            .arg(12)
            .arg("WITHSCORES")
            .query(&mut con)
            .unwrap();
        let ours: Vec<(String, f64)> = board
            .range_by_rank(3, 12, Order::Descending)
            .into_iter()
            .map(|e| (String::from_utf8(e.member).unwrap(), e.score))
            .collect();
        assert_eq!(ours, rev, "round {round}: ZREVRANGE");
    }
}

/// Items as bytes, not only ASCII text: the empty item, UTF-8 of 2-4 bytes a character, NUL and
/// high bytes, every tail length of MurmurHash64A's last block, and long items. Redis hashes the
/// argument's bytes as they are, and so must we.
#[test]
fn binary_and_unicode_items_hash_as_redis_hashes_them() {
    let server = RedisServer::start();
    let mut con = server.connect();
    let mut members: Vec<Vec<u8>> = vec![
        Vec::new(),
        "ünïcode".into(),
        "ключ".into(),
        "👋 hello".into(),
        "中文字符".into(),
        vec![0],
        vec![0, 0, 0],
        vec![0xff; 9],
        vec![b'x'; 200_000],
    ];
    for len in 0..=17u8 {
        members.push((0..len).map(|i| 0x80 | i.wrapping_mul(37)).collect());
    }
    for i in 0..3_000u32 {
        let x = i.wrapping_mul(2_654_435_761);
        members.push(
            x.to_le_bytes()
                .iter()
                .chain(&x.to_be_bytes())
                .copied()
                .collect(),
        );
    }
    redis::cmd("DEL").arg("theirs").exec(&mut con).unwrap();
    for chunk in members.chunks(500) {
        redis::cmd("PFADD")
            .arg("theirs")
            .arg(chunk)
            .exec(&mut con)
            .unwrap();
    }
    let mut ours = HyperLogLog::new(14).unwrap();
    for m in &members {
        ours.insert(m);
    }
    assert_eq!(pfcount(&mut con, "theirs"), ours.redis_estimate());
    let imported = HyperLogLog::from_redis(&get(&mut con, "theirs")).unwrap();
    assert_eq!(imported.registers(), ours.registers());
}
