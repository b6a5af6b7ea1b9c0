//! [`Deploy`]: deployments, releases and rollbacks over any [`Deployer`], as Keptn's
//! helm-service answered them.

use std::sync::Arc;

use async_trait::async_trait;
use keptn_core::answer::{errored, finished, started, triggered_task};
use keptn_core::event::{
    ConfigurationChange, Deployment, KeptnEvent, Release, TaskResult, Timestamp,
};
use keptn_core::ports::{
    ActionRunner, Deployer, DeploymentRequest, DeploymentStrategy, Scope, TrafficRouter,
};
use serde_json::Value;

use super::action::Action;
use crate::error::Error;
use crate::integration::{Context, Integration, Registration};

/// The tasks a deployer answers.
pub(crate) const TASKS: [&str; 3] = ["deployment", "release", "rollback"];

/// Answers `deployment`, `release` and `rollback` `.triggered` events through a [`Deployer`]
/// (and `action.triggered` for the actions its optional [`ActionRunner`] handles: `scaling` on
/// the same platform):
///
/// - `deployment`: the strategy is the task's `deployment.deploymentstrategy` (`direct`,
///   `blue_green_service` or its older name `duplicate`, `user_managed`, `canary`; see
///   [`DeploymentStrategy::from_name`]), the artifact `configurationChange.values` (`image`);
///   `.finished` carries `deployment.deploymentNames` and the URIs the tests use.
/// - `release` and `rollback`: promote or discard the canary; `.finished` echoes the incoming
///   result, as helm-service did, so a warning stays a warning.
/// - Strategy `canary` (progressive delivery, which Keptn never shipped): the deployment
///   task's `canaryweight` (default 10) is the new version's first share of the traffic; each
///   `release` task with a `canaryweight` below 100 shifts the traffic to that share through
///   the [`TrafficRouter`] (run a test and an evaluation between steps: a failing evaluation
///   ends the sequence, and a rollback sequence returns everything to the primary); a
///   `release` without one promotes.
///
/// Deployments take seconds (processes start, charts roll out): `.started` goes out at once,
/// `.finished` when the deployer returns. A task it cannot do is answered errored with the
/// reason.
pub struct Deploy {
    registration: Registration,
    deployer: Arc<dyn Deployer>,
    router: Option<Arc<dyn TrafficRouter>>,
    actions: Option<Action>,
}

impl std::fmt::Debug for Deploy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deploy")
            .field("registration", &self.registration)
            .field("router", &self.router.is_some())
            .field("actions", &self.actions.is_some())
            .finish_non_exhaustive()
    }
}

impl Deploy {
    /// The deployer under this registration.
    pub fn new(registration: Registration, deployer: Arc<dyn Deployer>) -> Self {
        Self {
            registration,
            deployer,
            router: None,
            actions: None,
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
        self.actions = Some(Action::new(self.registration.clone(), actions));
        self
    }

    /// Runs a deployment task and returns its `.finished`.
    async fn run(
        &self,
        task: &str,
        trigger: &KeptnEvent,
        now: impl Fn() -> Timestamp,
    ) -> Option<KeptnEvent> {
        let name = &self.registration.name;
        let scope = Scope::of(trigger)?;
        let deployment: Deployment = trigger.data.payload_or_default("deployment");
        let strategy_name = deployment
            .deploymentstrategy
            .clone()
            .unwrap_or_else(|| "direct".to_owned());
        let strategy = match DeploymentStrategy::from_name(&strategy_name) {
            Ok(DeploymentStrategy::Canary { weight }) => match deployment.canaryweight.as_ref() {
                None => DeploymentStrategy::Canary { weight },
                Some(value) => match canary_weight(value) {
                    Ok(weight) => DeploymentStrategy::Canary { weight },
                    Err(message) => return errored(trigger, name, &message, now()),
                },
            },
            Ok(strategy) => strategy,
            Err(message) => return errored(trigger, name, &message, now()),
        };
        match task {
            "deployment" => {
                let change: ConfigurationChange =
                    trigger.data.payload_or_default("configurationChange");
                let request = DeploymentRequest {
                    scope,
                    strategy,
                    values: change.values.unwrap_or_default(),
                    git_commit_id: trigger.git_commit_id.clone(),
                };
                match self.deployer.deploy(&request).await {
                    Ok(deployed) => {
                        let mut finished = finished(
                            trigger,
                            name,
                            TaskResult::Pass,
                            Some(format!(
                                "deployed with strategy {strategy_name}: {}",
                                deployed.deployment_names.join(", ")
                            )),
                            now(),
                        )?;
                        let payload = Deployment {
                            deploymentstrategy: Some(strategy_name),
                            deployment_names: Some(deployed.deployment_names),
                            deployment_uris_local: Some(deployed.uris_local),
                            deployment_uris_public: Some(deployed.uris_public),
                            ..Deployment::default()
                        };
                        finished
                            .data
                            .set_payload("deployment", &payload)
                            .expect("a deployment payload serialises");
                        Some(finished)
                    }
                    Err(err) => errored(trigger, name, &format!("deployment failed: {err}"), now()),
                }
            }
            "release" if matches!(strategy, DeploymentStrategy::Canary { .. }) => {
                // A canary step: `release` with `canaryweight` below 100 shifts traffic;
                // without it (or at 100) the canary is promoted.
                let release: Release = trigger.data.payload_or_default("release");
                match release.canaryweight.as_ref().map(canary_weight) {
                    Some(Ok(weight)) if weight < 100 => {
                        let Some(router) = self.router.as_deref() else {
                            return errored(
                                trigger,
                                name,
                                "this deployer cannot shift traffic step by step",
                                now(),
                            );
                        };
                        match router.set_canary_weight(&scope, weight).await {
                            Ok(()) => finished(
                                trigger,
                                name,
                                trigger.data.result.clone().unwrap_or(TaskResult::Pass),
                                Some(format!("canary at {weight} % of the traffic")),
                                now(),
                            ),
                            Err(err) => {
                                errored(trigger, name, &format!("canary step failed: {err}"), now())
                            }
                        }
                    }
                    Some(Err(message)) => errored(trigger, name, &message, now()),
                    _ => {
                        self.release_or_rollback(
                            "release",
                            &scope,
                            strategy,
                            &strategy_name,
                            trigger,
                            now,
                        )
                        .await
                    }
                }
            }
            "release" | "rollback" => {
                self.release_or_rollback(task, &scope, strategy, &strategy_name, trigger, now)
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
        now: impl Fn() -> Timestamp,
    ) -> Option<KeptnEvent> {
        let name = &self.registration.name;
        let done = if task == "release" {
            self.deployer.release(scope, strategy).await
        } else {
            self.deployer.rollback(scope, strategy).await
        };
        if let Err(err) = done {
            return errored(trigger, name, &format!("{task} failed: {err}"), now());
        }
        let incoming = trigger.data.result.clone().unwrap_or(TaskResult::Pass);
        let message = if task == "release" {
            format!("released ({strategy_name})")
        } else {
            format!("rolled back ({strategy_name})")
        };
        finished(trigger, name, incoming, Some(message), now())
    }
}

#[async_trait]
impl Integration for Deploy {
    fn registration(&self) -> &Registration {
        &self.registration
    }

    async fn handle(&self, trigger: &KeptnEvent, context: &Context) -> Result<(), Error> {
        let Some(task) = triggered_task(trigger) else {
            return Ok(());
        };
        if task == "action" {
            return match &self.actions {
                Some(actions) => actions.handle(trigger, context).await,
                None => Ok(()),
            };
        }
        if !TASKS.contains(&task) {
            return Ok(());
        }
        let name = &self.registration.name;
        context
            .emit_some([started(trigger, name, context.now())])
            .await?;
        let finished = self.run(task, trigger, || context.now()).await;
        context.emit_some([finished]).await?;
        Ok(())
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
