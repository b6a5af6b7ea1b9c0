//! [`Approval`]: Keptn's approval-service.

use async_trait::async_trait;
use keptn_core::answer::{answer, finished, triggered_task};
use keptn_core::event::{
    Approval as ApprovalPayload, ApprovalStrategy, Evaluation, KeptnEvent, TaskEventKind,
    TaskResult,
};

use crate::error::Error;
use crate::integration::{Context, Integration, Registration};

/// Keptn's approval rules for an `approval.triggered` task:
///
/// - the result to judge is the trigger's `result` (the previous task's), else its
///   `evaluation.result`;
/// - `.started` always, saying which strategy applies;
/// - `pass` with `approval.pass: automatic`, or `warning` with `approval.warning: automatic`:
///   `.finished` with `pass` at once;
/// - `fail`: `.finished` with `fail` at once (declined automatically);
/// - anything else (a `manual` strategy, no strategy, no result) waits for a person, who
///   answers with an `approval.finished` through the API. Keptn's code treats an unset
///   strategy as manual (its documentation said automatic); so does this, and so is a strategy
///   that is neither `automatic` nor `manual` (the shipyard's validation warns about it).
#[derive(Debug, Clone)]
pub struct Approval {
    registration: Registration,
}

impl Approval {
    /// The integration under this registration.
    pub fn new(registration: Registration) -> Self {
        Self { registration }
    }
}

#[async_trait]
impl Integration for Approval {
    fn registration(&self) -> &Registration {
        &self.registration
    }

    async fn handle(&self, event: &KeptnEvent, context: &Context) -> Result<(), Error> {
        if triggered_task(event).is_none() {
            return Ok(());
        }
        let name = &self.registration.name;
        let now = context.now();
        let result = event
            .data
            .result
            .as_ref()
            .map(|result| result.as_str().to_owned())
            .or_else(|| {
                event
                    .data
                    .payload_or_default::<Evaluation>("evaluation")
                    .result
            });
        let strategies: ApprovalPayload = event.data.payload_or_default("approval");
        let strategy = match result.as_deref() {
            Some("pass") => strategies.pass,
            Some("warning") => strategies.warning,
            _ => None,
        };
        let strategy_name = match strategy {
            Some(ApprovalStrategy::Automatic) => "automatic",
            Some(ApprovalStrategy::Manual) | None => "manual",
        };
        let started_message = format!(
            "Approval strategy for result '{}': {strategy_name}",
            result.as_deref().unwrap_or("")
        );
        let started = answer(
            event,
            name,
            TaskEventKind::Started,
            None,
            Some(started_message),
            now,
        );
        let finished = match (result.as_deref(), strategy) {
            (Some("pass" | "warning"), Some(ApprovalStrategy::Automatic)) => finished(
                event,
                name,
                TaskResult::Pass,
                Some("approved automatically".to_owned()),
                now,
            ),
            (Some("fail"), _) => finished(
                event,
                name,
                TaskResult::Fail,
                Some("declined automatically: the previous task failed".to_owned()),
                now,
            ),
            _ => None,
        };
        context.emit_some([started, finished]).await?;
        Ok(())
    }
}
