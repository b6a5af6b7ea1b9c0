//! `remediation.yaml` (spec.keptn.sh/0.1.4, kind `Remediation`) and the action choice of
//! Keptn's remediation-service.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;
use crate::diagnostic::Diagnostics;
use crate::event::{Action, Problem};
use crate::yaml::{Location, SourceMap, YamlPath};

/// The only apiVersion the remediation-service accepts.
pub const REMEDIATION_API_VERSION: &str = "spec.keptn.sh/0.1.4";

/// The problem type every unmatched problem falls back to.
pub const DEFAULT_PROBLEM_TYPE: &str = "default";

/// A raw remediation file.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawRemediation {
    /// `apiVersion`.
    #[serde(rename = "apiVersion", default)]
    pub api_version: Option<String>,
    /// `kind`.
    #[serde(default)]
    pub kind: Option<String>,
    /// `metadata` (name only).
    #[serde(default)]
    pub metadata: Option<serde_yaml::Value>,
    /// `spec`.
    #[serde(default)]
    pub spec: Option<RawRemediationSpec>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_yaml::Value>,
}

/// `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawRemediationSpec {
    /// `remediations`.
    #[serde(default)]
    pub remediations: Vec<RawRemediationEntry>,
}

/// One `remediations[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawRemediationEntry {
    /// `problemType`.
    #[serde(rename = "problemType", default)]
    pub problem_type: Option<String>,
    /// `actionsOnOpen`.
    #[serde(rename = "actionsOnOpen", default)]
    pub actions_on_open: Vec<RawAction>,
}

/// One action.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawAction {
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `action`.
    #[serde(default)]
    pub action: Option<String>,
    /// `description`.
    #[serde(default)]
    pub description: Option<String>,
    /// `value` (string or map).
    #[serde(default)]
    pub value: Option<serde_yaml::Value>,
}

/// A validated remediation file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remediation {
    /// Problem types in declared order, each with its actions in order.
    pub remediations: Vec<ProblemRemediation>,
}

/// The actions for one problem type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemRemediation {
    /// Problem type (matched against root cause, then title; `default` is the fallback).
    pub problem_type: String,
    /// Actions, tried one per remediation iteration.
    pub actions: Vec<Action>,
}

/// What get-action answers for a problem: the next action to run, or escalation when none
/// is left.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionChoice<'remediation> {
    /// Run this action; the next iteration uses `next_index`.
    Action {
        /// The action.
        action: &'remediation Action,
        /// `actionIndex + 1`.
        next_index: u64,
    },
    /// No (more) actions: escalate (get-action finishes with result `fail`).
    Escalate,
}

impl Remediation {
    /// The action for `problem` at `action_index` (root cause first, then title, then
    /// `default`).
    pub fn action_for(&self, problem: &Problem, action_index: u64) -> ActionChoice<'_> {
        let by_type = |wanted: Option<&str>| {
            wanted.and_then(|wanted| {
                self.remediations
                    .iter()
                    .find(|entry| entry.problem_type == wanted)
            })
        };
        let entry = by_type(problem.root_cause.as_deref())
            .or_else(|| by_type(problem.problem_title.as_deref()))
            .or_else(|| by_type(Some(DEFAULT_PROBLEM_TYPE)));
        let Some(entry) = entry else {
            return ActionChoice::Escalate;
        };
        match usize::try_from(action_index)
            .ok()
            .and_then(|index| entry.actions.get(index))
        {
            Some(action) => ActionChoice::Action {
                action,
                next_index: action_index + 1,
            },
            None => ActionChoice::Escalate,
        }
    }
}

/// Parses and validates a remediation file; warnings are returned with it.
pub fn parse(source: &str) -> Result<(Remediation, Vec<crate::Diagnostic>), Error> {
    let source_map = SourceMap::new(source);
    let mut diagnostics = Diagnostics::new(&source_map);
    let raw: RawRemediation = match serde_yaml::from_str(source) {
        Ok(raw) => raw,
        Err(err) => {
            let location = err.location().map(|l| Location {
                line: l.line(),
                column: l.column(),
            });
            diagnostics.error_at(
                location,
                YamlPath::root(),
                format!("not a valid remediation file: {err}"),
            );
            return Err(Error::InvalidRemediation {
                diagnostics: diagnostics.items,
            });
        }
    };
    let root = YamlPath::root();
    match raw.api_version.as_deref() {
        Some(REMEDIATION_API_VERSION) => {}
        Some(other) => diagnostics.error(&root.key("apiVersion"), format!("apiVersion '{other}' is not supported: the remediation-service accepts only {REMEDIATION_API_VERSION}")),
        None => diagnostics.error(&root, format!("missing apiVersion (expected {REMEDIATION_API_VERSION})")),
    }
    match raw.kind.as_deref() {
        Some("Remediation") | None => {}
        Some(other) => diagnostics.warning(
            &root.key("kind"),
            format!("kind '{other}' is not 'Remediation'"),
        ),
    }
    for key in raw.unknown.keys() {
        diagnostics.warning_at_key(
            &root.key(key),
            format!("unknown key '{key}' in a remediation file"),
        );
    }
    let mut remediations = Vec::new();
    let entries = raw.spec.map(|spec| spec.remediations).unwrap_or_default();
    for (entry_idx, entry) in entries.into_iter().enumerate() {
        let path = root.key("spec").key("remediations").index(entry_idx);
        let Some(problem_type) = entry.problem_type.filter(|text| !text.is_empty()) else {
            diagnostics.error(&path, "remediation has no problemType");
            continue;
        };
        if entry.actions_on_open.is_empty() {
            diagnostics.warning(
                &path,
                format!("problem type '{problem_type}' has no actionsOnOpen: it always escalates"),
            );
        }
        let mut actions = Vec::new();
        for (action_idx, raw_action) in entry.actions_on_open.into_iter().enumerate() {
            let action_path = path.key("actionsOnOpen").index(action_idx);
            if raw_action.action.as_deref().is_none_or(str::is_empty) {
                diagnostics.error(&action_path, "action has no 'action' (e.g. scaling)");
            }
            let value = raw_action
                .value
                .and_then(|value| serde_json::to_value(value).ok())
                .filter(|value| !value.is_null());
            actions.push(Action {
                name: raw_action.name,
                action: raw_action.action,
                description: raw_action.description,
                value,
                extra: BTreeMap::<String, Value>::new(),
            });
        }
        remediations.push(ProblemRemediation {
            problem_type,
            actions,
        });
    }
    if diagnostics.has_errors() {
        return Err(Error::InvalidRemediation {
            diagnostics: diagnostics.items,
        });
    }
    Ok((Remediation { remediations }, diagnostics.items))
}
