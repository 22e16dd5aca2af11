//! The receiver's ledger: error, or a ledger that encodes back and keeps working.
#![no_main]

use edgesketch::{Admit, EnvelopeId, Ledger, ReplicaId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut l) = Ledger::from_bytes(data) {
        assert_eq!(Ledger::from_bytes(&l.to_bytes()).as_ref(), Ok(&l));
        let gaps: Vec<_> = l.gaps().map(|(r, g)| (r, g.to_vec())).collect();
        // A part standing in for the first sequence of each gap, above the sender's highest.
        let parts: Vec<_> = l.gaps().map(|(r, g)| (r, g[0].from)).collect();
        for (replica, of) in parts {
            let sequence = l.highest(&replica).unwrap_or(0).saturating_add(1);
            if let Ok(Admit::New(a)) = l.admit_part(EnvelopeId { replica, sequence }, &[of], 0, 0) {
                a.commit();
            }
        }
        for (replica, gs) in gaps {
            for g in gs {
                for sequence in [g.from, g.to.saturating_sub(1)] {
                    let id = EnvelopeId { replica, sequence };
                    if let Ok(Admit::New(a)) = l.admit(id, g.opened_ms, g.opened_ms) {
                        a.commit();
                    }
                }
            }
        }
        let id = EnvelopeId { replica: ReplicaId([0xab; 16]), sequence: 3 };
        if let Ok(Admit::New(a)) = l.admit(id, 0, 0) {
            a.commit();
        }
        l.expire(i64::MAX / 2);
        let _ = l.to_bytes();
    }
});
