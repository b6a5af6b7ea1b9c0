//! Property tests of the engine and the parsers.

use keptn_slo::{
    Aggregate, CompareWith, Comparison, Criterion, Evaluation, EvaluationResult, IncludeResults,
    Objective, PastEvaluation, SliValue, Slo, Status, TotalScore, evaluate, parse,
};
use proptest::prelude::*;

const METRICS: &[&str] = &["m0", "m1", "m2", "m3", "m4", "m5"];

fn criterion_text() -> impl Strategy<Value = String> {
    let operator = prop::sample::select(vec!["<", "<=", ">", ">=", "="]);
    let form = prop::sample::select(vec!["", "+", "-", "%", "+%", "-%"]);
    (operator, form, 0u32..500).prop_map(|(operator, form, number)| match form {
        "%" => format!("{operator}{number}%"),
        "+%" => format!("{operator}+{number}%"),
        "-%" => format!("{operator}-{number}%"),
        sign => format!("{operator}{sign}{number}"),
    })
}

fn criteria_sets() -> impl Strategy<Value = Vec<Vec<Criterion>>> {
    prop::collection::vec(prop::collection::vec(criterion_text(), 0..3), 0..3).prop_map(|sets| {
        sets.into_iter()
            .map(|set| {
                set.iter()
                    .map(|text| Criterion::parse(text).expect("generated criteria parse"))
                    .collect()
            })
            .collect()
    })
}

fn objective(metric_idx: usize) -> impl Strategy<Value = Objective> {
    (criteria_sets(), criteria_sets(), 1i64..5, any::<bool>()).prop_map(
        move |(pass, warning, weight, key_sli)| Objective {
            sli: METRICS[metric_idx].into(),
            display_name: format!("objective {metric_idx}").into(),
            pass,
            warning,
            weight,
            key_sli,
        },
    )
}

fn comparison() -> impl Strategy<Value = Comparison> {
    (
        prop::sample::select(vec![CompareWith::SingleResult, CompareWith::SeveralResults]),
        prop::sample::select(vec![
            IncludeResults::All,
            IncludeResults::Pass,
            IncludeResults::PassOrWarn,
        ]),
        1usize..5,
        prop::sample::select(vec![
            Aggregate::Avg,
            Aggregate::P50,
            Aggregate::P90,
            Aggregate::P95,
            Aggregate::P99,
            Aggregate::Min,
            Aggregate::Max,
        ]),
    )
        .prop_map(
            |(compare_with, include_result_with_score, n, aggregate_function)| Comparison {
                compare_with,
                include_result_with_score,
                number_of_comparison_results: if compare_with == CompareWith::SingleResult {
                    1
                } else {
                    n
                },
                aggregate_function,
            },
        )
}

/// An SLO whose objectives use distinct SLIs.
fn slo() -> impl Strategy<Value = Slo> {
    let objectives =
        prop::sample::subsequence((0..METRICS.len()).collect::<Vec<_>>(), 0..METRICS.len())
            .prop_flat_map(|metric_indexes| {
                metric_indexes
                    .into_iter()
                    .map(objective)
                    .collect::<Vec<_>>()
            });
    (
        comparison(),
        objectives,
        0.0f64..100.0,
        prop::option::of(0.0f64..100.0),
    )
        .prop_map(|(comparison, objectives, pass, warning)| Slo {
            spec_version: Some("1.0".to_owned()),
            filter: Default::default(),
            comparison,
            objectives,
            total_score: Some(TotalScore { pass, warning }),
        })
}

fn sli_value(metric: &'static str) -> impl Strategy<Value = SliValue> {
    (0.0f64..1000.0, prop::bool::weighted(0.9)).prop_map(move |(value, success)| SliValue {
        success,
        ..SliValue::new(metric, value)
    })
}

fn sli_values() -> impl Strategy<Value = Vec<SliValue>> {
    prop::sample::subsequence(METRICS.to_vec(), 0..=METRICS.len())
        .prop_flat_map(|metrics| metrics.into_iter().map(sli_value).collect::<Vec<_>>())
}

fn history() -> impl Strategy<Value = Vec<PastEvaluation>> {
    let result = prop::sample::select(vec![
        EvaluationResult::Pass,
        EvaluationResult::Warning,
        EvaluationResult::Fail,
    ]);
    prop::collection::vec((result, sli_values(), any::<bool>()), 0..6).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(result, values, invalidated)| PastEvaluation {
                id: None,
                result,
                values,
                invalidated,
            })
            .collect()
    })
}

fn verdict(evaluation: &Evaluation) -> (EvaluationResult, f64) {
    (evaluation.verdict(), evaluation.score)
}

fn rank(status: Status) -> u8 {
    match status {
        Status::Fail => 0,
        Status::Warning => 1,
        Status::Pass => 2,
        Status::Info => 3,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn score_stays_between_0_and_100(slo in slo(), slis in sli_values(), history in history()) {
        let evaluation = evaluate(&slo, &slis, &history);
        prop_assert!((0.0..=100.0).contains(&evaluation.score), "score {}", evaluation.score);
    }

    #[test]
    fn reordering_objectives_or_slis_keeps_the_verdict(
        slo in slo(),
        slis in sli_values(),
        history in history(),
        seed in any::<u64>(),
    ) {
        let before = verdict(&evaluate(&slo, &slis, &history));
        let mut shuffled_slo = slo.clone();
        let n_objectives = shuffled_slo.objectives.len();
        if n_objectives > 1 {
            shuffled_slo.objectives.rotate_left((seed as usize) % n_objectives);
            shuffled_slo.objectives.swap(0, n_objectives - 1);
        }
        let mut shuffled_slis = slis.clone();
        shuffled_slis.reverse();
        let after = verdict(&evaluate(&shuffled_slo, &shuffled_slis, &history));
        prop_assert_eq!(before.0, after.0);
        prop_assert!((before.1 - after.1).abs() < 1e-9, "{} != {}", before.1, after.1);
    }

    #[test]
    fn lowering_a_value_never_worsens_an_upper_bound_objective(
        slo in slo(),
        slis in sli_values(),
        history in history(),
        decrease in 0.0f64..500.0,
    ) {
        let upper_bound_only = |objective: &Objective| {
            objective.pass.iter().chain(&objective.warning).flatten().all(|criterion| {
                matches!(criterion.operator, keptn_slo::Operator::Less | keptn_slo::Operator::LessOrEqual)
            })
        };
        let before = evaluate(&slo, &slis, &history);
        let lowered: Vec<SliValue> = slis
            .iter()
            .map(|value| SliValue { value: value.value - decrease, ..value.clone() })
            .collect();
        let after = evaluate(&slo, &lowered, &history);
        let statuses = |evaluation: &Evaluation| -> Vec<Status> {
            evaluation.indicator_results.iter().flatten().map(|indicator| indicator.status).collect()
        };
        for ((objective, status_before), status_after) in
            slo.objectives.iter().zip(statuses(&before)).zip(statuses(&after))
        {
            if upper_bound_only(objective) {
                prop_assert!(rank(status_after) >= rank(status_before), "{:?} -> {:?} for {:?}", status_before, status_after, objective);
            }
        }
    }

    #[test]
    fn evaluation_json_round_trips(slo in slo(), slis in sli_values(), history in history()) {
        let evaluation = evaluate(&slo, &slis, &history);
        let json = serde_json::to_string(&evaluation).expect("serializes");
        let back: Evaluation = serde_json::from_str(&json).expect("deserializes");
        prop_assert_eq!(back, evaluation);
    }

    #[test]
    fn arbitrary_text_never_panics_the_slo_parser(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn arbitrary_criteria_never_panic(text in "[<=>|+\\-%. 0-9eEinfaN]{0,12}") {
        if let Ok(criterion) = Criterion::parse(&text) {
            prop_assert_eq!(&*criterion.text, text.as_str());
        }
    }

    #[test]
    fn arbitrary_slo_documents_never_panic(
        objectives in prop::collection::vec(
            (
                prop::sample::select(vec!["sli", "slii", "displayName", "weight", "key_sli", "pass", "warning"]),
                prop::sample::select(vec!["a", "1", "2.5", "-1", "yes", "\"true\"", "[]", "{}", "~", "[{criteria: [\"<1\"]}]", "[{criteria: \"<1\"}]", "[~]", "[{criteria: [10]}]"]),
            ),
            0..6,
        ),
        total in prop::sample::select(vec!["", "total_score: {pass: 90}", "total_score: {pass: \"90 %\"}", "total_score: {pass: 90, warning: bla}", "total_score: []"]),
        comparison in prop::sample::select(vec!["", "comparison: {aggregate_function: p42}", "comparison: {compare_with: several_results, number_of_comparison_results: -1}", "comparison: 3"]),
    ) {
        let objective: Vec<String> = objectives.iter().map(|(key, value)| format!("{key}: {value}")).collect();
        let document = format!("objectives:\n  - {{{}}}\n{total}\n{comparison}\n", objective.join(", "));
        let _ = parse(&document);
    }
}

/// Keptn's percentile computed the plain way (full sort), to check the selection-based one.
fn sorted_percentile(values: &[f64], fraction: f64) -> f64 {
    // Go's sort.Float64Slice (NaN first), which Keptn sorted with.
    let mut sorted = values.to_vec();
    sorted.sort_by(|left, right| match (left.is_nan(), right.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => left.partial_cmp(right).expect("no NaN here"),
    });
    let n_values = sorted.len();
    let position = fraction * (n_values as f64 + 1.0);
    if position < 1.0 {
        sorted[0]
    } else if position >= n_values as f64 {
        sorted[n_values - 1]
    } else {
        let rank = position.floor() as usize;
        sorted[rank - 1] + (position - position.floor()) * (sorted[rank] - sorted[rank - 1])
    }
}

proptest! {
    #[test]
    fn percentiles_match_the_sorted_formula(
        values in prop::collection::vec(prop_oneof![9 => -1e6f64..1e6, 1 => Just(f64::NAN)], 1..300),
    ) {
        for (function, fraction) in [(Aggregate::P50, 0.5), (Aggregate::P90, 0.9), (Aggregate::P95, 0.95), (Aggregate::P99, 0.99)] {
            let res = keptn_slo::aggregate(function, &values).expect("values given");
            let expected = sorted_percentile(&values, fraction);
            prop_assert!(res == expected || (res.is_nan() && expected.is_nan()), "{:?}: {} != {}", function, res, expected);
        }
    }

    #[test]
    fn order_of_values_inside_earlier_evaluations_does_not_matter(
        slo in slo(),
        slis in sli_values(),
        history in history(),
    ) {
        let before = evaluate(&slo, &slis, &history);
        let reordered: Vec<PastEvaluation> = history
            .iter()
            .map(|past| {
                let mut past = past.clone();
                past.values.reverse();
                past
            })
            .collect();
        prop_assert_eq!(evaluate(&slo, &slis, &reordered), before);
    }
}
