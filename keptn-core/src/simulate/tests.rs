use super::*;
use crate::shipyard;

#[test]
fn outcome_assignments_are_parsed_strictly() {
    let mut outcomes = Outcomes::default();
    outcomes.insert_assignment("dev.test=fail").unwrap();
    assert_eq!(outcomes.get("dev", "test"), Outcome::Fail);
    assert_eq!(outcomes.get("dev", "deployment"), Outcome::Pass);
    for bad in [
        "dev.test",
        "test=fail",
        "dev.test=failed",
        ".test=pass",
        "dev.a.b=pass",
    ] {
        assert!(outcomes.insert_assignment(bad).is_err(), "{bad}");
    }
}

#[test]
fn errored_finishes_with_fail_and_text_shows_answers() {
    let parsed = shipyard::parse(
        "apiVersion: spec.keptn.sh/0.2.3\nspec:\n  stages:\n    - name: dev\n      sequences:\n        - name: delivery\n          tasks:\n            - name: deployment\n            - name: test\n",
    )
    .unwrap();
    let mut outcomes = Outcomes::default();
    outcomes
        .insert_assignment("dev.deployment=errored")
        .unwrap();
    let events = simulate(&parsed.shipyard, "dev", "delivery", &outcomes, 100).unwrap();
    assert_eq!(
        to_text(&events),
        "   1  dev    ▶ dev.delivery triggered\n   2  dev      ├─ deployment → errored\n   3  dev    ■ dev.delivery finished: fail\n"
    );
}

#[test]
fn event_limit_counts_logged_events() {
    let parsed = shipyard::parse(
        "apiVersion: spec.keptn.sh/0.2.3\nspec:\n  stages:\n    - name: dev\n      sequences:\n        - name: loop\n          triggeredOn:\n            - event: dev.loop.finished\n          tasks:\n            - name: noop\n",
    )
    .unwrap();
    let err = simulate(
        &parsed.shipyard,
        "dev",
        "loop",
        &Outcomes::default(),
        DEFAULT_EVENT_LIMIT,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::SimulationLimit {
                n_events: 10_000,
                ..
            }
        ),
        "{err}"
    );
}
