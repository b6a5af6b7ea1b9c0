//! Keptn's `sli.yaml` for Prometheus: `spec_version` and `indicators: {name: query}`.

use std::collections::BTreeMap;

use keptn_core::Diagnostic;
use keptn_core::diagnostic::Diagnostics;
use keptn_core::yaml::{SourceMap, YamlPath};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use super::Error;
use crate::yaml_value::{
    Keyed, KeyedFindings, RawMapping, Shaped, describe, describe_scalar, present, read_document,
    scalar_text, spec_version_warning,
};

/// The `spec_version` Keptn's sli.yaml files carry.
pub const SLI_SPEC_VERSION: &str = "1.0";

/// The indicators of an `sli.yaml`: SLI name to PromQL query (with placeholders).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SliConfig {
    indicators: BTreeMap<String, String>,
}

impl SliConfig {
    /// An sli.yaml with these indicators (no validation beyond what the types say).
    pub fn from_indicators<Name, Query>(indicators: impl IntoIterator<Item = (Name, Query)>) -> Self
    where
        Name: Into<String>,
        Query: Into<String>,
    {
        Self {
            indicators: indicators
                .into_iter()
                .map(|(name, query)| (name.into(), query.into()))
                .collect(),
        }
    }

    /// Parses and validates an sli.yaml. Errors (not YAML, not a mapping, no `indicators`,
    /// a query that is not a non-empty string) reject the file, every one reported and
    /// located; warnings (a missing or unexpected `spec_version`, unknown keys, no
    /// indicators at all) are returned next to the accepted file.
    pub fn parse(source: &str) -> Result<(SliConfig, Vec<Diagnostic>), Error> {
        let source_map = SourceMap::new(source);
        let mut diagnostics = Diagnostics::new(&source_map);
        let document = read_document::<Keyed<RawSliFile>>(source, &mut diagnostics);
        let sli = match document {
            Some(Shaped::Expected(file)) => Some(validate(file, &mut diagnostics)),
            Some(Shaped::Found(other)) => {
                let what = describe(&other);
                diagnostics.error(
                    &YamlPath::root(),
                    format!("an sli.yaml must be a mapping with 'indicators', found {what}"),
                );
                None
            }
            None => None,
        };
        match sli {
            Some(sli) if !diagnostics.has_errors() => Ok((sli, diagnostics.items)),
            _ => Err(Error::InvalidSli {
                diagnostics: diagnostics.items,
            }),
        }
    }

    /// The query of an indicator, as written (placeholders not rendered).
    pub fn query(&self, indicator: &str) -> Option<&str> {
        self.indicators.get(indicator).map(String::as_str)
    }

    /// Every indicator and its query, by name.
    pub fn indicators(&self) -> &BTreeMap<String, String> {
        &self.indicators
    }

    /// This file with `more_specific`'s indicators added, replacing same-named ones: Keptn
    /// merges the project-level sli.yaml with the stage's, then with the service's.
    pub fn overridden_by(mut self, more_specific: &SliConfig) -> SliConfig {
        for (name, query) in &more_specific.indicators {
            self.indicators.insert(name.clone(), query.clone());
        }
        self
    }
}

/// An sli.yaml exactly as written. Values are kept as YAML and read by [`validate`], so that
/// a value of the wrong type is reported with every other problem.
#[derive(Debug, Deserialize)]
struct RawSliFile {
    /// `spec_version` (`'1.0'`).
    #[serde(default, deserialize_with = "present")]
    spec_version: Option<Value>,
    /// `indicators`: SLI names to queries (nothing when written empty).
    #[serde(default, deserialize_with = "present")]
    indicators: Option<Shaped<Mapping>>,
    /// Keys Keptn does not know.
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}

impl RawMapping for RawSliFile {
    const KEYS: &'static [&'static str] = &["spec_version", "indicators"];
}

/// Checks a decoded sli.yaml and returns its indicators; the findings, in file order, go to
/// `diagnostics`.
fn validate(file: Keyed<RawSliFile>, diagnostics: &mut Diagnostics<'_>) -> SliConfig {
    let Keyed { fields: raw, keys } = file;
    let root = YamlPath::root();
    let mut findings = KeyedFindings::new(diagnostics);
    if let Some(value) = &raw.spec_version
        && let Some(warning) = spec_version_warning(value, SLI_SPEC_VERSION)
    {
        findings
            .about("spec_version")
            .warning(&root.key("spec_version"), warning);
    }
    let has_indicators = raw.indicators.is_some();
    let indicators = match raw.indicators {
        Some(indicators) => read_indicators(
            indicators,
            &root.key("indicators"),
            findings.about("indicators"),
        ),
        None => BTreeMap::new(),
    };
    for key in raw.unknown.keys() {
        findings.about(key).warning_at_key(
            &root.key(key),
            format!("unknown key '{key}' in sli.yaml (expected 'spec_version' and 'indicators')"),
        );
    }
    findings.in_order_of(&keys, |diagnostics, key| {
        diagnostics.error(
            &root,
            format!(
                "top-level keys must be strings, found {}",
                describe_scalar(key)
            ),
        );
    });
    if raw.spec_version.is_none() {
        diagnostics.warning(
            &root,
            format!("missing spec_version (expected '{SLI_SPEC_VERSION}')"),
        );
    }
    if !has_indicators {
        diagnostics.error(
            &root,
            "missing 'indicators' (a mapping of SLI name to query)",
        );
    }
    SliConfig { indicators }
}

/// The indicators with a query: SLI names are any non-empty scalar (as text), queries
/// non-empty strings. Invalid entries are reported and left out.
fn read_indicators(
    indicators: Shaped<Mapping>,
    path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) -> BTreeMap<String, String> {
    let mut res = BTreeMap::new();
    let entries = match indicators {
        Shaped::Expected(entries) => entries,
        // `indicators:` with nothing after it.
        Shaped::Found(Value::Null) => {
            diagnostics.warning(path, "'indicators' is empty: no SLI can be retrieved");
            return res;
        }
        Shaped::Found(other) => {
            diagnostics.error(
                path,
                format!(
                    "'indicators' must be a mapping of SLI name to query, found {}",
                    describe(&other)
                ),
            );
            return res;
        }
    };
    if entries.is_empty() {
        diagnostics.warning(path, "'indicators' is empty: no SLI can be retrieved");
    }
    for (name, query) in &entries {
        let Some(name) = scalar_text(name).filter(|name| !name.trim().is_empty()) else {
            diagnostics.error(
                path,
                format!(
                    "SLI names must be non-empty strings, found {}",
                    describe_scalar(name)
                ),
            );
            continue;
        };
        let query_path = path.key(&name);
        match query {
            Value::String(query) if !query.trim().is_empty() => {
                res.insert(name, query.clone());
            }
            Value::String(_) | Value::Null => diagnostics.error(
                &query_path,
                format!("the query of indicator '{name}' is empty"),
            ),
            other => diagnostics.error(
                &query_path,
                format!(
                    "the query of indicator '{name}' must be a string, found {}",
                    describe(other)
                ),
            ),
        }
    }
    res
}
