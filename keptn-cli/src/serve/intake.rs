//! Where every event enters the control plane, from the API or from an in-process integration.
//!
//! An incoming event goes to the orchestration loop, which handles it and commits it (as
//! accepted and processed) in the same store transaction as the transition it causes; the
//! caller hears back once that transaction is durable. So an event is acknowledged only when it
//! is safe, and it costs one durable write, shared with every other event that arrived at the
//! same time (group commit).

use std::sync::Arc;

use keptn_core::event::{KeptnEvent, format_rfc3339};
use keptn_core::ports::Store;

pub use super::engine::Received;
use super::engine::{EngineHandle, now};
use super::metrics::Metrics;

/// The event intake.
#[derive(Clone)]
pub struct Intake {
    /// The store (for reads; writes go through the loop).
    pub store: Arc<dyn Store>,
    /// The orchestration loop.
    pub engine: EngineHandle,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

impl Intake {
    /// Fills what Keptn's API fills when a client leaves it out: `id`, `time`, `specversion`,
    /// `source`, and a new `shkeptncontext` for an event that starts a sequence.
    pub fn normalise(event: &mut KeptnEvent) {
        if event.id.is_empty() {
            event.id = uuid::Uuid::new_v4().to_string();
        }
        if event.time.is_none() {
            event.time = Some(format_rfc3339(now()));
        }
        if event.spec_version.is_empty() {
            event.spec_version = "1.0".to_owned();
        }
        if event.source.is_empty() {
            event.source = "https://github.com/keptn/keptn/cli".to_owned();
        }
        if event.keptn_context.is_none() {
            event.keptn_context = Some(uuid::Uuid::new_v4().to_string());
        }
    }

    /// Accepts an event: returns once it is durably stored together with the orchestrator
    /// transition it caused.
    pub async fn receive(&self, event: KeptnEvent) -> anyhow::Result<Received> {
        let mut received = self.receive_all(vec![event]).await?;
        received.pop().expect("one answer per event")
    }

    /// [`Intake::receive`] for several events, which are then committed together (an
    /// integration's `.started` and `.finished`, say).
    pub async fn receive_all(
        &self,
        events: Vec<KeptnEvent>,
    ) -> anyhow::Result<Vec<anyhow::Result<Received>>> {
        let mut answers = Vec::with_capacity(events.len());
        for event in events {
            answers.push(self.engine.accept(event).await?);
        }
        let mut received = Vec::with_capacity(answers.len());
        for answer in answers {
            received.push(match answer.await {
                Ok(result) => result.map_err(anyhow::Error::msg),
                Err(_) => Err(anyhow::anyhow!("the orchestration loop has stopped")),
            });
        }
        Ok(received)
    }
}
