//! Quality-gate engine benchmarks. Run: `cargo bench -p keptn-benches --bench slo`.
//!
//! - `evaluate/sockshop`: the example SLO (5 objectives, relative and absolute criteria)
//!   against a 3-result history; target ≤ 2 µs.
//! - `evaluate/50x100_p95`: 50 objectives, 100 earlier results, several_results with p95;
//!   target ≤ 50 µs.
//! - `evaluate/50x100_p95_reordered`: the same with every earlier evaluation listing its
//!   values in reverse objective order, so that they are matched by name, not by position.
//! - `parse/sockshop`: SLO text → validated `Slo`.
//! - `floor/*`: bare loops doing only the float comparisons of the same evaluations, so the
//!   engine's cost can be reported as a ratio to the work that cannot be avoided.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keptn_slo::{evaluate, parse};

mod inputs;

use inputs::SOCKSHOP_SLO;

/// Only the comparisons an evaluation cannot avoid: for every criterion, `value <= target`.
fn comparisons_floor(values: &[f64], targets: &[f64]) -> usize {
    values
        .iter()
        .zip(targets.iter().cycle())
        .filter(|(value, target)| value <= target)
        .count()
}

fn benches(c: &mut Criterion) {
    let (slo, slis, history) = inputs::sockshop();
    c.bench_function("evaluate/sockshop", |b| {
        b.iter(|| evaluate(black_box(&slo), black_box(&slis), black_box(&history)))
    });
    c.bench_function("parse/sockshop", |b| {
        b.iter(|| parse(black_box(SOCKSHOP_SLO)))
    });
    // 4 scored objectives with 2+2+2+1 pass criteria and 2 warning criteria: 9 comparisons.
    let sockshop_values = [259.8, 259.8, 230.2, 230.2, 120.4, 120.4, 0.0, 259.8, 0.0];
    let sockshop_targets = [281.0, 600.0, 251.0, 500.0, 143.0, 300.0, 1.0, 800.0, 5.0];
    c.bench_function("floor/sockshop", |b| {
        b.iter(|| comparisons_floor(black_box(&sockshop_values), black_box(&sockshop_targets)))
    });

    let (slo, slis, history) = inputs::large();
    c.bench_function("evaluate/50x100_p95", |b| {
        b.iter(|| evaluate(black_box(&slo), black_box(&slis), black_box(&history)))
    });
    let (slo, slis, history) = inputs::large_reordered();
    c.bench_function("evaluate/50x100_p95_reordered", |b| {
        b.iter(|| evaluate(black_box(&slo), black_box(&slis), black_box(&history)))
    });
    // 50 objectives × 3 criteria, plus gathering 100 earlier values per objective.
    let large_values: Vec<f64> = (0..50 * 3 + 50 * 100).map(f64::from).collect();
    let large_targets: Vec<f64> = (0..150).map(|idx| f64::from(idx) * 1.5).collect();
    c.bench_function("floor/50x100", |b| {
        b.iter(|| comparisons_floor(black_box(&large_values), black_box(&large_targets)))
    });
}

criterion_group!(slo_benches, benches);
criterion_main!(slo_benches);
