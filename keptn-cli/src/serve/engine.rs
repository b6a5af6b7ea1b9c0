//! The orchestration loop: one task owns the orchestrator and runs every input through it.
//!
//! For each input: `Orchestrator::handle(now, input)`, then one store transaction (new state,
//! the input marked processed, the emitted events into history and outbox), then the emitted
//! events go on the bus and are marked published. Inputs are handled strictly one at a time, so
//! the state in memory is always the state last committed.
//!
//! A failed commit stops the loop: the in-memory state is then ahead of the store, and the only
//! safe continuation is a restart that reloads the committed state and replays the inbox.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::collections::{HashMap, HashSet};

use keptn_core::event::{EventType, KeptnEvent, TaskEventKind, Timestamp};
use keptn_core::orchestrator::{Command, Input, Orchestrator, Output, State};
use keptn_core::ports::Store;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::metrics::Metrics;

/// The current time as the orchestrator counts it (milliseconds since the Unix epoch).
pub fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        });
    Timestamp(millis)
}

/// How many waiting inputs are committed together at most.
const MAX_BATCH: usize = 256;

/// How many tasks in flight are tracked for the task-duration metric before a clean-up.
const MAX_IN_FLIGHT: usize = 10_000;

/// How many published events may wait to be marked published while the loop is busy.
const MAX_UNMARKED: usize = 4096;

/// One request to the loop.
enum Request {
    /// An input whose event (if any) was accepted earlier.
    Input {
        input: Input,
        /// The id of the accepted event this input is, to mark it processed in the same commit.
        processed: Option<String>,
        /// Told when the transition is committed (or failed).
        done: Option<oneshot::Sender<Result<(), String>>>,
    },
    /// A new incoming event: accepted and handled in one commit.
    Accept {
        event: KeptnEvent,
        /// Told when the commit is durable (or failed).
        reply: oneshot::Sender<Result<Received, String>>,
    },
}

/// What happened to a received event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored and handled by the orchestrator.
    Accepted,
    /// An event with this id was received before; nothing changed.
    Duplicate,
}

/// A handle to submit inputs to the orchestration loop; cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    requests: mpsc::Sender<Request>,
    snapshots: Arc<tokio::sync::RwLock<State>>,
}

impl EngineHandle {
    /// Submits an input and waits until its transition is committed.
    pub async fn submit(&self, input: Input, processed: Option<String>) -> anyhow::Result<()> {
        let (done, committed) = oneshot::channel();
        self.requests
            .send(Request::Input {
                input,
                processed,
                done: Some(done),
            })
            .await
            .map_err(|_| anyhow::anyhow!("the orchestration loop has stopped"))?;
        committed
            .await
            .map_err(|_| anyhow::anyhow!("the orchestration loop has stopped"))?
            .map_err(anyhow::Error::msg)
    }

    /// Queues an input without waiting for its commit (inputs are handled in queue order).
    pub async fn enqueue(&self, input: Input, processed: Option<String>) -> anyhow::Result<()> {
        self.requests
            .send(Request::Input {
                input,
                processed,
                done: None,
            })
            .await
            .map_err(|_| anyhow::anyhow!("the orchestration loop has stopped"))
    }

    /// Hands a new event to the loop; the receiver tells when it is durably accepted.
    pub async fn accept(
        &self,
        event: KeptnEvent,
    ) -> anyhow::Result<oneshot::Receiver<Result<Received, String>>> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Accept { event, reply })
            .await
            .map_err(|_| anyhow::anyhow!("the orchestration loop has stopped"))?;
        Ok(answer)
    }

    /// The orchestrator state as of the last committed transition.
    pub async fn state(&self) -> State {
        self.snapshots.read().await.clone()
    }

    /// A read lock on the state as of the last committed transition (no copy).
    pub async fn read_state(&self) -> tokio::sync::RwLockReadGuard<'_, State> {
        self.snapshots.read().await
    }
}

/// Starts the loop. `bus` receives every emitted event after it is committed.
pub fn start(
    orchestrator: Orchestrator,
    store: Arc<dyn Store>,
    bus: broadcast::Sender<KeptnEvent>,
    metrics: Arc<Metrics>,
) -> (EngineHandle, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let (requests, receiver) = mpsc::channel(1024);
    let snapshots = Arc::new(tokio::sync::RwLock::new(orchestrator.state.clone()));
    let handle = EngineHandle {
        requests,
        snapshots: Arc::clone(&snapshots),
    };
    let task = tokio::spawn(run(orchestrator, store, bus, receiver, snapshots, metrics));
    (handle, task)
}

async fn run(
    mut orchestrator: Orchestrator,
    store: Arc<dyn Store>,
    bus: broadcast::Sender<KeptnEvent>,
    mut requests: mpsc::Receiver<Request>,
    snapshots: Arc<tokio::sync::RwLock<State>>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    // A wake-up asked for before a restart is due now at the latest.
    let mut wake_at: Option<Timestamp> = orchestrator.state.scheduled_wake;
    let mut unmarked: Vec<String> = Vec::new();
    let mut ignored_log = IgnoredLog::default();
    // Tasks in flight, by the id of their `.triggered` event: name and when it was sent.
    let mut in_flight: HashMap<String, (String, Timestamp)> = orchestrator
        .state
        .executions
        .values()
        .filter_map(|execution| execution.current_task.as_ref())
        .filter_map(|task| {
            let sent = task.dispatched_at?;
            Some((task.triggered_id.clone(), (task.name.clone(), sent)))
        })
        .collect();
    loop {
        let sleep = match wake_at {
            Some(at) => Duration::from_millis(at.0.saturating_sub(now().0)),
            None => Duration::from_secs(3600),
        };
        let first = tokio::select! {
            request = requests.recv() => match request {
                Some(request) => request,
                None => return Ok(()),
            },
            () = tokio::time::sleep(sleep), if wake_at.is_some() => {
                Request::Input { input: Input::Tick, processed: None, done: None }
            }
        };
        // Group commit: every input already waiting is handled now and committed with this one,
        // so a burst costs one durable write instead of one per event.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        // New events already in the history (or twice in this batch) are duplicates.
        let new_ids: Vec<String> = batch
            .iter()
            .filter_map(|request| match request {
                Request::Accept { event, .. } => Some(event.id.clone()),
                Request::Input { .. } => None,
            })
            .collect();
        let mut known: HashSet<String> = match store.known_ids(&new_ids).await {
            Ok(flags) => new_ids
                .into_iter()
                .zip(flags)
                .filter_map(|(id, is_known)| is_known.then_some(id))
                .collect(),
            Err(err) => {
                let message = format!("cannot look up event ids: {err}");
                for request in batch {
                    match request {
                        Request::Accept { reply, .. } => {
                            let _ = reply.send(Err(message.clone()));
                        }
                        Request::Input { done, .. } => {
                            if let Some(done) = done {
                                let _ = done.send(Err(message.clone()));
                            }
                        }
                    }
                }
                continue;
            }
        };
        let mut emitted = Vec::new();
        let mut accepted = Vec::new();
        let mut processed = Vec::new();
        let mut waiting = Vec::new();
        let mut replies = Vec::new();
        let mut answered = Vec::new();
        for request in batch {
            let input = match request {
                Request::Input {
                    input,
                    processed: processed_id,
                    done,
                } => {
                    processed.extend(processed_id);
                    waiting.extend(done);
                    input
                }
                Request::Accept { event, reply } => {
                    if !known.insert(event.id.clone()) {
                        let _ = reply.send(Ok(Received::Duplicate));
                        continue;
                    }
                    metrics.event_in(&event);
                    accepted.push(event.clone());
                    replies.push(reply);
                    Input::Event(event)
                }
            };
            if let Input::Event(event) = &input
                && let EventType::Task {
                    kind: TaskEventKind::Finished,
                    ..
                } = &event.event_type
                && let Some(triggered_id) = &event.triggered_id
                && in_flight.contains_key(triggered_id)
            {
                answered.push(triggered_id.clone());
            }
            // get-sli runs between the evaluator and the SLI provider, outside any sequence:
            // the orchestrator ignores it by design, which is not worth a log line.
            let internal = matches!(
                &input,
                Input::Event(event) if matches!(&event.event_type, EventType::Task { task, .. } if task == "get-sli")
                    || matches!(&event.event_type, EventType::Other(_))
            );
            for output in orchestrator.handle(now(), input) {
                match output {
                    Output::Emit(event) => {
                        if let EventType::Task {
                            task,
                            kind: TaskEventKind::Triggered,
                        } = &event.event_type
                        {
                            in_flight.insert(event.id.clone(), (task.clone(), now()));
                        }
                        emitted.push(event);
                    }
                    Output::Command(Command::WakeAt(at)) => wake_at = Some(at),
                    Output::Command(Command::CancelWake) => wake_at = None,
                    Output::Command(Command::Ignored { reason }) => {
                        if !internal {
                            ignored_log.note(&reason);
                        }
                    }
                }
            }
        }
        let store_started = std::time::Instant::now();
        let committed = store
            .commit_accepting(&orchestrator.state, &accepted, &processed, &emitted)
            .await;
        metrics.observe_store_commit(store_started.elapsed());
        if let Err(err) = committed {
            let message = format!("cannot commit an orchestrator transition: {err}");
            for done in waiting {
                let _ = done.send(Err(message.clone()));
            }
            for reply in replies {
                let _ = reply.send(Err(message.clone()));
            }
            anyhow::bail!(message);
        }
        *snapshots.write().await = orchestrator.state.clone();
        for done in waiting {
            let _ = done.send(Ok(()));
        }
        for reply in replies {
            let _ = reply.send(Ok(Received::Accepted));
        }
        // Integrations see the events others sent, then what the orchestrator emitted.
        for event in &accepted {
            let _ = bus.send(event.clone());
        }
        // Marking events published is one more durable write; under load it waits until the
        // queue is empty (or many are pending). A crash before it only means those events are
        // published again on start, which consumers deduplicate by id.
        send_to_bus(&bus, &emitted, &metrics);
        unmarked.extend(emitted.iter().map(|event| event.id.clone()));
        if requests.is_empty() || unmarked.len() >= MAX_UNMARKED {
            mark_published(&store, &mut unmarked).await?;
        }
        // A task whose trigger is no execution's current task any more has completed.
        for triggered_id in answered {
            let still_current = orchestrator.state.executions.values().any(|execution| {
                execution
                    .current_task
                    .as_ref()
                    .is_some_and(|task| task.triggered_id == triggered_id)
            });
            if !still_current && let Some((task, sent)) = in_flight.remove(&triggered_id) {
                metrics.observe_task(&task, Duration::from_millis(now().millis_since(sent)));
            }
        }
        if in_flight.len() > MAX_IN_FLIGHT {
            // Tasks that ended without a `.finished` (timeouts, aborts) are forgotten here.
            let current: std::collections::HashSet<&str> = orchestrator
                .state
                .executions
                .values()
                .filter_map(|execution| execution.current_task.as_ref())
                .map(|task| task.triggered_id.as_str())
                .collect();
            in_flight.retain(|triggered_id, _| current.contains(triggered_id.as_str()));
        }
        let n_queued = orchestrator
            .state
            .executions
            .values()
            .filter(|execution| {
                execution.status == keptn_core::orchestrator::ExecutionStatus::Queued
            })
            .count();
        metrics.observe_transition(
            started.elapsed(),
            orchestrator.state.executions.len(),
            n_queued,
        );
    }
}

/// Puts committed events on the bus and marks them published.
pub async fn publish(
    store: &Arc<dyn Store>,
    bus: &broadcast::Sender<KeptnEvent>,
    events: &[KeptnEvent],
    metrics: &Metrics,
) -> anyhow::Result<()> {
    send_to_bus(bus, events, metrics);
    let mut ids: Vec<String> = events.iter().map(|event| event.id.clone()).collect();
    mark_published(store, &mut ids).await
}

fn send_to_bus(bus: &broadcast::Sender<KeptnEvent>, events: &[KeptnEvent], metrics: &Metrics) {
    for event in events {
        metrics.event_out(event);
        // No subscriber is not an error: the events are in the history either way.
        let _ = bus.send(event.clone());
    }
}

async fn mark_published(store: &Arc<dyn Store>, ids: &mut Vec<String>) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    store
        .mark_published(ids)
        .await
        .map_err(|err| anyhow::anyhow!("cannot mark events published: {err}"))?;
    ids.clear();
    Ok(())
}

/// Ignored inputs are normal (late, repeated or foreign answers) but may arrive by the
/// thousand: the first of each second is logged, with how many were not.
#[derive(Default)]
struct IgnoredLog {
    since: Option<std::time::Instant>,
    unlogged: u64,
}

impl IgnoredLog {
    fn note(&mut self, reason: &str) {
        let now = std::time::Instant::now();
        if self
            .since
            .is_some_and(|since| now.duration_since(since) < std::time::Duration::from_secs(1))
        {
            self.unlogged += 1;
            return;
        }
        if self.unlogged > 0 {
            eprintln!(
                "keptn serve: {} more inputs ignored in the last second",
                self.unlogged
            );
        }
        eprintln!("keptn serve: ignored input: {reason}");
        self.since = Some(now);
        self.unlogged = 0;
    }
}
