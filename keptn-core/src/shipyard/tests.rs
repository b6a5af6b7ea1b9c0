use super::*;

const TWO_STAGES: &str = "apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
            - name: evaluation
        - name: delivery
          tasks:
            - name: shadowed
    - name: prod
      sequences:
        - name: b
          triggeredOn:
            - event: dev.delivery.finished
        - name: a
          triggeredOn:
            - event: dev.delivery.finished
              selector:
                match:
                  evaluation.result: fail
            - event: dev.delivery.finished
              selector:
                match:
                  result: warning
          tasks:
            - name: rollback
";

fn check_entity_name(name: &str, expected: bool) {
    assert_eq!(is_valid_entity_name(name), expected, "{name:?}");
}

#[test]
fn entity_names_follow_keptn_rule() {
    for name in ["dev", "a", "pre-prod", "stage2", "a-1-b"] {
        check_entity_name(name, true);
    }
    for name in ["", "Dev", "1st", "qa-", "pre_prod", "-qa", "qa.x", "ü"] {
        check_entity_name(name, false);
    }
}

#[test]
fn go_durations_parse_and_format() {
    assert_eq!(parse_go_duration("10m"), Some(Duration::from_secs(600)));
    assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_go_duration("300ms"), Some(Duration::from_millis(300)));
    assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
    for invalid in ["", "10", "ten minutes", "10x", "m"] {
        assert_eq!(parse_go_duration(invalid), None, "{invalid:?}");
    }
    assert_eq!(format_go_duration(Duration::from_secs(5400)), "1h30m");
    assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
    assert_eq!(format_go_duration(Duration::from_millis(1500)), "1500ms");
    assert_eq!(format_go_duration(Duration::ZERO), "0s");
}

#[test]
fn api_versions_are_checked_leniently() {
    for ok in [
        "spec.keptn.sh/0.2.0",
        "spec.keptn.sh/0.2",
        "0.2.0",
        "v0.2.4",
        "spec.keptn.sh/1.0.0",
        "spec.keptn.sh/0.2.0-rc1",
    ] {
        assert!(api_version_is_supported(ok).is_ok(), "{ok}");
    }
    for bad in ["spec.keptn.sh/0.1.4", "latest", "spec.keptn.sh/", "0.2.0.1"] {
        assert!(api_version_is_supported(bad).is_err(), "{bad}");
    }
}

#[test]
fn selectors_compare_result_and_last_task_result() {
    let default = Selector::PassOrWarning;
    assert!(default.fires(&TaskResult::Pass, "release"));
    assert!(default.fires(&TaskResult::Warning, "release"));
    assert!(!default.fires(&TaskResult::Fail, "release"));
    let task_keyed = Selector::Match(BTreeMap::from([(
        "evaluation.result".to_owned(),
        "fail".to_owned(),
    )]));
    assert!(task_keyed.fires(&TaskResult::Fail, "evaluation"));
    assert!(!task_keyed.fires(&TaskResult::Fail, "get-action"));
    let docs_value = Selector::Match(BTreeMap::from([("result".to_owned(), "failed".to_owned())]));
    assert!(!docs_value.fires(&TaskResult::Fail, "evaluation"));
    assert!(!Selector::Match(BTreeMap::new()).fires(&TaskResult::Pass, "x"));
}

#[test]
fn resolves_built_in_and_first_of_duplicate_sequences() {
    let shipyard = parse(TWO_STAGES).unwrap().shipyard;
    let delivery = shipyard.resolve_sequence("dev", "delivery").unwrap();
    assert_eq!(delivery.tasks[0].name, "deployment");
    let evaluation = shipyard.resolve_sequence("prod", "evaluation").unwrap();
    assert_eq!(evaluation.tasks.len(), 1);
    assert_eq!(
        shipyard.resolve_sequence("qa", "evaluation"),
        Err(StartFailure::UnknownStage)
    );
    assert_eq!(
        shipyard.resolve_sequence("dev", "nope"),
        Err(StartFailure::UnknownSequence)
    );
    assert_eq!(
        shipyard.resolve_sequence("prod", "b"),
        Err(StartFailure::NoTasks)
    );
}

#[test]
fn triggers_fire_in_shipyard_order_once_per_matching_entry() {
    let shipyard = parse(TWO_STAGES).unwrap().shipyard;
    assert_eq!(
        shipyard.triggered_by("dev", "delivery", &TaskResult::Warning, "evaluation"),
        [("prod", "b"), ("prod", "a")]
    );
    assert_eq!(
        shipyard.triggered_by("dev", "delivery", &TaskResult::Fail, "evaluation"),
        [("prod", "a")]
    );
    assert!(
        shipyard
            .triggered_by("dev", "delivery", &TaskResult::Fail, "deployment")
            .is_empty()
    );
}

#[test]
fn yaml_decoder_errors_name_their_path() {
    let Err(Error::InvalidShipyard { diagnostics }) =
        parse("apiVersion: spec.keptn.sh/0.2.3\nspec:\n  stages:\n    - name: [dev]\n")
    else {
        panic!("expected an invalid shipyard")
    };
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].path.to_string(), "spec.stages[0].name");
    assert_eq!(
        diagnostics[0].location,
        Some(Location {
            line: 4,
            column: 13
        })
    );
}

#[test]
fn converts_to_yaml_and_back() {
    let parsed = parse(TWO_STAGES).unwrap();
    let again = parse(&to_yaml(&parsed.shipyard)).unwrap();
    assert_eq!(again.shipyard, parsed.shipyard);
}

#[test]
fn updates_keep_the_stage_set() {
    let current = parse(TWO_STAGES).unwrap().shipyard;
    let mut reordered = current.clone();
    reordered.stages.reverse();
    assert_eq!(check_update(&current, &reordered), Ok(()));
    let mut renamed = current.clone();
    renamed.stages[1].name = "production".into();
    assert_eq!(
        check_update(&current, &renamed),
        Err("the stages of a project cannot change: added [production], removed [prod]".to_owned())
    );
}

const FRAGMENTS: &[&str] = &[
    "apiVersion: spec.keptn.sh/0.2.3",
    "apiVersion: 0.1",
    "kind: Shipyard",
    "spec:",
    "  stages:",
    "    - name: dev",
    "    - name: Dev",
    "      sequences:",
    "        - name: delivery",
    "        - name: a.b",
    "          triggeredOn:",
    "            - event: dev.delivery.finished",
    "              selector:",
    "                match: {result: failed}",
    "          tasks:",
    "            - name: deployment",
    "              triggeredAfter: 10x",
    "              properties: {deploymentstrategy: direct}",
    "stages:",
    "  - name: qa",
    "    deployment_strategy: direct",
    "  unknown: [1, 2",
    "- - -",
    "\t",
    "",
];

proptest::proptest! {
    /// Whatever lines a file is made of, parsing returns a shipyard or diagnostics; it never
    /// panics, and every location is inside the text.
    #[test]
    fn parse_never_panics(line_idxs in proptest::collection::vec(0..FRAGMENTS.len(), 0..24)) {
        let text: String = line_idxs.iter().map(|&line_idx| format!("{}\n", FRAGMENTS[line_idx])).collect();
        let n_lines = text.lines().count().max(1);
        let diagnostics = match parse(&text) {
            Ok(parsed) => parsed.warnings,
            Err(Error::InvalidShipyard { diagnostics }) => diagnostics,
            Err(other) => panic!("unexpected error {other}"),
        };
        for diagnostic in diagnostics {
            if let Some(location) = diagnostic.location {
                proptest::prop_assert!(location.line <= n_lines + 1, "{} in {} lines", location, n_lines);
            }
        }
    }
}
