//! JSON for floats that may not be finite: a criterion may be `<inf`, and Prometheus may
//! answer `NaN`. JSON has no such numbers (Keptn's Go encoder failed on them and lost the whole
//! evaluation event), so they are written as the strings `"+Inf"`, `"-Inf"` and `"NaN"`, as the
//! Prometheus HTTP API writes them, and read back from those strings. `null` reads as 0, as Go's
//! decoder left a float64 it could not fill.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;

/// Serializes a float, non-finite values as strings.
pub(crate) fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        serializer.serialize_f64(*value)
    } else if value.is_nan() {
        serializer.serialize_str("NaN")
    } else if *value > 0.0 {
        serializer.serialize_str("+Inf")
    } else {
        serializer.serialize_str("-Inf")
    }
}

/// Deserializes a float from a number, a non-finite string or `null` (0).
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    struct FloatVisitor;
    impl Visitor<'_> for FloatVisitor {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number, or one of \"NaN\", \"+Inf\", \"-Inf\"")
        }
        fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
            Ok(value)
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
            Ok(value as f64)
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
            Ok(value as f64)
        }
        fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
            Ok(0.0)
        }
        fn visit_none<E: de::Error>(self) -> Result<f64, E> {
            Ok(0.0)
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<f64, E> {
            match value {
                "NaN" => Ok(f64::NAN),
                "+Inf" | "Inf" => Ok(f64::INFINITY),
                "-Inf" => Ok(f64::NEG_INFINITY),
                _ => Err(E::invalid_value(de::Unexpected::Str(value), &self)),
            }
        }
    }
    deserializer.deserialize_any(FloatVisitor)
}
