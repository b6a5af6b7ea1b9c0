//! Shipyard: stages, the task sequences that run in them, and how sequences chain.
//!
//! [`parse`] takes the YAML text of a spec.keptn.sh/0.2.x shipyard or of the 2020 `keptn: v1`
//! form (converted with [`v1::convert`]) and returns a validated [`Shipyard`] plus warnings, or
//! [`crate::Error::InvalidShipyard`] with every located finding.
//!
//! Validation rejects what Keptn's shipyard-controller rejects (undecodable YAML, an
//! `apiVersion` below 0.2, no stages, invalid or duplicate stage names) and what breaks event
//! types (a `.` in a sequence or task name), plus a `triggeredOn` naming a sequence that does
//! not exist. It warns about
//! what Keptn accepts silently: unknown keys, duplicate sequence or task names, selectors that
//! can never match (`result: failed`), non-duration `triggeredAfter`, unknown strategies.

mod raw;
pub mod v1;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use raw::{
    RawApprovalStrategyV1, RawMetadata, RawSelector, RawSequence, RawShipyard, RawShipyardV1,
    RawSpec, RawStage, RawStageV1, RawTask, RawTrigger,
};

use crate::Error;
use crate::diagnostic::{Diagnostic, Diagnostics, Severity};
use crate::event::TaskResult;
use crate::yaml::{Location, SourceMap, YamlPath};

/// The name of the sequence every stage has implicitly: `<stage>.evaluation.triggered` runs a
/// one-task `[evaluation]` sequence unless the stage defines an `evaluation` sequence itself.
pub const BUILT_IN_EVALUATION: &str = "evaluation";

/// A validated shipyard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipyard {
    /// The `apiVersion` as written (`spec.keptn.sh/0.2.2`); `spec.keptn.sh/0.2.0` for a
    /// converted v1 shipyard.
    pub api_version: String,
    /// `metadata.name`, if any.
    pub name: Option<String>,
    /// Stages in declared order (the order chaining follows).
    pub stages: Vec<Stage>,
}

/// A stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Keptn entity name (`^[a-z]([a-z0-9-]*[a-z0-9])?$`).
    pub name: String,
    /// Sequences in declared order; with duplicate names the first wins.
    pub sequences: Vec<Sequence>,
}

/// A sequence of tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    /// Name (no dots).
    pub name: String,
    /// Triggers in declared order.
    pub triggered_on: Vec<Trigger>,
    /// Tasks in order; may be empty (then triggering the sequence fails at once).
    pub tasks: Vec<Task>,
}

/// A task of a sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Name (no dots); becomes `sh.keptn.event.<name>.triggered`.
    pub name: String,
    /// Delay before the task is triggered; `None` when absent or not a duration.
    pub triggered_after: Option<Duration>,
    /// `properties`, placed under `data.<name>` of the `.triggered` event (`Null` when absent).
    pub properties: Value,
}

/// A `triggeredOn` entry: run this sequence when `stage.sequence` finishes and the selector
/// matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// Upstream stage.
    pub stage: String,
    /// Upstream sequence.
    pub sequence: String,
    /// When it fires.
    pub selector: Selector,
}

/// When a trigger fires. Triggers are checked when the upstream sequence ends normally (not
/// when it cannot start, times out or is aborted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selector {
    /// No `selector.match`: fires when the upstream result is `pass` or `warning`.
    PassOrWarning,
    /// `selector.match`: fires when `match["result"]` or `match["<last task>.result"]` equals
    /// the upstream result (plain string equality; other keys are ignored).
    Match(BTreeMap<String, String>),
}

impl Selector {
    /// Whether a sequence that ended with `result` after running `last_task` fires this.
    pub fn fires(&self, result: &TaskResult, last_task: &str) -> bool {
        match self {
            Self::PassOrWarning => result.is_passing(),
            Self::Match(entries) => {
                let wanted = result.as_str();
                entries.get("result").is_some_and(|value| value == wanted)
                    || entries
                        .get(&format!("{last_task}.result"))
                        .is_some_and(|value| value == wanted)
            }
        }
    }
}

/// Why a sequence cannot start (it then finishes at once with result `fail` and does not
/// chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartFailure {
    /// The stage is not in the shipyard.
    UnknownStage,
    /// The stage has no sequence of that name (and it is not the built-in evaluation).
    UnknownSequence,
    /// The sequence has no tasks.
    NoTasks,
}

impl StartFailure {
    /// A message for the `.finished` event.
    pub fn message(&self, stage: &str, sequence: &str) -> String {
        match self {
            Self::UnknownStage => format!("stage '{stage}' is not defined in the shipyard"),
            Self::UnknownSequence => {
                format!("sequence '{sequence}' is not defined in stage '{stage}' of the shipyard")
            }
            Self::NoTasks => format!("sequence '{stage}.{sequence}' has no tasks"),
        }
    }
}

/// The form a shipyard file was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Form {
    /// spec.keptn.sh/0.2.x.
    V02,
    /// The 2020 `keptn: v1` form (converted).
    V1,
}

/// A shipyard that passed validation, with its warnings.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The shipyard.
    pub shipyard: Shipyard,
    /// Warnings (never errors).
    pub warnings: Vec<Diagnostic>,
    /// The form the file was written in.
    pub form: Form,
}

impl Shipyard {
    /// The stage named `name`.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|stage| stage.name == name)
    }

    /// The first stage (the default stage of `keptn trigger delivery`).
    pub fn first_stage(&self) -> Option<&Stage> {
        self.stages.first()
    }

    /// The task list to run for `stage.sequence`, including the built-in one-task `evaluation`
    /// of a stage that defines no `evaluation` sequence.
    pub fn resolve_sequence(
        &self,
        stage: &str,
        sequence: &str,
    ) -> Result<Cow<'_, Sequence>, StartFailure> {
        let stage = self.stage(stage).ok_or(StartFailure::UnknownStage)?;
        let found = match stage
            .sequences
            .iter()
            .find(|candidate| candidate.name == sequence)
        {
            Some(found) => Cow::Borrowed(found),
            None if sequence == BUILT_IN_EVALUATION => Cow::Owned(Sequence {
                name: BUILT_IN_EVALUATION.to_owned(),
                triggered_on: Vec::new(),
                tasks: vec![Task {
                    name: "evaluation".to_owned(),
                    triggered_after: None,
                    properties: Value::Null,
                }],
            }),
            None => return Err(StartFailure::UnknownSequence),
        };
        if found.tasks.is_empty() {
            return Err(StartFailure::NoTasks);
        }
        Ok(found)
    }

    /// The sequences to trigger when `stage.sequence` ended normally with `result` after
    /// running `last_task`, in shipyard order (stage, sequence, trigger entry). A sequence
    /// appears once per matching entry.
    pub fn triggered_by(
        &self,
        stage: &str,
        sequence: &str,
        result: &TaskResult,
        last_task: &str,
    ) -> Vec<(&str, &str)> {
        let mut res = Vec::new();
        for downstream_stage in &self.stages {
            for (sequence_idx, downstream) in downstream_stage.sequences.iter().enumerate() {
                if is_shadowed(downstream_stage, sequence_idx) {
                    continue;
                }
                for trigger in &downstream.triggered_on {
                    if trigger.stage == stage
                        && trigger.sequence == sequence
                        && trigger.selector.fires(result, last_task)
                    {
                        res.push((downstream_stage.name.as_str(), downstream.name.as_str()));
                    }
                }
            }
        }
        res
    }
}

/// Whether the sequence at `sequence_idx` has the same name as an earlier one (which wins).
fn is_shadowed(stage: &Stage, sequence_idx: usize) -> bool {
    let name = &stage.sequences[sequence_idx].name;
    stage.sequences[..sequence_idx]
        .iter()
        .any(|earlier| &earlier.name == name)
}

/// Parses and validates a shipyard in either form.
pub fn parse(source: &str) -> Result<Parsed, Error> {
    let source_map = SourceMap::new(source);
    let mut diagnostics = Diagnostics::new(&source_map);
    let top: serde_yaml::Value = match serde_yaml::from_str(source) {
        Ok(top) => top,
        Err(err) => {
            diagnostics.error_at(
                yaml_error_location(&err),
                YamlPath::root(),
                format!("not valid YAML: {}", yaml_error_message(&err)),
            );
            return Err(Error::InvalidShipyard {
                diagnostics: diagnostics.items,
            });
        }
    };
    if !matches!(top, serde_yaml::Value::Mapping(_) | serde_yaml::Value::Null) {
        diagnostics.error(
            &YamlPath::root(),
            "a shipyard must be a YAML mapping with apiVersion, kind, metadata and spec",
        );
        return Err(Error::InvalidShipyard {
            diagnostics: diagnostics.items,
        });
    }
    let is_v1 = top.as_mapping().is_some_and(|mapping| {
        mapping.get("stages").is_some()
            && mapping.get("apiVersion").is_none()
            && mapping.get("spec").is_none()
    });
    let (shipyard, form) = if is_v1 {
        let raw: RawShipyardV1 = match serde_yaml::from_str(source) {
            Ok(raw) => raw,
            Err(err) => {
                decode_error(&mut diagnostics, &err);
                return Err(Error::InvalidShipyard {
                    diagnostics: sorted(diagnostics.items),
                });
            }
        };
        v1::check(&raw, &mut diagnostics);
        let converted = v1::convert(&raw);
        // The converted document has no source text: its findings stay unlocated.
        let no_source = SourceMap::unlocated();
        let mut converted_diagnostics = Diagnostics::new(&no_source);
        let shipyard = validate(&converted, &mut converted_diagnostics);
        // Findings about the generated document are only reported if v1::check missed them.
        if !diagnostics.has_errors() {
            diagnostics.items.extend(
                converted_diagnostics
                    .items
                    .into_iter()
                    .filter(|d| d.severity == Severity::Error),
            );
        }
        (shipyard, Form::V1)
    } else {
        let raw: RawShipyard = match serde_yaml::from_str(source) {
            Ok(raw) => raw,
            Err(err) => {
                decode_error(&mut diagnostics, &err);
                return Err(Error::InvalidShipyard {
                    diagnostics: sorted(diagnostics.items),
                });
            }
        };
        (validate(&raw, &mut diagnostics), Form::V02)
    };
    if diagnostics.has_errors() {
        return Err(Error::InvalidShipyard {
            diagnostics: sorted(diagnostics.items),
        });
    }
    Ok(Parsed {
        shipyard,
        warnings: sorted(diagnostics.items),
        form,
    })
}

/// Document order (unlocated findings last); equal locations keep discovery order.
fn sorted(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|diagnostic| {
        diagnostic
            .location
            .map_or((usize::MAX, usize::MAX), |l| (l.line, l.column))
    });
    diagnostics
}

fn yaml_error_location(err: &serde_yaml::Error) -> Option<Location> {
    err.location().map(|location| Location {
        line: location.line(),
        column: location.column(),
    })
}

fn yaml_error_message(err: &serde_yaml::Error) -> String {
    yaml_error_parts(err).1
}

/// Splits a decoder error into the YAML path it names (`spec.stages[0]: ...`) and the
/// message without its trailing "at line L column C" (the location is reported separately).
pub(crate) fn yaml_error_parts(err: &serde_yaml::Error) -> (YamlPath, String) {
    let text = err.to_string();
    let text = match text.find(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    };
    match text.split_once(": ") {
        Some((prefix, message)) if !prefix.contains(' ') && !prefix.is_empty() => {
            (YamlPath::parse_dotted(prefix), message.to_owned())
        }
        _ => (YamlPath::root(), text),
    }
}

fn decode_error(diagnostics: &mut Diagnostics<'_>, err: &serde_yaml::Error) {
    let (path, message) = yaml_error_parts(err);
    diagnostics.error_at(yaml_error_location(err), path, message);
}

/// Keptn's entity-name rule for projects, stages and services.
pub fn is_valid_entity_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    if !first.is_ascii_lowercase() {
        return false;
    }
    if rest.last() == Some(&b'-') {
        return false;
    }
    rest.iter()
        .all(|&byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

/// Parses a Go duration (`10m`, `1h30m`, `90s`, `1.5h`, `300ms`); `None` if it is not one.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total_nanos: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_nanos += number * unit_nanos;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some(Duration::from_nanos(total_nanos.round() as u64))
}

fn api_version_text(value: &serde_yaml::Value) -> Option<String> {
    match value {
        serde_yaml::Value::String(text) => Some(text.clone()),
        serde_yaml::Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Keptn's lenient semver check of `apiVersion`: strip `spec.keptn.sh/` and a `v`, require
/// >= 0.2 (so `0.2` and `v0.2.0` pass, and `0.1.x` does not).
fn api_version_is_supported(text: &str) -> Result<(), String> {
    let version = text.strip_prefix("spec.keptn.sh/").unwrap_or(text);
    let version = version.strip_prefix('v').unwrap_or(version);
    let mut parts = version.split('.');
    let parse = |part: Option<&str>| -> Result<u64, String> {
        match part {
            None => Ok(0),
            Some(part) => {
                // Pre-release/build suffixes (`0.2.0-rc1`) do not matter for the comparison.
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                digits
                    .parse()
                    .map_err(|_| format!("apiVersion '{text}' is not a version"))
            }
        }
    };
    let major = parse(parts.next())?;
    let minor = parse(parts.next())?;
    let _patch = parse(parts.next())?;
    if parts.next().is_some() {
        return Err(format!("apiVersion '{text}' is not a version"));
    }
    if (major, minor) < (0, 2) {
        return Err(format!(
            "apiVersion '{text}' is not supported: a shipyard needs spec.keptn.sh/0.2.0 or later"
        ));
    }
    Ok(())
}

fn warn_unknown_keys(
    unknown: &BTreeMap<String, serde_yaml::Value>,
    path: &YamlPath,
    what: &str,
    diagnostics: &mut Diagnostics<'_>,
) {
    for key in unknown.keys() {
        diagnostics.warning_at_key(
            &path.key(key),
            format!("unknown key '{key}' in {what} (Keptn ignores it)"),
        );
    }
}

fn check_sequence_or_task_name(
    name: Option<&String>,
    what: &str,
    path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) -> String {
    match name {
        None => {
            diagnostics.error(path, format!("{what} has no name"));
            String::new()
        }
        Some(name) if name.trim().is_empty() => {
            diagnostics.error(&path.key("name"), format!("{what} name is empty"));
            String::new()
        }
        Some(name) if name.contains('.') || name.chars().any(char::is_whitespace) => {
            diagnostics.error(
                &path.key("name"),
                format!(
                    "{what} name '{name}' contains a dot or a space, which breaks its event types"
                ),
            );
            name.clone()
        }
        Some(name) => name.clone(),
    }
}

/// Validates a raw 0.2 shipyard, recording findings; the returned shipyard is only meaningful
/// when no error was recorded.
pub fn validate(raw: &RawShipyard, diagnostics: &mut Diagnostics<'_>) -> Shipyard {
    let root = YamlPath::root();
    let api_version = match raw.api_version.as_ref().map(api_version_text) {
        None => {
            diagnostics.error(&root, "missing apiVersion (expected spec.keptn.sh/0.2.x)");
            String::new()
        }
        Some(None) => {
            diagnostics.error(
                &root.key("apiVersion"),
                "apiVersion must be a string such as 'spec.keptn.sh/0.2.2'",
            );
            String::new()
        }
        Some(Some(text)) => {
            if let Err(message) = api_version_is_supported(&text) {
                diagnostics.error(&root.key("apiVersion"), message);
            }
            text
        }
    };
    match raw.kind.as_deref() {
        Some("Shipyard") | None => {}
        Some(other) => diagnostics.warning(
            &root.key("kind"),
            format!("kind '{other}' is not 'Shipyard' (Keptn does not check it)"),
        ),
    }
    warn_unknown_keys(&raw.unknown, &root, "the shipyard", diagnostics);
    if let Some(metadata) = &raw.metadata {
        warn_unknown_keys(
            &metadata.unknown,
            &root.key("metadata"),
            "metadata",
            diagnostics,
        );
    }
    let spec_path = root.key("spec");
    let Some(spec) = &raw.spec else {
        diagnostics.error(
            &root,
            "missing spec.stages: a shipyard needs at least one stage",
        );
        return Shipyard {
            api_version,
            name: None,
            stages: Vec::new(),
        };
    };
    warn_unknown_keys(&spec.unknown, &spec_path, "spec", diagnostics);
    let stages_path = spec_path.key("stages");
    let raw_stages = spec.stages.as_deref().unwrap_or_default();
    if raw_stages.is_empty() {
        diagnostics.error(&stages_path, "a shipyard needs at least one stage");
    }

    let mut stages = Vec::new();
    let mut stage_paths: BTreeMap<String, YamlPath> = BTreeMap::new();
    for (stage_idx, raw_stage) in raw_stages.iter().enumerate() {
        let stage_path = stages_path.index(stage_idx);
        warn_unknown_keys(&raw_stage.unknown, &stage_path, "a stage", diagnostics);
        let name = match &raw_stage.name {
            None => {
                diagnostics.error(&stage_path, "stage has no name");
                String::new()
            }
            Some(name) => {
                if !is_valid_entity_name(name) {
                    diagnostics.error(
                        &stage_path.key("name"),
                        format!(
                            "stage name '{name}' is not a valid Keptn name (lower-case letter first, then lower-case letters, digits or '-', not ending with '-')"
                        ),
                    );
                }
                name.clone()
            }
        };
        if !name.is_empty() {
            if let Some(first_path) = stage_paths.get(&name) {
                let first_at = describe_location(diagnostics.locate(&first_path.key("name")));
                diagnostics.error(
                    &stage_path.key("name"),
                    format!("duplicate stage name '{name}' (first defined{first_at}); every stage becomes a branch, so Keptn cannot create it"),
                );
            } else {
                stage_paths.insert(name.clone(), stage_path.clone());
            }
        }
        let sequences = validate_sequences(raw_stage, &name, &stage_path, diagnostics);
        stages.push(Stage { name, sequences });
    }
    let shipyard = Shipyard {
        api_version,
        name: raw
            .metadata
            .as_ref()
            .and_then(|metadata| metadata.name.clone()),
        stages,
    };
    check_triggers(&shipyard, raw, &stages_path, diagnostics);
    shipyard
}

fn describe_location(location: Option<Location>) -> String {
    location
        .map(|location| format!(" at {location}"))
        .unwrap_or_default()
}

fn validate_sequences(
    raw_stage: &RawStage,
    stage_name: &str,
    stage_path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) -> Vec<Sequence> {
    let mut sequences = Vec::new();
    let mut first_paths: BTreeMap<String, YamlPath> = BTreeMap::new();
    for (sequence_idx, raw_sequence) in raw_stage
        .sequences
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let sequence_path = stage_path.key("sequences").index(sequence_idx);
        warn_unknown_keys(
            &raw_sequence.unknown,
            &sequence_path,
            "a sequence",
            diagnostics,
        );
        let name = check_sequence_or_task_name(
            raw_sequence.name.as_ref(),
            "sequence",
            &sequence_path,
            diagnostics,
        );
        if !name.is_empty() {
            if let Some(first_path) = first_paths.get(&name) {
                let first_at = describe_location(diagnostics.locate(&first_path.key("name")));
                diagnostics.warning(
                    &sequence_path.key("name"),
                    format!("duplicate sequence '{name}' in stage '{stage_name}': the first one{first_at} wins and this one never runs"),
                );
            } else {
                first_paths.insert(name.clone(), sequence_path.clone());
            }
        }
        let raw_tasks = raw_sequence.tasks.as_deref().unwrap_or_default();
        if raw_tasks.is_empty() {
            diagnostics.warning(
                &sequence_path.key("tasks"),
                format!("sequence '{stage_name}.{name}' has no tasks: triggering it fails at once"),
            );
        }
        let mut tasks = Vec::new();
        let mut task_first_paths: BTreeMap<String, YamlPath> = BTreeMap::new();
        for (task_idx, raw_task) in raw_tasks.iter().enumerate() {
            let task_path = sequence_path.key("tasks").index(task_idx);
            tasks.push(validate_task(raw_task, &task_path, diagnostics));
            let task_name = tasks
                .last()
                .map(|task: &Task| task.name.clone())
                .unwrap_or_default();
            if task_name.is_empty() {
                continue;
            }
            if let Some(first_path) = task_first_paths.get(&task_name) {
                let first_at = describe_location(diagnostics.locate(&first_path.key("name")));
                diagnostics.warning(
                    &task_path.key("name"),
                    format!("task '{task_name}' appears again in sequence '{stage_name}.{name}' (first{first_at}): both run, and outcomes and '{task_name}.result' selectors cannot tell them apart"),
                );
            } else {
                task_first_paths.insert(task_name, task_path);
            }
        }
        let mut triggered_on = Vec::new();
        for (trigger_idx, raw_trigger) in raw_sequence
            .triggered_on
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let trigger_path = sequence_path.key("triggeredOn").index(trigger_idx);
            if let Some(trigger) = validate_trigger_shape(raw_trigger, &trigger_path, diagnostics) {
                triggered_on.push(trigger);
            }
        }
        sequences.push(Sequence {
            name,
            triggered_on,
            tasks,
        });
    }
    sequences
}

fn validate_task(
    raw_task: &RawTask,
    task_path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) -> Task {
    warn_unknown_keys(&raw_task.unknown, task_path, "a task", diagnostics);
    let name = check_sequence_or_task_name(raw_task.name.as_ref(), "task", task_path, diagnostics);
    let triggered_after = raw_task.triggered_after.as_ref().and_then(|text| {
        let parsed = parse_go_duration(text);
        if parsed.is_none() {
            diagnostics.warning(
                &task_path.key("triggeredAfter"),
                format!("triggeredAfter '{text}' is not a duration such as '10m' or '90s' (Keptn ignores it: no delay)"),
            );
        }
        parsed
    });
    let properties = match &raw_task.properties {
        None | Some(serde_yaml::Value::Null) => Value::Null,
        Some(properties) => match serde_json::to_value(properties) {
            Ok(value) => value,
            Err(err) => {
                diagnostics.error(
                    &task_path.key("properties"),
                    format!("properties cannot be carried in an event: {err}"),
                );
                Value::Null
            }
        },
    };
    check_known_properties(
        &name,
        &properties,
        &task_path.key("properties"),
        diagnostics,
    );
    Task {
        name,
        triggered_after,
        properties,
    }
}

fn check_known_properties(
    task: &str,
    properties: &Value,
    path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) {
    let text = |key: &str| {
        properties
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match task {
        "deployment" => {
            if let Some(strategy) = text("deploymentstrategy")
                && ![
                    "direct",
                    "blue_green_service",
                    "duplicate",
                    "user_managed",
                    "canary",
                ]
                .contains(&strategy.as_str())
            {
                diagnostics.warning(
                        &path.key("deploymentstrategy"),
                        format!("unknown deploymentstrategy '{strategy}' (known: direct, blue_green_service, duplicate, user_managed, canary)"),
                    );
            }
        }
        "approval" => {
            for key in ["pass", "warning"] {
                match text(key) {
                    Some(strategy) if strategy == "automatic" || strategy == "manual" => {}
                    Some(strategy) => diagnostics.warning(
                        &path.key(key),
                        format!("approval {key} strategy '{strategy}' is neither 'automatic' nor 'manual' (treated as manual)"),
                    ),
                    None => diagnostics.warning(
                        path,
                        format!("approval has no '{key}' strategy: Keptn treats an unset strategy as manual"),
                    ),
                }
            }
        }
        _ => {}
    }
}

fn validate_trigger_shape(
    raw_trigger: &RawTrigger,
    trigger_path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) -> Option<Trigger> {
    warn_unknown_keys(
        &raw_trigger.unknown,
        trigger_path,
        "a triggeredOn entry",
        diagnostics,
    );
    let Some(event) = &raw_trigger.event else {
        diagnostics.error(
            trigger_path,
            "triggeredOn entry has no event (expected '<stage>.<sequence>.finished')",
        );
        return None;
    };
    let parts: Vec<&str> = event.split('.').collect();
    let (stage, sequence) = match parts.as_slice() {
        [stage, sequence, "finished"] if !stage.is_empty() && !sequence.is_empty() => {
            ((*stage).to_owned(), (*sequence).to_owned())
        }
        _ => {
            diagnostics.error(
                &trigger_path.key("event"),
                format!(
                    "triggeredOn event '{event}' is not of the form '<stage>.<sequence>.finished'"
                ),
            );
            return None;
        }
    };
    let selector = match &raw_trigger.selector {
        None => Selector::PassOrWarning,
        Some(raw_selector) => {
            warn_unknown_keys(
                &raw_selector.unknown,
                &trigger_path.key("selector"),
                "a selector",
                diagnostics,
            );
            match &raw_selector.match_ {
                None => Selector::PassOrWarning,
                Some(entries) => Selector::Match(entries.clone()),
            }
        }
    };
    Some(Trigger {
        stage,
        sequence,
        selector,
    })
}

/// Cross-references: a trigger must name an existing stage and sequence, and its selector
/// should be able to match.
fn check_triggers(
    shipyard: &Shipyard,
    raw: &RawShipyard,
    stages_path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) {
    let raw_stages = raw
        .spec
        .as_ref()
        .and_then(|spec| spec.stages.as_deref())
        .unwrap_or_default();
    for (stage_idx, raw_stage) in raw_stages.iter().enumerate() {
        let Some(stage) = shipyard.stages.get(stage_idx) else {
            continue;
        };
        for (sequence_idx, raw_sequence) in raw_stage
            .sequences
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let Some(sequence) = stage.sequences.get(sequence_idx) else {
                continue;
            };
            let sequence_path = stages_path
                .index(stage_idx)
                .key("sequences")
                .index(sequence_idx);
            // Raw entries without a valid event were dropped; walk raw indexes to keep paths right.
            let mut validated = sequence.triggered_on.iter();
            for (trigger_idx, raw_trigger) in raw_sequence
                .triggered_on
                .as_deref()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let is_valid = raw_trigger.event.as_deref().is_some_and(|event| {
                    let parts: Vec<&str> = event.split('.').collect();
                    matches!(parts.as_slice(), [s, q, "finished"] if !s.is_empty() && !q.is_empty())
                });
                if !is_valid {
                    continue;
                }
                let Some(trigger) = validated.next() else {
                    break;
                };
                let trigger_path = sequence_path.key("triggeredOn").index(trigger_idx);
                check_one_trigger(
                    shipyard,
                    &stage.name,
                    sequence,
                    trigger,
                    &trigger_path,
                    diagnostics,
                );
            }
        }
    }
}

fn check_one_trigger(
    shipyard: &Shipyard,
    stage_name: &str,
    sequence: &Sequence,
    trigger: &Trigger,
    trigger_path: &YamlPath,
    diagnostics: &mut Diagnostics<'_>,
) {
    let event_path = trigger_path.key("event");
    let Some(upstream_stage) = shipyard.stage(&trigger.stage) else {
        diagnostics.error(
            &event_path,
            format!(
                "triggeredOn names stage '{}', which is not defined in this shipyard",
                trigger.stage
            ),
        );
        return;
    };
    let upstream_tasks: Vec<String> = match shipyard
        .resolve_sequence(&trigger.stage, &trigger.sequence)
    {
        Ok(upstream) => upstream
            .tasks
            .iter()
            .map(|task| task.name.clone())
            .collect(),
        Err(StartFailure::UnknownSequence | StartFailure::UnknownStage) => {
            diagnostics.error(
                &event_path,
                format!(
                    "triggeredOn names sequence '{}.{}', which is not defined in stage '{}'",
                    trigger.stage, trigger.sequence, upstream_stage.name
                ),
            );
            return;
        }
        Err(StartFailure::NoTasks) => {
            diagnostics.warning(
                &event_path,
                format!("triggeredOn names sequence '{}.{}', which has no tasks and therefore never finishes normally", trigger.stage, trigger.sequence),
            );
            return;
        }
    };
    let Selector::Match(entries) = &trigger.selector else {
        if trigger.stage == stage_name && trigger.sequence == sequence.name {
            diagnostics.warning(
                &event_path,
                format!("sequence '{stage_name}.{}' triggers itself whenever it passes: it loops forever", sequence.name),
            );
        }
        return;
    };
    let match_path = trigger_path.key("selector").key("match");
    if entries.is_empty() {
        diagnostics.warning(
            &match_path,
            "an empty selector.match never matches (omit the selector to fire on pass or warning)",
        );
        return;
    }
    let last_task = upstream_tasks.last().cloned().unwrap_or_default();
    for (key, value) in entries {
        let value_path = match_path.key(key);
        if !["pass", "warning", "fail"].contains(&value.as_str()) {
            let hint = if value == "failed" {
                " (Keptn's docs say 'failed', but the result is 'fail')"
            } else {
                ""
            };
            diagnostics.warning(
                &value_path,
                format!("selector value '{value}' can never match: a sequence result is pass, warning or fail{hint}"),
            );
            continue;
        }
        if key == "result" {
            continue;
        }
        let Some(task) = key.strip_suffix(".result") else {
            diagnostics.warning_at_key(
                &value_path,
                format!("selector key '{key}' is ignored: only 'result' and '<task>.result' are compared"),
            );
            continue;
        };
        if !upstream_tasks.iter().any(|name| name == task) {
            diagnostics.warning_at_key(
                &value_path,
                format!(
                    "selector key '{key}' can never match: sequence '{}.{}' has no task '{task}'",
                    trigger.stage, trigger.sequence
                ),
            );
        } else if value != "fail" && task != last_task {
            diagnostics.warning(
                &value_path,
                format!(
                    "selector '{key}: {value}' can never match: '{task}.result' is compared with the sequence result only when '{task}' was the last task run, and a sequence stopping early at '{task}' ends with fail"
                ),
            );
        }
    }
}

/// Keptn's rule for updates: when a project's shipyard is replaced, the set of stage names must
/// stay the same (every stage is a branch of the config repo); reordering is allowed. Returns
/// the problem, quoting the stages added and removed.
pub fn check_update(current: &Shipyard, proposed: &Shipyard) -> Result<(), String> {
    let names = |shipyard: &Shipyard| -> std::collections::BTreeSet<String> {
        shipyard
            .stages
            .iter()
            .map(|stage| stage.name.clone())
            .collect()
    };
    let (before, after) = (names(current), names(proposed));
    if before == after {
        return Ok(());
    }
    let added: Vec<&str> = after.difference(&before).map(String::as_str).collect();
    let removed: Vec<&str> = before.difference(&after).map(String::as_str).collect();
    Err(format!(
        "the stages of a project cannot change: added [{}], removed [{}]",
        added.join(", "),
        removed.join(", ")
    ))
}

/// The shipyard as spec.keptn.sh/0.2 raw types (for printing; `convert` uses it).
pub fn to_raw(shipyard: &Shipyard) -> RawShipyard {
    let stages = shipyard
        .stages
        .iter()
        .map(|stage| RawStage {
            name: Some(stage.name.clone()),
            sequences: (!stage.sequences.is_empty())
                .then(|| stage.sequences.iter().map(sequence_to_raw).collect()),
            unknown: BTreeMap::new(),
        })
        .collect();
    RawShipyard {
        api_version: Some(serde_yaml::Value::String(shipyard.api_version.clone())),
        kind: Some("Shipyard".to_owned()),
        metadata: shipyard.name.as_ref().map(|name| RawMetadata {
            name: Some(name.clone()),
            unknown: BTreeMap::new(),
        }),
        spec: Some(RawSpec {
            stages: Some(stages),
            unknown: BTreeMap::new(),
        }),
        unknown: BTreeMap::new(),
    }
}

fn sequence_to_raw(sequence: &Sequence) -> RawSequence {
    RawSequence {
        name: Some(sequence.name.clone()),
        triggered_on: (!sequence.triggered_on.is_empty()).then(|| {
            sequence
                .triggered_on
                .iter()
                .map(|trigger| RawTrigger {
                    event: Some(format!("{}.{}.finished", trigger.stage, trigger.sequence)),
                    selector: match &trigger.selector {
                        Selector::PassOrWarning => None,
                        Selector::Match(entries) => Some(RawSelector {
                            match_: Some(entries.clone()),
                            unknown: BTreeMap::new(),
                        }),
                    },
                    unknown: BTreeMap::new(),
                })
                .collect()
        }),
        tasks: Some(
            sequence
                .tasks
                .iter()
                .map(|task| RawTask {
                    name: Some(task.name.clone()),
                    triggered_after: task.triggered_after.map(format_go_duration),
                    properties: (!task.properties.is_null())
                        .then(|| serde_yaml::to_value(&task.properties).ok())
                        .flatten(),
                    unknown: BTreeMap::new(),
                })
                .collect(),
        ),
        unknown: BTreeMap::new(),
    }
}

/// The shipyard as spec.keptn.sh/0.2 YAML.
pub fn to_yaml(shipyard: &Shipyard) -> String {
    serde_yaml::to_string(&to_raw(shipyard))
        .expect("a shipyard always serialises: string keys only")
}

/// Formats a duration the way Go and shipyards write it (`15m`, `1h30m`, `90s` -> `1m30s`).
pub fn format_go_duration(duration: Duration) -> String {
    let total_millis = duration.as_millis();
    if total_millis == 0 {
        return "0s".to_owned();
    }
    if !total_millis.is_multiple_of(1000) {
        return format!("{total_millis}ms");
    }
    let total_seconds = total_millis / 1000;
    let (hours, minutes, seconds) = (
        total_seconds / 3600,
        (total_seconds / 60) % 60,
        total_seconds % 60,
    );
    let mut res = String::new();
    if hours > 0 {
        res.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        res.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 {
        res.push_str(&format!("{seconds}s"));
    }
    res
}
