use crate::{EvaluationResult, PastEvaluation, SliValue, Status, evaluate, parse};

fn run(slo: &str, slis: &[SliValue], history: &[PastEvaluation]) -> crate::Evaluation {
    let slo = parse(slo).expect("valid").slo.expect("not empty");
    evaluate(&slo, slis, history)
}

#[test]
fn same_sli_in_two_objectives_is_seen_by_both() {
    // Keptn gave the value to the first objective only; the second failed without a value.
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
    // Keptn counted it in the maximum only, so this scored 0 and failed.
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

#[test]
fn name_keys_match_exactly_the_same_name() {
    use super::NameKey;
    // Every length the word comparison distinguishes (0–3 bytes, 4–7, 8–16, longer), and for
    // each a name that differs from it in one byte at every position.
    for len in 0..=20_usize {
        let name: String = (0..len).map(|idx| char::from(b'a' + idx as u8)).collect();
        let key = NameKey::new(&name);
        assert!(key.matches(&name.clone()), "{name:?} matches itself");
        assert!(!key.matches(&format!("{name}x")), "{name:?} vs longer");
        if let Some(shorter) = name.get(..len.saturating_sub(1))
            && len > 0
        {
            assert!(!key.matches(shorter), "{name:?} vs {shorter:?}");
        }
        for position in 0..len {
            let mut other = name.clone().into_bytes();
            other[position] = b'Z';
            let other = String::from_utf8(other).expect("ASCII");
            assert!(!key.matches(&other), "{name:?} vs {other:?}");
        }
    }
}

#[test]
fn name_table_finds_every_name_and_no_other() {
    use super::NameTable;
    // 300 names in a 1024-position table: probes run past collisions.
    let names: Vec<String> = (0..300).map(|idx| format!("sli_{idx}")).collect();
    let slot_names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut table = NameTable::with_capacity(slot_names.len());
    for (slot, name) in slot_names.iter().enumerate() {
        assert_eq!(table.get(&slot_names, name), None, "{name} before insert");
        table.insert(name, slot);
    }
    for (slot, name) in slot_names.iter().enumerate() {
        assert_eq!(table.get(&slot_names, name), Some(slot), "{name}");
    }
    for absent in ["", "sli_", "sli_300", "sli_1x", "SLI_1"] {
        assert_eq!(table.get(&slot_names, absent), None, "{absent}");
    }
    assert_eq!(NameTable::with_capacity(0).get(&slot_names, "sli_1"), None);
}

/// Every successful earlier value of one SLI, the plain way: in window order and list order.
fn earlier_values(history: &[PastEvaluation], metric: &str) -> Vec<f64> {
    history
        .iter()
        .flat_map(|past| &past.values)
        .filter(|value| value.success && *value.metric == *metric)
        .map(|value| value.value)
        .collect()
}

/// The baseline of one SLI computed the plain way: its earlier values averaged in order.
fn plain_average(history: &[PastEvaluation], metric: &str) -> (f64, usize) {
    let values = earlier_values(history, metric);
    (
        values.iter().sum::<f64>() / values.len() as f64,
        values.len(),
    )
}

#[test]
fn baselines_take_every_earlier_value_whatever_its_position() {
    // 10 objectives (more than the linear-search limit, so the name map is used), two of them
    // on the same SLI; earlier evaluations in objective order, reordered, with a failed value,
    // with an SLI listed twice, with unknown SLIs, and short.
    let mut slo_text = String::from(
        "comparison: {compare_with: several_results, number_of_comparison_results: 10, aggregate_function: avg}\nobjectives:\n",
    );
    let slis: Vec<String> = (0..9)
        .map(|idx| format!("sli_{idx}"))
        .chain(["sli_3".to_owned()])
        .collect();
    for sli in &slis {
        slo_text.push_str(&format!(
            "  - {{sli: {sli}, pass: [{{criteria: ['<=+10%']}}]}}\n"
        ));
    }
    slo_text.push_str("total_score: {pass: 90, warning: 75}\n");
    // Values whose sum depends on the order they are added in.
    let value = |past: usize, sli: usize| 0.1 * (past * 10 + sli) as f64 + 1e15 * (sli % 2) as f64;
    let in_order = |past: usize| {
        (0..10)
            .map(|sli| SliValue::new(slis[sli].clone(), value(past, sli)))
            .collect::<Vec<_>>()
    };
    let mut reordered = in_order(1);
    reordered.reverse();
    let mut with_failure = in_order(2);
    with_failure[4] = SliValue::failed("sli_4", "timeout");
    let mut twice = in_order(3);
    twice.push(SliValue::new("sli_5", value(3, 15)));
    twice.push(SliValue::new("unknown", 1.0));
    let mut short = in_order(4);
    short.truncate(6);
    let history: Vec<PastEvaluation> = [
        in_order(0),
        reordered,
        with_failure,
        twice,
        short,
        in_order(5),
    ]
    .into_iter()
    .map(|values| PastEvaluation::new(EvaluationResult::Pass, values))
    .collect();
    let current: Vec<SliValue> = (0..9)
        .map(|idx| SliValue::new(format!("sli_{idx}"), 1.0))
        .collect();

    let evaluation = run(&slo_text, &current, &history);
    for (indicator, sli) in evaluation.indicator_results.iter().flatten().zip(&slis) {
        let (expected, n_values) = plain_average(&history, sli);
        let compared = indicator.value.as_ref().map(|value| value.compared_value);
        assert_eq!(
            compared,
            Some(expected),
            "{sli}: baseline of {n_values} values"
        );
    }
}

#[test]
fn streamed_percentile_baselines_equal_the_plain_ones() {
    // p90/p95/p99 baselines are kept as the few largest values per SLI while the window is
    // read; they must equal the percentile of every earlier value, whatever the order of the
    // values, failed values, an SLI listed twice, or a NaN (which makes the engine keep every
    // value instead).
    for (function, n_results) in [("p95", 100), ("p90", 25), ("p99", 10), ("p95", 400)] {
        let slo_text = format!(
            "comparison: {{compare_with: several_results, number_of_comparison_results: {n_results}, aggregate_function: {function}}}\nobjectives:\n  - {{sli: a, pass: [{{criteria: ['<=+10%']}}]}}\n  - {{sli: b, pass: [{{criteria: ['<=+10%']}}]}}\n  - {{sli: a, pass: [{{criteria: ['<=+20%']}}]}}\ntotal_score: {{pass: 90}}\n"
        );
        for case in 0..4 {
            let history: Vec<PastEvaluation> = (0..n_results)
                .map(|past| {
                    let value = |sli: usize| ((past * 37 + sli * 11) % 23) as f64 - 5.0;
                    let mut values = vec![
                        SliValue::new("a", value(0)),
                        SliValue::new("b", value(1)),
                        SliValue::new("a", value(0)),
                    ];
                    match (case, past % 7) {
                        (1, 0) => values.reverse(),
                        (2, 1) => values[1] = SliValue::failed("b", "timeout"),
                        (2, 2) => values.push(SliValue::new("b", value(2))),
                        (3, 3) => values[1].value = f64::NAN,
                        _ => {}
                    }
                    PastEvaluation::new(EvaluationResult::Pass, values)
                })
                .collect();
            let evaluation = run(
                &slo_text,
                &[SliValue::new("a", 1.0), SliValue::new("b", 1.0)],
                &history,
            );
            for (indicator, sli) in evaluation
                .indicator_results
                .iter()
                .flatten()
                .zip(["a", "b", "a"])
            {
                let values = earlier_values(&history, sli);
                let aggregate = crate::aggregate::Aggregate::from_name(function).expect("known");
                let expected = crate::aggregate(aggregate, &values).expect("values");
                let compared = indicator.value.as_ref().map(|value| value.compared_value);
                assert_eq!(
                    compared.map(f64::to_bits),
                    Some(expected.to_bits()),
                    "{function} of {n_results}, case {case}, {sli}"
                );
            }
        }
    }
}
