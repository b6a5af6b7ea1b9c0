//! Runs one benchmark case of the quality-gate engine N times, for instruction counting, which
//! is repeatable on a noisy machine (wall-clock benches are not):
//!
//! ```sh
//! cargo build --release -p keptn-benches --example count_evaluate
//! for n in 1000 2000; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!   target/release/examples/count_evaluate sockshop $n 2>&1 | grep refs; done
//! ```
//!
//! The difference between the two totals divided by 1000 is the cost of one evaluation.

use std::hint::black_box;

#[path = "../benches/inputs.rs"]
mod inputs;

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| "sockshop".to_owned());
    let n_runs: usize = args
        .next()
        .map(|text| text.parse().expect("N is a whole number"))
        .unwrap_or(1000);
    let (slo, slis, history) = match case.as_str() {
        "sockshop" => inputs::sockshop(),
        "50x100" => inputs::large(),
        "50x100_reordered" => inputs::large_reordered(),
        other => panic!("unknown case '{other}', expected sockshop, 50x100 or 50x100_reordered"),
    };
    for _ in 0..n_runs {
        black_box(keptn_slo::evaluate(
            black_box(&slo),
            black_box(&slis),
            black_box(&history),
        ));
    }
}
