//! [`Remediation`]: Keptn's remediation-service, which picks the next action for a problem.

use async_trait::async_trait;
use keptn_core::answer::{errored, finished, started, triggered_task};
use keptn_core::event::{GetAction, KeptnEvent, Problem, TaskResult, Timestamp};
use keptn_core::remediation::ActionChoice;

use crate::error::Error;
use crate::integration::{Context, Integration, Registration};

/// Where the remediation actions live (stage branch, service level).
pub const REMEDIATION_FILE: &str = "remediation.yaml";

/// Answers `get-action.triggered`: reads the stage's `remediation.yaml` for the service
/// (at the sequence's commit), picks the problem type (root cause, then title, then
/// `default`) and returns action number `get-action.actionIndex` (0 when absent) with the
/// index of the next one in `get-action.actionIndex`; out of actions it finishes with `fail`,
/// which ends the remediation loop (escalation). A missing or invalid file is answered
/// errored.
#[derive(Debug, Clone)]
pub struct Remediation {
    registration: Registration,
}

impl Remediation {
    /// The service under this registration (Keptn's subscribes to
    /// `sh.keptn.event.get-action.triggered`).
    pub fn new(registration: Registration) -> Self {
        Self { registration }
    }

    async fn choose(
        &self,
        trigger: &KeptnEvent,
        context: &Context,
        now: Timestamp,
    ) -> Option<KeptnEvent> {
        let name = &self.registration.name;
        let (project, stage, service) = trigger.scope()?;
        let problem: Problem = trigger.data.payload_or_default("problem");
        let index = trigger
            .data
            .payload_or_default::<GetAction>("get-action")
            .action_index
            .unwrap_or(0);
        let text = match context
            .config_repo()
            .read(
                project,
                Some(stage),
                Some(service),
                REMEDIATION_FILE,
                trigger.git_commit_id.as_deref(),
            )
            .await
        {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) => {
                return errored(
                    trigger,
                    name,
                    &format!(
                        "cannot read {REMEDIATION_FILE} of {project}/{stage}/{service}: {err}"
                    ),
                    now,
                );
            }
        };
        let remediation = match keptn_core::remediation::parse(&text) {
            Ok((remediation, _warnings)) => remediation,
            Err(err) => {
                return errored(
                    trigger,
                    name,
                    &format!("invalid {REMEDIATION_FILE}: {err}"),
                    now,
                );
            }
        };
        let title = problem
            .problem_title
            .clone()
            .unwrap_or_else(|| "(untitled)".to_owned());
        match remediation.action_for(&problem, index) {
            ActionChoice::Action { action, next_index } => {
                let mut finished = finished(
                    trigger,
                    name,
                    TaskResult::Pass,
                    Some(format!(
                        "action {} for problem '{title}': {}",
                        index + 1,
                        action
                            .name
                            .as_deref()
                            .or(action.action.as_deref())
                            .unwrap_or("")
                    )),
                    now,
                )?;
                finished
                    .data
                    .set_payload("action", &action)
                    .expect("an action serialises");
                let next = GetAction {
                    action_index: Some(next_index),
                    ..GetAction::default()
                };
                finished
                    .data
                    .set_payload("get-action", &next)
                    .expect("an action index serialises");
                Some(finished)
            }
            ActionChoice::Escalate => finished(
                trigger,
                name,
                TaskResult::Fail,
                Some(format!(
                    "no more remediation actions for problem '{title}' (tried {index}): escalated"
                )),
                now,
            ),
        }
    }
}

#[async_trait]
impl Integration for Remediation {
    fn registration(&self) -> &Registration {
        &self.registration
    }

    async fn handle(&self, trigger: &KeptnEvent, context: &Context) -> Result<(), Error> {
        if triggered_task(trigger).is_none() {
            return Ok(());
        }
        let name = &self.registration.name;
        context
            .emit_some([started(trigger, name, context.now())])
            .await?;
        let finished = self.choose(trigger, context, context.now()).await;
        context.emit_some([finished]).await?;
        Ok(())
    }
}
