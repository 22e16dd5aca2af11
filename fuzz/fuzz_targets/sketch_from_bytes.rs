//! Any family's bare bytes (what the merge server stores per key and serves as raw export):
//! error, or a sketch whose encoding decodes to the same state (HyperLogLogs, also inside unique
//! series: the same registers; their sparse keys may be re-encoded coarser, so the bytes and the
//! estimate may move within its error; other families: the same bytes), which the server's steps
//! (advance the clock, merge into an empty copy) handle without panicking.
#![no_main]

use edgesketch::{Admit, EnvelopeId, Ledger, LedgerConfig, ReplicaId, Sketch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut sketch) = Sketch::from_bytes(data) {
        let bytes = sketch.to_bytes();
        let again = Sketch::from_bytes(&bytes).expect("an encoding decodes");
        match (&sketch, &again) {
            (Sketch::HyperLogLog(a), Sketch::HyperLogLog(b)) => {
                assert_eq!(a.registers(), b.registers());
            }
            (Sketch::UniqueSeries(a), Sketch::UniqueSeries(b)) => {
                let registers = |u: &edgesketch::UniqueSeries| {
                    u.buckets(i64::MIN, i64::MAX)
                        .map(|(t, h)| (t, h.registers()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(registers(a), registers(b));
            }
            _ => assert_eq!(again.to_bytes(), bytes, "encoding is stable"),
        }
        sketch.advance(1_795_000_000_000);
        let mut ledger = Ledger::new(LedgerConfig::default()).unwrap();
        let id = EnvelopeId { replica: ReplicaId([1; 16]), sequence: 1 };
        if let Ok(Admit::New(admission)) = ledger.admit(id, 1_795_000_000_000, 1_795_000_000_000) {
            let mut empty = sketch.emptied_at(1_795_000_000_000);
            let _ = empty.merge(&sketch, &admission);
            admission.commit();
        }
    }
});
