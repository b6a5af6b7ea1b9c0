//! Aggregation of earlier SLI values into one baseline, the value relative criteria compare
//! with. Only successful earlier values are aggregated.

use serde::Serialize;

/// `aggregate_function`: how the baseline is computed from earlier values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// Arithmetic mean (Keptn's default).
    Avg,
    /// 50th percentile (Keptn's formula).
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile (an extension; Keptn aggregated every name it did not know to 0).
    P99,
    /// Median, the same as `p50` (an extension).
    Median,
    /// Smallest value (an extension).
    Min,
    /// Largest value (an extension).
    Max,
}

impl Aggregate {
    /// Every accepted name, as written in files.
    pub const NAMES: &'static [&'static str] =
        &["avg", "p50", "p90", "p95", "p99", "median", "min", "max"];

    /// Parses a name; case-sensitive, as Keptn matched it.
    pub fn from_name(name: &str) -> Option<Aggregate> {
        Some(match name {
            "avg" => Aggregate::Avg,
            "p50" => Aggregate::P50,
            "p90" => Aggregate::P90,
            "p95" => Aggregate::P95,
            "p99" => Aggregate::P99,
            "median" => Aggregate::Median,
            "min" => Aggregate::Min,
            "max" => Aggregate::Max,
            _ => return None,
        })
    }

    /// The name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Avg => "avg",
            Aggregate::P50 => "p50",
            Aggregate::P90 => "p90",
            Aggregate::P95 => "p95",
            Aggregate::P99 => "p99",
            Aggregate::Median => "median",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
        }
    }
}

/// Aggregates `values` (the successful earlier values of one SLI, in window order) into the
/// baseline that relative criteria compare with. `None` when there are no values.
///
/// Percentiles use Keptn's formula: sort ascending, `pos = p * (n + 1)`; below 1 the minimum, at
/// or above `n` the maximum, else interpolate between the `floor(pos)`-th and the next smallest
/// value. So p90 of fewer than 10 values, and p95 of fewer than 20, is the maximum.
pub fn aggregate(function: Aggregate, values: &[f64]) -> Option<f64> {
    aggregate_in_place(function, &mut values.to_vec())
}

/// [`aggregate`] on a buffer it may reorder, to save the copy.
pub(crate) fn aggregate_in_place(function: Aggregate, values: &mut [f64]) -> Option<f64> {
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

/// Keptn's percentile. Only the `floor(pos)`-th smallest value and the next one are needed, so
/// instead of sorting, the few values at the top (p90–p99 of a window) or the bottom are kept
/// in a small buffer, or, in between, found by selection.
///
/// Go's order puts NaN first; without NaN it is the plain `<`, which is several times cheaper
/// than [`go_less`], so a window without NaN (the usual case) is ordered with that.
fn percentile(values: &mut [f64], fraction: f64) -> f64 {
    let has_nan = values
        .iter()
        .fold(false, |seen, value| seen | value.is_nan());
    if has_nan {
        percentile_by(values, fraction, go_less)
    } else {
        percentile_by(values, fraction, |left: &f64, right: &f64| left < right)
    }
}

/// [`percentile`] in the order `less`, which must agree with [`go_less`] on `values`.
#[inline(always)]
fn percentile_by(
    values: &mut [f64],
    fraction: f64,
    less: impl Fn(&f64, &f64) -> bool + Copy,
) -> f64 {
    let n_values = values.len();
    let position = fraction * (n_values as f64 + 1.0);
    if position < 1.0 {
        first_by(values, less)
    } else if position >= n_values as f64 {
        first_by(values, |left, right| less(right, left))
    } else {
        let rank = position.floor() as usize;
        let (lower, upper) = neighbours(values, rank, less);
        lower + (position - position.floor()) * (upper - lower)
    }
}

/// The order of Go's `sort.Float64Slice`, which Keptn sorted with: NaN first, then ascending.
#[inline]
pub(crate) fn go_less(left: &f64, right: &f64) -> bool {
    left < right || (left.is_nan() && !right.is_nan())
}

/// The value that comes first by `before` (the minimum or maximum in Go's order); NaN for no
/// values (callers pass at least one).
#[inline(always)]
fn first_by(values: &[f64], before: impl Fn(&f64, &f64) -> bool) -> f64 {
    values
        .iter()
        .copied()
        .reduce(|first, value| if before(&value, &first) { value } else { first })
        .unwrap_or(f64::NAN)
}

/// A high percentile (p90, p95, p99) computed while the values stream in, without a buffer of
/// all of them: only the largest values that any window of up to `capacity` values can need
/// are kept, in the order and with the tie rule of [`extremes`], so the result is the one
/// [`percentile`] gives. Windows with NaN must use [`aggregate_in_place`] (Go's order puts NaN
/// first, which this plain `<` does not).
pub(crate) struct TopValues {
    fraction: f64,
    width: usize,
}

impl TopValues {
    /// `None` unless `function` is a percentile of at least p50 and a window of `capacity`
    /// values needs at most [`SMALL_BUFFER`] of its largest values.
    pub(crate) fn new(function: Aggregate, capacity: usize) -> Option<Self> {
        let fraction = match function {
            Aggregate::P90 => 0.9,
            Aggregate::P95 => 0.95,
            Aggregate::P99 => 0.99,
            _ => return None,
        };
        // Enough for every window of up to `capacity` values: the number needed,
        // `n - floor(fraction * (n + 1)) + 1`, never falls as n grows.
        let position = fraction * (capacity as f64 + 1.0);
        let width = if capacity == 0 || position >= capacity as f64 {
            1
        } else {
            capacity - position.floor() as usize + 1
        };
        (width <= SMALL_BUFFER).then_some(TopValues { fraction, width })
    }

    /// How many values are kept per window.
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// Adds `value` to `kept` (of [`TopValues::width`] values, `n_kept` of them set).
    #[inline(always)]
    pub(crate) fn push(&self, kept: &mut [f64], n_kept: &mut usize, value: f64) {
        let width = kept.len();
        if width == 0 || (*n_kept == width && kept[width - 1] >= value) {
            return;
        }
        let mut slot = (*n_kept).min(width - 1);
        while slot > 0 && kept[slot - 1] < value {
            kept[slot] = kept[slot - 1];
            slot -= 1;
        }
        kept[slot] = value;
        *n_kept = (*n_kept + 1).min(width);
    }

    /// The percentile of the `n_values` values pushed into `kept`; `None` for none.
    pub(crate) fn result(&self, kept: &[f64], n_values: usize) -> Option<f64> {
        if n_values == 0 {
            return None;
        }
        let position = self.fraction * (n_values as f64 + 1.0);
        if position >= n_values as f64 {
            return kept.first().copied();
        }
        // As in `percentile_by`: 1 <= rank < n_values, as fraction >= 0.5.
        let rank = position.floor() as usize;
        let n_from_top = n_values - rank + 1;
        let lower = *kept.get(n_from_top - 1)?;
        let upper = *kept.get(n_from_top - 2)?;
        Some(lower + (position - position.floor()) * (upper - lower))
    }
}

/// How many values a buffer of extremes may hold before selection is cheaper.
const SMALL_BUFFER: usize = 16;

/// The `rank`-th and `rank + 1`-th smallest values (1-based) in the order `less`, for
/// `1 <= rank < values.len()`.
#[inline(always)]
fn neighbours(
    values: &mut [f64],
    rank: usize,
    less: impl Fn(&f64, &f64) -> bool + Copy,
) -> (f64, f64) {
    let n_values = values.len();
    let n_from_top = n_values - rank + 1;
    if n_from_top <= SMALL_BUFFER {
        // The n_from_top largest values, ascending; the two smallest of them are the answer.
        let largest = extremes(values, n_from_top, |candidate, kept| less(kept, candidate));
        (largest[n_from_top - 1], largest[n_from_top - 2])
    } else if rank < SMALL_BUFFER {
        // The rank + 1 smallest values, ascending; the two largest of them are the answer.
        let smallest = extremes(values, rank + 1, less);
        (smallest[rank - 1], smallest[rank])
    } else {
        let order = |left: &f64, right: &f64| {
            if less(left, right) {
                std::cmp::Ordering::Less
            } else if less(right, left) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        };
        let (_, lower, larger) = values.select_nth_unstable_by(rank - 1, order);
        // rank < n leaves at least one larger value.
        (*lower, first_by(larger, less))
    }
}

/// The `count` (at most [`SMALL_BUFFER`]) values that are most extreme by `more_extreme`, in
/// order: index 0 holds the most extreme, `count - 1` the least.
#[inline(always)]
fn extremes(
    values: &[f64],
    count: usize,
    more_extreme: impl Fn(&f64, &f64) -> bool,
) -> [f64; SMALL_BUFFER] {
    let mut kept = [0.0; SMALL_BUFFER];
    let mut n_kept = 0;
    for value in values {
        if n_kept == count && !more_extreme(value, &kept[count - 1]) {
            continue;
        }
        // Insert in order, dropping the least extreme when full.
        let mut slot = n_kept.min(count - 1);
        while slot > 0 && more_extreme(value, &kept[slot - 1]) {
            kept[slot] = kept[slot - 1];
            slot -= 1;
        }
        kept[slot] = *value;
        n_kept = (n_kept + 1).min(count);
    }
    kept
}

#[cfg(test)]
mod tests;
