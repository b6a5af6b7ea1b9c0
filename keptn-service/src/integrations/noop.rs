//! [`Noop`]: answers every task it subscribes to at once with `pass`.

use async_trait::async_trait;
use keptn_core::answer::{finished, started, triggered_task};
use keptn_core::event::{KeptnEvent, TaskResult};

use crate::error::Error;
use crate::integration::{Context, Integration, Registration};

/// Answers every subscribed `.triggered` task with `.started` and `.finished` (`pass`,
/// message `noop`): a stand-in for integrations not set up yet, and the way to measure the
/// orchestration's own cost.
#[derive(Debug, Clone)]
pub struct Noop {
    registration: Registration,
}

impl Noop {
    /// The integration under this registration.
    pub fn new(registration: Registration) -> Self {
        Self { registration }
    }
}

#[async_trait]
impl Integration for Noop {
    fn registration(&self) -> &Registration {
        &self.registration
    }

    async fn handle(&self, event: &KeptnEvent, context: &Context) -> Result<(), Error> {
        if triggered_task(event).is_none() {
            return Ok(());
        }
        let name = &self.registration.name;
        let now = context.now();
        context
            .emit_some([
                started(event, name, now),
                finished(event, name, TaskResult::Pass, Some("noop".to_owned()), now),
            ])
            .await?;
        Ok(())
    }
}
