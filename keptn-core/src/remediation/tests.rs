use super::*;

const CARTS: &str = "apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata:
  name: carts-remediation
spec:
  remediations:
    - problemType: Response time degradation
      actionsOnOpen:
        - action: scaling
          name: scaling
          description: Scale up
          value: \"1\"
        - action: toggle-feature
          name: toggle
          value:
            EnableItemCache: \"on\"
    - problemType: default
      actionsOnOpen:
        - action: restart
";

fn problem(title: &str, root_cause: Option<&str>) -> Problem {
    Problem {
        problem_title: Some(title.to_owned()),
        root_cause: root_cause.map(str::to_owned),
        ..Problem::default()
    }
}

#[test]
fn picks_by_root_cause_then_title_then_default() {
    let (remediation, warnings) = parse(CARTS).unwrap();
    assert!(warnings.is_empty());
    let ActionChoice::Action { action, next_index } =
        remediation.action_for(&problem("Response time degradation", None), 0)
    else {
        panic!("expected an action")
    };
    assert_eq!((action.action.as_deref(), next_index), (Some("scaling"), 1));
    let ActionChoice::Action { action, .. } =
        remediation.action_for(&problem("x", Some("Response time degradation")), 1)
    else {
        panic!("expected an action")
    };
    assert_eq!(
        action.value,
        Some(serde_json::json!({"EnableItemCache": "on"}))
    );
    let ActionChoice::Action { action, .. } = remediation.action_for(&problem("unknown", None), 0)
    else {
        panic!("expected the default action")
    };
    assert_eq!(action.action.as_deref(), Some("restart"));
}

#[test]
fn escalates_past_the_last_action() {
    let (remediation, _) = parse(CARTS).unwrap();
    assert_eq!(
        remediation.action_for(&problem("Response time degradation", None), 2),
        ActionChoice::Escalate
    );
}

#[test]
fn rejects_other_api_versions_with_a_location() {
    let Err(Error::InvalidRemediation { diagnostics }) =
        parse("apiVersion: spec.keptn.sh/0.2.0\nkind: Remediation\n")
    else {
        panic!("expected an invalid remediation")
    };
    assert_eq!(
        diagnostics[0].to_string(),
        "1:13: error: apiVersion 'spec.keptn.sh/0.2.0' is not supported: the remediation-service accepts only spec.keptn.sh/0.1.4 (at apiVersion)"
    );
}
