//! `serde` support, all in one place. Sketches and snapshots serialize as their owned binary
//! format (bytes), never as a dump of internal fields, so serde users get the same compatibility
//! guarantees as the wire format.

use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::{
    CountMinSketch, Counter, Estimate, HyperLogLog, Leaderboard, Quantiles, Snapshot, TopK,
    UniqueSeries, WindowCounter,
};

/// [`Estimate`] as a plain record with camelCase fields (`stdError`), for JSON consumers.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Estimate", rename_all = "camelCase")]
struct EstimateRecord {
    value: f64,
    std_error: f64,
    lower: f64,
    upper: f64,
    exact: bool,
}

impl Serialize for Estimate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EstimateRecord {
            value: self.value,
            std_error: self.std_error,
            lower: self.lower,
            upper: self.upper,
            exact: self.exact,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Estimate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = EstimateRecord::deserialize(d)?;
        Ok(Estimate {
            value: r.value,
            std_error: r.std_error,
            lower: r.lower,
            upper: r.upper,
            exact: r.exact,
        })
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("edgesketch binary format bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
        Ok(v)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // Formats without a bytes type (JSON) write a sequence of numbers. Cap the preallocation:
        // the size hint comes from the input.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}

/// Serialize and Deserialize through a sketch's own `to_bytes`/`from_bytes`.
macro_rules! as_binary_format {
    ($($sketch:ty),+ $(,)?) => {$(
        impl Serialize for $sketch {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.to_bytes())
            }
        }

        impl<'de> Deserialize<'de> for $sketch {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let bytes = d.deserialize_bytes(BytesVisitor)?;
                <$sketch>::from_bytes(&bytes).map_err(de::Error::custom)
            }
        }
    )+};
}

as_binary_format!(
    HyperLogLog,
    Counter,
    WindowCounter,
    UniqueSeries,
    Leaderboard,
    TopK,
    CountMinSketch,
    Quantiles,
);

impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.encode())
    }
}

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = d.deserialize_bytes(BytesVisitor)?;
        Snapshot::decode(&bytes).map_err(de::Error::custom)
    }
}
