//! Golden evaluation cases: one file per case in `tests/data/evaluate/`.
//!
//! Each case holds an SLO file, SLI values and earlier evaluations (newest first), and an
//! `expect` block with the verdict worked out by hand from Keptn's rules. The whole
//! evaluation (or the diagnostics, for `err_*` cases) is also kept as an insta snapshot, so a
//! change anywhere in the output shows up in review.

use std::collections::BTreeMap;

use keptn_slo::{
    EvaluationResult, PastEvaluation, SliValue, Status, evaluate, no_evaluation, parse,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case checks, with the rule it covers.
    #[allow(dead_code)]
    description: String,
    slo: String,
    #[serde(default)]
    sli: Vec<SliValue>,
    /// Earlier evaluations, newest first.
    #[serde(default)]
    previous: Vec<Previous>,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Previous {
    #[serde(default)]
    id: Option<String>,
    result: EvaluationResult,
    /// Successful SLI values.
    #[serde(default)]
    values: BTreeMap<String, f64>,
    /// SLIs whose earlier value had `success: false` (value given, to prove it is skipped).
    #[serde(default)]
    failed: BTreeMap<String, f64>,
    #[serde(default)]
    invalidated: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    result: Option<EvaluationResult>,
    /// The gate's verdict when it differs from `result` (only without objectives).
    verdict: Option<EvaluationResult>,
    score: Option<f64>,
    statuses: Option<Vec<Status>>,
    scores: Option<Vec<f64>>,
    /// `value.comparedValue` per objective (null where there is no value).
    compared_values: Option<Vec<Option<f64>>>,
    /// `targetValue` of every pass target, per objective.
    pass_target_values: Option<Vec<Vec<f64>>>,
    /// `violated` of every pass target, per objective.
    pass_violated: Option<Vec<Vec<bool>>>,
    key_sli: Option<Vec<bool>>,
    compared_events: Option<Vec<String>>,
    message: Option<String>,
    /// Whether `indicatorResults` is null.
    no_indicator_results: Option<bool>,
    /// `path@line:column` of every error, in order.
    errors: Option<Vec<String>>,
    /// `path@line:column` of every warning, in order.
    warnings: Option<Vec<String>>,
}

fn previous_to_past(previous: &Previous) -> PastEvaluation {
    let mut values: Vec<SliValue> = previous
        .values
        .iter()
        .map(|(metric, value)| SliValue::new(metric.clone(), *value))
        .collect();
    values.extend(previous.failed.iter().map(|(metric, value)| SliValue {
        value: *value,
        ..SliValue::failed(metric.clone(), "query failed")
    }));
    PastEvaluation {
        id: previous.id.clone(),
        result: previous.result,
        values,
        invalidated: previous.invalidated,
    }
}

fn located(diagnostic: &keptn_slo::Diagnostic) -> String {
    match diagnostic.location {
        Some(location) => format!("{}@{location}", diagnostic.path),
        None => format!("{}@?", diagnostic.path),
    }
}

/// Compares one expectation; a mismatch is recorded, so that one run reports every case.
macro_rules! expect_eq {
    ($mismatches:ident, $actual:expr, $expected:expr, $what:expr) => {
        if $actual != $expected {
            $mismatches.push(format!(
                "{}: expected {:?}, got {:?}",
                $what, $expected, $actual
            ));
        }
    };
}

fn check(case: &Case, mismatches: &mut Vec<String>) -> serde_json::Value {
    let expect = &case.expect;
    let parsed = match parse(&case.slo) {
        Ok(parsed) => parsed,
        Err(err) => {
            let errors: Vec<String> = err
                .diagnostics()
                .iter()
                .filter(|diagnostic| diagnostic.severity == keptn_slo::Severity::Error)
                .map(located)
                .collect();
            expect_eq!(
                mismatches,
                Some(&errors),
                expect.errors.as_ref(),
                format!("errors ({err})")
            );
            let messages: Vec<String> = err.diagnostics().iter().map(ToString::to_string).collect();
            return serde_json::json!({ "diagnostics": messages });
        }
    };
    expect_eq!(
        mismatches,
        expect.errors,
        None::<Vec<String>>,
        "errors (the SLO is valid)"
    );
    let warnings: Vec<String> = parsed.warnings.iter().map(located).collect();
    expect_eq!(
        mismatches,
        warnings,
        expect.warnings.clone().unwrap_or_default(),
        "warnings"
    );

    let history: Vec<PastEvaluation> = case.previous.iter().map(previous_to_past).collect();
    let evaluation = match &parsed.slo {
        Some(slo) => evaluate(slo, &case.sli, &history),
        None => no_evaluation(),
    };
    let indicators = evaluation.indicator_results.clone().unwrap_or_default();
    if let Some(result) = expect.result {
        expect_eq!(mismatches, evaluation.result, result, "result");
    }
    expect_eq!(
        mismatches,
        evaluation.verdict(),
        expect
            .verdict
            .or(expect.result)
            .unwrap_or(evaluation.result),
        "verdict"
    );
    if let Some(score) = expect.score
        && (evaluation.score - score).abs() >= 1e-9
    {
        mismatches.push(format!("score: expected {score}, got {}", evaluation.score));
    }
    if let Some(statuses) = &expect.statuses {
        let actual: Vec<Status> = indicators
            .iter()
            .map(|indicator| indicator.status)
            .collect();
        expect_eq!(mismatches, &actual, statuses, "statuses");
    }
    if let Some(scores) = &expect.scores {
        let actual: Vec<f64> = indicators.iter().map(|indicator| indicator.score).collect();
        expect_eq!(mismatches, &actual, scores, "indicator scores");
    }
    if let Some(compared_values) = &expect.compared_values {
        let actual: Vec<Option<f64>> = indicators
            .iter()
            .map(|indicator| indicator.value.as_ref().map(|value| value.compared_value))
            .collect();
        expect_eq!(mismatches, &actual, compared_values, "compared values");
    }
    if let Some(target_values) = &expect.pass_target_values {
        let actual: Vec<Vec<f64>> = indicators
            .iter()
            .map(|indicator| {
                indicator
                    .pass_targets
                    .iter()
                    .flatten()
                    .map(|target| target.target_value)
                    .collect()
            })
            .collect();
        expect_eq!(mismatches, &actual, target_values, "pass target values");
    }
    if let Some(violated) = &expect.pass_violated {
        let actual: Vec<Vec<bool>> = indicators
            .iter()
            .map(|indicator| {
                indicator
                    .pass_targets
                    .iter()
                    .flatten()
                    .map(|target| target.violated)
                    .collect()
            })
            .collect();
        expect_eq!(mismatches, &actual, violated, "pass targets violated");
    }
    if let Some(key_sli) = &expect.key_sli {
        let actual: Vec<bool> = indicators
            .iter()
            .map(|indicator| indicator.key_sli)
            .collect();
        expect_eq!(mismatches, &actual, key_sli, "keySli flags");
    }
    if let Some(compared_events) = &expect.compared_events {
        expect_eq!(
            mismatches,
            &evaluation.compared_events,
            compared_events,
            "comparedEvents"
        );
    }
    if let Some(message) = &expect.message {
        expect_eq!(mismatches, &evaluation.message, message, "message");
    }
    if let Some(no_indicator_results) = expect.no_indicator_results {
        expect_eq!(
            mismatches,
            evaluation.indicator_results.is_none(),
            no_indicator_results,
            "indicatorResults null"
        );
    }
    serde_json::json!({ "warnings": parsed.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(), "evaluation": evaluation })
}

#[test]
fn golden_cases() {
    let mut failures = Vec::new();
    insta::glob!("../data/evaluate", "*.yaml", |path| {
        let text = std::fs::read_to_string(path).expect("case file readable");
        let case: Case = serde_yaml::from_str(&text)
            .unwrap_or_else(|err| panic!("case file {} does not parse: {err}", path.display()));
        let mut mismatches = Vec::new();
        let res = check(&case, &mut mismatches);
        if !mismatches.is_empty() {
            failures.push(format!(
                "{}:\n  {}",
                path.display(),
                mismatches.join("\n  ")
            ));
        }
        insta::assert_json_snapshot!(res);
    });
    assert!(
        failures.is_empty(),
        "cases that do not match their expectations:\n{}",
        failures.join("\n")
    );
}
