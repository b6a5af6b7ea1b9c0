//! A deployer as an in-process integration: answers `deployment`, `release` and `rollback`
//! `.triggered` events through any [`Deployer`] (the local platform, uniform
//! `kind: local-platform`; Helm + Istio, `kind: helm-service`), the way Keptn's helm-service
//! answered them (§4.5 of the control-plane spec):
//!
//! - `deployment`: the strategy is the task's `deployment.deploymentstrategy` (`direct`,
//!   `blue_green_service` or its older name `duplicate`, `user_managed`), the artifact
//!   `configurationChange.values` (`image`); `.finished` carries `deployment.deploymentNames`
//!   and the URIs the tests use.
//! - `release` and `rollback`: promote or discard the canary; `.finished` echoes the incoming
//!   result, as helm-service did, so a warning stays a warning.
//! - `action` (remediation), when the deployer comes with an action runner that handles the
//!   action (`scaling` on the same platform).
//!
//! Deployments take seconds (processes start, charts roll out), so `.started` is sent at once
//! and `.finished` when the deployer returns.

use std::collections::BTreeMap;
use std::sync::Arc;

use keptn_core::event::{EventType, KeptnEvent, TaskEventKind, TaskResult, TaskStatus};
use keptn_core::ports::{ActionRunner, Deployer, DeploymentRequest, DeploymentStrategy, Scope};
use serde_json::{Value, json};

use super::integrations::answer;

/// The tasks a deployer answers.
pub const TASKS: [&str; 3] = ["deployment", "release", "rollback"];

/// The deployer integration.
pub struct DeployIntegration {
    name: String,
    deployer: Arc<dyn Deployer>,
    actions: Option<Arc<dyn ActionRunner>>,
}

impl DeployIntegration {
    /// Wraps a deployer under the uniform entry's name.
    pub fn new(name: &str, deployer: Arc<dyn Deployer>) -> Self {
        DeployIntegration {
            name: name.to_owned(),
            deployer,
            actions: None,
        }
    }

    /// Also answers the `action.triggered` events `actions` handles (remediation on the same
    /// platform: `scaling`, ...).
    #[must_use]
    pub fn with_actions(mut self, actions: Arc<dyn ActionRunner>) -> Self {
        self.actions = Some(actions);
        self
    }

    /// Whether `trigger` is a task this integration answers.
    pub fn handles(&self, trigger: &KeptnEvent) -> bool {
        triggered_task(trigger).is_some_and(|task| TASKS.contains(&task))
            || self
                .actions
                .as_deref()
                .is_some_and(|actions| super::remediation::handles(actions, trigger))
    }

    /// `.started` at once; the caller sends it, then awaits [`DeployIntegration::finish`].
    pub fn start(&self, trigger: &KeptnEvent) -> Option<KeptnEvent> {
        answer(&self.name, trigger, TaskEventKind::Started, None, None)
    }

    /// Runs the task and returns its `.finished`.
    pub async fn finish(&self, trigger: &KeptnEvent) -> Option<KeptnEvent> {
        let (project, stage, service) = trigger.scope()?;
        let scope = Scope {
            project: project.to_owned(),
            stage: stage.to_owned(),
            service: service.to_owned(),
        };
        let strategy_name = trigger
            .data
            .fields
            .get("deployment")
            .and_then(|deployment| deployment.get("deploymentstrategy"))
            .and_then(Value::as_str)
            .unwrap_or("direct")
            .to_owned();
        let strategy = match strategy(&strategy_name) {
            Ok(strategy) => strategy,
            Err(message) => return self.failed(trigger, &message),
        };
        match triggered_task(trigger)? {
            "action" => {
                let actions = self.actions.as_deref()?;
                super::remediation::run_action(&self.name, actions, trigger).await
            }
            "deployment" => {
                let values: BTreeMap<String, Value> = trigger
                    .data
                    .fields
                    .get("configurationChange")
                    .and_then(|change| change.get("values"))
                    .and_then(Value::as_object)
                    .map(|values| {
                        values
                            .iter()
                            .map(|(key, value)| (key.clone(), value.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                let request = DeploymentRequest {
                    scope,
                    strategy,
                    values,
                    git_commit_id: trigger.git_commit_id.clone(),
                };
                match self.deployer.deploy(&request).await {
                    Ok(deployed) => {
                        let mut finished = answer(
                            &self.name,
                            trigger,
                            TaskEventKind::Finished,
                            Some(TaskResult::Pass),
                            Some(format!(
                                "deployed with strategy {strategy_name}: {}",
                                deployed.deployment_names.join(", ")
                            )),
                        )?;
                        finished.data.fields.insert(
                            "deployment".to_owned(),
                            json!({
                                "deploymentstrategy": strategy_name,
                                "deploymentNames": deployed.deployment_names,
                                "deploymentURIsLocal": deployed.uris_local,
                                "deploymentURIsPublic": deployed.uris_public,
                            }),
                        );
                        Some(finished)
                    }
                    Err(err) => self.failed(trigger, &format!("deployment failed: {err}")),
                }
            }
            task @ ("release" | "rollback") => {
                let done = if task == "release" {
                    self.deployer.release(&scope, strategy).await
                } else {
                    self.deployer.rollback(&scope, strategy).await
                };
                match done {
                    Ok(()) => {
                        let incoming = trigger.data.result.clone().unwrap_or(TaskResult::Pass);
                        let message = if task == "release" {
                            format!("released ({strategy_name})")
                        } else {
                            format!("rolled back ({strategy_name})")
                        };
                        answer(
                            &self.name,
                            trigger,
                            TaskEventKind::Finished,
                            Some(incoming),
                            Some(message),
                        )
                    }
                    Err(err) => self.failed(trigger, &format!("{task} failed: {err}")),
                }
            }
            _ => None,
        }
    }

    fn failed(&self, trigger: &KeptnEvent, message: &str) -> Option<KeptnEvent> {
        let mut finished = answer(
            &self.name,
            trigger,
            TaskEventKind::Finished,
            Some(TaskResult::Fail),
            Some(message.to_owned()),
        )?;
        finished.data.status = Some(TaskStatus::Errored);
        Some(finished)
    }
}

/// The task of a `.triggered` task event.
pub fn triggered_task(event: &KeptnEvent) -> Option<&str> {
    match &event.event_type {
        EventType::Task {
            task,
            kind: TaskEventKind::Triggered,
        } => Some(task),
        _ => None,
    }
}

/// The strategy named in a shipyard's `deploymentstrategy`.
pub fn strategy(name: &str) -> Result<DeploymentStrategy, String> {
    match name {
        "" | "direct" => Ok(DeploymentStrategy::Direct),
        "blue_green_service" | "duplicate" => Ok(DeploymentStrategy::BlueGreen),
        "user_managed" => Ok(DeploymentStrategy::UserManaged),
        other => Err(format!(
            "unknown deploymentstrategy '{other}': expected direct, blue_green_service (or duplicate) or user_managed"
        )),
    }
}
