use super::*;
use crate::shipyard;

const SHIPYARD: &str = "apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
              properties: {deploymentstrategy: direct}
";

fn orchestrator() -> Orchestrator {
    let mut orchestrator = Orchestrator::new(Config::default());
    let shipyard = shipyard::parse(SHIPYARD).unwrap().shipyard;
    orchestrator.handle(
        Timestamp(0),
        Input::SetShipyard {
            project: "sockshop".into(),
            shipyard,
        },
    );
    orchestrator
}

fn trigger(id: &str, data: EventData, context: Option<&str>) -> Input {
    let mut event = KeptnEvent::new(
        id,
        "test",
        EventType::parse("sh.keptn.event.dev.delivery.triggered").unwrap(),
        data,
    );
    event.keptn_context = context.map(str::to_owned);
    Input::Event(event)
}

fn emitted(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .map(|output| match output {
            Output::Emit(event) => event.event_type.to_string(),
            Output::Command(command) => format!("{command:?}"),
        })
        .collect()
}

#[test]
fn triggers_without_scope_or_context_are_ignored() {
    let mut orchestrator = orchestrator();
    let outputs = orchestrator.handle(
        Timestamp(1),
        trigger("t1", EventData::default(), Some("c1")),
    );
    assert_eq!(
        emitted(&outputs),
        [
            r#"Ignored { reason: "ignored sh.keptn.event.dev.delivery.triggered: invalid event scope (data needs project, stage and service)" }"#
        ]
    );
    let outputs = orchestrator.handle(
        Timestamp(1),
        trigger("t2", EventData::scoped("sockshop", "dev", "carts"), None),
    );
    assert_eq!(
        emitted(&outputs),
        [
            r#"Ignored { reason: "ignored sh.keptn.event.dev.delivery.triggered: no shkeptncontext" }"#
        ]
    );
    assert!(orchestrator.state.executions.is_empty());
}

#[test]
fn a_project_without_shipyard_cannot_start() {
    let mut orchestrator = Orchestrator::new(Config::default());
    let outputs = orchestrator.handle(
        Timestamp(1),
        trigger("t1", EventData::scoped("nope", "dev", "carts"), Some("c1")),
    );
    let Output::Emit(finished) = &outputs[0] else {
        panic!("expected an event")
    };
    assert_eq!(
        finished.event_type.to_string(),
        "sh.keptn.event.dev.delivery.finished"
    );
    assert_eq!(finished.data.result, Some(TaskResult::Fail));
    assert_eq!(finished.triggered_id.as_deref(), Some("t1"));
    assert_eq!(
        finished.data.message.as_deref(),
        Some("sequence 'dev.delivery' cannot start: project 'nope' has no shipyard")
    );
}

#[test]
fn task_events_carry_context_commit_time_and_properties() {
    let mut orchestrator = orchestrator();
    let Input::Event(mut event) = trigger(
        "t1",
        EventData::scoped("sockshop", "dev", "carts"),
        Some("c1"),
    ) else {
        unreachable!()
    };
    event.git_commit_id = Some("abc123".into());
    event.data.message = Some("please deploy".into());
    let outputs = orchestrator.handle(Timestamp(1_610_723_386_268), Input::Event(event));
    let Output::Emit(task) = &outputs[0] else {
        panic!("expected an event")
    };
    assert_eq!(
        task.event_type.to_string(),
        "sh.keptn.event.deployment.triggered"
    );
    assert_eq!(task.keptn_context.as_deref(), Some("c1"));
    assert_eq!(task.git_commit_id.as_deref(), Some("abc123"));
    assert_eq!(task.time.as_deref(), Some("2021-01-15T15:09:46.268Z"));
    assert_eq!(task.triggered_id, None);
    assert_eq!(task.source, "shipyard-controller");
    assert_eq!(task.data.message.as_deref(), Some(""));
    assert_eq!(
        task.data.fields["deployment"],
        serde_json::json!({"deploymentstrategy": "direct"})
    );
    assert_eq!(
        outputs[1],
        Output::Command(Command::WakeAt(Timestamp(1_610_723_386_268 + 600_000)))
    );
}

#[test]
fn aggregation_follows_keptn_rules() {
    let task = CurrentTask {
        index: 0,
        name: "test".into(),
        triggered_id: "x".into(),
        send_at: Timestamp(0),
        dispatched_at: Some(Timestamp(0)),
        first_response_at: None,
        responses: BTreeMap::new(),
        answer_ids: BTreeSet::new(),
    };
    let report = |result: Option<&str>, status: Option<&str>, message: &str| FinishedReport {
        result: result.map(TaskResult::from),
        status: status.map(TaskStatus::from),
        message: Some(message.to_owned()),
        properties: serde_json::json!({"test": {"runs": [message]}}),
    };
    let check = |reports: &[FinishedReport], result: TaskResult, status: TaskStatus| {
        let (outcome, _) = aggregate(task.clone(), reports.to_vec());
        assert_eq!(
            (outcome.result, outcome.status),
            (result, status),
            "{reports:?}"
        );
    };
    let pass = report(Some("pass"), Some("succeeded"), "a");
    let warning = report(Some("warning"), Some("succeeded"), "b");
    check(
        &[pass.clone(), warning.clone()],
        TaskResult::Warning,
        TaskStatus::Succeeded,
    );
    check(
        &[pass.clone(), report(Some("failed"), Some("succeeded"), "c")],
        TaskResult::Fail,
        TaskStatus::Succeeded,
    );
    check(
        &[pass.clone(), report(None, Some("succeeded"), "c")],
        TaskResult::Fail,
        TaskStatus::Succeeded,
    );
    check(
        &[pass.clone(), report(Some("pass"), Some("errored"), "c")],
        TaskResult::Pass,
        TaskStatus::Errored,
    );
    check(
        &[pass.clone(), report(Some("pass"), Some("aborted"), "c")],
        TaskResult::Pass,
        TaskStatus::Aborted,
    );
    check(
        &[pass.clone(), report(Some("pass"), None, "c")],
        TaskResult::Fail,
        TaskStatus::Unknown,
    );
    let (outcome, properties) = aggregate(task, vec![pass, warning]);
    assert_eq!(outcome.message, "a; b");
    assert_eq!(
        properties,
        serde_json::json!({"test": {"runs": ["b", "a"]}})
    );
}

#[test]
fn finished_limits_per_task() {
    let config = Config::default();
    assert_eq!(
        config.finished_timeout_for("deployment"),
        Some(Duration::from_secs(3600))
    );
    assert_eq!(config.finished_timeout_for("approval"), None);
}

#[test]
fn state_round_trips_through_serde() {
    let mut orchestrator = orchestrator();
    orchestrator.handle(
        Timestamp(1),
        trigger(
            "t1",
            EventData::scoped("sockshop", "dev", "carts"),
            Some("c1"),
        ),
    );
    orchestrator.handle(
        Timestamp(2),
        Input::Control(Control {
            project: "sockshop".into(),
            keptn_context: "c1".into(),
            stage: None,
            action: ControlAction::Pause,
        }),
    );
    let json = serde_json::to_string(&orchestrator).unwrap();
    let back: Orchestrator = serde_json::from_str(&json).unwrap();
    assert_eq!(back, orchestrator);
}

#[test]
fn own_events_coming_back_from_the_bus_change_nothing() {
    let mut orchestrator = orchestrator();
    let outputs = orchestrator.handle(
        Timestamp(1),
        trigger(
            "t1",
            EventData::scoped("sockshop", "dev", "carts"),
            Some("c1"),
        ),
    );
    let before = orchestrator.state.clone();
    for output in outputs {
        if let Output::Emit(event) = output {
            assert!(
                orchestrator
                    .handle(Timestamp(1), Input::Event(event))
                    .is_empty()
            );
        }
    }
    assert_eq!(orchestrator.state, before);
}
