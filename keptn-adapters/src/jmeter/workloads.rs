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

use std::collections::BTreeMap;
use std::path::{Component, Path};

use keptn_core::Diagnostic;
use keptn_core::diagnostic::Diagnostics;
use keptn_core::yaml::{SourceMap, YamlPath};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use super::{Error, FUNCTIONAL, HEALTHCHECK, PERFORMANCE};
use crate::yaml_value::{
    Keyed, KeyedFindings, RawMapping, Shaped, describe, describe_scalar, present, read_document,
    scalar_text, spec_version_warning,
};

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
        let document = read_document::<Keyed<RawWorkloadsFile>>(source, &mut diagnostics);
        let workloads = match document {
            Some(Shaped::Expected(file)) => Some(validate(file, &mut diagnostics)),
            Some(Shaped::Found(other)) => {
                diagnostics.error(
                    &YamlPath::root(),
                    format!(
                        "a jmeter.conf.yaml must be a mapping with 'workloads', found {}",
                        describe(&other)
                    ),
                );
                None
            }
            None => None,
        };
        match workloads {
            Some(workloads) if !diagnostics.has_errors() => Ok((workloads, diagnostics.items)),
            _ => Err(Error::InvalidWorkloads {
                diagnostics: diagnostics.items,
            }),
        }
    }
}

/// A jmeter.conf.yaml exactly as written. Values are kept as YAML and read by [`validate`],
/// so that a value of the wrong type is reported with every other problem.
#[derive(Debug, Deserialize)]
struct RawWorkloadsFile {
    /// `spec_version` (`'0.1.0'`).
    #[serde(default, deserialize_with = "present")]
    spec_version: Option<Value>,
    /// `workloads`: a list of workloads (nothing when written empty).
    #[serde(default, deserialize_with = "present")]
    workloads: Option<Shaped<Vec<Shaped<Keyed<RawWorkload>>>>>,
    /// Keys jmeter-service does not know.
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}

impl RawMapping for RawWorkloadsFile {
    const KEYS: &'static [&'static str] = &["spec_version", "workloads"];
}

/// One entry of `workloads`, exactly as written.
#[derive(Debug, Deserialize)]
struct RawWorkload {
    /// `teststrategy`: a string.
    #[serde(default, deserialize_with = "present")]
    teststrategy: Option<Value>,
    /// `vuser`: a whole number.
    #[serde(default, deserialize_with = "present")]
    vuser: Option<Value>,
    /// `loopcount`: a whole number.
    #[serde(default, deserialize_with = "present")]
    loopcount: Option<Value>,
    /// `thinktime`: whole milliseconds.
    #[serde(default, deserialize_with = "present")]
    thinktime: Option<Value>,
    /// `script`: a path relative to the service's directory.
    #[serde(default, deserialize_with = "present")]
    script: Option<Value>,
    /// `acceptederrorrate`: a fraction.
    #[serde(default, deserialize_with = "present")]
    acceptederrorrate: Option<Value>,
    /// `avgrtvalidation`: whole milliseconds.
    #[serde(default, deserialize_with = "present")]
    avgrtvalidation: Option<Value>,
    /// `properties`: JMeter property names to scalar values.
    #[serde(default, deserialize_with = "present")]
    properties: Option<Shaped<Mapping>>,
    /// Keys jmeter-service does not know.
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
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

impl RawMapping for RawWorkload {
    const KEYS: &'static [&'static str] = &WORKLOAD_KEYS;
}

/// Checks a decoded jmeter.conf.yaml and returns its workloads; the findings, in file order,
/// go to `diagnostics`.
fn validate(file: Keyed<RawWorkloadsFile>, diagnostics: &mut Diagnostics<'_>) -> Workloads {
    let Keyed { fields: raw, keys } = file;
    let root = YamlPath::root();
    let mut findings = KeyedFindings::new(diagnostics);
    if let Some(value) = &raw.spec_version
        && let Some(warning) = spec_version_warning(value, WORKLOADS_SPEC_VERSION)
    {
        findings
            .about("spec_version")
            .warning(&root.key("spec_version"), warning);
    }
    let has_workloads = raw.workloads.is_some();
    let workloads = match raw.workloads {
        Some(workloads) => read_workloads(
            workloads,
            &root.key("workloads"),
            findings.about("workloads"),
        ),
        None => Vec::new(),
    };
    for key in raw.unknown.keys() {
        findings.about(key).warning_at_key(
            &root.key(key),
            format!(
                "unknown key '{key}' in jmeter.conf.yaml (expected 'spec_version' and 'workloads'); ignored"
            ),
        );
    }
    findings.in_order_of(&keys, |diagnostics, key| {
        diagnostics.error(
            &root,
            format!("top-level keys must be strings, found {}", describe(key)),
        );
    });
    if raw.spec_version.is_none() {
        diagnostics.warning(
            &root,
            format!("missing spec_version (expected '{WORKLOADS_SPEC_VERSION}')"),
        );
    }
    if !has_workloads {
        diagnostics.error(&root, "missing 'workloads' (a list of workloads)");
    }
    Workloads { workloads }
}

/// The valid workloads of `workloads`, the first one of each strategy (case-insensitive).
fn read_workloads(
    workloads: Shaped<Vec<Shaped<Keyed<RawWorkload>>>>,
    path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) -> Vec<Workload> {
    let entries = match workloads {
        Shaped::Expected(entries) => entries,
        // `workloads:` with nothing after it.
        Shaped::Found(Value::Null) => return Vec::new(),
        Shaped::Found(other) => {
            diagnostics.error(
                path,
                format!(
                    "'workloads' must be a list of workloads, found {}",
                    describe(&other)
                ),
            );
            return Vec::new();
        }
    };
    let mut res = Vec::new();
    let mut first_of: BTreeMap<String, usize> = BTreeMap::new();
    for (workload_idx, entry) in entries.into_iter().enumerate() {
        let entry_path = path.index(workload_idx);
        let entry = match entry {
            Shaped::Expected(entry) => entry,
            Shaped::Found(other) => {
                diagnostics.error(
                    &entry_path,
                    format!("a workload must be a mapping, found {}", describe(&other)),
                );
                continue;
            }
        };
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
        res.push(workload);
    }
    res
}

/// One workload, with the defaults of jmeter-service applied to what the entry leaves out
/// (Go's zero values): `thinktime` 0, `acceptederrorrate` 0 (no failed sample accepted),
/// `avgrtvalidation` 0 (no limit), no `properties`; except `vuser` and `loopcount`, which
/// default to 1 (jmeter-service passed 0, which ran nothing and errored). `teststrategy` and
/// `script` have no default. `None` when the entry has an error.
fn read_workload(
    entry: Keyed<RawWorkload>,
    path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) -> Option<Workload> {
    let Keyed { fields: raw, keys } = entry;
    let n_errors_before = count_errors(diagnostics);
    let mut findings = KeyedFindings::new(diagnostics);
    let teststrategy = raw.teststrategy.as_ref().and_then(|value| {
        read_teststrategy(
            value,
            &path.key("teststrategy"),
            findings.about("teststrategy"),
        )
    });
    let vuser = match &raw.vuser {
        None => Some(1),
        Some(value) => count(
            value,
            &path.key("vuser"),
            "vuser",
            1,
            findings.about("vuser"),
        ),
    };
    let loopcount = match &raw.loopcount {
        None => Some(1),
        Some(value) => count(
            value,
            &path.key("loopcount"),
            "loopcount",
            1,
            findings.about("loopcount"),
        ),
    };
    let thinktime_ms = match &raw.thinktime {
        None => Some(0),
        Some(value) => whole_number(
            value,
            &path.key("thinktime"),
            "thinktime",
            findings.about("thinktime"),
        ),
    };
    let script = raw
        .script
        .as_ref()
        .and_then(|value| read_script(value, &path.key("script"), findings.about("script")));
    let accepted_error_rate = match &raw.acceptederrorrate {
        None => Some(0.0),
        Some(value) => read_accepted_error_rate(
            value,
            &path.key("acceptederrorrate"),
            findings.about("acceptederrorrate"),
        ),
    };
    let avg_rt_validation_ms = match &raw.avgrtvalidation {
        None => Some(0),
        Some(value) => whole_number(
            value,
            &path.key("avgrtvalidation"),
            "avgrtvalidation",
            findings.about("avgrtvalidation"),
        ),
    };
    let properties = match raw.properties {
        None => BTreeMap::new(),
        Some(properties) => read_properties(
            properties,
            &path.key("properties"),
            findings.about("properties"),
        ),
    };
    for key in raw.unknown.keys() {
        findings.about(key).warning_at_key(
            &path.key(key),
            format!(
                "unknown workload key '{key}' (expected {}); ignored",
                WORKLOAD_KEYS.join(", ")
            ),
        );
    }
    findings.in_order_of(&keys, |diagnostics, key| {
        diagnostics.error(
            path,
            format!("workload keys must be strings, found {}", describe(key)),
        );
    });
    if raw.teststrategy.is_none() {
        diagnostics.error(path, "a workload needs a 'teststrategy'");
    }
    if raw.script.is_none() {
        diagnostics.error(path, "a workload needs a 'script' (e.g. 'jmeter/load.jmx')");
    }
    if count_errors(diagnostics) > n_errors_before {
        return None;
    }
    Some(Workload {
        teststrategy: teststrategy?,
        vuser: vuser?,
        loopcount: loopcount?,
        thinktime_ms: thinktime_ms?,
        script: script?,
        accepted_error_rate: accepted_error_rate?,
        avg_rt_validation_ms: avg_rt_validation_ms?,
        properties,
    })
}

fn count_errors(diagnostics: &Diagnostics<'_>) -> usize {
    diagnostics
        .items
        .iter()
        .filter(|item| item.severity == keptn_core::Severity::Error)
        .count()
}

/// A test strategy: a non-empty string without surrounding whitespace.
fn read_teststrategy(
    value: &Value,
    path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() && text.trim() == text => {
            return Some(text.clone());
        }
        Value::String(text) if text.trim().is_empty() => {
            diagnostics.error(path, "teststrategy must not be empty");
        }
        Value::String(text) => diagnostics.error(
            path,
            format!("teststrategy '{text}' has surrounding whitespace"),
        ),
        other => diagnostics.error(
            path,
            format!("teststrategy must be a string, found {}", describe(other)),
        ),
    }
    None
}

/// A plan's path, relative to the service's directory ([`check_script`]).
fn read_script(
    value: &Value,
    path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) -> Option<String> {
    match value {
        Value::String(text) => match check_script(text) {
            Ok(()) => return Some(text.clone()),
            Err(reason) => diagnostics.error(path, format!("script '{text}' {reason}")),
        },
        other => diagnostics.error(
            path,
            format!(
                "script must be a path like 'jmeter/load.jmx', found {}",
                describe(other)
            ),
        ),
    }
    None
}

/// A fraction of the samples, at least 0; above 1 is a warning.
fn read_accepted_error_rate(
    value: &Value,
    path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) -> Option<f64> {
    match value.as_f64() {
        Some(rate) if rate.is_finite() && rate >= 0.0 => {
            if rate > 1.0 {
                diagnostics.warning(
                    path,
                    format!(
                        "acceptederrorrate '{rate}' is above 1: it is a fraction of the samples (0.1 accepts 10 %), so every error rate passes"
                    ),
                );
            }
            Some(rate)
        }
        _ => {
            diagnostics.error(
                path,
                format!(
                    "acceptederrorrate must be a fraction of at least 0 (0.1 accepts 10 %), found {}",
                    describe_scalar(value)
                ),
            );
            None
        }
    }
}

/// JMeter properties: names without `=` or whitespace, values any scalar (as text). Invalid
/// entries are reported and left out.
fn read_properties(
    properties: Shaped<Mapping>,
    path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) -> BTreeMap<String, String> {
    let mut res = BTreeMap::new();
    let entries = match properties {
        Shaped::Expected(entries) => entries,
        Shaped::Found(Value::Null) => return res,
        Shaped::Found(other) => {
            diagnostics.error(
                path,
                format!(
                    "properties must be a mapping of name to value, found {}",
                    describe(&other)
                ),
            );
            return res;
        }
    };
    for (name, property) in &entries {
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
                res.insert(name, text);
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
    res
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
