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
