//! The scoring engine: Keptn lighthouse's evaluation (`slo-semantics.md` §3–§5), with bugs
//! B2 and B3 fixed (B1 and B4–B8 are rejected when the SLO is parsed).

use std::fmt::Write as _;

use crate::aggregate::aggregate;
use crate::criteria::Criterion;
use crate::evaluation::{Evaluation, EvaluationResult, IndicatorResult, SliValue, Status, Target};
use crate::history::PastEvaluation;
use crate::spec::{Comparison, IncludeResults, Objective, Slo};

const NO_VALUE_MESSAGE: &str = "no value received from SLI provider";

/// Evaluates SLI values against an SLO.
///
/// `history` holds earlier evaluations of the same project, stage and service, newest first.
/// The comparison window is taken from it as Keptn did: drop invalidated ones and those whose
/// overall result `include_result_with_score` excludes, then keep the newest N.
///
/// Differences from Keptn, on purpose: an objective with an empty `criteria: []` set scores its
/// weight (B2; Keptn counted it in the maximum only), and several objectives may use the same
/// SLI (B3; Keptn gave the value to the first one only).
pub fn evaluate(slo: &Slo, slis: &[SliValue], history: &[PastEvaluation]) -> Evaluation {
    let window: Vec<&PastEvaluation> = history
        .iter()
        .filter(|past| !past.invalidated && includes(slo.comparison.include_result_with_score, past.result))
        .take(slo.comparison.number_of_comparison_results)
        .collect();
    let compared_events = window.iter().filter_map(|past| past.id.clone()).collect();

    if slo.objectives.is_empty() {
        // Keptn sets the maximum to 100 so that the score is 0%; the gate always fails.
        let mut evaluation = score(slo, Vec::new(), 100.0, None);
        evaluation.compared_events = compared_events;
        evaluation.message = "lighthouse failed because no SLO objective was provided".to_owned();
        return evaluation;
    }

    let mut maximum = 0.0;
    let mut key_failure: Option<String> = None;
    let mut indicator_results = Vec::with_capacity(slo.objectives.len());
    let mut baseline_values = Vec::new();
    for objective in &slo.objectives {
        if !objective.is_informational() {
            maximum += objective.weight as f64;
        }
        baseline_values.clear();
        baseline_values.extend(window.iter().flat_map(|past| {
            past.values
                .iter()
                .filter(|value| value.success && value.metric == objective.sli)
                .map(|value| value.value)
        }));
        let baseline = Baseline {
            value: aggregate(slo.comparison.aggregate_function, &baseline_values),
            n_values: baseline_values.len(),
            comparison: &slo.comparison,
        };
        let sli_value = slis.iter().find(|value| value.metric == objective.sli);
        let (indicator, key_failure_reason) = evaluate_objective(objective, sli_value, &baseline);
        if key_failure.is_none() {
            key_failure = key_failure_reason;
        }
        indicator_results.push(indicator);
    }

    let mut evaluation = score(slo, indicator_results, maximum, key_failure);
    evaluation.compared_events = compared_events;
    let unused: Vec<&str> = slis
        .iter()
        .filter(|value| !slo.objectives.iter().any(|objective| objective.sli == value.metric))
        .map(|value| value.metric.as_str())
        .collect();
    if !unused.is_empty() {
        if !evaluation.message.is_empty() {
            evaluation.message.push_str("; ");
        }
        let _ = write!(
            evaluation.message,
            "Lighthouse received additional SLIs, which are not specified as SLO: {} . Please consider using them as an SLO.",
            unused.join(", ")
        );
    }
    evaluation
}

/// The result when no SLO file is configured: Keptn performs no evaluation and passes with
/// score 0 (keptn/keptn#1081).
pub fn no_evaluation() -> Evaluation {
    Evaluation {
        result: EvaluationResult::Pass,
        score: 0.0,
        indicator_results: None,
        compared_events: Vec::new(),
        message: "no evaluation performed because no SLO file is configured".to_owned(),
    }
}

fn includes(filter: IncludeResults, result: EvaluationResult) -> bool {
    match filter {
        IncludeResults::All => true,
        IncludeResults::PassOrWarn => matches!(result, EvaluationResult::Pass | EvaluationResult::Warning),
        IncludeResults::Pass => result == EvaluationResult::Pass,
    }
}

/// The aggregated earlier values of one SLI.
struct Baseline<'slo> {
    value: Option<f64>,
    n_values: usize,
    comparison: &'slo Comparison,
}

fn evaluate_objective(
    objective: &Objective,
    sli_value: Option<&SliValue>,
    baseline: &Baseline<'_>,
) -> (IndicatorResult, Option<String>) {
    let mut reason = String::new();
    if objective.is_informational() {
        match sli_value {
            Some(value) if value.success => {
                let _ = write!(reason, "informational (no pass criteria): {}", value.value);
            }
            Some(value) => {
                let _ = write!(reason, "informational (no pass criteria); SLI failed: {}", value.message);
            }
            None => reason.push_str("informational (no pass criteria); no value received"),
        }
        let indicator = IndicatorResult {
            score: 0.0,
            value: sli_value.cloned(),
            display_name: objective.display_name.clone(),
            pass_targets: Some(Vec::new()),
            warning_targets: Some(listed_as_violated(&objective.warning, baseline)),
            key_sli: false,
            status: Status::Info,
            reason,
        };
        return (indicator, None);
    }

    let measured = match sli_value {
        Some(value) if value.success => value,
        _ => {
            let value = sli_value
                .cloned()
                .unwrap_or_else(|| SliValue::failed(objective.sli.clone(), NO_VALUE_MESSAGE));
            let failure_reason = if sli_value.is_some() {
                format!("SLI provider reported failure: {}", value.message)
            } else {
                NO_VALUE_MESSAGE.to_owned()
            };
            let key_failure = objective.key_sli.then(|| value.message.clone());
            let indicator = IndicatorResult {
                score: 0.0,
                display_name: objective.display_name.clone(),
                pass_targets: Some(listed_as_violated(&objective.pass, baseline)),
                warning_targets: (!objective.warning.is_empty())
                    .then(|| listed_as_violated(&objective.warning, baseline)),
                key_sli: false,
                status: Status::Fail,
                reason: failure_reason,
                value: Some(value),
            };
            return (indicator, key_failure);
        }
    };

    let mut value = measured.clone();
    value.compared_value = baseline.value.unwrap_or(0.0);
    let (pass_met, pass_targets) = evaluate_sets(&objective.pass, value.value, baseline);
    let warning = (!objective.warning.is_empty()).then(|| evaluate_sets(&objective.warning, value.value, baseline));
    let warning_met = warning.as_ref().is_some_and(|(met, _)| *met);
    let weight = objective.weight as f64;
    let (status, score) = if pass_met {
        (Status::Pass, weight)
    } else if warning_met {
        (Status::Warning, 0.5 * weight)
    } else {
        (Status::Fail, 0.0)
    };
    let warning_targets = warning.map(|(_, targets)| targets);
    describe(&mut reason, status, value.value, &objective.pass, &pass_targets, warning_targets.as_deref(), baseline);
    let key_failure = (status == Status::Fail && objective.key_sli)
        .then(|| format!("failed evaluation with score {score:.6}"));
    let indicator = IndicatorResult {
        score,
        value: Some(value),
        display_name: objective.display_name.clone(),
        pass_targets: Some(pass_targets),
        warning_targets,
        key_sli: objective.key_sli,
        status,
        reason,
    };
    (indicator, key_failure)
}

/// Evaluates an OR of AND-sets; every criterion is evaluated so that all targets are reported.
fn evaluate_sets(sets: &[Vec<Criterion>], measured: f64, baseline: &Baseline<'_>) -> (bool, Vec<Target>) {
    let mut any_set_met = false;
    let mut targets = Vec::with_capacity(sets.iter().map(Vec::len).sum());
    for set in sets {
        let mut set_met = true;
        for criterion in set {
            let (target_value, met) = match (criterion.threshold.is_relative(), baseline.value) {
                // Without a usable earlier value a relative criterion passes (Keptn #1125).
                (true, None) => (0.0, true),
                (_, base) => {
                    let target_value = criterion.threshold.target(base.unwrap_or(0.0));
                    (target_value, criterion.operator.holds(measured, target_value))
                }
            };
            set_met &= met;
            targets.push(Target { criteria: criterion.text.clone(), target_value, violated: !met });
        }
        any_set_met |= set_met;
    }
    (any_set_met, targets)
}

/// Lists criteria as violated without evaluating them, as Keptn does for a missing or failed
/// SLI value: a relative target shows the baseline itself, not the baseline changed.
fn listed_as_violated(sets: &[Vec<Criterion>], baseline: &Baseline<'_>) -> Vec<Target> {
    sets.iter()
        .flatten()
        .map(|criterion| Target {
            criteria: criterion.text.clone(),
            target_value: if criterion.threshold.is_relative() {
                baseline.value.unwrap_or(0.0)
            } else {
                criterion.threshold.target(0.0)
            },
            violated: true,
        })
        .collect()
}

fn describe(
    reason: &mut String,
    status: Status,
    measured: f64,
    pass: &[Vec<Criterion>],
    pass_targets: &[Target],
    warning_targets: Option<&[Target]>,
    baseline: &Baseline<'_>,
) {
    let _ = write!(reason, "{measured}");
    let relative = pass.iter().flatten().any(|criterion| criterion.threshold.is_relative());
    match status {
        Status::Pass => reason.push_str(" meets the pass criteria"),
        Status::Warning => {
            reason.push_str(" violates ");
            list_violated(reason, pass_targets);
            reason.push_str("; meets the warning criteria");
        }
        _ => {
            reason.push_str(" violates ");
            list_violated(reason, pass_targets);
            if let Some(warning_targets) = warning_targets {
                reason.push_str(" and warning ");
                list_violated(reason, warning_targets);
            }
        }
    }
    if relative || warning_targets.is_some() {
        match baseline.value {
            Some(value) => {
                let _ = write!(
                    reason,
                    " (baseline: {} of {} earlier value{} = {value})",
                    baseline.comparison.aggregate_function.name(),
                    baseline.n_values,
                    if baseline.n_values == 1 { "" } else { "s" },
                );
            }
            None if relative => reason.push_str(" (no earlier value to compare with: relative criteria pass)"),
            None => {}
        }
    }
}

fn list_violated(reason: &mut String, targets: &[Target]) {
    let mut first = true;
    for target in targets.iter().filter(|target| target.violated) {
        if !first {
            reason.push_str(", ");
        }
        first = false;
        let _ = write!(reason, "{} (target {})", target.criteria, target.target_value);
    }
}

/// Totals the indicator scores and decides the result (§5).
fn score(
    slo: &Slo,
    indicator_results: Vec<IndicatorResult>,
    maximum: f64,
    key_failure: Option<String>,
) -> Evaluation {
    let mut evaluation = Evaluation {
        result: EvaluationResult::Pass,
        score: 100.0,
        indicator_results: Some(indicator_results),
        compared_events: Vec::new(),
        message: String::new(),
    };
    if maximum == 0.0 {
        // Only informational objectives (or weights that cancel out): 100 and pass (#1213).
        return evaluation;
    }
    let total: f64 = evaluation.indicator_results.iter().flatten().map(|indicator| indicator.score).sum();
    let score = 100.0 * (total / maximum);
    evaluation.score = score;
    // Validation guarantees thresholds whenever an objective is scored; an SLO built in code
    // without them needs a full score to pass.
    let thresholds = slo.total_score.unwrap_or(crate::spec::TotalScore { pass: 100.0, warning: None });
    evaluation.result = if key_failure.is_none() && score >= thresholds.pass {
        EvaluationResult::Pass
    } else if let (None, Some(warning)) = (&key_failure, thresholds.warning) {
        if score >= warning {
            evaluation.message = format!(
                "Evaluation returned a warning: the calculated score of {score} is close to the warning target value of {warning}"
            );
            EvaluationResult::Warning
        } else {
            evaluation.message = format!(
                "Evaluation failed since the calculated score of {score} is below the warning value of {warning}"
            );
            EvaluationResult::Fail
        }
    } else {
        evaluation.message = match &key_failure {
            Some(reason) => {
                let display_name = slo
                    .objectives
                    .iter()
                    .zip(evaluation.indicator_results.iter().flatten())
                    .find(|(objective, indicator)| objective.key_sli && indicator.status == Status::Fail)
                    .map(|(objective, _)| objective.display_name.as_str())
                    .unwrap_or_default();
                format!("Evaluation failed due to key_sli objective '{display_name}': {reason}")
            }
            None => format!(
                "Evaluation failed since the calculated score of {score} is below the target value of {}",
                thresholds.pass
            ),
        };
        EvaluationResult::Fail
    };
    evaluation
}

#[cfg(test)]
mod tests;
