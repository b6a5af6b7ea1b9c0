//! Where every event enters the control plane, from the API or from an in-process integration:
//! made durable first ([`Store::accept`]), then handed to the orchestration loop.

use std::sync::Arc;

use keptn_core::event::{KeptnEvent, format_rfc3339};
use keptn_core::orchestrator::Input;
use keptn_core::ports::Store;
use tokio::sync::{mpsc, oneshot};

use super::engine::{EngineHandle, now};
use super::metrics::Metrics;

/// The event intake. Accepts are batched: events that arrive while the store writes are
/// accepted together in the next transaction (group commit), then queued for the orchestrator
/// in the order they were accepted.
#[derive(Clone)]
pub struct Intake {
    /// The store events are accepted into.
    pub store: Arc<dyn Store>,
    /// The orchestration loop.
    pub engine: EngineHandle,
    /// Counters.
    pub metrics: Arc<Metrics>,
    accepts: mpsc::Sender<(KeptnEvent, oneshot::Sender<Result<Received, String>>)>,
}

/// Where accepted events go besides the orchestrator: the in-process bus, so that integrations
/// see events other integrations send (a `get-sli.triggered`, an external `get-sli.finished`).
pub type Bus = tokio::sync::broadcast::Sender<KeptnEvent>;

/// How many waiting events are accepted in one transaction at most.
const MAX_BATCH: usize = 256;

/// What happened to a received event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored and handed to the orchestrator.
    Accepted,
    /// An event with this id was accepted before; nothing changed.
    Duplicate,
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

    /// An intake writing to `store` and feeding `engine`; starts its accepting task.
    pub fn start(
        store: Arc<dyn Store>,
        engine: EngineHandle,
        metrics: Arc<Metrics>,
        bus: Bus,
    ) -> Intake {
        let (accepts, receiver) = mpsc::channel(4096);
        tokio::spawn(accept_loop(
            Arc::clone(&store),
            engine.clone(),
            Arc::clone(&metrics),
            bus,
            receiver,
        ));
        Intake {
            store,
            engine,
            metrics,
            accepts,
        }
    }

    /// Accepts an event durably, then queues it for the orchestrator. Returns once the event is
    /// stored; the orchestrator's commit is not waited for (a restart replays accepted events).
    pub async fn receive(&self, event: KeptnEvent) -> anyhow::Result<Received> {
        let mut received = self.receive_all(vec![event]).await?;
        received.pop().expect("one answer per event")
    }

    /// [`Intake::receive`] for several events, which are then usually accepted in one
    /// transaction (an integration's `.started` and `.finished`, say).
    pub async fn receive_all(
        &self,
        events: Vec<KeptnEvent>,
    ) -> anyhow::Result<Vec<anyhow::Result<Received>>> {
        let mut answers = Vec::with_capacity(events.len());
        for event in events {
            let (reply, answer) = oneshot::channel();
            self.accepts
                .send((event, reply))
                .await
                .map_err(|_| anyhow::anyhow!("the event intake has stopped"))?;
            answers.push(answer);
        }
        let mut received = Vec::with_capacity(answers.len());
        for answer in answers {
            received.push(match answer.await {
                Ok(result) => result.map_err(anyhow::Error::msg),
                Err(_) => Err(anyhow::anyhow!("the event intake has stopped")),
            });
        }
        Ok(received)
    }
}

type Pending = (KeptnEvent, oneshot::Sender<Result<Received, String>>);

async fn accept_loop(
    store: Arc<dyn Store>,
    engine: EngineHandle,
    metrics: Arc<Metrics>,
    bus: Bus,
    mut receiver: mpsc::Receiver<Pending>,
) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let events: Vec<KeptnEvent> = batch.iter().map(|(event, _)| event.clone()).collect();
        match store.accept_batch(&events).await {
            Ok(accepted) => {
                for ((event, reply), is_new) in batch.into_iter().zip(accepted) {
                    if !is_new {
                        let _ = reply.send(Ok(Received::Duplicate));
                        continue;
                    }
                    metrics.event_in(&event);
                    let id = event.id.clone();
                    let _ = bus.send(event.clone());
                    let queued = engine.enqueue(Input::Event(event), Some(id)).await;
                    let _ = reply.send(match queued {
                        Ok(()) => Ok(Received::Accepted),
                        // Stored: a restart will process it.
                        Err(err) => Err(format!("{err:#}")),
                    });
                }
            }
            Err(err) => {
                let message = format!("cannot store the event: {err}");
                for (_, reply) in batch {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}
