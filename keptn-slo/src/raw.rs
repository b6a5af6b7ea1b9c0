//! The SLO file exactly as written: serde types with no defaults applied and no rules checked.
//!
//! Scalars are read the way Keptn's Go decoder (yaml.v3 into plain structs) read them, where
//! that matters: numbers may stand where strings are expected (`pass: 90`), `key_sli` also
//! accepts `yes`/`no`/`on`/`off`, and quoted numbers in integer fields are type errors.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The top level of an SLO file.
#[derive(Debug, Deserialize)]
pub(crate) struct RawSlo {
    pub(crate) spec_version: Option<Text>,
    pub(crate) filter: Option<BTreeMap<String, Option<Text>>>,
    pub(crate) comparison: Option<RawComparison>,
    pub(crate) objectives: Option<Vec<Option<RawObjective>>>,
    pub(crate) total_score: Option<RawTotalScore>,
}

/// The keys the top level knows.
pub(crate) const SLO_KEYS: &[&str] = &[
    "spec_version",
    "filter",
    "comparison",
    "objectives",
    "total_score",
];

/// `comparison:`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawComparison {
    pub(crate) compare_with: Option<Text>,
    pub(crate) include_result_with_score: Option<Text>,
    pub(crate) number_of_comparison_results: Option<Integer>,
    pub(crate) aggregate_function: Option<Text>,
}

pub(crate) const COMPARISON_KEYS: &[&str] = &[
    "compare_with",
    "include_result_with_score",
    "number_of_comparison_results",
    "aggregate_function",
];

/// One entry of `objectives:`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawObjective {
    pub(crate) sli: Option<Text>,
    #[serde(rename = "displayName")]
    pub(crate) display_name: Option<Text>,
    pub(crate) pass: Option<Vec<Option<RawCriteriaSet>>>,
    pub(crate) warning: Option<Vec<Option<RawCriteriaSet>>>,
    pub(crate) weight: Option<Integer>,
    pub(crate) key_sli: Option<YamlBool>,
}

pub(crate) const OBJECTIVE_KEYS: &[&str] =
    &["sli", "displayName", "pass", "warning", "weight", "key_sli"];

/// One entry of `pass:` or `warning:`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawCriteriaSet {
    pub(crate) criteria: Option<Vec<Text>>,
}

pub(crate) const CRITERIA_SET_KEYS: &[&str] = &["criteria"];

/// `total_score:`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawTotalScore {
    pub(crate) pass: Option<Text>,
    pub(crate) warning: Option<Text>,
}

pub(crate) const TOTAL_SCORE_KEYS: &[&str] = &["pass", "warning"];

/// A scalar read as its text: strings as they are, numbers and booleans printed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Text(pub(crate) String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Text, E> {
                Ok(Text(value.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Text, E> {
                Ok(Text(value.to_string()))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Text, E> {
                Ok(Text(value.to_string()))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Text, E> {
                Ok(Text(value.to_string()))
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Text, E> {
                Ok(Text(value.to_string()))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// An integer field. A fraction is kept (and rejected by validation with a clear message);
/// a quoted number is a type error, as in Keptn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Integer {
    Whole(i64),
    Fraction(f64),
}

impl<'de> Deserialize<'de> for Integer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntegerVisitor;
        impl Visitor<'_> for IntegerVisitor {
            type Value = Integer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number (unquoted)")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Integer, E> {
                Ok(Integer::Whole(value))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Integer, E> {
                i64::try_from(value)
                    .map(Integer::Whole)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &self))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Integer, E> {
                Ok(Integer::Fraction(value))
            }
        }
        deserializer.deserialize_any(IntegerVisitor)
    }
}

/// A boolean as yaml.v3 decodes it into a Go `bool`: `true`/`false` and the YAML 1.1 words
/// `yes`/`no`/`on`/`off`/`y`/`n` (any case). A quoted `"true"` is a type error, as in Keptn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct YamlBool(pub(crate) bool);

impl<'de> Deserialize<'de> for YamlBool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BoolVisitor;
        impl Visitor<'_> for BoolVisitor {
            type Value = YamlBool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<YamlBool, E> {
                Ok(YamlBool(value))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<YamlBool, E> {
                match value.to_ascii_lowercase().as_str() {
                    "yes" | "y" | "on" => Ok(YamlBool(true)),
                    "no" | "n" | "off" => Ok(YamlBool(false)),
                    _ => Err(E::invalid_type(de::Unexpected::Str(value), &self)),
                }
            }
        }
        deserializer.deserialize_any(BoolVisitor)
    }
}
