//! [`Test`]: test tasks over any [`TestRunner`], as Keptn's jmeter-service answered them.

use std::sync::Arc;

use async_trait::async_trait;
use keptn_core::answer::{errored, finished, started, triggered_task};
use keptn_core::event::{Deployment, KeptnEvent, TaskResult, Test as TestPayload, format_rfc3339};
use keptn_core::ports::{TestRequest, TestRunner};

use crate::error::Error;
use crate::integration::{Context, Integration, Registration};
use keptn_core::ports::Scope;

/// Answers `test.triggered` through a [`TestRunner`] (JMeter, the built-in load runner):
///
/// - the strategy is the task's `test.teststrategy`; a strategy the runner does not handle
///   gets no answer at all (jmeter-service ignored `real-user` tests that way);
/// - the target is the configured one ([`Test::with_target`]), else the first of the trigger's
///   `deployment.deploymentURIsLocal`, else of `deploymentURIsPublic`;
/// - `.started` at once; `.finished` with `pass` or `fail` as the run met its criteria, the
///   runner's summary as message, and the run's timeframe in `test.start`/`test.end` (which
///   the evaluation that follows uses); errored when there is no target or the test could not
///   run.
pub struct Test {
    registration: Registration,
    runner: Arc<dyn TestRunner>,
    target: Option<String>,
}

impl std::fmt::Debug for Test {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Test")
            .field("registration", &self.registration)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Test {
    /// The runner under this registration (Keptn's subscribes to
    /// `sh.keptn.event.test.triggered`).
    pub fn new(registration: Registration, runner: Arc<dyn TestRunner>) -> Self {
        Self {
            registration,
            runner,
            target: None,
        }
    }

    /// Tests `target` instead of the deployment's URI.
    #[must_use]
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }
}

#[async_trait]
impl Integration for Test {
    fn registration(&self) -> &Registration {
        &self.registration
    }

    async fn handle(&self, trigger: &KeptnEvent, context: &Context) -> Result<(), Error> {
        if triggered_task(trigger).is_none() {
            return Ok(());
        }
        let Some(scope) = Scope::of(trigger) else {
            return Ok(());
        };
        let strategy = trigger
            .data
            .payload_or_default::<TestPayload>("test")
            .teststrategy
            .unwrap_or_default();
        if !self.runner.handles(&strategy) {
            return Ok(());
        }
        let name = &self.registration.name;
        context
            .emit_some([started(trigger, name, context.now())])
            .await?;
        let deployment: Deployment = trigger.data.payload_or_default("deployment");
        let target = self.target.clone().or_else(|| {
            [
                deployment.deployment_uris_local,
                deployment.deployment_uris_public,
            ]
            .into_iter()
            .flatten()
            .find_map(|uris| uris.into_iter().next())
        });
        let Some(target) = target else {
            let finished = errored(
                trigger,
                name,
                "no target to test: the trigger carries no deployment.deploymentURIsLocal or deploymentURIsPublic, and no target is configured",
                context.now(),
            );
            context.emit_some([finished]).await?;
            return Ok(());
        };
        let request = TestRequest {
            scope,
            strategy: strategy.clone(),
            target,
            git_commit_id: trigger.git_commit_id.clone(),
        };
        let finished = match self.runner.run(&request).await {
            Ok(report) => {
                let result = if report.passed {
                    TaskResult::Pass
                } else {
                    TaskResult::Fail
                };
                finished(trigger, name, result, Some(report.message), context.now()).map(
                    |mut event| {
                        let payload = TestPayload {
                            teststrategy: Some(strategy),
                            start: Some(format_rfc3339(report.start)),
                            end: Some(format_rfc3339(report.end)),
                            ..TestPayload::default()
                        };
                        event
                            .data
                            .set_payload("test", &payload)
                            .expect("a test payload serialises");
                        event
                    },
                )
            }
            Err(err) => errored(
                trigger,
                name,
                &format!("the test could not run: {err}"),
                context.now(),
            ),
        };
        context.emit_some([finished]).await?;
        Ok(())
    }
}
