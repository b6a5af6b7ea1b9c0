//! Answers an integration sends to a task's `.triggered` event: `.started`, `.finished` and
//! the errored `.finished` of a task that could not be done.
//!
//! An answer carries the trigger's project, stage, service, labels, Keptn context and commit,
//! names the trigger in `triggeredid`, and gets an id derived from the trigger's id, the
//! answering source and its kind (`<trigger id>-<source>-finished`): an integration that
//! answers the same trigger again after a restart sends the same ids, which the control plane
//! recognises as duplicates. Time is an argument, as everywhere in keptn-core.

use crate::event::{
    EventData, EventType, KeptnEvent, TaskEventKind, TaskResult, TaskStatus, Timestamp,
    format_rfc3339,
};

/// The task of a `.triggered` task event (`deployment` for
/// `sh.keptn.event.deployment.triggered`); `None` for any other event.
pub fn triggered_task(event: &KeptnEvent) -> Option<&str> {
    match &event.event_type {
        EventType::Task {
            task,
            kind: TaskEventKind::Triggered,
        } => Some(task),
        _ => None,
    }
}

/// An answer of `kind` to `trigger` from `source`, status `succeeded`; a `.finished` gets
/// `result` (`pass` when `None`). `None` when `trigger` is not a task event.
pub fn answer(
    trigger: &KeptnEvent,
    source: &str,
    kind: TaskEventKind,
    result: Option<TaskResult>,
    message: Option<String>,
    now: Timestamp,
) -> Option<KeptnEvent> {
    let EventType::Task { task, .. } = &trigger.event_type else {
        return None;
    };
    let event_type = EventType::task(task, kind).ok()?;
    let mut data = EventData {
        project: trigger.data.project.clone(),
        stage: trigger.data.stage.clone(),
        service: trigger.data.service.clone(),
        labels: trigger.data.labels.clone(),
        status: Some(TaskStatus::Succeeded),
        result: None,
        message,
        ..EventData::default()
    };
    if kind == TaskEventKind::Finished {
        data.result = Some(result.unwrap_or(TaskResult::Pass));
    }
    let id = format!("{}-{source}-{}", trigger.id, kind.as_str());
    let mut event = KeptnEvent::new(&id, source, event_type, data);
    event.keptn_context = trigger.keptn_context.clone();
    event.triggered_id = Some(trigger.id.clone());
    event.git_commit_id = trigger.git_commit_id.clone();
    event.time = Some(format_rfc3339(now));
    Some(event)
}

/// `.started` for `trigger`.
pub fn started(trigger: &KeptnEvent, source: &str, now: Timestamp) -> Option<KeptnEvent> {
    answer(trigger, source, TaskEventKind::Started, None, None, now)
}

/// `.finished` for `trigger` with `result` and an optional message.
pub fn finished(
    trigger: &KeptnEvent,
    source: &str,
    result: TaskResult,
    message: Option<String>,
    now: Timestamp,
) -> Option<KeptnEvent> {
    answer(
        trigger,
        source,
        TaskEventKind::Finished,
        Some(result),
        message,
        now,
    )
}

/// A `.finished` with result `fail` and status `errored`: the task could not be done, and
/// `message` says why.
pub fn errored(
    trigger: &KeptnEvent,
    source: &str,
    message: &str,
    now: Timestamp,
) -> Option<KeptnEvent> {
    let mut event = finished(
        trigger,
        source,
        TaskResult::Fail,
        Some(message.to_owned()),
        now,
    )?;
    event.data.status = Some(TaskStatus::Errored);
    Some(event)
}

#[cfg(test)]
mod tests;
