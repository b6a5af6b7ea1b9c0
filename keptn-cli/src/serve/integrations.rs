//! Integrations that run inside `keptn serve`, subscribed through the uniform.
//!
//! Each listens on the bus, takes the events its uniform entry subscribes to, and answers
//! through the same intake as the API. Answers get ids derived from the trigger's id, so an
//! answer repeated after a restart is recognised as a duplicate and changes nothing.
//!
//! Built-in kinds, chosen by the uniform entry's `kind` (which defaults to its `name`):
//! - `noop`: answers every subscribed `.triggered` task with `.started` and `.finished` (pass);
//!   for placeholders and for measuring orchestration overhead.
//! - `approval-service`: Keptn's approval rules (`slo-semantics` §4.1 of the control-plane
//!   spec): automatic approvals finish at once, a `fail` result is declined, anything else waits
//!   for a person (`POST /api/v1/approval/...`).
//!
//! - `lighthouse-service`: the built-in evaluator (`lighthouse.rs`).
//! - `loadgen`: the built-in load runner on `test.triggered` (`loadgen.rs`).
//! - `prometheus-service`: SLI values from Prometheus on `get-sli.triggered` (`prometheus.rs`).
//!
//! Entries of other kinds are external integrations; they talk to the API (they may poll
//! `GET /api/v1/event/triggered/{type}`).

use keptn_core::event::{EventData, EventType, KeptnEvent, TaskEventKind, TaskResult, TaskStatus};
use std::sync::Arc;

use keptn_core::ports::ConfigRepo;
use keptn_core::uniform::{Integration, Uniform};
use tokio::sync::broadcast;

use super::intake::Intake;
use super::lighthouse::Lighthouse;
use super::loadgen::LoadGenIntegration;
use super::prometheus::PrometheusIntegration;

/// Starts every built-in integration the uniform lists; returns their names.
pub fn start(
    uniform: &Uniform,
    bus: &broadcast::Sender<KeptnEvent>,
    intake: &Intake,
    config: &Arc<dyn ConfigRepo>,
) -> Result<Vec<String>, String> {
    let mut started = Vec::new();
    for integration in &uniform.integrations {
        let kind = match integration.kind.as_str() {
            "noop" => Kind::Noop,
            "approval-service" => Kind::Approval,
            "lighthouse-service" => Kind::Lighthouse(Arc::new(Lighthouse {
                store: Arc::clone(&intake.store),
                config: Arc::clone(config),
            })),
            "loadgen" => Kind::LoadGen(Arc::new(LoadGenIntegration::from_config(
                &integration.name,
                &integration.config,
            )?)),
            "prometheus-service" => Kind::Prometheus(Arc::new(PrometheusIntegration::from_config(
                &integration.name,
                &integration.config,
                Arc::clone(config),
            )?)),
            _ => continue,
        };
        started.push(integration.name.clone());
        tokio::spawn(listen(
            kind,
            integration.clone(),
            bus.subscribe(),
            intake.clone(),
        ));
    }
    Ok(started)
}

#[derive(Clone)]
enum Kind {
    Noop,
    Approval,
    Lighthouse(Arc<Lighthouse>),
    LoadGen(Arc<LoadGenIntegration>),
    Prometheus(Arc<PrometheusIntegration>),
}

async fn listen(
    kind: Kind,
    integration: Integration,
    mut events: broadcast::Receiver<KeptnEvent>,
    intake: Intake,
) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(n_missed)) => {
                eprintln!(
                    "keptn serve: integration {} missed {n_missed} events",
                    integration.name
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if !subscribed(&integration, &event) {
            continue;
        }
        let answers = match &kind {
            Kind::Noop => noop(&integration.name, &event),
            Kind::Approval => approval(&integration.name, &event),
            Kind::Lighthouse(lighthouse) => lighthouse.handle(&event).await,
            Kind::LoadGen(loadgen) => {
                if !is_triggered_task(&event) {
                    continue;
                }
                // A test may run for minutes: answer `.started` now, finish in the background.
                let loadgen = Arc::clone(loadgen);
                let intake = intake.clone();
                let name = integration.name.clone();
                tokio::spawn(async move {
                    let answers = loadgen.start(&event).into_iter().collect::<Vec<_>>();
                    send(&intake, &name, answers).await;
                    let finished = loadgen.finish(&event).await.into_iter().collect::<Vec<_>>();
                    send(&intake, &name, finished).await;
                });
                continue;
            }
            Kind::Prometheus(prometheus) => {
                if !is_triggered_task(&event) {
                    continue;
                }
                let prometheus = Arc::clone(prometheus);
                let intake = intake.clone();
                let name = integration.name.clone();
                tokio::spawn(async move {
                    let started = prometheus.start(&event).into_iter().collect::<Vec<_>>();
                    send(&intake, &name, started).await;
                    let finished = prometheus
                        .finish(&event)
                        .await
                        .into_iter()
                        .collect::<Vec<_>>();
                    send(&intake, &name, finished).await;
                });
                continue;
            }
        };
        send(&intake, &integration.name, answers).await;
    }
}

/// Sends an integration's answers through the intake; failures are logged.
async fn send(intake: &Intake, name: &str, answers: Vec<KeptnEvent>) {
    if answers.is_empty() {
        return;
    }
    let results = match intake.receive_all(answers).await {
        Ok(results) => results,
        Err(err) => vec![Err(err)],
    };
    for err in results.into_iter().filter_map(Result::err) {
        eprintln!("keptn serve: integration {name}: {err:#}");
    }
}

fn subscribed(integration: &Integration, event: &KeptnEvent) -> bool {
    let event_type = event.event_type.to_string();
    let (project, stage, service) = event.scope().unwrap_or(("", "", ""));
    integration.subscriptions.iter().any(|subscription| {
        subscription.event.matches(&event_type)
            && subscription.filter.matches(project, stage, service)
    })
}

/// An answer to a task's `.triggered` event, with an id derived from it.
pub fn answer(
    source: &str,
    trigger: &KeptnEvent,
    kind: TaskEventKind,
    result: Option<TaskResult>,
    message: Option<String>,
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
    event.time = Some(keptn_core::event::format_rfc3339(super::engine::now()));
    Some(event)
}

fn is_triggered_task(event: &KeptnEvent) -> bool {
    matches!(
        &event.event_type,
        EventType::Task {
            kind: TaskEventKind::Triggered,
            ..
        }
    )
}

fn noop(name: &str, event: &KeptnEvent) -> Vec<KeptnEvent> {
    if !is_triggered_task(event) {
        return Vec::new();
    }
    [
        answer(name, event, TaskEventKind::Started, None, None),
        answer(
            name,
            event,
            TaskEventKind::Finished,
            Some(TaskResult::Pass),
            Some("noop".to_owned()),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Keptn's approval-service rules.
fn approval(name: &str, event: &KeptnEvent) -> Vec<KeptnEvent> {
    if !is_triggered_task(event) {
        return Vec::new();
    }
    let result = event
        .data
        .result
        .as_ref()
        .map(|result| result.as_str().to_owned())
        .or_else(|| {
            event
                .data
                .fields
                .get("evaluation")
                .and_then(|evaluation| evaluation.get("result"))
                .and_then(|result| result.as_str())
                .map(str::to_owned)
        });
    let strategy_for = |key: &str| {
        event
            .data
            .fields
            .get("approval")
            .and_then(|approval| approval.get(key))
            .and_then(|strategy| strategy.as_str())
            .map(str::to_owned)
    };
    let strategy = match result.as_deref() {
        Some("pass") => strategy_for("pass"),
        Some("warning") => strategy_for("warning"),
        _ => None,
    };
    let started_message = format!(
        "Approval strategy for result '{}': {}",
        result.as_deref().unwrap_or(""),
        strategy.as_deref().unwrap_or("manual")
    );
    let mut answers: Vec<KeptnEvent> = answer(
        name,
        event,
        TaskEventKind::Started,
        None,
        Some(started_message),
    )
    .into_iter()
    .collect();
    let finished = match (result.as_deref(), strategy.as_deref()) {
        (Some("pass" | "warning"), Some("automatic")) => answer(
            name,
            event,
            TaskEventKind::Finished,
            Some(TaskResult::Pass),
            Some("approved automatically".to_owned()),
        ),
        (Some("fail"), _) => answer(
            name,
            event,
            TaskEventKind::Finished,
            Some(TaskResult::Fail),
            Some("declined automatically: the previous task failed".to_owned()),
        ),
        _ => None,
    };
    answers.extend(finished);
    answers
}
