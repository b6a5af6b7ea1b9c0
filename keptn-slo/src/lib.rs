//! keptn-slo: Keptn quality gates as a library.
//!
//! Reads Keptn's `slo.yaml` (spec_version 1.0 and 0.1.x), validates it, and scores SLI values
//! against it exactly as Keptn's lighthouse-service did, with Keptn's known bugs fixed: unknown
//! aggregate functions (Keptn aggregated them to 0), unparseable criteria (Keptn ignored a bad
//! warning criterion and reported a bad pass criterion as an ordinary fail), fractional
//! weights (Keptn truncated them) and unknown `include_result_with_score` values (Keptn read
//! them as `all`) are rejected with located errors; a `comparison` block without
//! `compare_with` compares with a single result, as without the block (Keptn used 3); empty
//! criteria sets score their weight; several objectives may share an SLI.
//!
//! Main types: [`Slo`] (validated, from [`parse`]), [`SliValue`] (an SLI provider's answer),
//! [`PastEvaluation`] (the baseline), [`Evaluation`] (the result, in Keptn's JSON shape).
//! Diagnostics name a [`YamlPath`] and its line:column, found by [`yaml::SourceMap`].
//!
//! ```
//! use keptn_slo::{parse, evaluate, SliValue, EvaluationResult};
//!
//! let slo_yaml = r#"
//! objectives:
//!   - sli: response_time_p95
//!     pass: [{criteria: ["<600"]}]
//! total_score: {pass: "90%", warning: "75%"}
//! "#;
//! let slo = parse(slo_yaml).expect("valid SLO").slo.expect("not empty");
//! let evaluation = evaluate(&slo, &[SliValue::new("response_time_p95", 245.0)], &[]);
//! assert_eq!(evaluation.result, EvaluationResult::Pass);
//! assert_eq!(evaluation.score, 100.0);
//! ```
//!
//! Invariant: this crate does no I/O, starts no thread, reads no clock and has no async: it
//! takes text and values and returns values, so it can be embedded, fuzzed and benchmarked.

mod aggregate;
mod criteria;
mod diagnostic;
mod engine;
mod evaluation;
mod history;
mod number;
mod raw;
mod spec;
pub mod yaml;

pub use aggregate::{Aggregate, aggregate};
pub use criteria::{Criterion, CriterionError, Operator, Threshold};
pub use diagnostic::{Diagnostic, Error, Problem, Severity};
pub use engine::{evaluate, no_evaluation};
pub use evaluation::{Evaluation, EvaluationResult, IndicatorResult, SliValue, Status, Target};
pub use history::PastEvaluation;
pub use spec::{
    CompareWith, Comparison, IncludeResults, Objective, Parsed, Slo, TotalScore, parse,
};
pub use yaml::{Location, PathSegment, YamlPath};
