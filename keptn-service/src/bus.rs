//! [`InProcessBus`]: the [`EventBus`] of a control plane whose integrations run in its own
//! process (a tokio broadcast channel).
//!
//! Every subscription gets every published event its subjects match, in publication order;
//! a process holds one subscription per integration, so each integration answers each event
//! once. Nothing needs acknowledging, and nothing outlives the process: after a restart the
//! control plane publishes again what its outbox holds and the triggers of open tasks.

use std::sync::Arc;

use async_trait::async_trait;
use keptn_core::event::KeptnEvent;
use keptn_core::ports::{
    AdapterError, AdapterErrorKind, BusSubscriber, BusSubscription, Delivery, EventBus,
};
use keptn_core::uniform::EventPattern;
use tokio::sync::broadcast;

/// How many events a subscriber may fall behind before it misses some.
pub const DEFAULT_CAPACITY: usize = 4096;

/// The in-process bus.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    // Shared events: a slot of the channel is a pointer, not a whole event.
    sender: broadcast::Sender<Arc<KeptnEvent>>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl InProcessBus {
    /// A bus on which a subscriber may fall `capacity` events behind.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, events: &[KeptnEvent]) -> Result<(), AdapterError> {
        // No subscriber is not an error: the events are in the store's history either way
        // (and without one, nothing is copied).
        if self.sender.receiver_count() == 0 {
            return Ok(());
        }
        for event in events {
            let _ = self.sender.send(Arc::new(event.clone()));
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        subscriber: &BusSubscriber,
    ) -> Result<Box<dyn BusSubscription>, AdapterError> {
        Ok(Box::new(Subscription {
            receiver: self.sender.subscribe(),
            subjects: subscriber.subjects.clone(),
        }))
    }
}

struct Subscription {
    receiver: broadcast::Receiver<Arc<KeptnEvent>>,
    subjects: Vec<EventPattern>,
}

impl Subscription {
    fn wants(&self, event: &KeptnEvent) -> bool {
        if self.subjects.is_empty() {
            return true;
        }
        let event_type = event.event_type.to_string();
        self.subjects
            .iter()
            .any(|subject| subject.matches(&event_type))
    }
}

#[async_trait]
impl BusSubscription for Subscription {
    async fn next(&mut self) -> Result<Option<Delivery>, AdapterError> {
        loop {
            match self.receiver.recv().await {
                Ok(event) if self.wants(&event) => {
                    return Ok(Some(Delivery {
                        event: KeptnEvent::clone(&event),
                        ack: None,
                    }));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Closed) => return Ok(None),
                Err(broadcast::error::RecvError::Lagged(n_missed)) => {
                    return Err(AdapterError::new(
                        AdapterErrorKind::Unavailable,
                        format!("the subscriber fell behind and missed {n_missed} events"),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
