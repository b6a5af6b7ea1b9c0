use crate::event::{EventData, EventType, KeptnEvent, TaskResult, TaskStatus, Timestamp};

use super::{errored, finished, started, triggered_task};

fn trigger() -> KeptnEvent {
    let event_type = EventType::parse("sh.keptn.event.deployment.triggered").expect("type");
    let mut data = EventData::scoped("sockshop", "dev", "carts");
    data.labels = Some([("owner".to_owned(), "team".to_owned())].into());
    let mut event = KeptnEvent::new("trigger-1", "shipyard-controller", event_type, data);
    event.keptn_context = Some("context-1".to_owned());
    event.git_commit_id = Some("abc123".to_owned());
    event
}

#[test]
fn answers_carry_the_trigger_and_ids_derived_from_it() {
    let now = Timestamp(1_610_723_386_268);
    let started = started(&trigger(), "helm-service", now).expect("a task trigger");
    assert_eq!(started.id, "trigger-1-helm-service-started");
    assert_eq!(
        started.event_type.to_string(),
        "sh.keptn.event.deployment.started"
    );
    assert_eq!(started.triggered_id.as_deref(), Some("trigger-1"));
    assert_eq!(started.keptn_context.as_deref(), Some("context-1"));
    assert_eq!(started.git_commit_id.as_deref(), Some("abc123"));
    assert_eq!(started.time.as_deref(), Some("2021-01-15T15:09:46.268Z"));
    assert_eq!(started.data.result, None);
    assert_eq!(started.data.status, Some(TaskStatus::Succeeded));
    assert_eq!(
        started.scope(),
        Some(("sockshop", "dev", "carts")),
        "scope copied"
    );
    assert_eq!(started.data.labels, trigger().data.labels);

    let finished = finished(
        &trigger(),
        "helm-service",
        TaskResult::Warning,
        Some("slow".to_owned()),
        now,
    )
    .expect("a task trigger");
    assert_eq!(finished.id, "trigger-1-helm-service-finished");
    assert_eq!(finished.data.result, Some(TaskResult::Warning));
    assert_eq!(finished.data.message.as_deref(), Some("slow"));

    let errored = errored(&trigger(), "helm-service", "no chart", now).expect("a task trigger");
    assert_eq!(errored.data.result, Some(TaskResult::Fail));
    assert_eq!(errored.data.status, Some(TaskStatus::Errored));
    assert_eq!(errored.data.message.as_deref(), Some("no chart"));
}

#[test]
fn only_task_events_are_answered() {
    let event_type = EventType::parse("sh.keptn.event.dev.delivery.triggered").expect("type");
    let sequence = KeptnEvent::new("s", "cli", event_type, EventData::default());
    assert!(started(&sequence, "noop", Timestamp(0)).is_none());
    assert_eq!(triggered_task(&sequence), None);
    assert_eq!(triggered_task(&trigger()), Some("deployment"));
    let answered =
        finished(&trigger(), "noop", TaskResult::Pass, None, Timestamp(0)).expect("a task trigger");
    assert_eq!(triggered_task(&answered), None, "a .finished is no trigger");
}
