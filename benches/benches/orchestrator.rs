//! Orchestrator benchmarks: one transition of the pure state machine. Run:
//! `cargo bench -p keptn-benches --bench orchestrator`. Target: one transition ≤ 2 µs.
//!
//! Each benchmark prepares the state outside the timed region (a clone per batch) and times
//! a single `Orchestrator::handle` call:
//!
//! - `finished_triggers_next_task`: a `.finished` completes the running task of the example
//!   sockshop delivery and the next task's `.triggered` is built (payload merge) and emitted;
//! - `started`: a `.started` is recorded;
//! - `trigger_starts_sequence`: a sequence `.triggered` starts an execution and dispatches its
//!   first task;
//! - `finished_chains_next_stage`: the last task of dev's delivery finishes; the sequence
//!   `.finished`, staging's `.triggered` and staging's first task are emitted;
//! - `tick_100_running`: a clock tick with 100 running sequences (timeouts checked, nothing
//!   due).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keptn_core::event::{
    EventData, EventType, KeptnEvent, TaskEventKind, TaskResult, TaskStatus, Timestamp,
};
use keptn_core::orchestrator::{Config, Input, Orchestrator, Output};
use keptn_core::shipyard;

const SOCKSHOP_SHIPYARD: &str = include_str!("../../examples/sockshop/shipyard.yaml");

fn delivery_trigger(id: &str, service: &str, context: &str) -> Input {
    let mut data = EventData::scoped("sockshop", "dev", service);
    data.labels = Some([("owner".to_owned(), "jane".to_owned())].into());
    data.fields.insert(
        "configurationChange".to_owned(),
        serde_json::json!({"values": {"image": "docker.io/keptnexamples/carts:0.13.1"}}),
    );
    let mut event = KeptnEvent::new(
        id,
        "bench",
        EventType::parse("sh.keptn.event.dev.delivery.triggered").expect("valid"),
        data,
    );
    event.keptn_context = Some(context.to_owned());
    Input::Event(event)
}

fn answer(task_event: &KeptnEvent, kind: TaskEventKind) -> Input {
    let EventType::Task { task, .. } = &task_event.event_type else {
        panic!("a task event")
    };
    let mut data = EventData::scoped(
        "sockshop",
        "dev",
        task_event.data.service.as_deref().unwrap_or("carts"),
    );
    if kind == TaskEventKind::Finished {
        data.result = Some(TaskResult::Pass);
        data.status = Some(TaskStatus::Succeeded);
        data.fields.insert(
            task.clone(),
            serde_json::json!({"deploymentURIsLocal": ["http://carts.sockshop-dev:80"], "deploymentNames": ["direct"]}),
        );
    }
    let mut event = KeptnEvent::new(
        "answer",
        "helm-service",
        EventType::task(task, kind).expect("valid"),
        data,
    );
    event.keptn_context = task_event.keptn_context.clone();
    event.triggered_id = Some(task_event.id.clone());
    Input::Event(event)
}

fn last_task_triggered(outputs: &[Output]) -> KeptnEvent {
    outputs
        .iter()
        .rev()
        .find_map(|output| match output {
            Output::Emit(event)
                if matches!(
                    event.event_type,
                    EventType::Task {
                        kind: TaskEventKind::Triggered,
                        ..
                    }
                ) =>
            {
                Some(event.clone())
            }
            _ => None,
        })
        .expect("a task was triggered")
}

/// An orchestrator with the sockshop shipyard and one dev delivery whose first task is open.
fn with_running_delivery() -> (Orchestrator, KeptnEvent) {
    let shipyard = shipyard::parse(SOCKSHOP_SHIPYARD)
        .expect("the example is valid")
        .shipyard;
    let mut orchestrator = Orchestrator::new(Config::default());
    orchestrator.handle(
        Timestamp(0),
        Input::SetShipyard {
            project: "sockshop".into(),
            shipyard,
        },
    );
    let outputs = orchestrator.handle(Timestamp(1), delivery_trigger("t1", "carts", "c1"));
    let open = last_task_triggered(&outputs);
    (orchestrator, open)
}

fn bench_transitions(c: &mut Criterion) {
    let mut group = c.benchmark_group("orchestrator");
    let (running, open) = with_running_delivery();

    let finished = answer(&open, TaskEventKind::Finished);
    group.bench_function("finished_triggers_next_task", |b| {
        b.iter_batched_ref(
            || (running.clone(), Some(finished.clone())),
            |(orchestrator, input)| {
                black_box(
                    orchestrator.handle(Timestamp(1_000), input.take().expect("one input per run")),
                )
            },
            BatchSize::PerIteration,
        );
    });

    let started = answer(&open, TaskEventKind::Started);
    group.bench_function("started", |b| {
        b.iter_batched_ref(
            || (running.clone(), Some(started.clone())),
            |(orchestrator, input)| {
                black_box(
                    orchestrator.handle(Timestamp(1_000), input.take().expect("one input per run")),
                )
            },
            BatchSize::PerIteration,
        );
    });

    let mut idle = running.clone();
    let outputs = idle.handle(Timestamp(2), answer(&open, TaskEventKind::Finished));
    let test_task = last_task_triggered(&outputs);
    idle.handle(Timestamp(3), answer(&test_task, TaskEventKind::Finished));
    let trigger = delivery_trigger("t2", "carts", "c2");
    group.bench_function("trigger_starts_sequence", |b| {
        b.iter_batched_ref(
            || (idle.clone(), Some(trigger.clone())),
            |(orchestrator, input)| {
                black_box(
                    orchestrator.handle(Timestamp(1_000), input.take().expect("one input per run")),
                )
            },
            BatchSize::PerIteration,
        );
    });

    let mut at_last_task = running.clone();
    let outputs = at_last_task.handle(Timestamp(2), answer(&open, TaskEventKind::Finished));
    let last = answer(&last_task_triggered(&outputs), TaskEventKind::Finished);
    group.bench_function("finished_chains_next_stage", |b| {
        b.iter_batched_ref(
            || (at_last_task.clone(), Some(last.clone())),
            |(orchestrator, input)| {
                black_box(
                    orchestrator.handle(Timestamp(1_000), input.take().expect("one input per run")),
                )
            },
            BatchSize::PerIteration,
        );
    });

    let mut busy = running.clone();
    for service_idx in 0..99 {
        busy.handle(
            Timestamp(4),
            delivery_trigger(
                &format!("b{service_idx}"),
                &format!("svc{service_idx}"),
                &format!("ctx{service_idx}"),
            ),
        );
    }
    group.bench_function("tick_100_running", |b| {
        b.iter_batched_ref(
            || busy.clone(),
            |orchestrator| black_box(orchestrator.handle(Timestamp(5), Input::Tick)),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, bench_transitions);
criterion_main!(benches);
