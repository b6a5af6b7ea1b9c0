use super::{Aggregate, aggregate};

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

proptest::proptest! {
    /// The streamed high percentile equals the buffered one, bit for bit (ties and signed
    /// zeros included), for every window up to the capacity it was made for.
    #[test]
    fn streamed_high_percentiles_equal_the_buffered_ones(
        function_idx in 0_usize..3,
        capacity in 0_usize..400,
        picks in proptest::collection::vec(0_usize..8, 0..400),
    ) {
        let function = [Aggregate::P90, Aggregate::P95, Aggregate::P99][function_idx];
        let palette = [-0.0, 0.0, 1.0, 1.0, 2.5, -3.0, 1e300, f64::INFINITY];
        let values: Vec<f64> = picks.iter().take(capacity).map(|pick| palette[*pick]).collect();
        let Some(top) = super::TopValues::new(function, capacity) else {
            // Only windows that need more than a small buffer of their largest values: n minus
            // the rank of the lower neighbour, plus one (p90 of 160 or more, say).
            let fraction = [0.9, 0.95, 0.99][function_idx];
            let needed = capacity - (fraction * (capacity as f64 + 1.0)).floor() as usize + 1;
            proptest::prop_assert!(needed > 16, "capacity {capacity} needs {needed}");
            return Ok(());
        };
        let mut kept = vec![0.0; top.width()];
        let mut n_kept = 0;
        for value in &values {
            top.push(&mut kept, &mut n_kept, *value);
        }
        let streamed = top.result(&kept, values.len());
        let buffered = aggregate(function, &values);
        proptest::prop_assert_eq!(streamed.map(f64::to_bits), buffered.map(f64::to_bits));
    }
}

#[test]
fn only_high_percentiles_stream() {
    for function in [
        Aggregate::Avg,
        Aggregate::P50,
        Aggregate::Median,
        Aggregate::Min,
        Aggregate::Max,
    ] {
        assert!(
            super::TopValues::new(function, 100).is_none(),
            "{function:?}"
        );
    }
    assert_eq!(
        super::TopValues::new(Aggregate::P95, 100).map(|top| top.width()),
        Some(6)
    );
    assert_eq!(
        super::TopValues::new(Aggregate::P95, 3).map(|top| top.width()),
        Some(1)
    );
    assert!(super::TopValues::new(Aggregate::P90, 1000).is_none());
}
