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
//! - Strategy `canary` (progressive delivery, which Keptn never shipped): the deployment task's
//!   `canaryweight` (default 10) is the new version's first share of the traffic; each
//!   `release` task with a `canaryweight` below 100 shifts the traffic to that share (run a test
//!   and an evaluation between steps: a failing evaluation ends the sequence, and a rollback
//!   sequence returns everything to the primary); a `release` without one promotes.
//! - `action` (remediation), when the deployer comes with an action runner that handles the
//!   action (`scaling` on the same platform).
//!
//! Deployments take seconds (processes start, charts roll out), so `.started` is sent at once
//! and `.finished` when the deployer returns.

use std::collections::BTreeMap;
use std::sync::Arc;

use keptn_core::event::{EventType, KeptnEvent, TaskEventKind, TaskResult};
use keptn_core::ports::{
    ActionRunner, Deployer, DeploymentRequest, DeploymentStrategy, Scope, TrafficRouter,
};
use serde_json::{Value, json};

use super::integrations::{answer, errored, scope_of};

/// The tasks a deployer answers.
pub const TASKS: [&str; 3] = ["deployment", "release", "rollback"];

/// The deployer integration.
pub struct DeployIntegration {
    name: String,
    deployer: Arc<dyn Deployer>,
    actions: Option<Arc<dyn ActionRunner>>,
    router: Option<Arc<dyn TrafficRouter>>,
}

impl DeployIntegration {
    /// Wraps a deployer under the uniform entry's name.
    pub fn new(name: &str, deployer: Arc<dyn Deployer>) -> Self {
        DeployIntegration {
            name: name.to_owned(),
            deployer,
            actions: None,
            router: None,
        }
    }

    /// Shifts canary traffic step by step through `router` (strategy `canary`).
    #[must_use]
    pub fn with_router(mut self, router: Arc<dyn TrafficRouter>) -> Self {
        self.router = Some(router);
        self
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
        let scope = scope_of(trigger)?;
        let strategy_name = trigger
            .data
            .fields
            .get("deployment")
            .and_then(|deployment| deployment.get("deploymentstrategy"))
            .and_then(Value::as_str)
            .unwrap_or("direct")
            .to_owned();
        let weight_of = |task: &str| {
            trigger
                .data
                .fields
                .get(task)
                .and_then(|payload| payload.get("canaryweight"))
                .map(canary_weight)
        };
        let strategy = match strategy(&strategy_name) {
            Ok(DeploymentStrategy::Canary { .. }) => match weight_of("deployment") {
                None => DeploymentStrategy::Canary {
                    weight: DEFAULT_CANARY_WEIGHT,
                },
                Some(Ok(weight)) => DeploymentStrategy::Canary { weight },
                Some(Err(message)) => return errored(&self.name, trigger, &message),
            },
            Ok(strategy) => strategy,
            Err(message) => return errored(&self.name, trigger, &message),
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
                    Err(err) => errored(&self.name, trigger, &format!("deployment failed: {err}")),
                }
            }
            "release" if matches!(strategy, DeploymentStrategy::Canary { .. }) => {
                // A canary step: `release` with `canaryweight` below 100 shifts traffic; without
                // it (or at 100) the canary is promoted.
                match weight_of("release") {
                    Some(Ok(weight)) if weight < 100 => {
                        let Some(router) = self.router.as_deref() else {
                            return errored(
                                &self.name,
                                trigger,
                                "this deployer cannot shift traffic step by step",
                            );
                        };
                        match router.set_canary_weight(&scope, weight).await {
                            Ok(()) => answer(
                                &self.name,
                                trigger,
                                TaskEventKind::Finished,
                                Some(trigger.data.result.clone().unwrap_or(TaskResult::Pass)),
                                Some(format!("canary at {weight} % of the traffic")),
                            ),
                            Err(err) => {
                                errored(&self.name, trigger, &format!("canary step failed: {err}"))
                            }
                        }
                    }
                    Some(Err(message)) => errored(&self.name, trigger, &message),
                    _ => {
                        self.release_or_rollback(
                            "release",
                            &scope,
                            strategy,
                            &strategy_name,
                            trigger,
                        )
                        .await
                    }
                }
            }
            task @ ("release" | "rollback") => {
                self.release_or_rollback(task, &scope, strategy, &strategy_name, trigger)
                    .await
            }
            _ => None,
        }
    }

    async fn release_or_rollback(
        &self,
        task: &str,
        scope: &Scope,
        strategy: DeploymentStrategy,
        strategy_name: &str,
        trigger: &KeptnEvent,
    ) -> Option<KeptnEvent> {
        let done = if task == "release" {
            self.deployer.release(scope, strategy).await
        } else {
            self.deployer.rollback(scope, strategy).await
        };
        if let Err(err) = done {
            return errored(&self.name, trigger, &format!("{task} failed: {err}"));
        }
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

/// The canary's first share of the traffic when the deployment task names none.
pub const DEFAULT_CANARY_WEIGHT: u8 = 10;

/// The strategy named in a shipyard's `deploymentstrategy` (`canary` with the default weight;
/// the deployment task's `canaryweight` property sets it).
pub fn strategy(name: &str) -> Result<DeploymentStrategy, String> {
    match name {
        "" | "direct" => Ok(DeploymentStrategy::Direct),
        "blue_green_service" | "duplicate" => Ok(DeploymentStrategy::BlueGreen),
        "user_managed" => Ok(DeploymentStrategy::UserManaged),
        "canary" => Ok(DeploymentStrategy::Canary {
            weight: DEFAULT_CANARY_WEIGHT,
        }),
        other => Err(format!(
            "unknown deploymentstrategy '{other}': expected direct, blue_green_service (or duplicate), user_managed or canary"
        )),
    }
}

/// A `canaryweight` property: a percentage, 0..=100, as a number or a numeric string.
fn canary_weight(value: &Value) -> Result<u8, String> {
    let number = match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().trim_end_matches('%').parse::<u64>().ok(),
        _ => None,
    };
    number
        .filter(|weight| *weight <= 100)
        .and_then(|weight| u8::try_from(weight).ok())
        .ok_or_else(|| format!("canaryweight must be a percentage from 0 to 100, got {value}"))
}
