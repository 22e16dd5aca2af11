//! `app()` oneshot tests: every route, every bad input (status, problem code, and that nothing
//! changed), auth, CORS, clock skew and retention.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use edgesketch::{
    AddMode, Aggregate, Best, CountMinSketch, Counter, HyperLogLog, Leaderboard, LedgerConfig,
    MergeRule, Quantiles, ReplicaId, SeriesConfig, Snapshot, TopK, UniqueSeries, WindowCounter,
};
use edgesketch_server::store::sqlite::SqliteStore;
use edgesketch_server::store::{CommitBatch, KeyInfo, Store, StoreError, StoredSketch, Usage};
use serde_json::Value;

fn counter(n: u64) -> Counter {
    let mut c = Counter::new();
    c.increment(n);
    c
}

fn envelope(
    replica: u8,
    sequence: u64,
    created: i64,
    entries: Vec<(&str, edgesketch::Sketch)>,
) -> Vec<u8> {
    let mut s = Snapshot::new(ReplicaId([replica; 16]), sequence, created);
    for (k, v) in entries {
        s.insert(k, v).unwrap();
    }
    s.encode()
}

fn counters(replica: u8, sequence: u64, keys: &[&str]) -> Vec<u8> {
    envelope(
        replica,
        sequence,
        NOW,
        keys.iter().map(|k| (*k, counter(1).into())).collect(),
    )
}

fn hll(items: u64, prefix: &str) -> HyperLogLog {
    let mut h = HyperLogLog::new(14).unwrap();
    for i in 0..items {
        h.insert(format!("{prefix}{i}").as_bytes());
    }
    h
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn limited() -> TestServer {
    server(|c| {
        c.max_body_bytes = 64 << 10;
        c.max_envelope_bytes = 128 << 10;
        c.max_entries = 8;
        c.max_key_bytes = 32;
        c.body_timeout_ms = 300;
    })
}

/// Every bad input is refused with its status and code, and leaves every tenant's state as it
/// was; afterwards a valid envelope still applies (the ledger recorded none of them).
#[tokio::test]
async fn every_bad_input_is_refused_precisely_and_changes_nothing() {
    let s = limited();
    let app = &s.app;
    // Baseline: acme holds a counter, an HLL and a sender at sequence 100,000; tiny holds 3 keys.
    assert_eq!(
        ingest(app, ACME, &counters(1, 1, &["orders"])).await.status,
        StatusCode::OK
    );
    let big = envelope(2, 100_000, NOW, vec![("visitors", hll(50, "u").into())]);
    assert_eq!(ingest(app, ACME, &big).await.status, StatusCode::OK);
    let tiny = envelope(
        3,
        1,
        NOW,
        vec![
            ("a", counter(1).into()),
            ("b", counter(1).into()),
            ("h", hll(3, "x").into()),
        ],
    );
    assert_eq!(ingest(app, TINY, &tiny).await.status, StatusCode::OK);
    let acme_before = state_of(app, ACME).await;
    let tiny_before = state_of(app, TINY).await;

    let valid = counters(9, 1, &["orders"]);
    let mut corrupt = valid.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x40;
    let mut version2 = valid.clone();
    version2[4] = 2;
    reseal(&mut version2);
    let mut flags = valid.clone();
    flags[6] = 1;
    reseal(&mut flags);
    let mut family99 = valid.clone();
    // Header (48 bytes), key length (1), "orders" (6), then the family id.
    assert_eq!(family99[48 + 1 + 6], 2, "the counter's family id");
    family99[48 + 1 + 6] = 99;
    reseal(&mut family99);
    let nine: Vec<String> = (0..9).map(|i| format!("k{i}")).collect();
    let nine: Vec<&str> = nine.iter().map(String::as_str).collect();
    let long_key = "k".repeat(40);

    let with = |token: Option<&str>, body: Vec<u8>| post("/v1/ingest", token, body);
    let header_case = |name: header::HeaderName, value: &str, body: Vec<u8>| {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/ingest")
            .header(header::AUTHORIZATION, format!("Bearer {ACME}"))
            .header(name, value)
            .body(Body::from(body))
            .unwrap()
    };
    let cases: Vec<(&str, Request<Body>, u16, &str)> = vec![
        (
            "not an envelope",
            with(Some(ACME), b"hello, world: not an envelope at all".to_vec()),
            400,
            "not_an_envelope",
        ),
        (
            "truncated",
            with(Some(ACME), valid[..30].to_vec()),
            400,
            "truncated_envelope",
        ),
        (
            "truncated entries",
            with(Some(ACME), valid[..valid.len() - 9].to_vec()),
            400,
            "truncated_envelope",
        ),
        (
            "corrupt",
            with(Some(ACME), corrupt),
            400,
            "corrupt_envelope",
        ),
        (
            "version 2",
            with(Some(ACME), version2),
            422,
            "unsupported_version",
        ),
        ("flags", with(Some(ACME), flags), 422, "unsupported_flags"),
        (
            "unknown family",
            with(Some(ACME), family99),
            422,
            "unsupported_family",
        ),
        (
            "empty body",
            with(Some(ACME), Vec::new()),
            400,
            "empty_body",
        ),
        (
            "body too large",
            with(Some(ACME), vec![0; 70 << 10]),
            413,
            "body_too_large",
        ),
        (
            "gzip bomb",
            header_case(header::CONTENT_ENCODING, "gzip", gzip(&vec![0; 1 << 20])),
            413,
            "decompressed_too_large",
        ),
        (
            "bad gzip",
            header_case(header::CONTENT_ENCODING, "gzip", valid.clone()),
            400,
            "bad_gzip",
        ),
        (
            "gzip, then bytes that are not gzip",
            header_case(
                header::CONTENT_ENCODING,
                "gzip",
                [gzip(&valid), b"GARBAGE!!".to_vec()].concat(),
            ),
            400,
            "bad_gzip",
        ),
        (
            "gzip, then zeros",
            header_case(
                header::CONTENT_ENCODING,
                "gzip",
                [gzip(&valid), vec![0; 20]].concat(),
            ),
            400,
            "bad_gzip",
        ),
        (
            "unknown encoding",
            header_case(header::CONTENT_ENCODING, "br", valid.clone()),
            415,
            "unsupported_encoding",
        ),
        (
            "json body",
            header_case(header::CONTENT_TYPE, "application/json", valid.clone()),
            415,
            "unsupported_media_type",
        ),
        (
            "too many entries",
            with(Some(ACME), counters(9, 1, &nine)),
            413,
            "too_many_entries",
        ),
        (
            "key too long",
            with(Some(ACME), counters(9, 1, &[&long_key])),
            422,
            "key_too_long",
        ),
        ("no token", with(None, valid.clone()), 401, "missing_token"),
        (
            "bad token",
            with(Some("guess"), valid.clone()),
            401,
            "bad_token",
        ),
        (
            "basic auth",
            Request::builder()
                .method(Method::POST)
                .uri("/v1/ingest")
                .header(header::AUTHORIZATION, "Basic YTpi")
                .body(Body::from(valid.clone()))
                .unwrap(),
            401,
            "bad_authorization",
        ),
        (
            "two Authorization headers",
            Request::builder()
                .method(Method::POST)
                .uri("/v1/ingest")
                .header(header::AUTHORIZATION, format!("Bearer {ACME_READ}"))
                .header(header::AUTHORIZATION, format!("Bearer {ACME}"))
                .body(Body::from(valid.clone()))
                .unwrap(),
            401,
            "bad_authorization",
        ),
        (
            "read-only token",
            with(Some(ACME_READ), valid.clone()),
            403,
            "read_only_token",
        ),
        (
            "another tenant",
            post("/v1/ingest?tenant=beta", Some(ACME), valid.clone()),
            403,
            "wrong_tenant",
        ),
        (
            "unknown parameter",
            post("/v1/ingest?tokn=x", Some(ACME), valid.clone()),
            400,
            "unknown_parameter",
        ),
        (
            "too old",
            with(
                Some(ACME),
                envelope(
                    9,
                    1,
                    NOW - 25 * 3_600_000,
                    vec![("orders", counter(1).into())],
                ),
            ),
            422,
            "envelope_too_old",
        ),
        (
            "from the future",
            with(
                Some(ACME),
                envelope(9, 1, NOW + 10 * 60_000, vec![("orders", counter(1).into())]),
            ),
            422,
            "envelope_from_future",
        ),
        (
            "sequence zero",
            with(
                Some(ACME),
                envelope(9, 0, NOW, vec![("orders", counter(1).into())]),
            ),
            400,
            "sequence_zero",
        ),
        (
            "below the window",
            with(
                Some(ACME),
                envelope(2, 5, NOW, vec![("orders", counter(1).into())]),
            ),
            422,
            "sequence_below_window",
        ),
        (
            "key quota",
            with(Some(TINY), counters(4, 1, &["a", "new-key"])),
            429,
            "tenant_key_quota",
        ),
        (
            "byte quota",
            with(
                Some(TINY),
                envelope(4, 1, NOW, vec![("h", hll(20_000, "y").into())]),
            ),
            429,
            "tenant_byte_quota",
        ),
    ];
    assert!(cases.len() >= 20);
    for (name, request, status, code) in cases {
        let answer = call(app, request).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{name}: {:?}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.code(), code, "{name}");
        if status == 429 || status == 503 {
            // Quotas and overload: the client learns it is not a malformed request.
            assert!(answer.status.is_client_error() || answer.status.is_server_error());
        }
        assert_eq!(
            state_of(app, ACME).await,
            acme_before,
            "{name} changed acme"
        );
        assert_eq!(
            state_of(app, TINY).await,
            tiny_before,
            "{name} changed tiny"
        );
    }

    // A body that never finishes: 408, nothing changed.
    let (tx, body) = {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        (
            tx,
            Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
        )
    };
    tx.send(Ok(valid[..20].to_vec())).await.unwrap();
    let slow = Request::builder()
        .method(Method::POST)
        .uri("/v1/ingest")
        .header(header::AUTHORIZATION, format!("Bearer {ACME}"))
        .body(body)
        .unwrap();
    let answer = call(app, slow).await;
    assert_eq!(
        (answer.status.as_u16(), answer.code().as_str()),
        (408, "slow_client")
    );
    drop(tx);
    assert_eq!(state_of(app, ACME).await, acme_before);

    // The ledger recorded none of the refused envelopes: the valid one (replica 9, sequence 1)
    // is new, and applies once.
    let answer = ingest(app, ACME, &valid).await;
    assert_eq!(answer.json()["outcome"], "applied");
    let answer = ingest(app, ACME, &valid).await;
    assert_eq!(answer.json()["outcome"], "duplicate");
    let value = call(app, get("/v1/counter?key=orders", Some(ACME)))
        .await
        .json();
    assert_eq!(value["value"], 2);
    // gzip and text/plain (what sendBeacon sends) are accepted.
    let zipped = header_case(
        header::CONTENT_ENCODING,
        "gzip",
        gzip(&counters(9, 2, &["orders"])),
    );
    assert_eq!(call(app, zipped).await.json()["outcome"], "applied");
    // A gzip file of two members (legal, e.g. concatenated by a proxy) is the whole envelope.
    let two = counters(9, 4, &["orders"]);
    let (head, tail) = two.split_at(30);
    let members = header_case(
        header::CONTENT_ENCODING,
        "gzip",
        [gzip(head), gzip(tail)].concat(),
    );
    assert_eq!(call(app, members).await.json()["outcome"], "applied");
    let beacon = Request::builder()
        .method(Method::POST)
        .uri(format!("/v1/ingest?token={ACME_WRITE}"))
        .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
        .body(Body::from(counters(9, 3, &["orders"])))
        .unwrap();
    assert_eq!(call(app, beacon).await.json()["outcome"], "applied");
    let value = call(app, get("/v1/counter?key=orders", Some(ACME)))
        .await
        .json();
    assert_eq!(value["value"], 5);
}

/// Bad queries: status and code for each; queries never change anything.
#[tokio::test]
async fn bad_queries_are_refused_precisely() {
    let s = server(|_| {});
    let app = &s.app;
    let e = envelope(
        1,
        1,
        NOW,
        vec![
            ("orders", counter(3).into()),
            ("visitors", hll(10, "u").into()),
            ("board", {
                let mut board = Leaderboard::new(MergeRule::Max, Best::Highest, 100).unwrap();
                board.add(b"ada", 5.0, AddMode::Set).unwrap();
                board.into()
            }),
            ("win", {
                let mut w = WindowCounter::new(series(1_000, 3_600_000), NOW).unwrap();
                w.add(3, NOW).unwrap();
                w.into()
            }),
        ],
    );
    assert_eq!(ingest(app, ACME, &e).await.status, StatusCode::OK);
    let before = state_of(app, ACME).await;
    let cases: Vec<(&str, Option<&str>, u16, &str)> = vec![
        ("/v1/counter?key=nope", Some(ACME), 404, "key_not_found"),
        ("/v1/counter?key=visitors", Some(ACME), 422, "wrong_family"),
        ("/v1/topk?key=orders", Some(ACME), 422, "wrong_family"),
        ("/v1/counter", Some(ACME), 400, "missing_parameter"),
        // No key is empty: an empty one is the caller's bug, not an unknown key.
        ("/v1/counter?key=", Some(ACME), 400, "invalid_parameter"),
        ("/v1/raw?key=", Some(ACME), 400, "invalid_parameter"),
        (
            "/v1/unique?key=visitors&key=",
            Some(ACME),
            400,
            "invalid_parameter",
        ),
        (
            "/v1/counter?key=orders&key=orders",
            Some(ACME),
            400,
            "repeated_parameter",
        ),
        (
            "/v1/counter?key=orders&colour=red",
            Some(ACME),
            400,
            "unknown_parameter",
        ),
        ("/v1/keys?limit=0", Some(ACME), 400, "invalid_parameter"),
        // Query values are UTF-8 once percent-decoded, or refused (not read as U+FFFD).
        ("/v1/counter?key=%FF", Some(ACME), 400, "invalid_parameter"),
        ("/v1/keys?prefix=%80", Some(ACME), 400, "invalid_parameter"),
        (
            "/v1/keys?family=bloom",
            Some(ACME),
            400,
            "invalid_parameter",
        ),
        (
            "/v1/leaderboard?key=board&min=NaN",
            Some(ACME),
            400,
            "invalid_parameter",
        ),
        (
            "/v1/leaderboard?key=board&min=5&max=1",
            Some(ACME),
            400,
            "invalid_range",
        ),
        (
            "/v1/leaderboard?key=board&min=inf&max=-inf",
            Some(ACME),
            400,
            "invalid_range",
        ),
        (
            "/v1/leaderboard?key=board&limit=0",
            Some(ACME),
            400,
            "invalid_parameter",
        ),
        (
            "/v1/leaderboard?key=board&limit=5000",
            Some(ACME),
            400,
            "invalid_parameter",
        ),
        (
            "/v1/leaderboard?key=board&member=ada&start=3",
            Some(ACME),
            400,
            "invalid_parameter",
        ),
        (
            "/v1/leaderboard?key=board&min=0&start=5&stop=1",
            Some(ACME),
            400,
            "invalid_parameter",
        ),
        (
            "/v1/window/series?key=win&step=0&last=100",
            Some(ACME),
            400,
            "invalid_parameter",
        ),
        (
            "/v1/window/series?key=win&step=18446744073709551615&last=100",
            Some(ACME),
            400,
            "invalid_parameter",
        ),
        ("/v1/keys?limit=many", Some(ACME), 400, "invalid_parameter"),
        (
            "/v1/unique?key=visitors&from=10&to=5",
            Some(ACME),
            400,
            "invalid_range",
        ),
        (
            "/v1/unique?key=visitors&last=1000",
            Some(ACME),
            400,
            "range_not_supported",
        ),
        ("/v1/unique", Some(ACME), 400, "invalid_parameter"),
        (
            "/v1/quantiles?key=orders&q=1.5",
            Some(ACME),
            422,
            "wrong_family",
        ),
        (
            "/v1/raw?key=orders&format=redis",
            Some(ACME),
            400,
            "format_not_supported",
        ),
        (
            "/v1/raw?key=orders&format=csv",
            Some(ACME),
            400,
            "invalid_parameter",
        ),
        (
            "/v1/raw?key=orders&last=1000",
            Some(ACME),
            400,
            "range_not_supported",
        ),
        ("/v1/counter?key=orders", None, 401, "missing_token"),
        (
            "/v1/counter?key=orders",
            Some(ACME_WRITE),
            403,
            "write_only_token",
        ),
        (
            "/v1/counter?key=orders&tenant=beta",
            Some(ACME),
            403,
            "wrong_tenant",
        ),
        ("/v1/counter?key=orders", Some(BETA), 404, "key_not_found"),
        ("/v1/nothing-here", Some(ACME), 404, "no_such_route"),
    ];
    for (uri, token, status, code) in cases {
        let answer = call(app, get(uri, token)).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{uri}: {:?}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.code(), code, "{uri}");
    }
    assert_eq!(state_of(app, ACME).await, before);
    // Another tenant's data is invisible, whatever the key.
    let listing = call(app, get("/v1/keys", Some(BETA))).await.json();
    assert_eq!(listing["keys"], Value::Array(vec![]));
}

fn series(bucket_ms: u64, retention_ms: u64) -> SeriesConfig {
    SeriesConfig::new(bucket_ms, retention_ms, retention_ms, 60_000).unwrap()
}

/// One envelope with every family, from a few senders; the server's stored bytes and answers
/// equal an in-process `Aggregate` applying the same envelopes at the same clock.
#[tokio::test]
async fn every_family_round_trips_and_matches_the_in_process_merge() {
    let s = server(|_| {});
    let app = &s.app;
    let mut reference = Aggregate::new(LedgerConfig::default()).unwrap();
    for sender in 1..=3u8 {
        let mut w = WindowCounter::new(series(1_000, 3_600_000), NOW).unwrap();
        let mut u = UniqueSeries::new(series(10_000, 3_600_000), 12, NOW).unwrap();
        let mut board = Leaderboard::new(MergeRule::Max, Best::Highest, 100).unwrap();
        let mut top = TopK::new(16).unwrap();
        let mut cms = CountMinSketch::new(0.01, 0.01).unwrap();
        let mut q = Quantiles::new(0.01).unwrap();
        for i in 0..200u64 {
            let t = NOW - (i as i64 % 60) * 1_000;
            w.add(i as i64 % 7, t).unwrap();
            u.add(format!("user-{}", i * u64::from(sender)).as_bytes(), t)
                .unwrap();
            board
                .add(
                    format!("p{}", i % 30).as_bytes(),
                    (i * u64::from(sender)) as f64,
                    AddMode::GreaterThan,
                )
                .unwrap();
            top.insert(format!("a{}", i % (5 + i % 11)).as_bytes(), 1)
                .unwrap();
            cms.add(format!("a{}", i % 13).as_bytes(), 1);
            q.add(1.0 + (i * u64::from(sender)) as f64).unwrap();
        }
        let e = envelope(
            sender,
            1,
            NOW,
            vec![
                ("c", counter(u64::from(sender)).into()),
                ("h", hll(300 * u64::from(sender), "v").into()),
                ("w", w.into()),
                ("u", u.into()),
                ("l", board.into()),
                ("t", top.into()),
                ("m", cms.into()),
                ("q", q.into()),
            ],
        );
        let answer = ingest(app, ACME, &e).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
        assert_eq!(answer.json()["merged"], 8);
        reference.apply(&e, NOW).unwrap();
    }
    let (stored, _, usage) = state_of(app, ACME).await;
    assert_eq!(stored.len(), 8);
    for (key, sketch) in reference.iter() {
        assert_eq!(stored[key], sketch.to_bytes(), "{key}");
    }
    assert_eq!(usage["keys"], 8);
    let total: usize = stored.values().map(Vec::len).sum();
    assert_eq!(usage["bytes"], total);

    let q = |uri: &str| {
        let app = app.clone();
        let uri = uri.to_string();
        async move { call(&app, get(&uri, Some(ACME))).await.json() }
    };
    assert_eq!(q("/v1/counter?key=c").await["value"], 6);
    let h = reference
        .get("h")
        .unwrap()
        .as_hyperloglog()
        .unwrap()
        .estimate();
    let answer = q("/v1/unique?key=h").await;
    assert_eq!(answer["estimate"]["value"], h.value);
    assert!(answer["estimate"]["lower"].as_f64().unwrap() <= h.value);
    let w = reference.get("w").unwrap().as_window_counter().unwrap();
    let answer = q(&format!(
        "/v1/window?key=w&from={}&to={}",
        NOW - 30_000,
        NOW + 1
    ))
    .await;
    assert_eq!(
        answer["range"]["stats"]["sum"].as_i64().map(i128::from),
        Some(w.sum(NOW - 30_000, NOW + 1).stats.sum)
    );
    let points = q(&format!(
        "/v1/window/series?key=w&from={}&to={}&step=10000",
        NOW - 60_000,
        NOW + 1
    ))
    .await;
    let by_points: i64 = points["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["stats"]["count"].as_i64().unwrap())
        .sum();
    assert_eq!(by_points, 600);
    let u = reference.get("u").unwrap().as_unique_series().unwrap();
    let answer = q(&format!(
        "/v1/unique?key=u&from={}&to={}",
        NOW - 60_000,
        NOW + 1
    ))
    .await;
    assert_eq!(
        answer["estimate"]["value"],
        u.unique(NOW - 60_000, NOW + 1).estimate.value
    );
    // A union of an HLL and a whole series (a range applies to series only, so with an HLL in
    // the union a range is refused rather than silently ignored for it).
    let answer = q("/v1/unique?key=h&key=u").await;
    assert!(answer["estimate"]["value"].as_f64().unwrap() > h.value);
    let refused = call(app, get("/v1/unique?key=h&key=u&last=60000", Some(ACME))).await;
    assert_eq!(refused.code(), "range_not_supported");
    let l = reference.get("l").unwrap().as_leaderboard().unwrap();
    let answer = q("/v1/leaderboard?key=l&start=0&stop=2").await;
    let top3 = l.range_by_rank(0, 2, edgesketch::Order::Descending);
    for (i, m) in top3.iter().enumerate() {
        assert_eq!(
            answer["range"][i]["member"],
            String::from_utf8(m.member.clone()).unwrap()
        );
        assert_eq!(answer["range"][i]["score"], m.score);
    }
    let answer = q("/v1/leaderboard?key=l&member=p3").await;
    assert_eq!(
        answer["member"]["rank"],
        l.rank(b"p3", edgesketch::Order::Descending).unwrap()
    );
    let t = reference.get("t").unwrap().as_top_k().unwrap().top(3);
    let answer = q("/v1/topk?key=t&k=3").await;
    assert_eq!(answer["total"], t.total);
    let first = t.guaranteed.first().or(t.possible.first()).unwrap();
    let listed = answer["guaranteed"]
        .as_array()
        .unwrap()
        .iter()
        .chain(answer["possible"].as_array().unwrap())
        .next()
        .unwrap()
        .clone();
    assert_eq!(
        listed["item"],
        String::from_utf8(first.item.clone()).unwrap()
    );
    assert_eq!(listed["lower"], first.lower);
    let m = reference
        .get("m")
        .unwrap()
        .as_count_min()
        .unwrap()
        .estimate(b"a3");
    let answer = q("/v1/countmin?key=m&item=a3").await;
    assert_eq!(answer["items"][0]["upper"], m.upper);
    assert_eq!(answer["items"][0]["lower"], m.lower);
    let quant = reference.get("q").unwrap().as_quantiles().unwrap();
    let answer = q("/v1/quantiles?key=q&q=0.5&q=0.99").await;
    assert_eq!(
        answer["quantiles"][0]["value"],
        quant.quantile(0.5).unwrap()
    );
    assert_eq!(
        answer["quantiles"][1]["value"],
        quant.quantile(0.99).unwrap()
    );
    assert_eq!(answer["relative_error"], 0.01);
    // Summaries of every key answer.
    for key in ["c", "h", "w", "u", "l", "t", "m", "q"] {
        let answer = q(&format!("/v1/sketch?key={key}")).await;
        assert!(answer["summary"].is_object(), "{key}: {answer}");
    }
    // Raw exports: a series range merged, and Redis bytes of an HLL.
    let raw = call(
        app,
        get(
            &format!("/v1/raw?key=u&from={}&to={}", NOW - 60_000, NOW + 1),
            Some(ACME),
        ),
    )
    .await;
    assert_eq!(raw.body, u.merged(NOW - 60_000, NOW + 1).to_bytes());
    let redis = call(app, get("/v1/raw?key=h&format=redis", Some(ACME))).await;
    assert_eq!(&redis.body[..4], b"HYLL");
    let back = HyperLogLog::from_redis(&redis.body).unwrap();
    assert_eq!(
        back.redis_estimate(),
        reference
            .get("h")
            .unwrap()
            .as_hyperloglog()
            .unwrap()
            .redis_estimate()
    );
    // Keys by prefix, paged.
    let page = q("/v1/keys?prefix=&limit=3").await;
    assert_eq!(page["keys"].as_array().unwrap().len(), 3);
    let next = page["next"].as_str().unwrap().to_string();
    let rest = q(&format!("/v1/keys?after={next}&limit=100")).await;
    assert_eq!(rest["keys"].as_array().unwrap().len(), 5);
    assert!(rest["next"].is_null());
    // By family: each listed key once, under its own family only, also paged.
    let all = q("/v1/keys?limit=100").await;
    for listed in all["keys"].as_array().unwrap() {
        let family = listed["family"].as_str().unwrap();
        let of_family = q(&format!("/v1/keys?family={family}&limit=100")).await;
        let names: Vec<&Value> = of_family["keys"].as_array().unwrap().iter().collect();
        assert!(names.iter().all(|k| k["family"] == family), "{of_family}");
        assert!(
            names.iter().any(|k| k["key"] == listed["key"]),
            "{of_family}"
        );
    }
    let first = q("/v1/keys?family=hyperloglog&limit=1").await;
    assert_eq!(first["keys"].as_array().unwrap().len(), 1);
    let next = first["next"].as_str().unwrap().to_string();
    let after = q(&format!(
        "/v1/keys?family=hyperloglog&after={next}&limit=100"
    ))
    .await;
    assert!(
        after["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["family"] == "hyperloglog")
    );
}

/// An entry whose family differs from the stored key's is refused alone; the rest applies.
#[tokio::test]
async fn a_mismatched_entry_is_refused_alone() {
    let s = server(|_| {});
    let app = &s.app;
    assert_eq!(
        ingest(app, ACME, &counters(1, 1, &["x"])).await.status,
        StatusCode::OK
    );
    let mixed = envelope(
        1,
        2,
        NOW,
        vec![("x", hll(5, "a").into()), ("y", counter(2).into())],
    );
    let answer = ingest(app, ACME, &mixed).await.json();
    assert_eq!(answer["outcome"], "applied");
    assert_eq!(answer["merged"], 1);
    assert_eq!(answer["rejected"][0]["key"], "x");
    assert_eq!(answer["rejected"][0]["code"], "family_mismatch");
    assert_eq!(
        call(app, get("/v1/counter?key=y", Some(ACME))).await.json()["value"],
        2
    );
    assert_eq!(
        call(app, get("/v1/counter?key=x", Some(ACME))).await.json()["value"],
        1
    );
}

/// Sender clocks ahead or behind, and retention at the server's clock.
#[tokio::test]
async fn clock_skew_and_retention_edges() {
    let s = server(|_| {});
    let app = &s.app;
    // Envelopes: 4 min 59 s ahead is accepted, 5 min 1 s is not; 23 h 59 min old is accepted.
    let ok = envelope(1, 1, NOW + 299_000, vec![("c", counter(1).into())]);
    assert_eq!(ingest(app, ACME, &ok).await.status, StatusCode::OK);
    let ahead = envelope(1, 2, NOW + 301_000, vec![("c", counter(1).into())]);
    assert_eq!(
        ingest(app, ACME, &ahead).await.code(),
        "envelope_from_future"
    );
    let old = envelope(2, 1, NOW - 86_340_000, vec![("c", counter(1).into())]);
    assert_eq!(ingest(app, ACME, &old).await.status, StatusCode::OK);

    // A window counter from a sender whose clock is 2 h behind the server: its buckets are older
    // than the 1 h retention at the server's clock, so they are refused and reported (the
    // envelope itself applies); events of the last minute from a sender in time are kept.
    let mut behind = WindowCounter::new(series(1_000, 3_600_000), NOW - 2 * 3_600_000).unwrap();
    behind.add(5, NOW - 2 * 3_600_000).unwrap();
    behind.add(7, NOW - 2 * 3_600_000 + 1_000).unwrap();
    let e = envelope(3, 1, NOW, vec![("w", behind.into())]);
    let answer = ingest(app, ACME, &e).await.json();
    assert_eq!(answer["outcome"], "applied", "{answer}");
    assert_eq!(answer["rejected"][0]["code"], "late_buckets", "{answer}");
    assert_eq!(answer["rejected"][0]["buckets"], 2);
    assert_eq!(answer["rejected"][0]["events"], 2);
    let mut fresh = WindowCounter::new(series(1_000, 3_600_000), NOW).unwrap();
    fresh.add(11, NOW - 30_000).unwrap();
    let answer = ingest(app, ACME, &envelope(3, 2, NOW, vec![("w", fresh.into())]))
        .await
        .json();
    assert_eq!(answer["rejected"], Value::Array(vec![]), "{answer}");
    let sum = call(app, get("/v1/window?key=w&last=3600000", Some(ACME)))
        .await
        .json();
    assert_eq!(sum["range"]["stats"]["sum"], 11);

    // Retention: two hours later, maintenance drops the bucket and the stored bytes shrink.
    let size = |app: &axum::Router| {
        let app = app.clone();
        async move {
            let raw = call(&app, get("/v1/raw?key=w", Some(ACME)))
                .await
                .body
                .len() as u64;
            let tenant = call(&app, get("/v1/tenant", Some(ACME))).await.json();
            let listing = call(&app, get("/v1/keys", Some(ACME))).await.json();
            let total: u64 = listing["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["bytes"].as_u64().unwrap())
                .sum();
            assert_eq!(tenant["bytes"], total, "usage tracks the stored bytes");
            raw
        }
    };
    let before = size(app).await;
    s.set_now(NOW + 2 * 3_600_000);
    s.state.engine().maintain().await.unwrap();
    let after = size(app).await;
    assert!(after < before, "{before} -> {after}");
    let sum = call(
        app,
        get(
            &format!("/v1/window?key=w&from={}&to={}", NOW - 60_000, NOW + 1),
            Some(ACME),
        ),
    )
    .await
    .json();
    assert_eq!(sum["range"]["stats"]["count"], 0);
    assert_eq!(sum["range"]["truncated"], true);
    // The sender's envelope from NOW is now 2 h old: still inside the 24 h horizon, a retry is
    // recognised as a duplicate.
    assert_eq!(ingest(app, ACME, &e).await.json()["outcome"], "duplicate");
}

/// CORS: configured origins get the headers (preflight included), others do not.
#[tokio::test]
async fn cors_preflight_for_configured_origins_only() {
    let s = server(|c| c.cors_origins = vec!["https://dash.example".into()]);
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/v1/ingest")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization,content-type",
            )
            .body(Body::empty())
            .unwrap()
    };
    let ok = call(&s.app, preflight("https://dash.example")).await;
    assert!(ok.status.is_success());
    assert_eq!(
        ok.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://dash.example"
    );
    let methods = ok.headers[header::ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .unwrap()
        .to_string();
    assert!(methods.contains("POST"), "{methods}");
    let other = call(&s.app, preflight("https://evil.example")).await;
    assert!(
        other
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    // Without configured origins there are no CORS headers at all.
    let plain = server(|_| {});
    let none = call(&plain.app, preflight("https://dash.example")).await;
    assert!(
        none.headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}

#[tokio::test]
async fn ops_routes_answer() {
    let s = server(|_| {});
    assert_eq!(
        ingest(&s.app, ACME, &counters(1, 1, &["c"])).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&s.app, get("/livez", None)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&s.app, get("/readyz", None)).await.status,
        StatusCode::OK
    );
    let metrics = String::from_utf8(call(&s.app, get("/metrics", None)).await.body).unwrap();
    for name in [
        "edgesketch_ingest_requests_total{outcome=\"applied\"} 1",
        "edgesketch_commit_duration_seconds_count",
        "edgesketch_tenant_keys{tenant=\"acme\"} 1",
        "edgesketch_cache_bytes",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
    assert!(!metrics.contains("key=\""), "no per-key labels");
    // The -wal file's size, read by maintenance: a figure that keeps growing means checkpoints
    // fail (nothing else shows it).
    s.state.engine().maintain().await.unwrap();
    let metrics = String::from_utf8(call(&s.app, get("/metrics", None)).await.body).unwrap();
    let wal: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("edgesketch_store_log_bytes "))
        .unwrap_or_else(|| panic!("no edgesketch_store_log_bytes in\n{metrics}"))
        .parse()
        .unwrap();
    assert!(wal > 0, "a commit went through the WAL");
    let home = call(&s.app, get("/", None)).await;
    assert_eq!(home.status, StatusCode::OK);
}

/// Every path of /openapi.json is served by the router, and every `.route(` of the router is
/// documented.
#[tokio::test]
async fn openapi_and_router_agree() {
    let s = server(|_| {});
    let doc = call(&s.app, get("/openapi.json", None)).await.json();
    let paths = doc["paths"].as_object().unwrap();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(path.as_str())
                .body(Body::empty())
                .unwrap();
            let answer = call(&s.app, request).await;
            assert_ne!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            if answer.status == StatusCode::NOT_FOUND {
                assert_ne!(answer.json()["code"], "no_such_route", "{method} {path}");
            }
        }
    }
    let source = include_str!("../src/routes/mod.rs");
    let routed = source.matches(".route(\"").count();
    let catch_all = source.matches("any(ops::no_such_route)").count();
    assert_eq!(
        paths.len(),
        routed - catch_all,
        "documented paths vs routes"
    );
    // A wrong method and the API's bare root are problems too, with a code: on the API's
    // routes and on the ops routes (those answered a bare 405).
    for path in ["/v1/keys", "/metrics", "/livez", "/readyz", "/openapi.json"] {
        let wrong = Request::builder()
            .method(Method::POST)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let answer = call(&s.app, wrong).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(answer.code(), "method_not_allowed", "{path}");
        assert!(
            answer.headers[header::ALLOW]
                .to_str()
                .unwrap()
                .contains("GET"),
            "{path}"
        );
    }
    for root in ["/v1", "/v1/"] {
        let answer = call(&s.app, get(root, None)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{root}");
        assert_eq!(answer.code(), "no_such_route", "{root}");
    }
}

/// A store that fails its commits while `failing` is set, and answers bytes that do not decode
/// for the key named `unreadable`.
struct FlakyStore {
    inner: SqliteStore,
    failing: std::sync::atomic::AtomicBool,
    commits: AtomicUsize,
    unreadable: std::sync::Mutex<Option<String>>,
    /// A commit waits while the test holds this (a disk that hangs).
    gate: std::sync::Mutex<()>,
    /// Commits begun (counted before the gate).
    entered: AtomicUsize,
}

impl FlakyStore {
    fn open(dir: &tempfile::TempDir, failing: bool) -> Arc<Self> {
        Arc::new(FlakyStore {
            inner: SqliteStore::open(dir.path()).unwrap(),
            failing: failing.into(),
            commits: AtomicUsize::new(0),
            unreadable: None.into(),
            gate: std::sync::Mutex::new(()),
            entered: AtomicUsize::new(0),
        })
    }
}

impl Store for FlakyStore {
    fn load_sketch(&self, t: &str, k: &str) -> Result<Option<StoredSketch>, StoreError> {
        if self.unreadable.lock().unwrap().as_deref() == Some(k) {
            return Ok(Some(StoredSketch {
                bytes: vec![0xde, 0xad],
                deltas: Vec::new(),
            }));
        }
        self.inner.load_sketch(t, k)
    }
    fn load_ledger(&self, t: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.load_ledger(t)
    }
    fn list_keys(
        &self,
        t: &str,
        p: &str,
        f: Option<u8>,
        a: Option<&str>,
        l: usize,
    ) -> Result<Vec<KeyInfo>, StoreError> {
        self.inner.list_keys(t, p, f, a, l)
    }
    fn usage(&self, t: &str) -> Result<Usage, StoreError> {
        self.inner.usage(t)
    }
    fn keys_of_families(
        &self,
        f: &[u8],
        a: Option<(&str, &str)>,
        l: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.keys_of_families(f, a, l)
    }
    fn commit(&self, batch: &CommitBatch<'_>) -> Result<(), StoreError> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        drop(self.gate.lock().unwrap());
        self.commits.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            // Slow and failing, as a disk in trouble is.
            std::thread::sleep(Duration::from_millis(50));
            return Err(StoreError("disk full (test)".into()));
        }
        self.inner.commit(batch)
    }
    fn check(&self) -> Result<(), StoreError> {
        self.inner.check()
    }
    fn log_bytes(&self) -> Option<u64> {
        self.inner.log_bytes()
    }
}

/// A failed commit answers 503 and forgets the batch's admissions: the retry applies once.
/// While the writer is stuck, a full queue answers 503 "overloaded" with Retry-After.
#[tokio::test]
async fn failed_commits_and_overload_answer_503_and_retries_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = FlakyStore::open(&dir, true);
    let mut c = config(&dir);
    c.queue = 2;
    c.batch_max = 1;
    let s = server_with_store(dir, c, store.clone());
    let app = &s.app;
    let e = counters(1, 1, &["c"]);
    let answer = ingest(app, ACME, &e).await;
    assert_eq!(
        (answer.status.as_u16(), answer.code().as_str()),
        (503, "store_unavailable")
    );
    assert!(answer.headers.contains_key(header::RETRY_AFTER));
    // Many at once while every commit takes 50 ms and fails: some are refused at the door.
    let attempts: Vec<_> = (2..40u64)
        .map(|seq| {
            let app = app.clone();
            tokio::spawn(async move { ingest(&app, ACME, &counters(1, seq, &["c"])).await })
        })
        .collect();
    let mut codes = Vec::new();
    for a in attempts {
        let answer = a.await.unwrap();
        assert_eq!(answer.status.as_u16(), 503);
        assert!(answer.headers.contains_key(header::RETRY_AFTER));
        codes.push(answer.code());
    }
    assert!(codes.iter().any(|c| c == "overloaded"), "{codes:?}");
    store.failing.store(false, Ordering::SeqCst);
    assert_eq!(ingest(app, ACME, &e).await.json()["outcome"], "applied");
    assert_eq!(ingest(app, ACME, &e).await.json()["outcome"], "duplicate");
    assert_eq!(
        call(app, get("/v1/counter?key=c", Some(ACME))).await.json()["value"],
        1
    );
}

/// The drift report counts what was applied since the server started: a failed commit takes back
/// only its own envelopes (it reloads the ledger, and used to drop every sender's count).
#[tokio::test]
async fn a_failed_commit_keeps_the_drift_counts_of_what_was_applied() {
    let dir = tempfile::tempdir().unwrap();
    let store = FlakyStore::open(&dir, false);
    let mut c = config(&dir);
    c.batch_max = 1;
    let s = server_with_store(dir, c, store.clone());
    let app = &s.app;
    for seq in 1..=3 {
        let e = counters(2, seq, &["orders:eu"]);
        assert_eq!(ingest(app, ACME, &e).await.json()["outcome"], "applied");
    }
    let drift = || async { call(app, get("/v1/drift", Some(ACME))).await.json() };
    assert_eq!(drift().await["applied_envelopes"], 3);
    store.failing.store(true, Ordering::SeqCst);
    let e = counters(1, 1, &["visits:home"]);
    assert_eq!(ingest(app, ACME, &e).await.code(), "store_unavailable");
    store.failing.store(false, Ordering::SeqCst);
    let report = drift().await;
    assert_eq!(report["applied_envelopes"], 3, "{report}");
    assert_eq!(ingest(app, ACME, &e).await.json()["outcome"], "applied");
    let report = drift().await;
    assert_eq!(report["applied_envelopes"], 4, "{report}");
    let prefixes: Vec<_> = report["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["prefix"].as_str().unwrap().to_string(),
                p["applied_envelopes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(prefixes.contains(&("orders".to_string(), 3)), "{report}");
    assert!(prefixes.contains(&("visits".to_string(), 1)), "{report}");
}

/// A commit that hangs (a disk in trouble) does not hold the tenant routes: they read the
/// tenants' state, which the writer held through its commit.
#[tokio::test]
// The gate is held across awaits on purpose: the writer thread (not this task) waits on it.
#[allow(clippy::await_holding_lock)]
async fn a_hung_commit_does_not_hold_the_tenant_routes() {
    let dir = tempfile::tempdir().unwrap();
    let store = FlakyStore::open(&dir, false);
    let c = config(&dir);
    let s = server_with_store(dir, c, store.clone());
    let app = s.app.clone();
    assert_eq!(
        ingest(&app, ACME, &counters(1, 1, &["c"])).await.json()["outcome"],
        "applied"
    );
    let before = store.entered.load(Ordering::SeqCst);
    let gate = store.gate.lock().unwrap();
    let pending = tokio::spawn({
        let app = app.clone();
        async move { ingest(&app, ACME, &counters(1, 2, &["c"])).await }
    });
    // The writer takes the envelope and waits in its commit.
    for _ in 0..3000 {
        if store.entered.load(Ordering::SeqCst) > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        store.entered.load(Ordering::SeqCst) > before,
        "the commit began"
    );
    for path in ["/v1/tenant", "/v1/drift"] {
        // A deadlock detector, not a timing goal: held by the commit, this never answers.
        let answer =
            tokio::time::timeout(Duration::from_secs(30), call(&app, get(path, Some(ACME))))
                .await
                .unwrap_or_else(|_| panic!("{path} waited for the hung commit"));
        assert_eq!(answer.status.as_u16(), 200, "{path}");
    }
    assert!(!pending.is_finished(), "the commit is still held");
    drop(gate);
    assert_eq!(pending.await.unwrap().json()["outcome"], "applied");
}

/// Two servers on one data directory would each keep a ledger in memory and break
/// exactly-once: the second is refused while the first runs.
#[test]
fn a_second_server_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteStore::open(dir.path()).unwrap();
    let second = SqliteStore::open(dir.path()).unwrap_err();
    assert!(second.to_string().contains("in use"), "{second}");
    drop(first);
    SqliteStore::open(dir.path()).unwrap();
}

/// Background roll-ups: closed buckets of fine series are folded once into `<key>@60000ms`,
/// also when maintenance runs again or events keep arriving; the roll-up's keys are reserved.
#[tokio::test]
async fn series_roll_up_in_the_background_exactly_once() {
    let s = server(|_| {});
    let app = &s.app;
    let fine = SeriesConfig::new(1_000, 3_600_000, 30_000, 60_000).unwrap();
    let send = |sequence: u64, at: i64, events: Vec<(i64, i64)>| {
        let mut w = WindowCounter::new(fine, at).unwrap();
        let mut u = UniqueSeries::new(fine, 12, at).unwrap();
        for (value, t) in events {
            w.add(value, t).unwrap();
            u.add(&value.to_le_bytes(), t).unwrap();
        }
        envelope(1, sequence, at, vec![("w", w.into()), ("u", u.into())])
    };
    // Minute-aligned clock; one event a second over five minutes, sent every 10 s as it happens.
    let t0 = NOW - NOW.rem_euclid(60_000);
    for chunk in 0..30i64 {
        let at = t0 - 300_000 + (chunk + 1) * 10_000;
        s.set_now(at);
        let events: Vec<(i64, i64)> = (0..10)
            .map(|i| ((chunk * 10 + i) % 17, at - 10_000 + i * 1_000))
            .collect();
        let answer = ingest(app, ACME, &send(chunk as u64 + 1, at, events))
            .await
            .json();
        assert_eq!(answer["rejected"], Value::Array(vec![]), "{answer}");
    }
    s.state.engine().maintain().await.unwrap();
    // Closed: every second before t0 - grace (30 s): four whole minutes and half of the fifth.
    let minutes = |key: &str, from: i64, to: i64| {
        let app = app.clone();
        let uri = format!(
            "/v1/window/series?key={}&from={from}&to={to}&step=60000",
            urlencode(key)
        );
        async move { call(&app, get(&uri, Some(ACME))).await.json() }
    };
    let rolled = minutes("w@60000ms", t0 - 300_000, t0).await;
    let original = minutes("w", t0 - 300_000, t0).await;
    let points = rolled["points"].as_array().unwrap();
    assert_eq!(points.len(), 5);
    for (i, (r, o)) in points
        .iter()
        .zip(original["points"].as_array().unwrap())
        .enumerate()
    {
        if i < 4 {
            assert_eq!(r["stats"], o["stats"], "minute {i}");
        } else {
            assert_eq!(
                r["stats"]["count"], 30,
                "the closed half of the last minute"
            );
        }
    }
    // Again at the same clock: nothing changes (no double counting).
    let before = call(app, get("/v1/raw?key=w%4060000ms", Some(ACME)))
        .await
        .body;
    s.state.engine().maintain().await.unwrap();
    assert_eq!(
        call(app, get("/v1/raw?key=w%4060000ms", Some(ACME)))
            .await
            .body,
        before
    );
    // Late events into the still-open minute, then the clock moves on: folded once.
    let late: Vec<(i64, i64)> = (0..10).map(|i| (100, t0 - 20_000 + i)).collect();
    assert_eq!(
        ingest(app, ACME, &send(31, t0, late)).await.status,
        StatusCode::OK
    );
    s.set_now(t0 + 120_000);
    s.state.engine().maintain().await.unwrap();
    s.state.engine().maintain().await.unwrap();
    let rolled = minutes("w@60000ms", t0 - 300_000, t0 + 60_000).await;
    let original = minutes("w", t0 - 300_000, t0 + 60_000).await;
    assert_eq!(rolled["points"], original["points"]);
    let total: i64 = rolled["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["stats"]["sum"].as_i64().unwrap())
        .sum();
    let expected: i64 = (0..300).map(|i| i % 17).sum::<i64>() + 1_000;
    assert_eq!(total, expected);
    // The unique series' roll-up counts the same distinct values per minute.
    let u_rolled = call(
        app,
        get(
            &format!(
                "/v1/unique?key=u%4060000ms&from={}&to={}",
                t0 - 300_000,
                t0 + 1
            ),
            Some(ACME),
        ),
    )
    .await
    .json();
    let u_fine = call(
        app,
        get(
            &format!("/v1/unique?key=u&from={}&to={}", t0 - 300_000, t0 + 1),
            Some(ACME),
        ),
    )
    .await
    .json();
    assert_eq!(u_rolled["estimate"]["value"], u_fine["estimate"]["value"]);
    // Roll-up keys are the server's: an entry under one is refused alone.
    let reserved = envelope(
        2,
        1,
        t0 + 120_000,
        vec![("w@60000ms", counter(1).into()), ("ok", counter(1).into())],
    );
    let answer = ingest(app, ACME, &reserved).await.json();
    assert_eq!(answer["rejected"][0]["code"], "reserved_key", "{answer}");
    assert_eq!(answer["merged"], 1);
}

/// A series that keeps fewer buckets than a roll-up period plus its grace: every bucket still
/// reaches the roll-up (folded as it closes; waiting for whole periods lost the first buckets of
/// each, which expired first), once, with the exact sums and distinct counts.
#[tokio::test]
async fn roll_ups_keep_every_bucket_of_a_series_that_keeps_less_than_a_period() {
    let s = server(|c| c.rollup_bucket_ms = 4_000);
    let app = &s.app;
    // 1-s buckets kept 6 s, 2 s of grace; roll-ups of 4 s.
    let fine = SeriesConfig::new(1_000, 6_000, 2_000, 1_000).unwrap();
    let t0 = NOW - NOW.rem_euclid(4_000);
    let (mut sums, mut counts) = (
        std::collections::BTreeMap::new(),
        std::collections::BTreeMap::new(),
    );
    let mut distinct: std::collections::BTreeMap<i64, std::collections::BTreeSet<i64>> =
        Default::default();
    for second in 1..=20i64 {
        let at = t0 + second * 1_000;
        s.set_now(at);
        let mut w = WindowCounter::new(fine, at).unwrap();
        let mut u = UniqueSeries::new(fine, 12, at).unwrap();
        // Events of the last 1.5 s, some in the bucket before this one.
        for i in 0..(3 + second % 4) {
            let t = at - 1_500 + i * 300;
            let value = second * 10 + i;
            w.add(value, t).unwrap();
            u.add(&value.to_le_bytes(), t).unwrap();
            let period = t - t.rem_euclid(4_000);
            *sums.entry(period).or_insert(0) += value;
            *counts.entry(period).or_insert(0u64) += 1;
            distinct.entry(period).or_default().insert(value);
        }
        let e = envelope(
            7,
            second as u64,
            at,
            vec![("rw", w.into()), ("ru", u.into())],
        );
        let answer = ingest(app, ACME, &e).await.json();
        assert_eq!(answer["rejected"], Value::Array(vec![]), "{answer}");
        s.state.engine().maintain().await.unwrap();
    }
    // Everything is closed 3 s later (the last bucket's end plus the grace).
    s.set_now(t0 + 23_000);
    s.state.engine().maintain().await.unwrap();
    let rolled = call(
        app,
        get(
            &format!(
                "/v1/window/series?key=rw%404000ms&from={t0}&to={}&step=4000",
                t0 + 24_000
            ),
            Some(ACME),
        ),
    )
    .await
    .json();
    let mut checked = 0;
    for point in rolled["points"].as_array().unwrap() {
        let t = point["t"].as_i64().unwrap();
        assert_eq!(
            point["stats"]["sum"].as_i64().unwrap(),
            sums.get(&t).copied().unwrap_or(0),
            "sum of {t}: {rolled}"
        );
        assert_eq!(
            point["stats"]["count"].as_u64().unwrap(),
            counts.get(&t).copied().unwrap_or(0),
            "count of {t}"
        );
        checked += 1;
    }
    assert_eq!(checked, 6);
    for (&period, values) in &distinct {
        let answer = call(
            app,
            get(
                &format!(
                    "/v1/unique?key=ru%404000ms&from={period}&to={}",
                    period + 4_000
                ),
                Some(ACME),
            ),
        )
        .await
        .json();
        assert_eq!(
            answer["estimate"]["value"].as_f64().unwrap(),
            values.len() as f64,
            "{period}: {answer}"
        );
        assert_eq!(answer["estimate"]["exact"], true);
    }
}

/// A refused (413) envelope split in two under fresh sequences: sent with `?supersedes=` its
/// sequence is settled, so the drift report does not count it as lost; without the marker it
/// does. Both halves apply once; a marker at or after the envelope's own sequence is refused.
#[tokio::test]
async fn the_parts_of_a_split_envelope_settle_its_sequence() {
    for marked in [false, true] {
        let s = server(|_| {});
        let app = &s.app;
        let mut sender = edgesketch::Recorder::with_replica(ReplicaId([7; 16]));
        sender.counter("split:a").unwrap().increment(2);
        sender.counter("split:b").unwrap().increment(3);
        let whole = sender.envelope(NOW).unwrap().unwrap();
        let (first, second) = sender.split(&whole.bytes).unwrap().unwrap();
        sender.counter("split:a").unwrap().increment(1);
        let next = sender.envelope(NOW).unwrap().unwrap();
        let parent = whole.id.sequence;
        assert!(first.id.sequence > parent && second.id.sequence > parent);
        let uri = if marked {
            format!("/v1/ingest?supersedes={parent}")
        } else {
            "/v1/ingest".to_string()
        };
        for (part, settles) in [(&first, 1), (&second, 0)] {
            let answer = call(app, post(&uri, Some(ACME), part.bytes.clone())).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
            let json = answer.json();
            assert_eq!(json["outcome"], "applied");
            // The second part finds the sequence settled by the first.
            assert_eq!(
                json["settled"].as_u64().unwrap_or(0),
                if marked { settles } else { 0 }
            );
        }
        // Resent (a lost answer): a duplicate, settling nothing more.
        let again = call(app, post(&uri, Some(ACME), first.bytes.clone()))
            .await
            .json();
        assert_eq!(again["outcome"], "duplicate");
        assert_eq!(ingest(app, ACME, &next.bytes).await.status, StatusCode::OK);
        for (key, value) in [("split:a", 3), ("split:b", 3)] {
            let answer = call(app, get(&format!("/v1/counter?key={key}"), Some(ACME))).await;
            assert_eq!(answer.json()["value"], value, "{key}");
        }
        s.set_now(NOW + 120_000);
        let drift = call(app, get("/v1/drift", Some(ACME))).await.json();
        assert_eq!(
            drift["missing_envelopes"],
            if marked { 0 } else { 1 },
            "{drift}"
        );
        if !marked {
            assert_eq!(drift["gaps"][0]["from"], parent);
        }
    }

    // A part may only stand in for earlier sequences of its sender, and numbers only.
    let s = server(|_| {});
    let app = &s.app;
    let before = state_of(&s.app, ACME).await;
    for (query, sequence) in [
        ("supersedes=5", 5),
        ("supersedes=6", 5),
        ("supersedes=x", 5),
        ("supersedes=0", 5),
    ] {
        let answer = call(
            app,
            post(
                &format!("/v1/ingest?{query}"),
                Some(ACME),
                counters(1, sequence, &["c"]),
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.code(), "invalid_parameter", "{query}");
    }
    let many: Vec<String> = (1..=65).map(|i| format!("supersedes={i}")).collect();
    let answer = call(
        app,
        post(
            &format!("/v1/ingest?{}", many.join("&")),
            Some(ACME),
            counters(1, 100, &["c"]),
        ),
    )
    .await;
    assert_eq!(answer.code(), "invalid_parameter");
    assert_eq!(state_of(&s.app, ACME).await, before, "nothing changed");
}

/// A part names the envelope it stands in for; if that envelope was applied whole (a sender
/// that split what it had delivered, say after a lost answer), the part's entries were applied
/// with it: the part is a duplicate and nothing changes. Which sequences parts settled survives
/// a restart: the second part of a split still applies, the refused original does not.
#[tokio::test]
async fn a_part_of_an_envelope_applied_whole_changes_nothing_also_after_a_restart() {
    let (first, store) = restartable();
    let app = &first.app;
    let mut sender = edgesketch::Recorder::with_replica(ReplicaId([9; 16]));
    let envelope_of = |sender: &mut edgesketch::Recorder| {
        sender.counter("part:a").unwrap().increment(2);
        sender.counter("part:b").unwrap().increment(3);
        sender.envelope(NOW).unwrap().unwrap()
    };
    // Applied whole, then split anyway: each part is a duplicate, its retry too.
    let delivered = envelope_of(&mut sender);
    assert_eq!(
        ingest(app, ACME, &delivered.bytes).await.json()["outcome"],
        "applied"
    );
    let (a, b) = sender.split(&delivered.bytes).unwrap().unwrap();
    let before = state_of(app, ACME).await;
    let uri = format!("/v1/ingest?supersedes={}", delivered.id.sequence);
    for part in [&a, &b, &a] {
        let answer = call(app, post(&uri, Some(ACME), part.bytes.clone())).await;
        assert_eq!(answer.status, StatusCode::OK);
        let json = answer.json();
        assert_eq!(json["outcome"], "duplicate", "{json}");
        assert!(json.get("settled").is_none(), "{json}");
    }
    assert_eq!(state_of(app, ACME).await, before, "nothing changed");
    // Refused (never applied), split: one part arrives before the restart, one after.
    let refused = envelope_of(&mut sender);
    let (c1, c2) = sender.split(&refused.bytes).unwrap().unwrap();
    let uri = format!("/v1/ingest?supersedes={}", refused.id.sequence);
    let answer = call(app, post(&uri, Some(ACME), c1.bytes.clone()))
        .await
        .json();
    assert_eq!(
        (answer["outcome"].as_str(), answer["settled"].as_u64()),
        (Some("applied"), Some(1))
    );
    let second = restart(first, &store);
    let app = &second.app;
    let answer = call(app, post(&uri, Some(ACME), c2.bytes.clone()))
        .await
        .json();
    assert_eq!(answer["outcome"], "applied", "{answer}");
    assert!(
        answer.get("settled").is_none(),
        "settled by its sibling: {answer}"
    );
    let again = ingest(app, ACME, &refused.bytes).await.json();
    assert_eq!(
        again["outcome"], "duplicate",
        "the original, settled by its parts"
    );
    for key in ["part:a", "part:b"] {
        let answer = call(app, get(&format!("/v1/counter?key={key}"), Some(ACME))).await;
        let expected = if key == "part:a" { 4 } else { 6 };
        assert_eq!(answer.json()["value"], expected, "{key}");
    }
    second.set_now(NOW + 120_000);
    let drift = call(app, get("/v1/drift", Some(ACME))).await.json();
    assert_eq!(drift["missing_envelopes"], 0, "{drift}");
}

/// A server on a SQLite store of its own, and the store, to restart it on.
fn restartable() -> (TestServer, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let c = config(&dir);
    (server_with_store(dir, c, store.clone()), store)
}

/// Closes `first` and starts a server on its store and data directory.
fn restart<S: Store>(first: TestServer, store: &Arc<S>) -> TestServer {
    let TestServer {
        state,
        app: router,
        dir,
        ..
    } = first;
    state.engine().close();
    drop((state, router));
    let c = config(&dir);
    server_with_store(dir, c, store.clone())
}

/// A large HyperLogLog takes small entries as deltas (appended, not rewritten) until they add up
/// to its size, then is written whole again. A server started cold on the same store (sketch plus
/// deltas merged on load) holds byte for byte what the first one held in memory, with the same
/// stored sizes (the key ends dense; for the sparse range see the next test); an entry of finer
/// precision (folded down) and a dense entry replay too.
#[tokio::test]
async fn hyperloglog_deltas_replay_byte_for_byte_after_a_restart() {
    let (first, store) = restartable();
    let app = &first.app;
    let base = envelope(
        1,
        1,
        NOW,
        vec![
            ("visitors", hll(3_000, "u").into()),
            ("orders", counter(1).into()),
        ],
    );
    assert_eq!(ingest(app, ACME, &base).await.status, StatusCode::OK);
    let whole = store.load_sketch("acme", "visitors").unwrap().unwrap();
    assert!(whole.deltas.is_empty(), "a new key is written whole");
    let (mut most_deltas, mut folds, mut previous) = (0, 0, 0);
    for seq in 2..=400u64 {
        let entry: HyperLogLog = match seq {
            // Coarser precision: the stored sketch folds down to it.
            200 => {
                let mut h = HyperLogLog::new(12).unwrap();
                h.insert(b"coarse");
                h
            }
            // Dense: as large as the sketch, written whole.
            300 => hll(60_000, "d"),
            _ => hll(20, &format!("v{seq}-")),
        };
        let e = envelope(
            2,
            seq,
            NOW,
            vec![("visitors", entry.into()), ("orders", counter(2).into())],
        );
        let answer = ingest(app, ACME, &e).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
        let stored = store.load_sketch("acme", "visitors").unwrap().unwrap();
        let deltas = stored.deltas.len();
        if deltas < previous {
            folds += 1;
            // Whole again: what the deltas added is in the sketch's bytes.
            assert_eq!(deltas, 0, "written whole drops every delta");
        }
        assert!(
            stored.deltas.iter().map(Vec::len).sum::<usize>() <= stored.bytes.len().max(1024),
            "deltas are bounded by the sketch's size"
        );
        most_deltas = most_deltas.max(deltas);
        previous = deltas;
    }
    assert!(
        most_deltas >= 5,
        "small entries went in as deltas: {most_deltas}"
    );
    assert!(folds >= 3, "and were folded into the sketch: {folds} folds");
    // End with deltas pending, so that the restart must merge them.
    for seq in 401..=404u64 {
        let e = envelope(
            2,
            seq,
            NOW,
            vec![("visitors", hll(5, &format!("w{seq}-")).into())],
        );
        assert_eq!(ingest(app, ACME, &e).await.status, StatusCode::OK);
    }
    let pending = store.load_sketch("acme", "visitors").unwrap().unwrap();
    assert!(!pending.deltas.is_empty());
    let before = state_of(app, ACME).await;
    let listing = call(app, get("/v1/keys?prefix=visitors", Some(ACME)))
        .await
        .json();
    assert_eq!(
        listing["keys"][0]["bytes"].as_u64().unwrap() as usize,
        pending.stored_len(),
        "a key's listed size is its sketch's and its deltas'"
    );
    let metrics = String::from_utf8(call(app, get("/metrics", None)).await.body).unwrap();
    let count = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in\n{metrics}"))
    };
    let deltas = count("edgesketch_sketch_writes_total{kind=\"delta\"}");
    let wholes = count("edgesketch_sketch_writes_total{kind=\"whole\"}");
    // Every envelope writes "orders" whole; "visitors" took deltas and was rewritten now and then.
    assert!(
        deltas > 300 && wholes > 400,
        "{deltas} deltas, {wholes} whole"
    );
    assert!(count("edgesketch_sketch_written_bytes_total{kind=\"delta\"}") > 0);
    let second = restart(first, &store);
    let after = state_of(&second.app, ACME).await;
    assert_eq!(before.0["visitors"], after.0["visitors"], "replayed bytes");
    assert_eq!(before, after, "keys, senders and usage");
    let unique = call(&second.app, get("/v1/unique?key=visitors", Some(ACME)))
        .await
        .json();
    let estimate = unique["estimate"]["value"].as_f64().unwrap();
    // 3,000 + 398 × 20 + 4 × 5 + 60,000 + 1 distinct items, at precision 12 (±1.6 %).
    let truth = 3_000.0 + 398.0 * 20.0 + 20.0 + 60_000.0 + 1.0;
    assert!(
        (estimate / truth - 1.0).abs() < 0.05,
        "{estimate} vs {truth}"
    );
}

/// A dense HyperLogLog entry merged into a dense key appends only the registers it raised (a
/// sparse delta, a fraction of the sketch); the same entry again writes nothing for the key; one
/// that raises too many registers writes the key whole. A server started cold on the same store
/// holds the same bytes, and the registers are the union of every entry.
#[tokio::test]
async fn dense_entries_into_a_dense_key_append_only_the_registers_they_raised() {
    let (first, store) = restartable();
    let app = &first.app;
    let mut union = HyperLogLog::new(14).unwrap();
    let mut seq = 0;
    let mut send = async |entry: HyperLogLog| {
        union.merge(&entry).unwrap();
        seq += 1;
        let e = envelope(3, seq, NOW, vec![("visitors", entry.into())]);
        let answer = ingest(app, ACME, &e).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
        assert_eq!(answer.json()["merged"], 1);
        store.load_sketch("acme", "visitors").unwrap().unwrap()
    };
    let whole = send(hll(1_000_000, "a")).await;
    assert!(whole.deltas.is_empty(), "a new key is written whole");
    let stored = send(hll(40_000, "b")).await;
    assert_eq!(stored.bytes, whole.bytes, "not rewritten");
    assert_eq!(stored.deltas.len(), 1);
    let delta = HyperLogLog::from_bytes(&stored.deltas[0]).unwrap();
    assert!(delta.is_sparse());
    assert!(
        stored.deltas[0].len() * 4 < whole.bytes.len(),
        "{} bytes of raised registers against {} for the sketch",
        stored.deltas[0].len(),
        whole.bytes.len()
    );
    let again = send(hll(40_000, "b")).await;
    assert_eq!(again.deltas, stored.deltas, "nothing new, nothing written");
    let more = send(hll(40_000, "c")).await;
    assert_eq!(more.deltas.len(), 2);
    assert_eq!(more.deltas[0], stored.deltas[0]);
    // Twice the items the key holds raise most registers: written whole.
    let rewritten = send(hll(2_000_000, "e")).await;
    assert!(rewritten.deltas.is_empty());
    assert_ne!(rewritten.bytes, whole.bytes);
    let pending = send(hll(30_000, "f")).await;
    assert_eq!(pending.deltas.len(), 1, "the restart must merge it");
    let before = state_of(app, ACME).await;
    let second = restart(first, &store);
    let after = state_of(&second.app, ACME).await;
    assert_eq!(before, after, "keys, senders and usage");
    let edgesketch::Sketch::HyperLogLog(held) =
        edgesketch::Sketch::from_bytes(&after.0["visitors"]).unwrap()
    else {
        panic!("a HyperLogLog");
    };
    assert_eq!(held.registers(), union.registers());
}

/// A restarted server must go on merging like one that never stopped. Two servers get the same
/// envelopes; one restarts cold every 15 envelopes (its HyperLogLog loaded from its bytes plus
/// deltas) while its key passes through the sparse, mid and dense ranges. After each restart and
/// at the end both hold the same registers and estimates within 0.5 %. Not the same bytes in the
/// sparse range: a sketch merged in memory keeps its items' hashes at more bits than its encoding
/// does, so a sketch decoded from its bytes (after any restart or cache eviction, deltas or not)
/// encodes later merges with other key widths; its registers are the same.
#[tokio::test]
async fn a_server_restarted_at_every_stage_merges_like_one_that_never_stopped() {
    let warm = server(|_| {});
    let (mut cold, store) = restartable();
    let mut restarts = 0;
    let mut saw_deltas = 0;
    for seq in 1..=330u64 {
        let entry: HyperLogLog = match seq {
            // A dense entry once the key is mid-sized, and one of finer precision (folded down).
            150 => hll(40_000, "dense-"),
            200 => {
                let mut h = HyperLogLog::new(15).unwrap();
                h.insert(b"fine");
                h
            }
            _ => hll(60 + seq % 7, &format!("s{seq}-")),
        };
        let mut entries = vec![("visitors", entry.into())];
        if seq % 3 == 0 {
            entries.push(("orders", counter(seq).into()));
        }
        let e = envelope(4, seq, NOW, entries);
        assert_eq!(ingest(&warm.app, ACME, &e).await.status, StatusCode::OK);
        assert_eq!(ingest(&cold.app, ACME, &e).await.status, StatusCode::OK);
        if !store
            .load_sketch("acme", "visitors")
            .unwrap()
            .unwrap()
            .deltas
            .is_empty()
        {
            saw_deltas += 1;
        }
        if seq % 15 == 0 {
            cold = restart(cold, &store);
            restarts += 1;
            assert_same_values(&warm.app, &cold.app, &format!("restart {restarts}")).await;
        }
    }
    assert!(
        saw_deltas > 100,
        "the key took deltas: {saw_deltas} envelopes"
    );
    assert_eq!(restarts, 22);
}

/// Both servers hold the same keys, the same counters byte for byte, and HyperLogLogs with the
/// same registers and estimates within 0.5 %.
async fn assert_same_values(a: &axum::Router, b: &axum::Router, when: &str) {
    let (a_keys, a_senders, _) = state_of(a, ACME).await;
    let (b_keys, b_senders, _) = state_of(b, ACME).await;
    assert_eq!(a_senders, b_senders, "{when}");
    assert_eq!(
        a_keys.keys().collect::<Vec<_>>(),
        b_keys.keys().collect::<Vec<_>>(),
        "{when}"
    );
    for (key, a_bytes) in &a_keys {
        let b_bytes = &b_keys[key];
        match (
            edgesketch::Sketch::from_bytes(a_bytes).unwrap(),
            edgesketch::Sketch::from_bytes(b_bytes).unwrap(),
        ) {
            (edgesketch::Sketch::HyperLogLog(x), edgesketch::Sketch::HyperLogLog(y)) => {
                assert_eq!(x.registers(), y.registers(), "{when}: {key}");
                let (ex, ey) = (x.estimate().value, y.estimate().value);
                assert!((ex / ey - 1.0).abs() < 0.005, "{when}: {key}: {ex} vs {ey}");
            }
            _ => assert_eq!(a_bytes, b_bytes, "{when}: {key}"),
        }
    }
}

/// A key keeps the parameters of the entry that created it. A unique series of another
/// precision was merged, stored under the key's precision and then failed to decode (every read
/// of the key a 500, every envelope naming it a 500, maintenance stopped); a coarser HyperLogLog
/// lowered the key's precision for good; a series of another retention was merged silently.
/// Each is now refused alone, and the key reads the same before and after a restart.
#[tokio::test]
async fn an_entry_of_other_parameters_is_refused_and_the_key_stays_readable() {
    let (first, store) = restartable();
    let app = &first.app;
    let hour = series(1_000, 3_600_000);
    let unique = |precision: u8, items: u32| {
        let mut u = UniqueSeries::new(hour, precision, NOW).unwrap();
        for i in 0..items {
            u.add(format!("user-{i}").as_bytes(), NOW - 5_000).unwrap();
        }
        u
    };
    let window = |config: SeriesConfig| {
        let mut w = WindowCounter::new(config, NOW).unwrap();
        w.add(5, NOW - 1_000).unwrap();
        w
    };
    let created = envelope(
        1,
        1,
        NOW,
        vec![
            ("u", unique(14, 3_000).into()),
            ("w", window(hour).into()),
            ("h", hll(3_000, "h").into()),
        ],
    );
    assert_eq!(ingest(app, ACME, &created).await.json()["merged"], 3);
    let raw = |key: &'static str| {
        let app = app.clone();
        async move { call(&app, get(&format!("/v1/raw?key={key}"), Some(ACME))).await }
    };
    let before = [
        raw("u").await.body,
        raw("w").await.body,
        raw("h").await.body,
    ];
    let mut coarse = HyperLogLog::new(13).unwrap();
    coarse.insert(b"coarse");
    let other = envelope(
        1,
        2,
        NOW,
        vec![
            ("u", unique(4, 10).into()),
            ("w", window(series(1_000, 7_200_000)).into()),
            ("h", coarse.into()),
            ("ok", counter(1).into()),
        ],
    );
    let answer = ingest(app, ACME, &other).await.json();
    assert_eq!(answer["merged"], 1, "{answer}");
    let rejected: Vec<(String, String)> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().into(),
                r["code"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mismatch = |k: &str| (k.to_string(), "parameter_mismatch".to_string());
    assert_eq!(rejected, vec![mismatch("h"), mismatch("u"), mismatch("w")]);
    assert!(
        answer["rejected"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("unique series precision mismatch: 14 vs 4"),
        "{answer}"
    );
    assert_eq!(
        [
            raw("u").await.body,
            raw("w").await.body,
            raw("h").await.body
        ],
        before
    );
    // A finer HyperLogLog folds down into the key; its precision stays.
    let mut fine = HyperLogLog::new(16).unwrap();
    fine.insert(b"fine");
    let answer = ingest(app, ACME, &envelope(1, 3, NOW, vec![("h", fine.into())]))
        .await
        .json();
    assert_eq!(answer["merged"], 1, "{answer}");
    let h = call(app, get("/v1/unique?key=h", Some(ACME))).await.json();
    assert_eq!(h["precision"], 14, "{h}");
    // Cold from the store: every key loads and reads as it did.
    let warm = [
        raw("u").await.body,
        raw("w").await.body,
        raw("h").await.body,
    ];
    let second = restart(first, &store);
    for (key, bytes) in ["u", "w", "h"].iter().zip(&warm) {
        let answer = call(&second.app, get(&format!("/v1/raw?key={key}"), Some(ACME))).await;
        assert_eq!(answer.status, StatusCode::OK, "{key}");
        assert_eq!(&answer.body, bytes, "{key}");
    }
}

/// Counter values and window sums past the 64-bit range answer JSON (the nearest float), not a
/// dropped connection: `json!` of such an i128 panicked in the handler.
#[tokio::test]
async fn totals_beyond_64_bits_answer_json() {
    let s = server(|_| {});
    let app = &s.app;
    let mut c = Counter::new();
    c.decrement(u64::MAX);
    let config = series(1_000, 3_600_000);
    let mut w = WindowCounter::new(config, NOW).unwrap();
    for _ in 0..3 {
        w.add(i64::MAX, NOW - 1_000).unwrap();
    }
    let e = envelope(1, 1, NOW, vec![("c", c.into()), ("w", w.into())]);
    assert_eq!(ingest(app, ACME, &e).await.json()["merged"], 2);
    let counter = call(app, get("/v1/counter?key=c", Some(ACME))).await.json();
    assert_eq!(
        counter["value"].as_f64(),
        Some(-(u64::MAX as f64)),
        "{counter}"
    );
    assert_eq!(counter["decrements"], u64::MAX);
    let sketch = call(app, get("/v1/sketch?key=c", Some(ACME))).await.json();
    assert_eq!(
        sketch["summary"]["value"].as_f64(),
        Some(-(u64::MAX as f64)),
        "{sketch}"
    );
    let range = format!("from={}&to={}", NOW - 10_000, NOW + 1_000);
    let window = call(app, get(&format!("/v1/window?key=w&{range}"), Some(ACME)))
        .await
        .json();
    assert_eq!(
        window["range"]["stats"]["sum"].as_f64(),
        Some(3.0 * i64::MAX as f64),
        "{window}"
    );
    let points = call(
        app,
        get(
            &format!("/v1/window/series?key=w&{range}&step=1000"),
            Some(ACME),
        ),
    )
    .await;
    assert_eq!(points.status, StatusCode::OK);
    assert!(
        points.json()["points"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["stats"]["count"] == 3)
    );
    assert_eq!(
        call(app, get("/v1/sketch?key=w", Some(ACME))).await.status,
        StatusCode::OK
    );
}

/// Roll-ups are keys of the tenant: they count against its own key and byte quotas (they used
/// the server-wide key default and no byte check, so a tenant ended over its quotas for good).
#[tokio::test]
async fn roll_ups_keep_within_the_tenants_quotas() {
    let fine = SeriesConfig::new(1_000, 3_600_000, 30_000, 60_000).unwrap();
    let t0 = NOW - NOW.rem_euclid(60_000);
    // Sent as the events happen, 200 s before the clock moves to t0 + 120 s and folds them.
    let sent = t0 - 200_000;
    let windows = |keys: &[&'static str]| -> Vec<u8> {
        let entries = keys
            .iter()
            .map(|k| {
                let mut w = WindowCounter::new(fine, sent).unwrap();
                w.add(1, sent).unwrap();
                (*k, w.into())
            })
            .collect();
        envelope(1, 1, sent, entries)
    };
    let s = server(|_| {});
    let app = &s.app;
    s.set_now(sent);
    let answer = ingest(app, TINY, &windows(&["w0", "w1", "w2"]))
        .await
        .json();
    assert_eq!(answer["merged"], 3, "{answer}");
    s.set_now(t0 + 120_000);
    s.state.engine().maintain().await.unwrap();
    let tenant = call(app, get("/v1/tenant", Some(TINY))).await.json();
    assert_eq!(tenant["keys"], 3, "{tenant}");
    let rolled = call(app, get("/v1/raw?key=w0%4060000ms", Some(TINY))).await;
    assert_eq!(rolled.status, StatusCode::NOT_FOUND);
    // With room (tenant acme), the same series are rolled up.
    s.set_now(sent);
    assert_eq!(
        ingest(app, ACME, &windows(&["w0"])).await.json()["merged"],
        1
    );
    s.set_now(t0 + 120_000);
    s.state.engine().maintain().await.unwrap();
    let rolled = call(app, get("/v1/raw?key=w0%4060000ms", Some(ACME))).await;
    assert_eq!(rolled.status, StatusCode::OK);
    // Bytes: a unique series of one busy second takes more than half of the 4,000, and its
    // roll-up (the same items in one minute, so the same size) would take as many again.
    let s = server(|_| {});
    let app = &s.app;
    s.set_now(sent);
    let mut u = UniqueSeries::new(fine, 14, sent).unwrap();
    for i in 0..1_600 {
        u.add(format!("v{i}").as_bytes(), sent).unwrap();
    }
    let e = envelope(1, 1, sent, vec![("u", u.into())]);
    assert_eq!(ingest(app, TINY, &e).await.json()["merged"], 1);
    let stored = call(app, get("/v1/tenant", Some(TINY))).await.json()["bytes"]
        .as_u64()
        .unwrap();
    assert!((2_050..4_000).contains(&stored), "{stored} bytes");
    s.set_now(t0 + 120_000);
    s.state.engine().maintain().await.unwrap();
    let tenant = call(app, get("/v1/tenant", Some(TINY))).await.json();
    assert_eq!(tenant["keys"], 1, "{tenant}");
    assert!(tenant["bytes"].as_u64().unwrap() <= 4_000, "{tenant}");
}

/// A series key that does not load is passed over (and counted): retention and roll-ups go on
/// for the keys after it. The first such key used to end every maintenance round.
#[tokio::test]
async fn maintenance_passes_over_a_key_that_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = FlakyStore::open(&dir, false);
    let c = config(&dir);
    let s = server_with_store(dir, c, store.clone());
    let app = &s.app;
    let fine = SeriesConfig::new(1_000, 3_600_000, 30_000, 60_000).unwrap();
    let t0 = NOW - NOW.rem_euclid(60_000);
    let sent = t0 - 200_000;
    s.set_now(sent);
    let windows: Vec<(&str, edgesketch::Sketch)> = ["a", "b"]
        .into_iter()
        .map(|k| {
            let mut w = WindowCounter::new(fine, sent).unwrap();
            w.add(1, sent).unwrap();
            (k, w.into())
        })
        .collect();
    assert_eq!(
        ingest(app, ACME, &envelope(1, 1, sent, windows))
            .await
            .json()["merged"],
        2
    );
    // Out of the cache, so the next maintenance reads the store.
    let s = restart(s, &store);
    let app = &s.app;
    *store.unreadable.lock().unwrap() = Some("a".into());
    s.set_now(t0 + 120_000);
    s.state.engine().maintain().await.unwrap();
    assert_eq!(
        call(app, get("/v1/raw?key=b%4060000ms", Some(ACME)))
            .await
            .status,
        StatusCode::OK
    );
    let metrics = String::from_utf8(call(app, get("/metrics", None)).await.body).unwrap();
    assert!(
        metrics.contains("edgesketch_maintenance_skipped_keys_total 1"),
        "{metrics}"
    );
}

/// A clean stop folds the write-ahead log into the database file: the file alone, copied
/// without its `-wal`, holds every commit (it held none of the recent ones before).
#[tokio::test]
async fn a_clean_stop_leaves_every_commit_in_the_database_file() {
    let s = server(|_| {});
    for sequence in 1..=20 {
        let e = counters(1, sequence, &["c"]);
        assert_eq!(ingest(&s.app, ACME, &e).await.status, StatusCode::OK);
    }
    s.state.engine().close();
    let wal = s.dir.path().join("edgesketch.sqlite3-wal");
    assert_eq!(
        std::fs::metadata(&wal).map_or(0, |m| m.len()),
        0,
        "the log is empty"
    );
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(
        s.dir.path().join("edgesketch.sqlite3"),
        copy.path().join("edgesketch.sqlite3"),
    )
    .unwrap();
    let store = SqliteStore::open(copy.path()).unwrap();
    let stored = store.load_sketch("acme", "c").unwrap().expect("committed");
    assert!(stored.deltas.is_empty(), "counters are written whole");
    let c = edgesketch::Sketch::from_bytes(&stored.bytes).unwrap();
    assert_eq!(c.as_counter().unwrap().value(), 20);
}
