use crate::{EvaluationResult, PastEvaluation, SliValue, Status, evaluate, parse};

fn run(slo: &str, slis: &[SliValue], history: &[PastEvaluation]) -> crate::Evaluation {
    let slo = parse(slo).expect("valid").slo.expect("not empty");
    evaluate(&slo, slis, history)
}

#[test]
fn same_sli_in_two_objectives_is_seen_by_both() {
    // Keptn bug B3 gave the value to the first objective only.
    let evaluation = run(
        "objectives:\n  - {sli: rt, pass: [{criteria: ['<600']}]}\n  - {sli: rt, pass: [{criteria: ['<300']}]}\ntotal_score: {pass: 50}\n",
        &[SliValue::new("rt", 250.0)],
        &[],
    );
    let statuses: Vec<Status> = evaluation
        .indicator_results
        .iter()
        .flatten()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![Status::Pass, Status::Pass]);
    assert_eq!(evaluation.score, 100.0);
}

#[test]
fn empty_criteria_set_scores_its_weight() {
    // Keptn bug B2 counted it in the maximum only, so this scored 0 and failed.
    let evaluation = run(
        "objectives:\n  - {sli: rt, pass: [{criteria: []}]}\ntotal_score: {pass: 90}\n",
        &[SliValue::new("rt", 250.0)],
        &[],
    );
    assert_eq!(evaluation.result, EvaluationResult::Pass);
    assert_eq!(evaluation.score, 100.0);
}

#[test]
fn window_filters_then_takes_newest() {
    let slo = "comparison: {compare_with: several_results, number_of_comparison_results: 2, include_result_with_score: pass}\nobjectives:\n  - {sli: rt, pass: [{criteria: ['<=+0%']}]}\ntotal_score: {pass: 90}\n";
    let past = |result, value: f64| PastEvaluation::new(result, vec![SliValue::new("rt", value)]);
    let history = [
        past(EvaluationResult::Fail, 1000.0),
        past(EvaluationResult::Pass, 100.0),
        past(EvaluationResult::Warning, 1000.0),
        past(EvaluationResult::Pass, 300.0),
        past(EvaluationResult::Pass, 5000.0),
    ];
    let evaluation = run(slo, &[SliValue::new("rt", 200.0)], &history);
    let indicator = &evaluation.indicator_results.as_ref().expect("evaluated")[0];
    // Baseline: avg of the two newest passed evaluations (100, 300) = 200.
    assert_eq!(
        indicator.value.as_ref().map(|value| value.compared_value),
        Some(200.0)
    );
    assert_eq!(indicator.status, Status::Pass);
}
