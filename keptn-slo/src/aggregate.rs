//! Aggregation of earlier SLI values into one baseline (`slo-semantics.md` §4.2).

use crate::spec::Aggregate;

/// Aggregates `values` (the successful earlier values of one SLI, in window order) into the
/// baseline that relative criteria compare with. `None` when there are no values.
///
/// Percentiles use Keptn's formula: sort ascending, `pos = p * (n + 1)`; below 1 the minimum, at
/// or above `n` the maximum, else interpolate between the `floor(pos)`-th and the next smallest
/// value. So p90 of fewer than 10 values, and p95 of fewer than 20, is the maximum.
pub fn aggregate(function: Aggregate, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let res = match function {
        Aggregate::Avg => values.iter().sum::<f64>() / values.len() as f64,
        Aggregate::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregate::P50 | Aggregate::Median => percentile(values, 0.5),
        Aggregate::P90 => percentile(values, 0.9),
        Aggregate::P95 => percentile(values, 0.95),
        Aggregate::P99 => percentile(values, 0.99),
    };
    Some(res)
}

fn percentile(values: &[f64], fraction: f64) -> f64 {
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
        let lower = sorted[rank - 1];
        let upper = sorted[rank];
        lower + (position - position.floor()) * (upper - lower)
    }
}

#[cfg(test)]
mod tests;
