//! The scoring engine: Keptn lighthouse's evaluation (`slo-semantics.md` §3–§5), with bugs
//! B2 and B3 fixed (B1 and B4–B8 are rejected when the SLO is parsed).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::aggregate::aggregate_in_place;
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
        .filter(|past| {
            !past.invalidated && includes(slo.comparison.include_result_with_score, past.result)
        })
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

    let index = SliIndex::new(slo);
    let baselines = baselines(slo, &index, &window);
    // The first value received for each SLI; values for SLIs no objective names are reported.
    let mut received: Vec<Option<&SliValue>> = vec![None; index.slot_names.len()];
    let mut unused: Vec<&str> = Vec::new();
    for (value_idx, value) in slis.iter().enumerate() {
        match index.slot_of(value_idx, &value.metric) {
            Some(slot) => {
                received[slot].get_or_insert(value);
            }
            None => unused.push(&value.metric),
        }
    }

    let mut maximum = 0.0;
    let mut key_failure: Option<String> = None;
    let mut indicator_results = Vec::with_capacity(slo.objectives.len());
    for ((objective, slot), (baseline_value, n_values)) in slo
        .objectives
        .iter()
        .zip(&index.objective_slots)
        .zip(baselines)
    {
        if !objective.is_informational() {
            maximum += objective.weight as f64;
        }
        let baseline = Baseline {
            value: baseline_value,
            n_values,
            comparison: &slo.comparison,
        };
        let (indicator, key_failure_reason) =
            evaluate_objective(objective, received[*slot], &baseline);
        if key_failure.is_none() {
            key_failure = key_failure_reason;
        }
        indicator_results.push(indicator);
    }

    let mut evaluation = score(slo, indicator_results, maximum, key_failure);
    evaluation.compared_events = compared_events;
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
        IncludeResults::PassOrWarn => {
            matches!(result, EvaluationResult::Pass | EvaluationResult::Warning)
        }
        IncludeResults::Pass => result == EvaluationResult::Pass,
    }
}

/// The distinct SLI names of an SLO ("slots"; objectives that share an SLI share a slot) and
/// a fast way to find the slot of a metric name.
struct SliIndex<'slo> {
    slot_names: Vec<&'slo str>,
    /// The SLI of each objective, in objective order (compact, for the positional match).
    objective_names: Vec<&'slo str>,
    objective_slots: Vec<usize>,
    /// Only for SLOs with many SLIs; small ones are searched linearly.
    by_name: Option<HashMap<&'slo str, usize>>,
}

impl<'slo> SliIndex<'slo> {
    const LINEAR_SEARCH_LIMIT: usize = 8;

    fn new(slo: &'slo Slo) -> Self {
        let mut slot_names: Vec<&str> = Vec::new();
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        let many = slo.objectives.len() > Self::LINEAR_SEARCH_LIMIT;
        let objective_slots = slo
            .objectives
            .iter()
            .map(|objective| {
                let existing = if many {
                    by_name.get(objective.sli.as_str()).copied()
                } else {
                    slot_names.iter().position(|name| *name == objective.sli)
                };
                existing.unwrap_or_else(|| {
                    slot_names.push(&objective.sli);
                    by_name.insert(&objective.sli, slot_names.len() - 1);
                    slot_names.len() - 1
                })
            })
            .collect();
        SliIndex {
            slot_names,
            objective_names: slo
                .objectives
                .iter()
                .map(|objective| objective.sli.as_str())
                .collect(),
            objective_slots,
            by_name: many.then_some(by_name),
        }
    }

    /// The slot of `metric`, found at `position` in a list of values. Lists of values usually
    /// follow objective order (SLI providers query in SLO order; earlier evaluations list one
    /// value per objective), so the objective at the same position is tried first.
    fn slot_of(&self, position: usize, metric: &str) -> Option<usize> {
        match self.objective_names.get(position) {
            Some(name) if *name == metric => Some(self.objective_slots[position]),
            _ => self.slot_by_name(metric),
        }
    }

    /// The slot of `metric`, by name alone.
    fn slot_by_name(&self, metric: &str) -> Option<usize> {
        match &self.by_name {
            Some(by_name) => by_name.get(metric).copied(),
            None => self.slot_names.iter().position(|name| *name == metric),
        }
    }
}

/// The baseline (aggregate, number of values) of every objective, in objective order.
///
/// Every earlier value of an objective's SLI counts, as in Keptn: from each evaluation in the
/// window, each successful value whose metric is the SLI. The window's values are read once.
fn baselines(
    slo: &Slo,
    index: &SliIndex<'_>,
    window: &[&PastEvaluation],
) -> Vec<(Option<f64>, usize)> {
    let mut slot_values: Vec<Vec<f64>> = (0..index.slot_names.len())
        .map(|_| Vec::with_capacity(window.len()))
        .collect();
    let n_objectives = index.objective_names.len();
    for past in window {
        // Values usually follow objective order: pair them up and look a name up only when
        // the pair does not match.
        let aligned = past
            .values
            .iter()
            .zip(index.objective_names.iter().zip(&index.objective_slots));
        for (value, (name, slot)) in aligned {
            if !value.success {
                continue;
            }
            let slot = if *name == value.metric {
                Some(*slot)
            } else {
                index.slot_by_name(&value.metric)
            };
            if let Some(slot) = slot {
                slot_values[slot].push(value.value);
            }
        }
        for value in past.values.iter().skip(n_objectives) {
            if value.success
                && let Some(slot) = index.slot_by_name(&value.metric)
            {
                slot_values[slot].push(value.value);
            }
        }
    }
    let slot_baselines: Vec<(Option<f64>, usize)> = slot_values
        .iter_mut()
        .map(|values| {
            let n_values = values.len();
            (
                aggregate_in_place(slo.comparison.aggregate_function, values),
                n_values,
            )
        })
        .collect();
    index
        .objective_slots
        .iter()
        .map(|slot| slot_baselines[*slot])
        .collect()
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
    let mut reason = String::with_capacity(96);
    if objective.is_informational() {
        match sli_value {
            Some(value) if value.success => {
                let _ = write!(
                    reason,
                    "informational (no pass criteria): {}",
                    Number(value.value)
                );
            }
            Some(value) => {
                let _ = write!(
                    reason,
                    "informational (no pass criteria); SLI failed: {}",
                    value.message
                );
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
    let warning = (!objective.warning.is_empty())
        .then(|| evaluate_sets(&objective.warning, value.value, baseline));
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
    describe(
        &mut reason,
        status,
        value.value,
        objective,
        &pass_targets,
        warning_targets.as_deref(),
        baseline,
    );
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
fn evaluate_sets(
    sets: &[Vec<Criterion>],
    measured: f64,
    baseline: &Baseline<'_>,
) -> (bool, Vec<Target>) {
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
                    (
                        target_value,
                        criterion.operator.holds(measured, target_value),
                    )
                }
            };
            set_met &= met;
            targets.push(Target {
                criteria: criterion.text.clone(),
                target_value,
                violated: !met,
            });
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
    objective: &Objective,
    pass_targets: &[Target],
    warning_targets: Option<&[Target]>,
    baseline: &Baseline<'_>,
) {
    let relative = objective
        .pass
        .iter()
        .chain(&objective.warning)
        .flatten()
        .any(|criterion| criterion.threshold.is_relative());
    match status {
        // The value and baseline are in the result already; a pass needs no numbers.
        Status::Pass => reason.push_str("meets the pass criteria"),
        Status::Warning => {
            reason.push_str(Number(measured).render(&mut ryu::Buffer::new()));
            reason.push_str(" violates ");
            list_violated(reason, pass_targets);
            reason.push_str("; meets the warning criteria");
        }
        _ => {
            reason.push_str(Number(measured).render(&mut ryu::Buffer::new()));
            reason.push_str(" violates ");
            list_violated(reason, pass_targets);
            if let Some(warning_targets) = warning_targets {
                reason.push_str(" and warning ");
                list_violated(reason, warning_targets);
            }
        }
    }
    if !relative {
        return;
    }
    match baseline.value {
        Some(value) if status != Status::Pass => {
            reason.push_str(" (baseline: ");
            reason.push_str(baseline.comparison.aggregate_function.name());
            reason.push_str(" of ");
            reason.push_str(&baseline.n_values.to_string());
            reason.push_str(if baseline.n_values == 1 {
                " earlier value = "
            } else {
                " earlier values = "
            });
            reason.push_str(Number(value).render(&mut ryu::Buffer::new()));
            reason.push(')');
        }
        Some(_) => {}
        None => reason.push_str(" (no earlier value to compare with: relative criteria pass)"),
    }
}

fn list_violated(reason: &mut String, targets: &[Target]) {
    let mut first = true;
    for target in targets.iter().filter(|target| target.violated) {
        if !first {
            reason.push_str(", ");
        }
        first = false;
        reason.push_str(&target.criteria);
        reason.push_str(" (target ");
        reason.push_str(Number(target.target_value).render(&mut ryu::Buffer::new()));
        reason.push(')');
    }
}

/// A number in a reason, written the shortest way that reads back exactly (as `{}` would, but
/// with ryu, which is several times faster; the engine writes a few per objective).
struct Number(f64);

impl Number {
    fn render(self, buffer: &mut ryu::Buffer) -> &str {
        if !self.0.is_finite() {
            return if self.0.is_nan() {
                "NaN"
            } else if self.0 > 0.0 {
                "inf"
            } else {
                "-inf"
            };
        }
        let text = buffer.format_finite(self.0);
        text.strip_suffix(".0").unwrap_or(text)
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Number(self.0).render(&mut ryu::Buffer::new()))
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
    let total: f64 = evaluation
        .indicator_results
        .iter()
        .flatten()
        .map(|indicator| indicator.score)
        .sum();
    let score = 100.0 * (total / maximum);
    evaluation.score = score;
    // Validation guarantees thresholds whenever an objective is scored; an SLO built in code
    // without them needs a full score to pass.
    let thresholds = slo.total_score.unwrap_or(crate::spec::TotalScore {
        pass: 100.0,
        warning: None,
    });
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
                    .find(|(objective, indicator)| {
                        objective.key_sli && indicator.status == Status::Fail
                    })
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
