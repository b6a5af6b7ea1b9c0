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
//! - `jmeter-service`: Apache JMeter on `test.triggered`, as Keptn's jmeter-service (`jmeter.rs`).
//! - `prometheus-service`: SLI values from Prometheus on `get-sli.triggered` (`prometheus.rs`).
//! - `local-platform`: deployments, releases and rollbacks on the local platform (`deploy.rs`,
//!   `platform.rs`).
//! - `helm-service`: deployments, releases and rollbacks with Helm charts and Istio weights
//!   (`keptn_adapters::helm`, through `deploy.rs`).
//! - `remediation-service`: Keptn's action choice on `get-action.triggered` (`remediation.rs`);
//!   the local platform and Helm also run `scaling` (and the local platform `toggle-feature`)
//!   on `action.triggered`; `webhook-action` and `script-action` run the generic action runners.
//! - `local-sli`: SLI values from the local platform's router records (`sli.rs`).
//!
//! Entries of other kinds are external integrations; they talk to the API (they may poll
//! `GET /api/v1/event/triggered/{type}`).

use keptn_core::event::{EventData, EventType, KeptnEvent, TaskEventKind, TaskResult, TaskStatus};
use std::sync::Arc;

use keptn_core::ports::ConfigRepo;
use keptn_core::uniform::{Integration, Uniform};
use tokio::sync::broadcast;

use super::deploy::DeployIntegration;
use super::intake::Intake;
use super::jmeter::JMeterIntegration;
use super::lighthouse::Lighthouse;
use super::loadgen::LoadGenIntegration;
use super::prometheus::PrometheusIntegration;
use super::remediation::{self, LocalActions, RemediationService};
use super::sli::ProviderIntegration;
use keptn_adapters::local::{LocalDeployer, LocalPlatform};
use keptn_core::ports::ActionRunner;

/// Starts every built-in integration the uniform lists; returns their names.
pub fn start(
    uniform: &Uniform,
    bus: &broadcast::Sender<KeptnEvent>,
    intake: &Intake,
    config: &Arc<dyn ConfigRepo>,
    platform: Option<&LocalPlatform>,
    data_dir: &std::path::Path,
) -> Result<Vec<String>, String> {
    let platform = |name: &str| {
        platform.cloned().ok_or_else(|| {
            format!("integration '{name}' needs the local platform, which did not start")
        })
    };
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
            "local-platform" => {
                let platform = platform(&integration.name)?;
                let deployer = Arc::new(LocalDeployer::new(platform.clone(), Arc::clone(config)));
                Kind::Deploy(Arc::new(
                    DeployIntegration::new(&integration.name, Arc::clone(&deployer) as _)
                        .with_router(deployer)
                        .with_actions(Arc::new(LocalActions::new(platform))),
                ))
            }
            "remediation-service" => Kind::Remediation(Arc::new(RemediationService::new(
                &integration.name,
                Arc::clone(config),
            ))),
            kind @ ("webhook-action" | "script-action") => Kind::Action(Arc::new((
                integration.name.clone(),
                remediation::runner(
                    kind,
                    &integration.name,
                    &integration.config,
                    config,
                    data_dir,
                )?,
            ))),
            "helm-service" => {
                let helm = Arc::new(helm(&integration.name, &integration.config, config)?);
                Kind::Deploy(Arc::new(
                    DeployIntegration::new(&integration.name, Arc::clone(&helm) as _)
                        .with_router(Arc::clone(&helm) as _)
                        .with_actions(helm),
                ))
            }
            "jmeter-service" => Kind::JMeter(Arc::new(JMeterIntegration::from_config(
                &integration.name,
                &integration.config,
                data_dir,
                Arc::clone(config),
            )?)),
            "local-sli" => Kind::Sli(Arc::new(ProviderIntegration::new(
                &integration.name,
                Arc::new(platform(&integration.name)?.sli_provider()),
            ))),
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

/// The Helm + Istio deployer from a uniform entry's `config` (`keptn_adapters::helm::Config`:
/// `work_dir` is required).
fn helm(
    name: &str,
    config: &serde_json::Value,
    repo: &Arc<dyn ConfigRepo>,
) -> Result<keptn_adapters::helm::Helm, String> {
    let parsed: keptn_adapters::helm::Config = serde_json::from_value(config.clone())
        .map_err(|err| format!("config of '{name}': {err}"))?;
    let valid = parsed
        .validate()
        .map_err(|err| format!("config of '{name}': {err}"))?;
    Ok(keptn_adapters::helm::Helm::new(valid, Arc::clone(repo)))
}

#[derive(Clone)]
enum Kind {
    Noop,
    Approval,
    Lighthouse(Arc<Lighthouse>),
    LoadGen(Arc<LoadGenIntegration>),
    Prometheus(Arc<PrometheusIntegration>),
    Deploy(Arc<DeployIntegration>),
    Sli(Arc<ProviderIntegration>),
    JMeter(Arc<JMeterIntegration>),
    Remediation(Arc<RemediationService>),
    Action(Arc<(String, Arc<dyn ActionRunner>)>),
}

impl Kind {
    /// For the kinds that take a while: `.started` at once, `.finished` when done.
    fn worker(&self) -> Option<Worker> {
        match self {
            Kind::LoadGen(inner) => Some(Worker::LoadGen(Arc::clone(inner))),
            Kind::Prometheus(inner) => Some(Worker::Prometheus(Arc::clone(inner))),
            Kind::Deploy(inner) => Some(Worker::Deploy(Arc::clone(inner))),
            Kind::Sli(inner) => Some(Worker::Sli(Arc::clone(inner))),
            Kind::JMeter(inner) => Some(Worker::JMeter(Arc::clone(inner))),
            Kind::Remediation(inner) => Some(Worker::Remediation(Arc::clone(inner))),
            Kind::Action(inner) => Some(Worker::Action(Arc::clone(inner))),
            Kind::Noop | Kind::Approval | Kind::Lighthouse(_) => None,
        }
    }
}

/// An integration whose tasks run in the background.
enum Worker {
    LoadGen(Arc<LoadGenIntegration>),
    Prometheus(Arc<PrometheusIntegration>),
    Deploy(Arc<DeployIntegration>),
    Sli(Arc<ProviderIntegration>),
    JMeter(Arc<JMeterIntegration>),
    Remediation(Arc<RemediationService>),
    Action(Arc<(String, Arc<dyn ActionRunner>)>),
}

impl Worker {
    fn handles(&self, event: &KeptnEvent) -> bool {
        match self {
            Worker::Deploy(inner) => inner.handles(event),
            Worker::Action(inner) => remediation::handles(inner.1.as_ref(), event),
            _ => is_triggered_task(event),
        }
    }

    fn start(&self, event: &KeptnEvent) -> Option<KeptnEvent> {
        match self {
            Worker::LoadGen(inner) => inner.start(event),
            Worker::Prometheus(inner) => inner.start(event),
            Worker::Deploy(inner) => inner.start(event),
            Worker::Sli(inner) => inner.start(event),
            Worker::JMeter(inner) => inner.start(event),
            Worker::Remediation(inner) => inner.start(event),
            Worker::Action(inner) => answer(&inner.0, event, TaskEventKind::Started, None, None),
        }
    }

    async fn finish(&self, event: &KeptnEvent) -> Option<KeptnEvent> {
        match self {
            Worker::LoadGen(inner) => inner.finish(event).await,
            Worker::Prometheus(inner) => inner.finish(event).await,
            Worker::Deploy(inner) => inner.finish(event).await,
            Worker::Sli(inner) => inner.finish(event).await,
            Worker::JMeter(inner) => inner.finish(event).await,
            Worker::Remediation(inner) => inner.finish(event).await,
            Worker::Action(inner) => {
                remediation::run_action(&inner.0, inner.1.as_ref(), event).await
            }
        }
    }
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
            Kind::LoadGen(_)
            | Kind::Prometheus(_)
            | Kind::Deploy(_)
            | Kind::Sli(_)
            | Kind::JMeter(_)
            | Kind::Remediation(_)
            | Kind::Action(_) => {
                let Some(worker) = kind.worker() else {
                    continue;
                };
                if !worker.handles(&event) {
                    continue;
                }
                // Tests, deployments and queries take a while: `.started` now, `.finished` in
                // the background.
                let intake = intake.clone();
                let name = integration.name.clone();
                tokio::spawn(async move {
                    let started = worker.start(&event).into_iter().collect::<Vec<_>>();
                    send(&intake, &name, started).await;
                    let finished = worker.finish(&event).await.into_iter().collect::<Vec<_>>();
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

/// A `.finished` with result `fail` and status `errored`: the task could not be done.
pub fn errored(source: &str, trigger: &KeptnEvent, message: &str) -> Option<KeptnEvent> {
    let mut finished = answer(
        source,
        trigger,
        TaskEventKind::Finished,
        Some(TaskResult::Fail),
        Some(message.to_owned()),
    )?;
    finished.data.status = Some(TaskStatus::Errored);
    Some(finished)
}

/// The project/stage/service an event is about.
pub fn scope_of(event: &KeptnEvent) -> Option<keptn_core::ports::Scope> {
    let (project, stage, service) = event.scope()?;
    Some(keptn_core::ports::Scope {
        project: project.to_owned(),
        stage: stage.to_owned(),
        service: service.to_owned(),
    })
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
