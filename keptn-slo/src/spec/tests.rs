use super::{CompareWith, IncludeResults, parse};
use crate::aggregate::Aggregate;
use crate::diagnostic::{Problem, Severity};
use crate::yaml::Location;

fn slo(source: &str) -> super::Slo {
    parse(source).expect("valid").slo.expect("not empty")
}

#[test]
fn defaults_without_comparison_block() {
    let slo = slo("objectives: [{sli: a, pass: [{criteria: ['<1']}]}]\ntotal_score: {pass: 90}\n");
    assert_eq!(slo.comparison.compare_with, CompareWith::SingleResult);
    assert_eq!(slo.comparison.number_of_comparison_results, 1);
    assert_eq!(
        slo.comparison.include_result_with_score,
        IncludeResults::All
    );
    assert_eq!(slo.comparison.aggregate_function, Aggregate::Avg);
    assert_eq!(slo.objectives[0].weight, 1);
    assert_eq!(slo.total_score.map(|score| score.pass), Some(90.0));
}

#[test]
fn comparison_block_without_compare_with_is_single_result() {
    // Keptn used 3 results here, although it used 1 without the comparison block.
    let slo =
        slo("comparison: {aggregate_function: p90}\nobjectives: []\ntotal_score: {pass: '90%'}\n");
    assert_eq!(slo.comparison.number_of_comparison_results, 1);
    assert_eq!(slo.comparison.aggregate_function, Aggregate::P90);
}

#[test]
fn several_results_default_to_three() {
    for (text, expected) in [
        ("", 3),
        ("number_of_comparison_results: 0", 3),
        ("number_of_comparison_results: 5", 5),
    ] {
        let source = format!(
            "comparison: {{compare_with: several_results, {text}}}\nobjectives: []\ntotal_score: {{pass: 1}}\n"
        );
        assert_eq!(
            slo(&source).comparison.number_of_comparison_results,
            expected,
            "{text}"
        );
    }
}

#[test]
fn weight_zero_becomes_one_and_negative_is_kept() {
    let slo = slo(
        "objectives:\n  - {sli: a, weight: 0, pass: [{criteria: ['<1']}]}\n  - {sli: b, weight: -2, pass: [{criteria: ['<1']}]}\ntotal_score: {pass: 90}\n",
    );
    assert_eq!(slo.objectives[0].weight, 1);
    assert_eq!(slo.objectives[1].weight, -2);
}

#[test]
fn key_sli_accepts_yaml_1_1_words() {
    let slo = slo("objectives:\n  - {sli: a, key_sli: yes}\n  - {sli: b, key_sli: off}\n");
    assert!(slo.objectives[0].key_sli);
    assert!(!slo.objectives[1].key_sli);
}

#[test]
fn informational_only_slo_needs_no_total_score() {
    let slo = slo("objectives:\n  - sli: a\n");
    assert_eq!(slo.total_score, None);
}

#[test]
fn every_error_is_reported_at_once_with_locations() {
    let source = "comparison:\n  aggregate_function: p42\nobjectives:\n  - sli: a\n    weight: 2.7\n    pass:\n      - criteria:\n          - \"<600ms\"\n";
    let err = parse(source).expect_err("invalid");
    let found: Vec<(String, Option<Location>)> = err
        .diagnostics()
        .iter()
        .map(|diagnostic| (diagnostic.path.to_string(), diagnostic.location))
        .collect();
    assert_eq!(
        found,
        // In text order; the missing total_score points at the start of the document.
        vec![
            (
                "total_score.pass".to_owned(),
                Some(Location { line: 1, column: 1 })
            ),
            (
                "comparison.aggregate_function".to_owned(),
                Some(Location {
                    line: 2,
                    column: 23
                })
            ),
            (
                "objectives[0].weight".to_owned(),
                Some(Location {
                    line: 5,
                    column: 13
                })
            ),
            (
                "objectives[0].pass[0].criteria[0]".to_owned(),
                Some(Location {
                    line: 8,
                    column: 13
                })
            ),
        ]
    );
}

#[test]
fn unknown_keys_are_warnings_with_suggestions() {
    let parsed = parse("objectivs:\n  - sli: a\ntotal_score: {pass: 90}\n").expect("valid");
    let warning = &parsed.warnings[0];
    assert_eq!(warning.severity, Severity::Warning);
    assert_eq!(
        warning.problem,
        Problem::UnknownKey {
            key: "objectivs".to_owned(),
            suggestion: Some("objectives")
        }
    );
    assert_eq!(warning.location, Some(Location { line: 1, column: 1 }));
}

#[test]
fn type_errors_are_located() {
    let err = parse("objectives:\n  - sli: a\n    weight: \"2\"\n").expect_err("quoted integer");
    let diagnostic = &err.diagnostics()[0];
    assert_eq!(diagnostic.path.to_string(), "objectives[0].weight");
    assert_eq!(
        diagnostic.location,
        Some(Location {
            line: 3,
            column: 13
        })
    );
    assert!(matches!(diagnostic.problem, Problem::Type(_)));
}

#[test]
fn empty_file_means_no_slo() {
    assert_eq!(parse("").expect("empty is valid").slo, None);
}
