//! Keptn's `jmeter/jmeter.conf.yaml`: one workload per test strategy, with jmeter-service's
//! built-in workloads for `healthcheck`, `performance` and `functional` when the file has none.
//!
//! ```yaml
//! spec_version: '0.1.0'
//! workloads:
//!   - teststrategy: performance
//!     vuser: 10
//!     loopcount: 500
//!     thinktime: 250
//!     script: jmeter/load.jmx
//!     acceptederrorrate: 0.1
//!     avgrtvalidation: 500
//!     properties: { CART_ID: "7" }
//! ```

use crate::yaml_value::{describe, describe_scalar, scalar_text, spec_version_warning};
use std::collections::BTreeMap;
use std::path::{Component, Path};

use keptn_core::Diagnostic;
use keptn_core::diagnostic::Diagnostics;
use keptn_core::yaml::{Location, SourceMap, YamlPath};
use serde_yaml::Value;

use super::{Error, FUNCTIONAL, HEALTHCHECK, PERFORMANCE};

/// The `spec_version` Keptn's jmeter.conf.yaml files carry.
pub const WORKLOADS_SPEC_VERSION: &str = "0.1.0";

/// What JMeter runs for one test strategy, and how its result is judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// The test strategy (`teststrategy`), matched without regard to case.
    pub teststrategy: String,
    /// Virtual users (`vuser`), passed as the `VUCount` property.
    pub vuser: u32,
    /// Loops per virtual user (`loopcount`), passed as `LoopCount`.
    pub loopcount: u32,
    /// Think time in milliseconds (`thinktime`), passed as `ThinkTime`.
    pub thinktime_ms: u64,
    /// The plan, relative to the service's configuration (`jmeter/load.jmx`).
    pub script: String,
    /// The share of failed samples that still passes, as a fraction (`acceptederrorrate`:
    /// `0.1` accepts 10 %, `1.0` everything): the run fails when errors exceed this times the
    /// samples. A `functional` workload fails on any error whatever this says.
    pub accepted_error_rate: f64,
    /// The highest average response time that passes, in milliseconds (`avgrtvalidation`);
    /// 0 sets no limit.
    pub avg_rt_validation_ms: u64,
    /// More JMeter properties (`properties`), passed with `-J` after the standard ones, so
    /// they may override them (`CHECK_PATH`, for example).
    pub properties: BTreeMap<String, String>,
}

impl Workload {
    /// Whether this is the `functional` workload, which accepts no failed sample.
    pub fn is_functional(&self) -> bool {
        self.teststrategy.eq_ignore_ascii_case(FUNCTIONAL)
    }
}

/// jmeter-service's built-in workloads (its `defaultWorkloads`), used for a strategy the
/// jmeter.conf.yaml does not define: `healthcheck` (1 user, 1 loop, 250 ms,
/// `jmeter/basiccheck.jmx`, no error accepted), `performance` (10 users, 500 loops, 250 ms,
/// `jmeter/load.jmx`, 10 % errors accepted) and `functional` (1 user, 1 loop, 250 ms,
/// `jmeter/load.jmx`; no error accepted, since a functional test enforces that).
pub fn default_workloads() -> Vec<Workload> {
    let workload = |teststrategy: &str, vuser, loopcount, script: &str, rate| Workload {
        teststrategy: teststrategy.to_owned(),
        vuser,
        loopcount,
        thinktime_ms: 250,
        script: script.to_owned(),
        accepted_error_rate: rate,
        avg_rt_validation_ms: 0,
        properties: BTreeMap::new(),
    };
    vec![
        workload(HEALTHCHECK, 1, 1, "jmeter/basiccheck.jmx", 0.0),
        workload(PERFORMANCE, 10, 500, "jmeter/load.jmx", 0.1),
        workload(FUNCTIONAL, 1, 1, "jmeter/load.jmx", 0.1),
    ]
}

/// The workloads of a jmeter.conf.yaml (possibly none), in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workloads {
    workloads: Vec<Workload>,
}

impl Workloads {
    /// These workloads, in order (the first one of a strategy wins, as in jmeter-service).
    pub fn from_workloads(workloads: Vec<Workload>) -> Self {
        Self { workloads }
    }

    /// The workload of `teststrategy` (case-insensitive): the first one the file defines,
    /// else jmeter-service's default ([`default_workloads`]).
    pub fn workload(&self, teststrategy: &str) -> Option<Workload> {
        let matches =
            |workload: &&Workload| workload.teststrategy.eq_ignore_ascii_case(teststrategy);
        self.workloads
            .iter()
            .find(matches)
            .cloned()
            .or_else(|| default_workloads().iter().find(matches).cloned())
    }

    /// The workloads the file defines, in file order.
    pub fn defined(&self) -> &[Workload] {
        &self.workloads
    }

    /// Every strategy that has a workload (defined or default), sorted.
    pub fn strategies(&self) -> Vec<String> {
        let mut res: Vec<String> = self
            .workloads
            .iter()
            .chain(default_workloads().iter())
            .map(|workload| workload.teststrategy.to_ascii_lowercase())
            .collect();
        res.sort();
        res.dedup();
        res
    }

    /// Parses and validates a jmeter.conf.yaml.
    ///
    /// Fields an entry leaves out behave as they did in jmeter-service (Go's zero values):
    /// `thinktime` 0, `acceptederrorrate` 0 (no failed sample accepted), `avgrtvalidation` 0
    /// (no limit), no `properties`; except `vuser` and `loopcount`, which default to 1
    /// (jmeter-service passed 0, which ran nothing and errored), and `script`, which is
    /// required. Errors reject the file, each one reported and located: not YAML, no
    /// `workloads` list, an entry without `teststrategy` or `script`, a script path that is
    /// absolute or leaves the service directory, a negative or non-integer count, a
    /// property name with `=` or whitespace. Warnings come back next to the workloads: a
    /// missing or unexpected `spec_version`, unknown keys (jmeter-service ignored them), a
    /// second workload for a strategy (never used, as in jmeter-service), an
    /// `acceptederrorrate` above 1 (it is a fraction, so every error rate passes).
    pub fn parse(source: &str) -> Result<(Workloads, Vec<Diagnostic>), Error> {
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
                return Err(Error::InvalidWorkloads {
                    diagnostics: diagnostics.items,
                });
            }
        };
        let Value::Mapping(document) = document else {
            diagnostics.error(
                &root,
                format!(
                    "a jmeter.conf.yaml must be a mapping with 'workloads', found {}",
                    describe(&document)
                ),
            );
            return Err(Error::InvalidWorkloads {
                diagnostics: diagnostics.items,
            });
        };
        let mut workloads = Vec::new();
        let mut has_spec_version = false;
        let mut has_workloads = false;
        for (key, value) in &document {
            let Some(key) = key.as_str() else {
                diagnostics.error(
                    &root,
                    format!("top-level keys must be strings, found {}", describe(key)),
                );
                continue;
            };
            let path = root.key(key);
            match key {
                "spec_version" => {
                    has_spec_version = true;
                    if let Some(warning) = spec_version_warning(value, WORKLOADS_SPEC_VERSION) {
                        diagnostics.warning(&path, warning);
                    }
                }
                "workloads" => {
                    has_workloads = true;
                    read_workloads(value, &path, &mut workloads, &mut diagnostics);
                }
                _ => diagnostics.warning_at_key(
                    &path,
                    format!(
                        "unknown key '{key}' in jmeter.conf.yaml (expected 'spec_version' and 'workloads'); ignored"
                    ),
                ),
            }
        }
        if !has_spec_version {
            diagnostics.warning(
                &root,
                format!("missing spec_version (expected '{WORKLOADS_SPEC_VERSION}')"),
            );
        }
        if !has_workloads {
            diagnostics.error(&root, "missing 'workloads' (a list of workloads)");
        }
        if diagnostics.has_errors() {
            return Err(Error::InvalidWorkloads {
                diagnostics: diagnostics.items,
            });
        }
        Ok((Workloads { workloads }, diagnostics.items))
    }
}

fn read_workloads(
    value: &Value,
    path: &YamlPath,
    workloads: &mut Vec<Workload>,
    diagnostics: &mut Diagnostics<'_>,
) {
    let entries = match value {
        Value::Sequence(entries) => entries,
        Value::Null => return,
        other => {
            diagnostics.error(
                path,
                format!(
                    "'workloads' must be a list of workloads, found {}",
                    describe(other)
                ),
            );
            return;
        }
    };
    let mut first_of: BTreeMap<String, usize> = BTreeMap::new();
    for (workload_idx, entry) in entries.iter().enumerate() {
        let entry_path = path.index(workload_idx);
        let Some(workload) = read_workload(entry, &entry_path, diagnostics) else {
            continue;
        };
        let strategy = workload.teststrategy.to_ascii_lowercase();
        if let Some(first) = first_of.get(&strategy) {
            diagnostics.warning(
                &entry_path.key("teststrategy"),
                format!(
                    "test strategy '{}' has a workload already at workloads[{first}]; this one is never used",
                    workload.teststrategy
                ),
            );
            continue;
        }
        first_of.insert(strategy, workload_idx);
        workloads.push(workload);
    }
}

const WORKLOAD_KEYS: [&str; 8] = [
    "teststrategy",
    "vuser",
    "loopcount",
    "thinktime",
    "script",
    "acceptederrorrate",
    "avgrtvalidation",
    "properties",
];

fn read_workload(
    entry: &Value,
    path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) -> Option<Workload> {
    let Value::Mapping(fields) = entry else {
        diagnostics.error(
            path,
            format!("a workload must be a mapping, found {}", describe(entry)),
        );
        return None;
    };
    let n_before = diagnostics
        .items
        .iter()
        .filter(|item| is_error(item))
        .count();
    let mut teststrategy = None;
    let mut vuser = 1_u32;
    let mut loopcount = 1_u32;
    let mut thinktime_ms = 0_u64;
    let mut script = None;
    let mut accepted_error_rate = 0.0_f64;
    let mut avg_rt_validation_ms = 0_u64;
    let mut properties = BTreeMap::new();
    for (key, value) in fields {
        let Some(key) = key.as_str() else {
            diagnostics.error(
                path,
                format!("workload keys must be strings, found {}", describe(key)),
            );
            continue;
        };
        let field_path = path.key(key);
        match key {
            "teststrategy" => match value {
                Value::String(text) if !text.trim().is_empty() && text.trim() == text => {
                    teststrategy = Some(text.clone());
                }
                Value::String(text) if text.trim().is_empty() => {
                    diagnostics.error(&field_path, "teststrategy must not be empty");
                }
                Value::String(text) => diagnostics.error(
                    &field_path,
                    format!("teststrategy '{text}' has surrounding whitespace"),
                ),
                other => diagnostics.error(
                    &field_path,
                    format!("teststrategy must be a string, found {}", describe(other)),
                ),
            },
            "vuser" => {
                if let Some(count) = count(value, &field_path, "vuser", 1, diagnostics) {
                    vuser = count;
                }
            }
            "loopcount" => {
                if let Some(count) = count(value, &field_path, "loopcount", 1, diagnostics) {
                    loopcount = count;
                }
            }
            "thinktime" => {
                if let Some(ms) = whole_number(value, &field_path, "thinktime", diagnostics) {
                    thinktime_ms = ms;
                }
            }
            "avgrtvalidation" => {
                if let Some(ms) = whole_number(value, &field_path, "avgrtvalidation", diagnostics)
                {
                    avg_rt_validation_ms = ms;
                }
            }
            "script" => match value {
                Value::String(text) => match check_script(text) {
                    Ok(()) => script = Some(text.clone()),
                    Err(reason) => diagnostics.error(
                        &field_path,
                        format!("script '{text}' {reason}"),
                    ),
                },
                other => diagnostics.error(
                    &field_path,
                    format!(
                        "script must be a path like 'jmeter/load.jmx', found {}",
                        describe(other)
                    ),
                ),
            },
            "acceptederrorrate" => match value.as_f64() {
                Some(rate) if rate.is_finite() && rate >= 0.0 => {
                    if rate > 1.0 {
                        diagnostics.warning(
                            &field_path,
                            format!(
                                "acceptederrorrate '{rate}' is above 1: it is a fraction of the samples (0.1 accepts 10 %), so every error rate passes"
                            ),
                        );
                    }
                    accepted_error_rate = rate;
                }
                _ => diagnostics.error(
                    &field_path,
                    format!(
                        "acceptederrorrate must be a fraction of at least 0 (0.1 accepts 10 %), found {}",
                        describe_scalar(value)
                    ),
                ),
            },
            "properties" => read_properties(value, &field_path, &mut properties, diagnostics),
            _ => diagnostics.warning_at_key(
                &field_path,
                format!(
                    "unknown workload key '{key}' (expected {}); ignored",
                    WORKLOAD_KEYS.join(", ")
                ),
            ),
        }
    }
    if teststrategy.is_none() && !fields.contains_key("teststrategy") {
        diagnostics.error(path, "a workload needs a 'teststrategy'");
    }
    if script.is_none() && !fields.contains_key("script") {
        diagnostics.error(path, "a workload needs a 'script' (e.g. 'jmeter/load.jmx')");
    }
    let n_after = diagnostics
        .items
        .iter()
        .filter(|item| is_error(item))
        .count();
    if n_after > n_before {
        return None;
    }
    Some(Workload {
        teststrategy: teststrategy?,
        vuser,
        loopcount,
        thinktime_ms,
        script: script?,
        accepted_error_rate,
        avg_rt_validation_ms,
        properties,
    })
}

fn is_error(diagnostic: &Diagnostic) -> bool {
    diagnostic.severity == keptn_core::Severity::Error
}

fn read_properties(
    value: &Value,
    path: &YamlPath,
    properties: &mut BTreeMap<String, String>,
    diagnostics: &mut Diagnostics<'_>,
) {
    let entries = match value {
        Value::Mapping(entries) => entries,
        Value::Null => return,
        other => {
            diagnostics.error(
                path,
                format!(
                    "properties must be a mapping of name to value, found {}",
                    describe(other)
                ),
            );
            return;
        }
    };
    for (name, property) in entries {
        let Some(name) = scalar_text(name) else {
            diagnostics.error(
                path,
                format!("property names must be strings, found {}", describe(name)),
            );
            continue;
        };
        let property_path = path.key(&name);
        if name.is_empty() || name.contains('=') || name.chars().any(char::is_whitespace) {
            diagnostics.error(
                &property_path,
                format!("property name '{name}' must be non-empty, without '=' or whitespace"),
            );
            continue;
        }
        match scalar_text(property) {
            Some(text) => {
                properties.insert(name, text);
            }
            None => diagnostics.error(
                &property_path,
                format!(
                    "property '{name}' must be a string, number or boolean, found {}",
                    describe(property)
                ),
            ),
        }
    }
}

/// A count of at least `min` (virtual users, loops).
fn count(
    value: &Value,
    path: &YamlPath,
    field: &str,
    min: u32,
    diagnostics: &mut Diagnostics<'_>,
) -> Option<u32> {
    match value.as_u64().map(u32::try_from) {
        Some(Ok(count)) if count >= min => Some(count),
        _ => {
            diagnostics.error(
                path,
                format!(
                    "{field} must be a whole number of at least {min}, found {}",
                    describe_scalar(value)
                ),
            );
            None
        }
    }
}

/// A whole number of milliseconds, at least 0.
fn whole_number(
    value: &Value,
    path: &YamlPath,
    field: &str,
    diagnostics: &mut Diagnostics<'_>,
) -> Option<u64> {
    if let Some(number) = value.as_u64() {
        return Some(number);
    }
    diagnostics.error(
        path,
        format!(
            "{field} must be a whole number of milliseconds (at least 0), found {}",
            describe_scalar(value)
        ),
    );
    None
}

/// Why a script path cannot be a file below the run directory, if it cannot.
pub(super) fn check_script(script: &str) -> Result<(), &'static str> {
    if script.trim().is_empty() {
        return Err("is empty");
    }
    let path = Path::new(script);
    if path.is_absolute() {
        return Err("must be relative to the service directory (like 'jmeter/load.jmx')");
    }
    if path
        .components()
        .any(|component| !matches!(component, Component::Normal(_) | Component::CurDir))
    {
        return Err("must not leave the service directory ('..')");
    }
    if script.ends_with('/') {
        return Err("names a directory, not a plan");
    }
    Ok(())
}
