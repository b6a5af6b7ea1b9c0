//! Keptn's `sli.yaml` for Prometheus: `spec_version` and `indicators: {name: query}`.

use crate::yaml_value::{describe, describe_scalar, scalar_text, spec_version_warning};
use std::collections::BTreeMap;

use keptn_core::Diagnostic;
use keptn_core::diagnostic::Diagnostics;
use keptn_core::yaml::{Location, SourceMap, YamlPath};
use serde_yaml::Value;

use super::Error;

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
        let root = YamlPath::root();
        let document: Value = match serde_yaml::from_str(source) {
            Ok(document) => document,
            Err(error) => {
                let location = error.location().map(|location| Location {
                    line: location.line(),
                    column: location.column(),
                });
                diagnostics.error_at(location, root, format!("not valid yaml: {error}"));
                return Err(Error::InvalidSli {
                    diagnostics: diagnostics.items,
                });
            }
        };
        let Value::Mapping(document) = document else {
            let what = describe(&document);
            diagnostics.error(
                &root,
                format!("an sli.yaml must be a mapping with 'indicators', found {what}"),
            );
            return Err(Error::InvalidSli {
                diagnostics: diagnostics.items,
            });
        };
        let mut indicators = BTreeMap::new();
        let mut has_indicators = false;
        let mut has_spec_version = false;
        for (key, value) in &document {
            let Some(key) = key.as_str() else {
                diagnostics.error(
                    &root,
                    format!(
                        "top-level keys must be strings, found {}",
                        describe_scalar(key)
                    ),
                );
                continue;
            };
            let path = root.key(key);
            match key {
                "spec_version" => {
                    has_spec_version = true;
                    if let Some(warning) = spec_version_warning(value, SLI_SPEC_VERSION) {
                        diagnostics.warning(&path, warning);
                    }
                }
                "indicators" => {
                    has_indicators = true;
                    read_indicators(value, &path, &mut indicators, &mut diagnostics);
                }
                _ => diagnostics.warning_at_key(
                    &path,
                    format!(
                        "unknown key '{key}' in sli.yaml (expected 'spec_version' and 'indicators')"
                    ),
                ),
            }
        }
        if !has_spec_version {
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
        if diagnostics.has_errors() {
            return Err(Error::InvalidSli {
                diagnostics: diagnostics.items,
            });
        }
        Ok((SliConfig { indicators }, diagnostics.items))
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

fn read_indicators(
    value: &Value,
    path: &YamlPath,
    indicators: &mut BTreeMap<String, String>,
    diagnostics: &mut Diagnostics<'_>,
) {
    let entries = match value {
        Value::Mapping(entries) => entries,
        // `indicators:` with nothing after it.
        Value::Null => {
            diagnostics.warning(path, "'indicators' is empty: no SLI can be retrieved");
            return;
        }
        other => {
            diagnostics.error(
                path,
                format!(
                    "'indicators' must be a mapping of SLI name to query, found {}",
                    describe(other)
                ),
            );
            return;
        }
    };
    if entries.is_empty() {
        diagnostics.warning(path, "'indicators' is empty: no SLI can be retrieved");
    }
    for (name, query) in entries {
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
                indicators.insert(name, query.clone());
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
}
