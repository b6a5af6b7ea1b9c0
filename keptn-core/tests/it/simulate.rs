//! `tests/data/simulate/*.yaml`: a shipyard, the trigger and the outcomes; the snapshot is
//! the transcript of the simulation model (`type` or `type:result` per `.triggered` event and
//! sequence `.finished` event, in the order they are emitted), or the error.

use std::collections::BTreeMap;

use keptn_core::event::EventType;
use keptn_core::shipyard;
use keptn_core::simulate::{self, Outcomes};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    shipyard: String,
    stage: String,
    sequence: String,
    #[serde(default)]
    outcomes: BTreeMap<String, String>,
    #[serde(default)]
    event_limit: Option<usize>,
}

fn check(case: &Case) -> String {
    let parsed = match shipyard::parse(&case.shipyard) {
        Ok(parsed) => parsed,
        Err(err) => return format!("error: {err}\n"),
    };
    let mut outcomes = Outcomes::default();
    for (key, value) in &case.outcomes {
        if let Err(err) = outcomes.insert_assignment(&format!("{key}={value}")) {
            return format!("error: {err}\n");
        }
    }
    if let Err(err) = outcomes.check_against(&parsed.shipyard) {
        return format!("error: {err}\n");
    }
    let limit = case.event_limit.unwrap_or(simulate::DEFAULT_EVENT_LIMIT);
    match simulate::simulate(
        &parsed.shipyard,
        &case.stage,
        &case.sequence,
        &outcomes,
        limit,
    ) {
        Ok(events) => events
            .iter()
            .map(|event| match (&event.event_type, &event.result) {
                (EventType::Sequence { .. }, Some(result)) => {
                    format!("{}:{result}\n", event.event_type)
                }
                _ => format!("{}\n", event.event_type),
            })
            .collect(),
        Err(err) => format!("error: {err}\n"),
    }
}

#[test]
fn simulate_cases() {
    insta::glob!("../data", "simulate/*.yaml", |path| {
        let text = std::fs::read_to_string(path).expect("test data is readable");
        let case: Case = serde_yaml::from_str(&text).expect("a simulate case");
        insta::assert_snapshot!(check(&case));
    });
}

#[test]
fn json_output_has_type_and_result_on_sequence_finished_only() {
    let parsed = shipyard::parse(
        "apiVersion: spec.keptn.sh/0.2.3\nkind: Shipyard\nspec:\n  stages:\n    - name: dev\n      sequences:\n        - name: delivery\n          tasks:\n            - name: deployment\n",
    )
    .unwrap();
    let events = simulate::simulate(
        &parsed.shipyard,
        "dev",
        "delivery",
        &Outcomes::default(),
        100,
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&simulate::to_json(&events)).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"type": "sh.keptn.event.dev.delivery.triggered"},
            {"type": "sh.keptn.event.deployment.triggered"},
            {"type": "sh.keptn.event.dev.delivery.finished", "result": "pass"}
        ])
    );
}

/// Drives the orchestrator itself with integrations that answer every task at once (oldest
/// open task first) and checks that it emits exactly the model's transcript. Holds for these
/// shipyards, where no two stages run at the same time (with parallel stages the model pins
/// one interleaving of events the orchestrator emits in other transitions).
#[test]
fn the_orchestrator_with_instant_integrations_emits_the_model_transcript() {
    use std::collections::VecDeque;

    use keptn_core::event::{
        EventData, KeptnEvent, SequenceEventKind, TaskEventKind, TaskResult, TaskStatus, Timestamp,
    };
    use keptn_core::orchestrator::{Config, Input, Orchestrator, Output};

    insta::glob!("../data", "simulate/sockshop_*.yaml", |path| {
        let text = std::fs::read_to_string(path).expect("test data is readable");
        let case: Case = serde_yaml::from_str(&text).expect("a simulate case");
        let expected = check(&case);
        if expected.starts_with("error") {
            return;
        }
        let parsed = shipyard::parse(&case.shipyard).expect("valid");
        let mut outcomes = Outcomes::default();
        for (key, value) in &case.outcomes {
            outcomes
                .insert_assignment(&format!("{key}={value}"))
                .expect("valid outcome");
        }
        let mut orchestrator = Orchestrator::new(Config::default());
        let mut now = Timestamp(0);
        orchestrator.handle(
            now,
            Input::SetShipyard {
                project: "sockshop".into(),
                shipyard: parsed.shipyard,
            },
        );
        let trigger_type =
            EventType::sequence(&case.stage, &case.sequence, SequenceEventKind::Triggered)
                .expect("valid");
        let mut trigger = KeptnEvent::new(
            "t0",
            "test",
            trigger_type,
            EventData::scoped("sockshop", &case.stage, "carts"),
        );
        trigger.keptn_context = Some("ctx".into());
        let mut transcript = format!("{}\n", trigger.event_type);
        let mut open: VecDeque<KeptnEvent> = VecDeque::new();
        let record =
            |outputs: Vec<Output>, open: &mut VecDeque<KeptnEvent>, transcript: &mut String| {
                for output in outputs {
                    let Output::Emit(event) = output else {
                        continue;
                    };
                    match &event.event_type {
                        EventType::Sequence {
                            kind: SequenceEventKind::Finished,
                            ..
                        } => {
                            let result = event
                                .data
                                .result
                                .as_ref()
                                .map(ToString::to_string)
                                .unwrap_or_default();
                            transcript.push_str(&format!("{}:{result}\n", event.event_type));
                        }
                        EventType::Task {
                            kind: TaskEventKind::Triggered,
                            ..
                        } => {
                            transcript.push_str(&format!("{}\n", event.event_type));
                            open.push_back(event);
                        }
                        _ => transcript.push_str(&format!("{}\n", event.event_type)),
                    }
                }
            };
        let outputs = orchestrator.handle(now, Input::Event(trigger));
        record(outputs, &mut open, &mut transcript);
        loop {
            let Some(task_event) = open.pop_front() else {
                // Nothing to answer: a task may be delayed (triggeredAfter); let time pass.
                match orchestrator.state.scheduled_wake {
                    Some(wake) if !orchestrator.state.executions.is_empty() => {
                        now = wake;
                        let outputs = orchestrator.handle(now, Input::Tick);
                        record(outputs, &mut open, &mut transcript);
                        continue;
                    }
                    _ => break,
                }
            };
            let EventType::Task { task, .. } = &task_event.event_type else {
                unreachable!("only tasks are open")
            };
            let stage = task_event.data.stage.clone().unwrap_or_default();
            let (result, status) = match outcomes.get(&stage, task) {
                simulate::Outcome::Pass => (TaskResult::Pass, TaskStatus::Succeeded),
                simulate::Outcome::Warning => (TaskResult::Warning, TaskStatus::Succeeded),
                simulate::Outcome::Fail => (TaskResult::Fail, TaskStatus::Succeeded),
                simulate::Outcome::Errored => (TaskResult::Fail, TaskStatus::Errored),
            };
            let mut data = EventData::scoped("sockshop", &stage, "carts");
            data.result = Some(result);
            data.status = Some(status);
            let finished_type = EventType::task(task, TaskEventKind::Finished).expect("valid");
            let mut finished = KeptnEvent::new("answer", "integration", finished_type, data);
            finished.keptn_context = task_event.keptn_context.clone();
            finished.triggered_id = Some(task_event.id.clone());
            let outputs = orchestrator.handle(now, Input::Event(finished));
            record(outputs, &mut open, &mut transcript);
            assert!(
                transcript.len() < 100_000,
                "runaway loop in {}",
                path.display()
            );
        }
        assert_eq!(transcript, expected, "{}", path.display());
    });
}
