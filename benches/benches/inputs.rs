//! Inputs shared by the engine benchmarks and the instruction-counting example.

use keptn_slo::{EvaluationResult, PastEvaluation, SliValue, parse};

pub(crate) const SOCKSHOP_SLO: &str = include_str!("../../examples/sockshop/slo.yaml");

pub(crate) fn sockshop() -> (keptn_slo::Slo, Vec<SliValue>, Vec<PastEvaluation>) {
    let slo = parse(SOCKSHOP_SLO)
        .expect("example SLO is valid")
        .slo
        .expect("not empty");
    let slis = vec![
        SliValue::new("response_time_p95", 259.8),
        SliValue::new("response_time_p90", 230.2),
        SliValue::new("response_time_p50", 120.4),
        SliValue::new("error_rate", 0.0),
        SliValue::new("throughput", 40.7),
    ];
    let history = (0..3)
        .map(|result_idx| {
            let offset = f64::from(result_idx);
            PastEvaluation::new(
                EvaluationResult::Pass,
                vec![
                    SliValue::new("response_time_p95", 250.0 + offset),
                    SliValue::new("response_time_p90", 228.0 + offset),
                    SliValue::new("response_time_p50", 119.0 + offset),
                    SliValue::new("error_rate", 0.0),
                    SliValue::new("throughput", 40.0 + offset),
                ],
            )
        })
        .collect();
    (slo, slis, history)
}

pub(crate) fn large() -> (keptn_slo::Slo, Vec<SliValue>, Vec<PastEvaluation>) {
    let mut text = String::from(
        "comparison:\n  compare_with: several_results\n  number_of_comparison_results: 100\n  aggregate_function: p95\n  include_result_with_score: all\nobjectives:\n",
    );
    for objective_idx in 0..50 {
        text.push_str(&format!(
            "  - sli: sli_{objective_idx}\n    pass: [{{criteria: [\"<=+10%\", \"<1000\"]}}]\n    warning: [{{criteria: [\"<=+20%\"]}}]\n"
        ));
    }
    text.push_str("total_score: {pass: \"90%\", warning: \"75%\"}\n");
    let slo = parse(&text)
        .expect("generated SLO is valid")
        .slo
        .expect("not empty");
    let slis = (0..50)
        .map(|sli_idx| SliValue::new(format!("sli_{sli_idx}"), 100.0 + f64::from(sli_idx)))
        .collect();
    let history = (0..100)
        .map(|result_idx| {
            let values = (0..50)
                .map(|sli_idx| {
                    SliValue::new(
                        format!("sli_{sli_idx}"),
                        90.0 + f64::from((sli_idx * 7 + result_idx * 13) % 40),
                    )
                })
                .collect();
            PastEvaluation::new(EvaluationResult::Pass, values)
        })
        .collect();
    (slo, slis, history)
}

/// [`large`] with every earlier evaluation listing its values in reverse objective order, so
/// that none can be read by position: the engine's by-name path.
pub(crate) fn large_reordered() -> (keptn_slo::Slo, Vec<SliValue>, Vec<PastEvaluation>) {
    let (slo, slis, mut history) = large();
    for past in &mut history {
        past.values.reverse();
    }
    (slo, slis, history)
}
