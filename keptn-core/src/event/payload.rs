//! Task payloads: the object named after the task inside `data` (`data.deployment`,
//! `data.test`, ...), with the fields Keptn's services read and write.
//!
//! Every payload keeps fields it does not know in `extra`, so decoding and encoding again loses
//! nothing. Payloads are decoded on demand with [`super::EventData::payload`]; the event itself
//! stores them as JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `data.deployment` of deployment, test, evaluation and release events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// `deploymentstrategy`: `direct`, `blue_green_service` (alias `duplicate`), `user_managed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploymentstrategy: Option<String>,
    /// `deploymentURIsLocal`.
    #[serde(
        rename = "deploymentURIsLocal",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deployment_uris_local: Option<Vec<String>>,
    /// `deploymentURIsPublic`.
    #[serde(
        rename = "deploymentURIsPublic",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deployment_uris_public: Option<Vec<String>>,
    /// `deploymentNames` (`canary`, `direct`, `user_managed`).
    #[serde(
        rename = "deploymentNames",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deployment_names: Option<Vec<String>>,
    /// `canaryweight` (strategy `canary`): the new version's first share of the traffic, a
    /// percentage as a number or a string (`20`, `"20%"`); kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canaryweight: Option<Value>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `data.configurationChange` of a delivery trigger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigurationChange {
    /// Helm values to set, e.g. `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, Value>>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `data.test`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Test {
    /// `teststrategy`: `functional`, `performance`, `healthcheck`, `real-user`, or custom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teststrategy: Option<String>,
    /// Start of the test run (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End of the test run (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `data.evaluation` (triggered: timeframe; finished: the evaluation result).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Evaluation start (triggered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Evaluation end (triggered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Timeframe such as `15m` (triggered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<String>,
    /// `timeStart` (finished).
    #[serde(rename = "timeStart", default, skip_serializing_if = "Option::is_none")]
    pub time_start: Option<String>,
    /// `timeEnd` (finished).
    #[serde(rename = "timeEnd", default, skip_serializing_if = "Option::is_none")]
    pub time_end: Option<String>,
    /// Evaluation result (finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Total score (finished), kept as JSON so integers stay integers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<Value>,
    /// Base64 of the SLO file used (finished).
    #[serde(
        rename = "sloFileContent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub slo_file_content: Option<String>,
    /// Indicator results (finished), in keptn-slo's shape.
    #[serde(
        rename = "indicatorResults",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub indicator_results: Option<Vec<Value>>,
    /// Ids of evaluations compared with (finished).
    #[serde(
        rename = "comparedEvents",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub compared_events: Option<Vec<String>>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `data.get-sli`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetSli {
    /// `sliProvider` (triggered).
    #[serde(
        rename = "sliProvider",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sli_provider: Option<String>,
    /// The deployment the SLIs are about (`canary`, `primary`, `direct`), triggered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Range start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Range end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// SLI names to fetch (triggered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicators: Option<Vec<String>>,
    /// SLO filters as `{key, value}` (triggered).
    #[serde(
        rename = "customFilters",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub custom_filters: Option<Vec<Value>>,
    /// Values (finished), in keptn-slo's shape (`{metric, value, success, message}`).
    #[serde(
        rename = "indicatorValues",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub indicator_values: Option<Vec<keptn_slo::SliValue>>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `automatic` or `manual`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStrategy {
    /// Approve without a human.
    Automatic,
    /// Wait for a human (`approval.finished` sent by the CLI or the Bridge).
    Manual,
}

/// `data.approval` (shipyard properties of the approval task).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// Strategy for an incoming `pass`; unset means manual (as Keptn's code does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<ApprovalStrategy>,
    /// Strategy for an incoming `warning`; unset means manual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<ApprovalStrategy>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `data.release` (release uses `deployment` for the strategy).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// `canaryweight` (strategy `canary`): below 100, the release is a step that shifts this
    /// share of the traffic to the canary; kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canaryweight: Option<Value>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `data.rollback` (no fields of its own).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `data.problem` of a remediation trigger and of get-action/action events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// `problemTitle` (also accepted as `ProblemTitle`).
    #[serde(
        rename = "problemTitle",
        alias = "ProblemTitle",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub problem_title: Option<String>,
    /// `rootCause`.
    #[serde(rename = "rootCause", default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
    /// `State` (`OPEN`, `RESOLVED`).
    #[serde(rename = "State", default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `ProblemID`.
    #[serde(rename = "ProblemID", default, skip_serializing_if = "Option::is_none")]
    pub problem_id: Option<String>,
    /// `ProblemDetails`.
    #[serde(
        rename = "ProblemDetails",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub problem_details: Option<Value>,
    /// `ProblemURL`.
    #[serde(
        rename = "ProblemURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub problem_url: Option<String>,
    /// `ImpactedEntity`.
    #[serde(
        rename = "ImpactedEntity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub impacted_entity: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `data.get-action`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetAction {
    /// `actionIndex`: which action of the remediation to take (0 when absent).
    #[serde(
        rename = "actionIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub action_index: Option<u64>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `data.action`: the remediation action to execute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Action identifier, e.g. `scaling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Action value (string for scaling, a map for feature toggles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}
