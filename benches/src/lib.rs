//! Criterion benchmarks for keptn-rs live in `benches/benches/`; this library is empty on purpose.
//! Run them with `cargo bench -p keptn-benches`; the figures are recorded in `BENCHMARKS.md`.
