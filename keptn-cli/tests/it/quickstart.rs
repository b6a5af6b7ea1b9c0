//! `keptn quickstart`: the tutorial end to end on the real binary — real processes behind the
//! local platform's router, the built-in load runner, the built-in evaluator.

use serde_json::Value;

use crate::support::{have, keptn};

/// Runs the quickstart with `extra` arguments and returns its JSON document.
fn quickstart(extra: &[&str]) -> Value {
    let mut scratch = tempfile::tempdir().expect("a temp dir");
    // Kept when the test fails, for the evidence (database, config repo, process logs).
    scratch.disable_cleanup(true);
    let data_dir = scratch.path().join("data");
    let mut args = vec![
        "quickstart",
        "-o",
        "json",
        "--performance-duration",
        "4s",
        "--data-dir",
        data_dir.to_str().expect("a UTF-8 path"),
    ];
    args.extend_from_slice(extra);
    let run = keptn(&args);
    let document: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|err| {
        panic!(
            "quickstart printed no JSON ({err}); exit {}; data in {}\nstdout:\n{}\nstderr:\n{}",
            run.code,
            data_dir.display(),
            run.stdout,
            run.stderr
        )
    });
    assert_eq!(
        run.code,
        0,
        "the quickstart did not go as the tutorial says: {:#}; data in {}\nstderr:\n{}",
        document["deviations"],
        data_dir.display(),
        run.stderr
    );
    // The evidence stays in the data directory.
    for kept in ["keptn.db", "config", "uniform.yaml", "platform/logs"] {
        assert!(
            data_dir.join(kept).exists(),
            "{kept} is left in the data dir"
        );
    }
    scratch.disable_cleanup(false);
    document
}

fn stage<'doc>(document: &'doc Value, tag: &str, stage: &str) -> &'doc Value {
    let artifact = document["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .find(|artifact| artifact["tag"] == tag)
        .unwrap_or_else(|| panic!("artifact {tag} in {document:#}"));
    &artifact["stages"][stage]
}

fn assert_tutorial(document: &Value) {
    assert_eq!(document["asExpected"], true, "{document:#}");
    for stage_name in ["dev", "staging", "production"] {
        assert_eq!(stage(document, "0.9.1", stage_name)["result"], "pass");
        assert_eq!(stage(document, "0.9.3", stage_name)["result"], "pass");
        assert_eq!(document["serving"][stage_name], "0.9.3");
    }
    assert_eq!(stage(document, "0.9.2", "dev")["result"], "pass");
    let staging = stage(document, "0.9.2", "staging");
    assert_eq!(staging["result"], "fail", "{document:#}");
    assert_eq!(staging["rolledBack"], true);
    let score = staging["score"].as_f64().expect("a score");
    assert!(
        score < 75.0,
        "0.9.2's score {score} is below the warning total"
    );
    assert_eq!(
        stage(document, "0.9.2", "production")["result"],
        Value::Null
    );
    let after_slow = &document["artifacts"][1]["servingAfter"];
    assert_eq!(
        after_slow["staging"], "0.9.1",
        "the rollback restored 0.9.1"
    );
    assert_eq!(
        after_slow["production"], "0.9.1",
        "production never saw 0.9.2"
    );
}

#[test]
fn builtin_load_runner_and_builtin_slis() {
    let _exclusive = crate::support::exclusive();
    let document = quickstart(&[]);
    assert_tutorial(&document);
}

#[test]
fn jmeter_tests_and_prometheus_slis() {
    let _exclusive = crate::support::exclusive();
    if !(have("prometheus") && have("jmeter")) {
        return;
    }
    let document = quickstart(&["--sli-provider", "prometheus", "--tests", "jmeter"]);
    assert_tutorial(&document);
}
