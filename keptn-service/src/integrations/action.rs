//! [`Action`]: remediation actions over any [`ActionRunner`].

use std::sync::Arc;

use async_trait::async_trait;
use keptn_core::answer::{errored, finished, started, triggered_task};
use keptn_core::event::{Action as ActionPayload, KeptnEvent, Problem, TaskResult};
use keptn_core::ports::{ActionRequest, ActionRunner};

use crate::error::Error;
use crate::integration::{Context, Integration, Registration};
use keptn_core::ports::Scope;

/// Answers `action.triggered` for the actions its [`ActionRunner`] handles (`scaling`,
/// `toggle-feature`, a webhook, a script): `.started`, the action with the problem being
/// remediated, `.finished` with `pass` and what was done, or errored with why it failed. An
/// action the runner does not handle gets no answer, so another integration can take it.
pub struct Action {
    registration: Registration,
    runner: Arc<dyn ActionRunner>,
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Action")
            .field("registration", &self.registration)
            .finish_non_exhaustive()
    }
}

impl Action {
    /// The runner under this registration.
    pub fn new(registration: Registration, runner: Arc<dyn ActionRunner>) -> Self {
        Self {
            registration,
            runner,
        }
    }
}

#[async_trait]
impl Integration for Action {
    fn registration(&self) -> &Registration {
        &self.registration
    }

    async fn handle(&self, trigger: &KeptnEvent, context: &Context) -> Result<(), Error> {
        if triggered_task(trigger) != Some("action") {
            return Ok(());
        }
        let Some(action) = trigger
            .data
            .payload::<ActionPayload>("action")
            .ok()
            .flatten()
        else {
            return Ok(());
        };
        if !action
            .action
            .as_deref()
            .is_some_and(|name| self.runner.handles(name))
        {
            return Ok(());
        }
        let Some(scope) = Scope::of(trigger) else {
            return Ok(());
        };
        let name = &self.registration.name;
        context
            .emit_some([started(trigger, name, context.now())])
            .await?;
        let label = action
            .name
            .clone()
            .or_else(|| action.action.clone())
            .unwrap_or_default();
        let request = ActionRequest {
            scope,
            action,
            problem: trigger.data.payload_or_default::<Problem>("problem"),
        };
        let finished = match self.runner.execute(&request).await {
            Ok(message) => finished(
                trigger,
                name,
                TaskResult::Pass,
                Some(format!("{label}: {message}")),
                context.now(),
            ),
            Err(err) => errored(
                trigger,
                name,
                &format!("{label} failed: {err}"),
                context.now(),
            ),
        };
        context.emit_some([finished]).await?;
        Ok(())
    }
}
