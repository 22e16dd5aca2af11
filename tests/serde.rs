//! With the `serde` feature, sketches and snapshots serialize as their binary format and
//! `Estimate` as a plain record. (Without the feature this file compiles to nothing.)
#![cfg(feature = "serde")]

mod with_serde {
    use edgesketch::{Estimate, HyperLogLog, ReplicaId, Snapshot};

    fn sketch(n: u32) -> HyperLogLog {
        let mut h = HyperLogLog::default();
        for i in 0..n {
            h.insert(&i.to_le_bytes());
        }
        h
    }

    #[test]
    fn sketches_serialize_as_their_binary_format() {
        for n in [0, 10, 5000, 50_000] {
            let h = sketch(n);
            let json = serde_json::to_string(&h).unwrap();
            let bytes: Vec<u8> = serde_json::from_str(&json).unwrap();
            assert_eq!(
                bytes,
                h.to_bytes(),
                "the JSON holds exactly the binary format"
            );
            let back: HyperLogLog = serde_json::from_str(&json).unwrap();
            assert_eq!(back.registers(), h.registers());
        }
        // Damaged bytes are refused through serde too, with the decoder's message.
        let err = serde_json::from_str::<HyperLogLog>("[1, 1, 1, 14, 9]").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown HyperLogLog representation 9"),
            "{err}"
        );
    }

    #[test]
    fn snapshots_and_estimates_round_trip() {
        let mut s = Snapshot::new(ReplicaId([3; 16]), 5, 6);
        s.insert("k", sketch(100)).unwrap();
        let back: Snapshot = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back.encode(), s.encode());

        let e = sketch(100).estimate();
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(json["value"], 100.0);
        assert_eq!(json["stdError"], 0.0);
        assert_eq!(json["exact"], true);
        let back: Estimate = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }

    /// `to_bytes` through JSON and back, compared as bytes.
    fn round_trip<T>(sketch: &T, to_bytes: fn(&T) -> Vec<u8>)
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let json = serde_json::to_string(sketch).unwrap();
        let bytes: Vec<u8> = serde_json::from_str(&json).unwrap();
        assert_eq!(bytes, to_bytes(sketch), "the JSON holds the binary format");
        let back: T = serde_json::from_str(&json).unwrap();
        assert_eq!(to_bytes(&back), bytes);
    }

    #[test]
    fn every_family_serializes_as_its_binary_format() {
        use edgesketch::{
            AddMode, Best, CountMinSketch, Counter, Leaderboard, MergeRule, Quantiles,
            SeriesConfig, TopK, UniqueSeries, WindowCounter,
        };
        let now = 1_764_115_200_000;
        let config = SeriesConfig::new(1_000, 60_000, 5_000, 1_000).unwrap();
        let mut counter = Counter::new();
        counter.add(-3);
        round_trip(&counter, Counter::to_bytes);
        let mut window = WindowCounter::new(config, now).unwrap();
        window.add(7, now).unwrap();
        round_trip(&window, WindowCounter::to_bytes);
        let mut unique = UniqueSeries::new(config, 10, now).unwrap();
        unique.add(b"ada", now).unwrap();
        round_trip(&unique, UniqueSeries::to_bytes);
        let mut board = Leaderboard::new(MergeRule::Sum, Best::Highest, 10).unwrap();
        board.add(b"ada", 3.5, AddMode::Increment).unwrap();
        round_trip(&board, Leaderboard::to_bytes);
        let mut top = TopK::new(8).unwrap();
        top.insert(b"/home", 4).unwrap();
        round_trip(&top, TopK::to_bytes);
        let mut cms = CountMinSketch::new(0.01, 0.01).unwrap();
        cms.add(b"x", 2);
        round_trip(&cms, CountMinSketch::to_bytes);
        let mut q = Quantiles::default();
        q.add(12.5).unwrap();
        round_trip(&q, Quantiles::to_bytes);
        // Damage is refused through serde with the decoder's message.
        let err = serde_json::from_str::<TopK>("[1, 6, 1, 0]").unwrap_err();
        assert!(err.to_string().contains("top-K"), "{err}");
    }
}
