//! Inputs and outputs of an evaluation, in Keptn's JSON shapes.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One SLI value from an SLI provider (Keptn's `SLIResult`), and the `value` of an indicator
/// result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SliValue {
    /// The SLI name (shared: an evaluation's results share their objective's name).
    pub metric: Arc<str>,
    /// The measured value.
    #[serde(with = "crate::number", default)]
    pub value: f64,
    /// The baseline the value was compared with (0 when none). Providers leave it 0; the
    /// evaluation sets it on evaluated objectives.
    #[serde(with = "crate::number", default)]
    pub compared_value: f64,
    /// Whether the provider could measure the value. A `false` value never passes. Required
    /// when read: a value that does not say whether it was measured is not trusted.
    pub success: bool,
    /// Why the value could not be measured, or other provider notes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl SliValue {
    /// A successfully measured value.
    pub fn new(metric: impl Into<Arc<str>>, value: f64) -> Self {
        SliValue {
            metric: metric.into(),
            value,
            compared_value: 0.0,
            success: true,
            message: String::new(),
        }
    }

    /// A value the provider could not measure.
    pub fn failed(metric: impl Into<Arc<str>>, message: impl Into<String>) -> Self {
        SliValue {
            metric: metric.into(),
            value: 0.0,
            compared_value: 0.0,
            success: false,
            message: message.into(),
        }
    }
}

/// The result of an evaluation, or of one objective's targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvaluationResult {
    /// Failed (Keptn before 0.8 wrote `failed`, which is read as this).
    #[serde(alias = "failed")]
    Fail,
    /// Warning.
    Warning,
    /// Passed.
    Pass,
}

impl EvaluationResult {
    /// The name Keptn uses.
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluationResult::Pass => "pass",
            EvaluationResult::Warning => "warning",
            EvaluationResult::Fail => "fail",
        }
    }
}

/// The status of one objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The pass criteria are met.
    Pass,
    /// Only the warning criteria are met.
    Warning,
    /// Neither, or the SLI value is missing or failed.
    #[serde(alias = "failed")]
    Fail,
    /// Informational objective: no pass criteria, never scored.
    Info,
}

impl Status {
    /// The name Keptn uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warning => "warning",
            Status::Fail => "fail",
            Status::Info => "info",
        }
    }
}

/// One evaluated criterion (Keptn's `SLITarget`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// The criterion as written in the SLO file.
    pub criteria: Arc<str>,
    /// The value compared with: the fixed number, or the baseline changed as the criterion
    /// says (0 when a relative criterion had no baseline and passed).
    #[serde(with = "crate::number", default)]
    pub target_value: f64,
    /// Whether the measured value violates the criterion.
    pub violated: bool,
}

/// The result of one objective (Keptn's `SLIEvaluationResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndicatorResult {
    /// Points earned: the weight for pass, half of it for warning, else 0.
    #[serde(with = "crate::number", default)]
    pub score: f64,
    /// The SLI value (with its baseline as `comparedValue`); null for an informational
    /// objective without a value.
    pub value: Option<SliValue>,
    /// The objective's `displayName` (shared with the objective).
    #[serde(default)]
    pub display_name: Arc<str>,
    /// Every pass criterion, evaluated; `[]` for informational objectives.
    pub pass_targets: Option<Vec<Target>>,
    /// Every warning criterion, evaluated; null when the objective has none.
    pub warning_targets: Option<Vec<Target>>,
    /// Whether the objective is a key SLI (false when its SLI value was missing, as in Keptn).
    #[serde(default)]
    pub key_sli: bool,
    /// pass, warning, fail or info.
    pub status: Status,
    /// Why the objective has this status, for people: the violated targets and baselines.
    /// Not part of Keptn's event; omitted when empty. Borrowed when it is a fixed text (a pass
    /// needs no numbers), so that most objectives cost no allocation for it.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub reason: Cow<'static, str>,
}

fn is_empty(text: &str) -> bool {
    text.is_empty()
}

/// The result of an evaluation, in the shape of Keptn's `evaluation` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// The result by score and key SLIs.
    pub result: EvaluationResult,
    /// Percentage of the achievable points, unrounded.
    #[serde(with = "crate::number")]
    pub score: f64,
    /// One result per objective, in SLO order; null when no evaluation was performed.
    pub indicator_results: Option<Vec<IndicatorResult>>,
    /// Ids of the earlier evaluations used as baseline (those that had one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compared_events: Vec<String>,
    /// Why the evaluation ended as it did, as Keptn's event message reads.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Evaluation {
    /// The verdict a quality gate acts on: Keptn's top-level event result. It equals
    /// [`Evaluation::result`] except for an SLO without objectives, which always fails
    /// (keptn/keptn#9198), even when `total_score.pass` is 0 and the result says pass.
    pub fn verdict(&self) -> EvaluationResult {
        match &self.indicator_results {
            Some(results) if results.is_empty() => EvaluationResult::Fail,
            _ => self.result,
        }
    }
}
