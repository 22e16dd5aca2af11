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
}
