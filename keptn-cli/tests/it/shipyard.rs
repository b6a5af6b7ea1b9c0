//! `keptn shipyard validate|simulate|convert` end to end: the built binary on files,
//! checking output and exit codes (0 ok, 1 failure, 2 invalid input).

use crate::support::{Run, keptn};
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/shipyard")
        .join(name)
}

fn sockshop() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sockshop/shipyard.yaml")
}

fn simulate(shipyard: &Path, stage: &str, sequence: &str, outcomes: &[&str], output: &str) -> Run {
    let mut args = vec![
        "shipyard".to_owned(),
        "simulate".to_owned(),
        "--shipyard".to_owned(),
        shipyard.display().to_string(),
        "--stage".to_owned(),
        stage.to_owned(),
        "--sequence".to_owned(),
        sequence.to_owned(),
        "--output".to_owned(),
        output.to_owned(),
    ];
    for outcome in outcomes {
        args.push("--outcome".to_owned());
        args.push((*outcome).to_owned());
    }
    keptn(args)
}

/// The transcript as `type` / `type:result` lines: only `.triggered` events and sequence
/// `.finished` events, which is what the simulation checks compare.
fn transcript(run: &Run) -> Vec<String> {
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let events: Vec<serde_json::Value> =
        serde_json::from_str(&run.stdout).expect("stdout is a JSON array");
    events
        .iter()
        .map(|event| {
            let event_type = event["type"]
                .as_str()
                .expect("every event has a type")
                .trim_start_matches("sh.keptn.event.");
            match event.get("result").and_then(serde_json::Value::as_str) {
                Some(result) => format!("{event_type}:{result}"),
                None => event_type.to_owned(),
            }
        })
        .collect()
}

#[test]
fn validate_accepts_the_sockshop_example() {
    let run = keptn([
        "shipyard".as_ref(),
        "validate".as_ref(),
        sockshop().as_os_str(),
    ]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(
        run.stdout
            .ends_with("valid shipyard (spec.keptn.sh/0.2.3; 3 stages, 0 warnings)\n"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn validate_reports_every_error_located_and_exits_2() {
    let file = data("invalid.yaml");
    let run = keptn(["shipyard".as_ref(), "validate".as_ref(), file.as_os_str()]);
    assert_eq!(run.code, 2);
    let shown = file.display().to_string();
    let expected = format!(
        "error: invalid shipyard {shown} (3 errors, 0 warnings)\n\
         {shown}:9:21: error: task name 'deploy.helm' contains a dot or a space, which breaks its event types (at spec.stages[0].sequences[0].tasks[0].name)\n\
         {shown}:10:13: error: stage name 'Staging' is not a valid Keptn name (lower-case letter first, then lower-case letters, digits or '-', not ending with '-') (at spec.stages[1].name)\n\
         {shown}:14:22: error: triggeredOn names sequence 'dev.deliver', which is not defined in stage 'dev' (at spec.stages[1].sequences[0].triggeredOn[0].event)\n"
    );
    assert_eq!(run.stderr, expected);
    assert_eq!(run.stdout, "");
}

#[test]
fn validate_prints_warnings_and_exits_0() {
    let file = data("warnings.yaml");
    let run = keptn(["shipyard".as_ref(), "validate".as_ref(), file.as_os_str()]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stderr,
        format!(
            "{}:15:27: warning: selector value 'failed' can never match: a sequence result is pass, warning or fail (Keptn's docs say 'failed', but the result is 'fail') (at spec.stages[0].sequences[1].triggeredOn[0].selector.match.result)\n",
            file.display()
        )
    );
    assert!(run.stdout.contains("1 warning)"), "{}", run.stdout);
}

#[test]
fn validate_a_missing_file_is_invalid_input() {
    let run = keptn(["shipyard", "validate", "/nonexistent/shipyard.yaml"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .starts_with("error: cannot read /nonexistent/shipyard.yaml"),
        "{}",
        run.stderr
    );
}

#[test]
fn simulate_json_follows_the_deterministic_model() {
    let run = simulate(
        &sockshop(),
        "dev",
        "delivery",
        &["staging.evaluation=fail"],
        "json",
    );
    assert_eq!(
        transcript(&run),
        [
            "dev.delivery.triggered",
            "deployment.triggered",
            "test.triggered",
            "dev.delivery.finished:pass",
            "staging.delivery.triggered",
            "deployment.triggered",
            "test.triggered",
            "evaluation.triggered",
            "staging.delivery.finished:fail",
            "staging.rollback.triggered",
            "rollback.triggered",
            "staging.rollback.finished:pass",
        ]
    );
}

#[test]
fn simulate_production_approval_then_remediation_resolves() {
    let run = simulate(&sockshop(), "production", "remediation", &[], "json");
    assert_eq!(
        transcript(&run),
        [
            "production.remediation.triggered",
            "get-action.triggered",
            "action.triggered",
            "evaluation.triggered",
            "production.remediation.finished:pass"
        ]
    );
}

#[test]
fn simulate_text_draws_a_timeline() {
    let run = simulate(
        &sockshop(),
        "dev",
        "delivery",
        &["dev.test=errored"],
        "text",
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    insta::assert_snapshot!(run.stdout, @r"
       1  dev    ▶ dev.delivery triggered
       2  dev      ├─ deployment → pass
       3  dev      ├─ test → errored
       4  dev    ■ dev.delivery finished: fail
    ");
}

#[test]
fn simulate_rejects_bad_outcomes_with_exit_2() {
    for (outcome, message) in [
        (
            "dev.test=failed",
            "error: --outcome: outcome 'failed' is not one of pass, warning, fail, errored\n",
        ),
        (
            "dev.tests=fail",
            "error: --outcome: outcome 'dev.tests' names task 'tests', which no sequence of stage 'dev' has\n",
        ),
        (
            "test=fail",
            "error: --outcome: outcome 'test=fail' is not of the form <stage>.<task>=pass|warning|fail|errored\n",
        ),
    ] {
        let run = simulate(&sockshop(), "dev", "delivery", &[outcome], "json");
        assert_eq!((run.code, run.stderr.as_str()), (2, message));
    }
}

#[test]
fn simulate_rejects_names_with_dots_with_exit_2() {
    let run = simulate(&sockshop(), "dev", "delivery.v2", &[], "json");
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            2,
            "error: sequence 'delivery.v2' must be non-empty, without dots or spaces\n"
        )
    );
}

#[test]
fn simulate_an_unknown_sequence_finishes_with_fail_and_exits_0() {
    let run = simulate(&sockshop(), "staging", "hotfix", &[], "json");
    assert_eq!(
        transcript(&run),
        ["staging.hotfix.triggered", "staging.hotfix.finished:fail"]
    );
}

#[test]
fn simulate_an_invalid_shipyard_exits_2() {
    let run = simulate(&data("invalid.yaml"), "dev", "delivery", &[], "json");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(":9:21: error: task name 'deploy.helm'"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn simulate_stops_self_triggering_loops_after_10000_events() {
    let run = simulate(
        &data("loop.yaml"),
        "production",
        "remediation",
        &["production.evaluation=fail"],
        "json",
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "error: cannot simulate production.remediation: simulation stopped after 10000 events: the shipyard keeps triggering itself (production.remediation loops)\n"
    );
}

#[test]
fn simulate_accepts_the_v1_form() {
    let run = simulate(
        &data("v1.yaml"),
        "dev",
        "delivery",
        &["production.approval=fail"],
        "json",
    );
    assert_eq!(
        transcript(&run),
        [
            "dev.delivery.triggered",
            "deployment.triggered",
            "test.triggered",
            "evaluation.triggered",
            "release.triggered",
            "dev.delivery.finished:pass",
            "production.delivery.triggered",
            "approval.triggered",
            "production.delivery.finished:fail",
            "production.rollback.triggered",
            "rollback.triggered",
            "production.rollback.finished:pass",
        ]
    );
}

#[test]
fn convert_prints_an_equivalent_0_2_shipyard() {
    let file = data("v1.yaml");
    let run = keptn(["shipyard".as_ref(), "convert".as_ref(), file.as_os_str()]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let converted =
        keptn_core::shipyard::parse(&run.stdout).expect("the converted shipyard is valid");
    assert!(converted.warnings.is_empty(), "{:?}", converted.warnings);
    assert_eq!(converted.form, keptn_core::shipyard::Form::V02);
    let original = keptn_core::shipyard::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(converted.shipyard, original.shipyard);
    insta::assert_snapshot!(run.stdout);
}
