//! The shipyard exactly as written in YAML (spec.keptn.sh/0.2.x and the 2020 `keptn: v1`
//! form). Unknown keys are kept in `unknown` so validation can warn about them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

/// A spec.keptn.sh/0.2.x shipyard document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawShipyard {
    /// `apiVersion`, e.g. `spec.keptn.sh/0.2.2` (a YAML number such as `0.2` is accepted).
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub api_version: Option<Value>,
    /// `kind` (`Shipyard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `metadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<RawMetadata>,
    /// `spec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<RawSpec>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// `metadata`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawMetadata {
    /// `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// `spec`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawSpec {
    /// `spec.stages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<RawStage>>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// A stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawStage {
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `sequences`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequences: Option<Vec<RawSequence>>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// A sequence.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawSequence {
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `triggeredOn`.
    #[serde(
        rename = "triggeredOn",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub triggered_on: Option<Vec<RawTrigger>>,
    /// `tasks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<RawTask>>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// A task.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawTask {
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `triggeredAfter`, a Go duration (`10m`).
    #[serde(
        rename = "triggeredAfter",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub triggered_after: Option<String>,
    /// `properties`, any YAML value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Value>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// A `triggeredOn` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawTrigger {
    /// `event`: `<stage>.<sequence>.finished`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// `selector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<RawSelector>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// A `selector`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawSelector {
    /// `match`: result keys to values.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub match_: Option<BTreeMap<String, String>>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// The 2020 (Keptn 0.6/0.7, `keptn: v1`) shipyard: a list of stages with strategies.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawShipyardV1 {
    /// `stages`, in promotion order.
    #[serde(default)]
    pub stages: Vec<RawStageV1>,
    /// Unknown keys (e.g. `registry`).
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// A v1 stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawStageV1 {
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `deployment_strategy`: `direct` or `blue_green_service`.
    #[serde(default)]
    pub deployment_strategy: Option<String>,
    /// `test_strategy`: `functional` or `performance`.
    #[serde(default)]
    pub test_strategy: Option<String>,
    /// `approval_strategy` (`pass`/`warning`: `automatic` | `manual`; default automatic).
    #[serde(default)]
    pub approval_strategy: Option<RawApprovalStrategyV1>,
    /// `remediation_strategy`: `automated`.
    #[serde(default)]
    pub remediation_strategy: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// A v1 `approval_strategy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawApprovalStrategyV1 {
    /// For an evaluation `pass`.
    #[serde(default)]
    pub pass: Option<String>,
    /// For an evaluation `warning`.
    #[serde(default)]
    pub warning: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}
