//! `tests/data/orchestrator/*.yaml`: a shipyard and a script of inputs (triggers, task
//! answers, ticks, control commands at given times); the snapshot is the transcript of inputs
//! (`<-`) and outputs (`->` events, `!` ignored inputs, `wake` requests), ending with what
//! is left in the state.
//!
//! Also the property tests: arbitrary interleavings never panic, and every started sequence
//! ends once its tasks answer or time out.

use std::collections::BTreeMap;
use std::time::Duration;

use keptn_core::event::{
    EventData, EventType, KeptnEvent, SequenceEventKind, TaskEventKind, TaskResult, TaskStatus,
    Timestamp,
};
use keptn_core::orchestrator::{
    Command, Config, Control, ControlAction, Input, Orchestrator, Output,
};
use keptn_core::shipyard::{self, format_go_duration, parse_go_duration};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Case {
    shipyard: String,
    #[serde(default)]
    config: CaseConfig,
    #[serde(default)]
    show_data: bool,
    steps: Vec<Step>,
}

#[derive(Deserialize, Default)]
struct CaseConfig {
    task_started_timeout: Option<String>,
    /// A duration or `none`.
    task_finished_timeout: Option<String>,
}

#[derive(Deserialize)]
struct Step {
    /// Time of the step (a duration since the start); default: the previous step's time.
    at: Option<String>,
    trigger: Option<Trigger>,
    started: Option<Answer>,
    finished: Option<Answer>,
    #[serde(default)]
    tick: bool,
    control: Option<CaseControl>,
}

#[derive(Deserialize)]
struct Trigger {
    stage: String,
    sequence: String,
    #[serde(default = "default_service")]
    service: String,
    context: String,
    id: Option<String>,
    #[serde(default)]
    data: BTreeMap<String, Value>,
}

fn default_service() -> String {
    "carts".to_owned()
}

#[derive(Deserialize)]
struct Answer {
    task: String,
    context: String,
    #[serde(default = "default_source")]
    source: String,
    /// Answer the open task of this stage (default: the latest one of that task and context).
    stage: Option<String>,
    /// Answer this id instead (late, duplicate or foreign answers).
    triggered_id: Option<String>,
    /// The answer's own event id (default: a fresh one); repeat it to model a redelivery.
    id: Option<String>,
    result: Option<String>,
    status: Option<String>,
    message: Option<String>,
    #[serde(default)]
    data: BTreeMap<String, Value>,
}

fn default_source() -> String {
    "executor".to_owned()
}

#[derive(Deserialize)]
struct CaseControl {
    context: String,
    action: String,
    stage: Option<String>,
}

fn millis(text: &str) -> u64 {
    u64::try_from(
        parse_go_duration(text)
            .expect("a duration in the test data")
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

fn show_time(timestamp: Timestamp) -> String {
    format_go_duration(Duration::from_millis(timestamp.0))
}

struct OpenTask {
    task: String,
    context: String,
    stage: String,
    service: String,
    id: String,
}

fn describe_event(event: &KeptnEvent) -> String {
    let short_type = event
        .event_type
        .to_string()
        .trim_start_matches("sh.keptn.event.")
        .to_owned();
    let scope = format!(
        "{}/{}/{}",
        event.data.stage.as_deref().unwrap_or("-"),
        event.data.service.as_deref().unwrap_or("-"),
        event.keptn_context.as_deref().unwrap_or("-")
    );
    let mut res = format!("{short_type} [{scope}]");
    if let Some(result) = &event.data.result
        && matches!(
            event.event_type,
            EventType::Sequence {
                kind: SequenceEventKind::Finished,
                ..
            }
        )
    {
        res.push_str(&format!(" result={result}"));
    }
    if matches!(
        event.event_type,
        EventType::Sequence {
            kind: SequenceEventKind::Finished,
            ..
        }
    ) {
        if let Some(status) = &event.data.status {
            res.push_str(&format!(" status={status}"));
        }
        if let Some(message) = event.data.message.as_deref().filter(|m| !m.is_empty()) {
            res.push_str(&format!(" message=\"{message}\""));
        }
    }
    res
}

fn run_case(case: &Case) -> String {
    let parsed = shipyard::parse(&case.shipyard).expect("scenario shipyards are valid");
    let mut config = Config::default();
    if let Some(timeout) = &case.config.task_started_timeout {
        config.task_started_timeout = Duration::from_millis(millis(timeout));
    }
    if let Some(timeout) = &case.config.task_finished_timeout {
        config.task_finished_timeout =
            (timeout != "none").then(|| Duration::from_millis(millis(timeout)));
    }
    let mut orchestrator = Orchestrator::new(config);
    let mut transcript = String::new();
    let mut now = Timestamp(0);
    orchestrator.handle(
        now,
        Input::SetShipyard {
            project: "sockshop".into(),
            shipyard: parsed.shipyard,
        },
    );
    let mut open: Vec<OpenTask> = Vec::new();
    let mut n_triggers = 0;
    for step in &case.steps {
        if let Some(at) = &step.at {
            now = Timestamp(millis(at));
        }
        let time = show_time(now);
        let input = if let Some(trigger) = &step.trigger {
            n_triggers += 1;
            let mut data = EventData::scoped("sockshop", &trigger.stage, &trigger.service);
            data.fields = trigger.data.clone().into_iter().collect();
            if let Some(Value::Object(labels)) = data.fields.remove("labels") {
                data.labels = Some(
                    labels
                        .into_iter()
                        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                        .collect(),
                );
            }
            let event_type = EventType::sequence(
                &trigger.stage,
                &trigger.sequence,
                SequenceEventKind::Triggered,
            )
            .expect("valid names");
            let id = trigger
                .id
                .clone()
                .unwrap_or_else(|| format!("trigger-{n_triggers}"));
            let mut event = KeptnEvent::new(&id, "test", event_type, data);
            event.keptn_context = Some(trigger.context.clone());
            transcript.push_str(&format!("{time:>7} <- {}\n", describe_event(&event)));
            Input::Event(event)
        } else if let Some((answer, kind)) = step
            .started
            .as_ref()
            .map(|answer| (answer, TaskEventKind::Started))
            .or(step
                .finished
                .as_ref()
                .map(|answer| (answer, TaskEventKind::Finished)))
        {
            let triggered_id = answer.triggered_id.clone().unwrap_or_else(|| {
                open.iter()
                    .rev()
                    .find(|task| {
                        task.task == answer.task
                            && task.context == answer.context
                            && answer
                                .stage
                                .as_ref()
                                .is_none_or(|stage| stage == &task.stage)
                    })
                    .map(|task| task.id.clone())
                    .unwrap_or_else(|| "unknown".to_owned())
            });
            let (stage, service) = open
                .iter()
                .find(|task| task.id == triggered_id)
                .map(|task| (task.stage.clone(), task.service.clone()))
                .unwrap_or_default();
            let mut data = EventData::scoped("sockshop", &stage, &service);
            data.fields = answer.data.clone().into_iter().collect();
            data.result = answer.result.as_deref().map(TaskResult::from);
            data.status = answer.status.as_deref().map(TaskStatus::from);
            data.message = answer.message.clone();
            let event_type = EventType::task(&answer.task, kind).expect("valid names");
            let answer_id = answer
                .id
                .clone()
                .unwrap_or_else(|| format!("answer-{}", transcript.len()));
            let mut event = KeptnEvent::new(&answer_id, &answer.source, event_type, data);
            event.keptn_context = Some(answer.context.clone());
            event.triggered_id = Some(triggered_id);
            let outcome = match (&event.data.result, &event.data.status) {
                (None, None) => String::new(),
                (result, status) => format!(
                    " ({}/{})",
                    result
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| "-".into()),
                    status
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| "-".into())
                ),
            };
            transcript.push_str(&format!(
                "{time:>7} <- {} from {}{outcome}\n",
                describe_event(&event),
                answer.source
            ));
            Input::Event(event)
        } else if let Some(control) = &step.control {
            let action = match control.action.as_str() {
                "abort" => ControlAction::Abort,
                "pause" => ControlAction::Pause,
                "resume" => ControlAction::Resume,
                other => panic!("unknown control action {other}"),
            };
            transcript.push_str(&format!(
                "{time:>7} <- control {} {}{}\n",
                control.action,
                control.context,
                control
                    .stage
                    .as_ref()
                    .map(|stage| format!(" (stage {stage})"))
                    .unwrap_or_default()
            ));
            Input::Control(Control {
                project: "sockshop".into(),
                keptn_context: control.context.clone(),
                stage: control.stage.clone(),
                action,
            })
        } else {
            assert!(
                step.tick,
                "a step needs trigger, started, finished, control or tick"
            );
            transcript.push_str(&format!("{time:>7} <- tick\n"));
            Input::Tick
        };
        for output in orchestrator.handle(now, input) {
            match output {
                Output::Emit(event) => {
                    if let EventType::Task {
                        task,
                        kind: TaskEventKind::Triggered,
                    } = &event.event_type
                    {
                        open.push(OpenTask {
                            task: task.clone(),
                            context: event.keptn_context.clone().unwrap_or_default(),
                            stage: event.data.stage.clone().unwrap_or_default(),
                            service: event.data.service.clone().unwrap_or_default(),
                            id: event.id.clone(),
                        });
                    }
                    transcript.push_str(&format!("{time:>7} -> {}\n", describe_event(&event)));
                    if case.show_data
                        && !matches!(
                            event.event_type,
                            EventType::Sequence {
                                kind: SequenceEventKind::Finished,
                                ..
                            }
                        )
                    {
                        transcript.push_str(&format!(
                            "          data {}\n",
                            serde_json::to_string(&event.data.to_value()).unwrap_or_default()
                        ));
                    }
                }
                Output::Command(Command::WakeAt(at)) => {
                    transcript.push_str(&format!("{time:>7} wake at {}\n", show_time(at)))
                }
                Output::Command(Command::CancelWake) => {
                    transcript.push_str(&format!("{time:>7} wake cancelled\n"))
                }
                Output::Command(Command::Ignored { reason }) => {
                    transcript.push_str(&format!("{time:>7} ! {reason}\n"))
                }
            }
        }
    }
    let state = &orchestrator.state;
    transcript.push_str(&format!(
        "state: {} execution(s) left",
        state.executions.len()
    ));
    for execution in state.executions.values() {
        transcript.push_str(&format!(
            "\n  {}.{} [{}] {:?} task={}",
            execution.stage,
            execution.sequence.name,
            execution.keptn_context,
            execution.status,
            execution
                .current_task
                .as_ref()
                .map(|task| task.name.as_str())
                .unwrap_or("-")
        ));
    }
    // The state survives a serde round trip (the service persists it).
    let json = serde_json::to_string(&orchestrator).expect("state serialises");
    let back: Orchestrator = serde_json::from_str(&json).expect("state deserialises");
    assert_eq!(back, orchestrator);
    transcript.push('\n');
    transcript
}

#[test]
fn orchestrator_scenarios() {
    insta::glob!("../data", "orchestrator/*.yaml", |path| {
        let text = std::fs::read_to_string(path).expect("test data is readable");
        let case: Case = serde_yaml::from_str(&text).expect("a scenario");
        insta::assert_snapshot!(run_case(&case));
    });
}

const PROPERTY_SHIPYARD: &str = "apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
            - name: approval
              properties: {pass: manual, warning: manual}
            - name: test
            - name: release
    - name: staging
      sequences:
        - name: delivery
          triggeredOn:
            - event: dev.delivery.finished
          tasks:
            - name: deployment
              triggeredAfter: 2m
            - name: evaluation
        - name: rollback
          triggeredOn:
            - event: staging.delivery.finished
              selector:
                match:
                  result: fail
          tasks:
            - name: rollback
";

#[derive(Debug, Clone)]
enum Action {
    Trigger {
        context: u8,
        service: u8,
    },
    Started {
        open_idx: usize,
        source: u8,
    },
    Finished {
        open_idx: usize,
        source: u8,
        result: u8,
        status: u8,
    },
    Advance {
        seconds: u32,
    },
    Control {
        context: u8,
        action: u8,
    },
    /// The bus delivers the previous answer again.
    Redeliver,
}

fn action_strategy() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0u8..3, 0u8..2).prop_map(|(context, service)| Action::Trigger { context, service }),
        (0usize..8, 0u8..3).prop_map(|(open_idx, source)| Action::Started { open_idx, source }),
        (0usize..8, 0u8..3, 0u8..5, 0u8..4).prop_map(|(open_idx, source, result, status)| {
            Action::Finished {
                open_idx,
                source,
                result,
                status,
            }
        }),
        (1u32..1200).prop_map(|seconds| Action::Advance { seconds }),
        (0u8..3, 0u8..3).prop_map(|(context, action)| Action::Control { context, action }),
        Just(Action::Redeliver),
    ]
}

fn task_event(
    kind: TaskEventKind,
    open: &KeptnEvent,
    source: u8,
    result: Option<TaskResult>,
    status: Option<TaskStatus>,
) -> Input {
    let EventType::Task { task, .. } = &open.event_type else {
        unreachable!("open tasks are task events")
    };
    let mut data = EventData::scoped(
        "sockshop",
        open.data.stage.as_deref().unwrap_or_default(),
        open.data.service.as_deref().unwrap_or_default(),
    );
    data.result = result;
    data.status = status;
    static N_ANSWERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let answer_number = N_ANSWERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut event = KeptnEvent::new(
        &format!("answer-{answer_number}"),
        &format!("source-{source}"),
        EventType::task(task, kind).expect("valid"),
        data,
    );
    event.keptn_context = open.keptn_context.clone();
    event.triggered_id = Some(open.id.clone());
    Input::Event(event)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Arbitrary interleavings of triggers, answers, time and control never panic; every
    /// sequence that was triggered ends (with exactly one `.finished`) once the remaining
    /// tasks are answered or time out.
    #[test]
    fn every_started_sequence_ends(actions in proptest::collection::vec(action_strategy(), 1..60)) {
        let shipyard = shipyard::parse(PROPERTY_SHIPYARD).expect("valid").shipyard;
        let mut config = Config::default();
        config.task_finished_timeouts.clear();
        let mut orchestrator = Orchestrator::new(config);
        let mut now = Timestamp(0);
        orchestrator.handle(now, Input::SetShipyard { project: "sockshop".into(), shipyard });
        let mut open: Vec<KeptnEvent> = Vec::new();
        let mut triggered: BTreeMap<String, usize> = BTreeMap::new();
        let mut finished: BTreeMap<String, usize> = BTreeMap::new();
        let mut n_triggers = 0;
        let record = |outputs: Vec<Output>, open: &mut Vec<KeptnEvent>, triggered: &mut BTreeMap<String, usize>, finished: &mut BTreeMap<String, usize>| {
            for output in outputs {
                if let Output::Emit(event) = output {
                    match &event.event_type {
                        EventType::Task { kind: TaskEventKind::Triggered, .. } => open.push(event),
                        EventType::Sequence { kind: SequenceEventKind::Triggered, .. } => *triggered.entry(event.id.clone()).or_default() += 1,
                        EventType::Sequence { kind: SequenceEventKind::Finished, .. } => {
                            *finished.entry(event.triggered_id.clone().unwrap_or_default()).or_default() += 1;
                        }
                        _ => {}
                    }
                }
            }
        };
        let results = [Some(TaskResult::Pass), Some(TaskResult::Warning), Some(TaskResult::Fail), None, Some(TaskResult::Other("failed".into()))];
        let statuses = [Some(TaskStatus::Succeeded), Some(TaskStatus::Errored), None, Some(TaskStatus::Aborted)];
        let mut last_answer: Option<Input> = None;
        for action in actions {
            let input = match action {
                Action::Trigger { context, service } => {
                    n_triggers += 1;
                    let id = format!("t{n_triggers}");
                    let mut event = KeptnEvent::new(
                        &id,
                        "test",
                        EventType::sequence("dev", "delivery", SequenceEventKind::Triggered).expect("valid"),
                        EventData::scoped("sockshop", "dev", &format!("svc{service}")),
                    );
                    event.keptn_context = Some(format!("ctx{context}"));
                    *triggered.entry(id).or_default() += 1;
                    Input::Event(event)
                }
                Action::Started { open_idx, source } => match open.get(open_idx % open.len().max(1)) {
                    Some(task) => {
                        let answer = task_event(TaskEventKind::Started, task, source, None, None);
                        last_answer = Some(answer.clone());
                        answer
                    }
                    None => Input::Tick,
                },
                Action::Finished { open_idx, source, result, status } => match open.get(open_idx % open.len().max(1)) {
                    Some(task) => {
                        let answer = task_event(TaskEventKind::Finished, task, source, results[usize::from(result)].clone(), statuses[usize::from(status)].clone());
                        last_answer = Some(answer.clone());
                        answer
                    }
                    None => Input::Tick,
                },
                Action::Redeliver => last_answer.clone().unwrap_or(Input::Tick),
                Action::Advance { seconds } => {
                    now = now.plus(Duration::from_secs(u64::from(seconds)));
                    Input::Tick
                }
                Action::Control { context, action } => Input::Control(Control {
                    project: "sockshop".into(),
                    keptn_context: format!("ctx{context}"),
                    stage: None,
                    action: [ControlAction::Abort, ControlAction::Pause, ControlAction::Resume][usize::from(action)],
                }),
            };
            let outputs = orchestrator.handle(now, input);
            record(outputs, &mut open, &mut triggered, &mut finished);
        }
        // Drain: resume everything, answer every open task, let time pass, until nothing is left.
        for context in 0..3 {
            let outputs = orchestrator.handle(now, Input::Control(Control {
                project: "sockshop".into(),
                keptn_context: format!("ctx{context}"),
                stage: None,
                action: ControlAction::Resume,
            }));
            record(outputs, &mut open, &mut triggered, &mut finished);
        }
        for _round in 0..200 {
            if orchestrator.state.executions.is_empty() {
                break;
            }
            let pending: Vec<KeptnEvent> = open.clone();
            for task in &pending {
                let outputs = orchestrator.handle(now, task_event(TaskEventKind::Finished, task, 9, Some(TaskResult::Pass), Some(TaskStatus::Succeeded)));
                record(outputs, &mut open, &mut triggered, &mut finished);
            }
            now = now.plus(Duration::from_secs(700));
            let outputs = orchestrator.handle(now, Input::Tick);
            record(outputs, &mut open, &mut triggered, &mut finished);
        }
        prop_assert!(orchestrator.state.executions.is_empty(), "left: {:?}", orchestrator.state.executions.values().map(|e| (&e.stage, &e.sequence.name, e.status)).collect::<Vec<_>>());
        for (trigger_id, n_finished) in &finished {
            prop_assert_eq!(*n_finished, 1usize, "sequence {} finished more than once", trigger_id);
        }
        for trigger_id in triggered.keys() {
            prop_assert_eq!(finished.get(trigger_id).copied().unwrap_or(0), 1usize, "sequence {} never finished", trigger_id);
        }
    }
}
