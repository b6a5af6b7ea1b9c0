use super::aggregate;
use crate::spec::Aggregate;

fn check(function: Aggregate, values: &[f64], expected: f64) {
    let res = aggregate(function, values).expect("values given");
    assert!(
        (res - expected).abs() < 1e-9,
        "{function:?} of {values:?}: {res} != {expected}"
    );
}

fn zero_to_ten() -> Vec<f64> {
    (0..=10).map(f64::from).collect()
}

#[test]
fn keptn_worked_examples() {
    check(Aggregate::P50, &[1.0, 2.0, 9.0], 2.0);
    check(Aggregate::P50, &[5.0, 10.0], 7.5);
    check(Aggregate::P90, &zero_to_ten(), 9.8);
    check(Aggregate::P95, &zero_to_ten(), 10.0);
    let one_to_twenty: Vec<f64> = (1..=20).map(f64::from).collect();
    check(Aggregate::P95, &one_to_twenty, 19.95);
}

#[test]
fn small_windows_give_the_maximum_for_high_percentiles() {
    check(Aggregate::P90, &[3.0, 1.0, 2.0], 3.0);
    check(Aggregate::P95, &[7.0, 9.0, 8.0, 1.0], 9.0);
}

#[test]
fn low_position_gives_the_minimum() {
    check(Aggregate::P50, &[4.0], 4.0);
}

#[test]
fn avg_min_max_median() {
    check(Aggregate::Avg, &[1.0, 2.0, 6.0], 3.0);
    check(Aggregate::Min, &[3.0, 1.0, 2.0], 1.0);
    check(Aggregate::Max, &[3.0, 1.0, 2.0], 3.0);
    check(Aggregate::Median, &[3.0, 1.0, 2.0, 10.0], 2.5);
}

#[test]
fn no_values_no_baseline() {
    assert_eq!(aggregate(Aggregate::Avg, &[]), None);
}

/// Keptn's percentile by a full sort (the values here have no NaN).
fn sorted_percentile(values: &[f64], fraction: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
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

#[test]
fn percentiles_without_nan_match_a_full_sort() {
    // Windows without NaN take the plain-`<` path; with many ties (values repeat with period
    // 40) and without, through the top buffer, the bottom buffer and selection.
    for n_values in 1..=300_u32 {
        for modulus in [40, 1_000_003] {
            let values: Vec<f64> = (0..n_values)
                .map(|idx| f64::from((idx * 7919 + 13) % modulus) - 20.0)
                .collect();
            for (function, fraction) in [
                (Aggregate::P50, 0.5),
                (Aggregate::P90, 0.9),
                (Aggregate::P95, 0.95),
                (Aggregate::P99, 0.99),
            ] {
                let res = aggregate(function, &values).expect("values given");
                assert_eq!(
                    res,
                    sorted_percentile(&values, fraction),
                    "{function:?} of {n_values} values mod {modulus}"
                );
            }
        }
    }
}

#[test]
fn nan_comes_first_in_percentiles() {
    // Go's order: NaN is the smallest, so the minimum-side percentile of a window with NaN is
    // NaN and the maximum side ignores it.
    let mut values = vec![f64::NAN];
    values.extend((1..=30).map(f64::from));
    assert!(
        aggregate(Aggregate::P50, &[f64::NAN, 1.0])
            .expect("values")
            .is_nan()
    );
    assert_eq!(aggregate(Aggregate::P99, &values), Some(30.0));
    assert_eq!(aggregate(Aggregate::P95, &values), Some(29.0 + 0.4 * 1.0));
}
