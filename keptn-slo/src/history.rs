//! Earlier evaluations: the baseline of relative criteria.

use serde::{Deserialize, Deserializer};

use crate::evaluation::{Evaluation, EvaluationResult, SliValue};

/// One earlier evaluation of the same project, stage and service.
///
/// Reads (JSON) any of: an evaluation result as `keptn evaluate` prints it or Keptn's
/// `evaluation` object (`{result, score, indicatorResults}`); the data of Keptn's
/// `sh.keptn.event.evaluation.finished` event (`{result, evaluation: {...}}`); or that whole
/// CloudEvent (`{id, type, data: {...}}`, whose `id` is then reported in `comparedEvents`).
#[derive(Debug, Clone, PartialEq)]
pub struct PastEvaluation {
    /// The id of the evaluation's event, when known; listed in `comparedEvents` when used.
    pub id: Option<String>,
    /// The overall result, which `include_result_with_score` filters on.
    pub result: EvaluationResult,
    /// The SLI values it measured (empty for an errored evaluation, which still fills a slot
    /// of the comparison window).
    pub values: Vec<SliValue>,
    /// An invalidated evaluation is never used as baseline.
    pub invalidated: bool,
}

impl PastEvaluation {
    /// An earlier evaluation with the given result and values.
    pub fn new(result: EvaluationResult, values: Vec<SliValue>) -> Self {
        PastEvaluation {
            id: None,
            result,
            values,
            invalidated: false,
        }
    }
}

impl From<&Evaluation> for PastEvaluation {
    fn from(evaluation: &Evaluation) -> Self {
        let values = evaluation
            .indicator_results
            .iter()
            .flatten()
            .filter_map(|indicator| indicator.value.clone())
            .collect();
        PastEvaluation {
            id: None,
            result: evaluation.verdict(),
            values,
            invalidated: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPast {
    id: Option<String>,
    data: Option<Box<RawPast>>,
    result: Option<EvaluationResult>,
    evaluation: Option<Box<RawPast>>,
    indicator_results: Option<Vec<Option<RawIndicator>>>,
    #[serde(default)]
    invalidated: bool,
}

#[derive(Deserialize)]
struct RawIndicator {
    value: Option<SliValue>,
}

impl<'de> Deserialize<'de> for PastEvaluation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawPast::deserialize(deserializer)?;
        let id = raw.id.clone();
        let invalidated = raw.invalidated;
        let data = match raw.data {
            Some(data) => *data,
            None => raw,
        };
        let (details_result, indicators) = match data.evaluation {
            Some(details) => (details.result, details.indicator_results),
            None => (None, data.indicator_results),
        };
        let result = data
            .result
            .or(details_result)
            .ok_or_else(|| serde::de::Error::missing_field("result"))?;
        let values = indicators
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .filter_map(|indicator| indicator.value)
            .collect();
        Ok(PastEvaluation {
            id,
            result,
            values,
            invalidated: invalidated || data.invalidated,
        })
    }
}
