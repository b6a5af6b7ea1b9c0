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
    ///
    /// Ids and contexts made here are UUIDv7 (time-ordered, random below the millisecond): the
    /// store indexes both, and ids that grow with time are appended to those indexes instead
    /// of landing on a random page each, which keeps the pages a commit writes few.
    pub fn normalise(event: &mut KeptnEvent) {
        if event.id.is_empty() {
            event.id = uuid::Uuid::now_v7().to_string();
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
            event.keptn_context = Some(uuid::Uuid::now_v7().to_string());
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

#[cfg(test)]
mod tests {
    use keptn_core::event::{EventData, EventType, KeptnEvent};

    use super::Intake;

    #[test]
    fn ids_and_contexts_the_intake_fills_in_are_time_ordered_uuids() {
        let event_type = EventType::parse("sh.keptn.event.dev.delivery.triggered").expect("type");
        let filled: Vec<KeptnEvent> = (0..1000)
            .map(|_| {
                let mut event = KeptnEvent::new("", "", event_type.clone(), EventData::default());
                Intake::normalise(&mut event);
                event
            })
            .collect();
        let mut previous: Option<(uuid::Uuid, uuid::Uuid)> = None;
        for event in &filled {
            let id = uuid::Uuid::parse_str(&event.id).expect("id is a UUID");
            let context = event.keptn_context.as_deref().expect("context filled in");
            let context = uuid::Uuid::parse_str(context).expect("context is a UUID");
            assert_eq!((id.get_version_num(), context.get_version_num()), (7, 7));
            if let Some((previous_id, previous_context)) = previous {
                // Appended to the store's indexes, not scattered over them.
                assert!(id > previous_id && context > previous_context);
                assert!(event.id > previous_id.to_string(), "ordered as text too");
            }
            previous = Some((id, context));
        }
        // What a client sets is kept.
        let mut event = KeptnEvent::new("client-id", "client", event_type, EventData::default());
        event.keptn_context = Some("client-context".to_owned());
        Intake::normalise(&mut event);
        assert_eq!(
            (event.id.as_str(), event.keptn_context.as_deref()),
            ("client-id", Some("client-context"))
        );
    }
}
