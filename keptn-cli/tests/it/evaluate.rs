//! `keptn evaluate` end to end: the built binary on files, checking output and exit codes.

use crate::support::{Run, keptn};
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/evaluate")
        .join(name)
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/sockshop")
        .join(name)
}

fn evaluate_json(slo: &Path, sli: &Path, history: Option<&Path>) -> (Run, serde_json::Value) {
    let mut args = vec![
        "evaluate".into(),
        "--slo".into(),
        slo.as_os_str().to_owned(),
        "--sli".into(),
        sli.as_os_str().to_owned(),
        "-o".into(),
        "json".into(),
    ];
    if let Some(history) = history {
        args.push("--history".into());
        args.push(history.as_os_str().to_owned());
    }
    let run = keptn(args);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let json = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    (run, json)
}

#[test]
fn sockshop_slow_build_fails_and_fast_build_passes() {
    let slo = example("slo.yaml");
    let history = example("evaluation/history.json");
    let (_, slow) = evaluate_json(&slo, &example("evaluation/sli-0.9.2.json"), Some(&history));
    assert_eq!(slow["result"], "fail");
    assert_eq!(slow["score"], 20.0);
    let statuses: Vec<&str> = slow["indicatorResults"]
        .as_array()
        .expect("indicator results")
        .iter()
        .map(|indicator| indicator["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["fail", "fail", "fail", "pass", "info"]);
    // Baseline: the three newest passed evaluations, the failed one skipped.
    assert_eq!(
        slow["comparedEvents"],
        serde_json::json!([
            "4b5e2a8e-93f3-4c9b-9d8e-0c1f4d0b9a31",
            "f1d9c2b4-5a6e-4d3b-a8c7-2e1f0b9d8c76",
            "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
        ])
    );

    let (_, fast) = evaluate_json(&slo, &example("evaluation/sli-0.9.3.json"), Some(&history));
    assert_eq!(fast["result"], "pass");
    assert_eq!(fast["score"], 100.0);
}

#[test]
fn fail_on_sets_exit_code_3_at_or_below_the_result() {
    let slo = data("slo-warning.yaml");
    let sli = data("sli-400.json");
    let base = [
        "evaluate".to_owned(),
        "--slo".to_owned(),
        slo.display().to_string(),
        "--sli".to_owned(),
        sli.display().to_string(),
    ];
    let with = |extra: &[&str]| {
        let mut args: Vec<String> = base.to_vec();
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        keptn(args)
    };
    let plain = with(&[]);
    assert_eq!(plain.code, 0);
    assert!(plain.stdout.contains("result: warning"), "{}", plain.stdout);
    assert_eq!(with(&["--fail-on", "warning"]).code, 3);
    assert_eq!(with(&["--fail-on", "fail"]).code, 0);
}

#[test]
fn invalid_slo_exits_2_with_every_error_located() {
    let run = keptn([
        "evaluate",
        "--slo",
        data("slo-invalid.yaml").to_str().expect("utf-8 path"),
        "--sli",
        data("sli-400.json").to_str().expect("utf-8 path"),
    ]);
    assert_eq!(run.code, 2, "stderr: {}", run.stderr);
    assert!(run.stdout.is_empty());
    for expected in [
        "slo-invalid.yaml:4:13",
        "weight 1.5 is not a whole number",
        "slo-invalid.yaml:7:13",
        "invalid criterion '<600ms'",
        "slo-invalid.yaml:9:23",
        "unknown aggregate function 'p42'",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?} in:\n{}",
            run.stderr
        );
    }
}

#[test]
fn invalid_sli_file_exits_2_located() {
    let run = keptn([
        "evaluate",
        "--slo",
        data("slo-staging.yaml").to_str().expect("utf-8 path"),
        "--sli",
        data("sli-invalid.json").to_str().expect("utf-8 path"),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("sli-invalid.json:3:"), "{}", run.stderr);
    assert!(run.stderr.contains("at [1].value"), "{}", run.stderr);
}

#[test]
fn missing_file_exits_2() {
    let run = keptn([
        "evaluate",
        "--slo",
        "does-not-exist.yaml",
        "--sli",
        "also-missing.json",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read does-not-exist.yaml"),
        "{}",
        run.stderr
    );
}

#[test]
fn reads_keptn_events_for_sli_values_and_history() {
    let (_, evaluation) = evaluate_json(
        &data("slo-staging.yaml"),
        &data("get-sli-finished.json"),
        Some(&data("evaluation-finished-history.json")),
    );
    // The newest evaluation failed and is filtered out (include pass); the errored one takes the
    // second slot of the window without a value; the baseline is 300 from ev-middle.
    assert_eq!(
        evaluation["comparedEvents"],
        serde_json::json!(["ev-middle"])
    );
    let response_time = &evaluation["indicatorResults"][0];
    assert_eq!(response_time["value"]["comparedValue"], 300.0);
    assert_eq!(response_time["passTargets"][0]["targetValue"], 330.0);
    assert_eq!(response_time["status"], "pass");
    // error_rate failed at the provider and is a key SLI.
    assert_eq!(evaluation["indicatorResults"][1]["status"], "fail");
    assert_eq!(evaluation["result"], "fail");
    assert_eq!(
        evaluation["message"],
        "Evaluation failed due to key_sli objective 'Error rate': query returned no data"
    );
}

#[test]
fn json_output_serves_as_history_of_the_next_evaluation() {
    let dir = std::env::temp_dir().join(format!("keptn-evaluate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (first, _) = evaluate_json(
        &example("slo.yaml"),
        &example("evaluation/sli-0.9.3.json"),
        None,
    );
    let history = dir.join("history.json");
    std::fs::write(&history, format!("[{}]", first.stdout)).expect("history written");
    let (_, second) = evaluate_json(
        &example("slo.yaml"),
        &example("evaluation/sli-0.9.2.json"),
        Some(&history),
    );
    assert_eq!(
        second["indicatorResults"][0]["value"]["comparedValue"],
        259.8
    );
    assert_eq!(second["result"], "fail");
    std::fs::remove_dir_all(&dir).expect("temp dir removed");
}

#[test]
fn yaml_output_matches_json_output() {
    let slo = example("slo.yaml");
    let sli = example("evaluation/sli-0.9.2.json");
    let (_, json) = evaluate_json(&slo, &sli, None);
    let run = keptn([
        "evaluate",
        "--slo",
        slo.to_str().expect("utf-8 path"),
        "--sli",
        sli.to_str().expect("utf-8 path"),
        "-o",
        "yaml",
    ]);
    assert_eq!(run.code, 0);
    let yaml: serde_json::Value = serde_yaml::from_str(&run.stdout).expect("stdout is YAML");
    assert_eq!(yaml, json);
}

#[test]
fn text_output_is_a_table_with_the_verdict() {
    let run = keptn([
        "evaluate",
        "--slo",
        example("slo.yaml").to_str().expect("utf-8 path"),
        "--sli",
        example("evaluation/sli-0.9.2.json")
            .to_str()
            .expect("utf-8 path"),
        "--history",
        example("evaluation/history.json")
            .to_str()
            .expect("utf-8 path"),
    ]);
    assert_eq!(run.code, 0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("OBJECTIVE") && lines[0].contains("BASELINE"),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].starts_with("Response time P95") && lines[1].contains("fail"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("score: 20 (pass >= 90, warning >= 75)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("result: fail"), "{}", run.stdout);
}

#[test]
fn empty_slo_means_no_evaluation() {
    let dir = std::env::temp_dir().join(format!("keptn-evaluate-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let slo = dir.join("slo.yaml");
    std::fs::write(&slo, "").expect("slo written");
    let (_, evaluation) = evaluate_json(&slo, &data("sli-400.json"), None);
    assert_eq!(evaluation["result"], "pass");
    assert_eq!(evaluation["score"], 0.0);
    assert_eq!(evaluation["indicatorResults"], serde_json::Value::Null);
    std::fs::remove_dir_all(&dir).expect("temp dir removed");
}
