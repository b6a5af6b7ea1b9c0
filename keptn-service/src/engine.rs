//! The orchestration loop: one task owns the orchestrator and runs every input through it.
//!
//! For each batch of waiting inputs: `Orchestrator::handle(now, input)` for each, then one
//! store transaction (the new events taken in, as accepted and processed; the state after the
//! batch; the emitted events into history and outbox), then the senders hear back, then the
//! events go out — to the control plane's own subscribers and on the event bus — and are
//! marked published. Inputs are handled strictly one at a time, so the state in memory is
//! always the state last committed.
//!
//! A failed commit stops the loop: the in-memory state is then ahead of the store, and the only
//! safe continuation is a restart that reloads the committed state. A failed publication is
//! retried with the next batch; events it leaves unpublished are in the outbox and go out again
//! on the next start.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use keptn_core::event::{EventType, KeptnEvent, TaskEventKind, Timestamp, format_rfc3339};
use keptn_core::orchestrator::{Command, ExecutionStatus, Input, Orchestrator, Output, State};
use keptn_core::ports::{EventBus, Store};
use tokio::sync::{RwLock, broadcast, mpsc, oneshot, watch};

use crate::clock::Clock;
use crate::error::Error;
use crate::metrics::Metrics;

/// How many waiting inputs are committed together at most.
const MAX_BATCH: usize = 256;

/// How many tasks in flight are tracked for the task-duration metric before a clean-up.
const MAX_IN_FLIGHT: usize = 10_000;

/// How many published events may wait to be marked published while the loop is busy.
const MAX_UNMARKED: usize = 4096;

/// How long the loop sleeps when no timer is set (it wakes up earlier for any input).
const IDLE_SLEEP: Duration = Duration::from_secs(3600);

/// What happened to an event handed to the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored and handled by the orchestrator.
    Accepted,
    /// An event with this id was received before; nothing changed.
    Duplicate,
}

/// One request to the loop.
enum Request {
    /// An input whose event (if any) was accepted earlier.
    Input {
        input: Input,
        /// The id of the accepted event this input is, to mark it processed in the same commit.
        processed: Option<String>,
        /// Told when the transition is committed (or failed).
        done: Option<oneshot::Sender<Result<(), Error>>>,
    },
    /// A new incoming event: accepted and handled in one commit.
    Accept {
        event: KeptnEvent,
        /// Told when the commit is durable (or failed).
        reply: oneshot::Sender<Result<Received, Error>>,
    },
}

/// Fills what Keptn's API fills when a client leaves it out: `id`, `time`, `specversion`,
/// `source`, and a new `shkeptncontext` for an event that starts a sequence.
///
/// Ids and contexts made here are UUIDv7 (time-ordered, random below the millisecond): the
/// stores index both, and ids that grow with time are appended to those indexes instead of
/// landing on a random page each, which keeps the pages a commit writes few.
pub fn normalise(event: &mut KeptnEvent, now: Timestamp) {
    let new_id = || {
        let seconds = now.0 / 1000;
        let nanos = u32::try_from((now.0 % 1000) * 1_000_000).unwrap_or(0);
        let timestamp = uuid::Timestamp::from_unix(uuid::NoContext, seconds, nanos);
        uuid::Uuid::new_v7(timestamp).to_string()
    };
    if event.id.is_empty() {
        event.id = new_id();
    }
    if event.time.is_none() {
        event.time = Some(format_rfc3339(now));
    }
    if event.spec_version.is_empty() {
        event.spec_version = "1.0".to_owned();
    }
    if event.source.is_empty() {
        event.source = "https://github.com/keptn/keptn/cli".to_owned();
    }
    if event.keptn_context.is_none() {
        event.keptn_context = Some(new_id());
    }
}

/// A handle to submit inputs to the loop; cheap to clone.
#[derive(Clone)]
pub(crate) struct Engine {
    requests: mpsc::Sender<Request>,
    snapshots: Arc<RwLock<State>>,
    clock: Arc<dyn Clock>,
}

impl Engine {
    /// Submits an input and waits until its transition is committed.
    pub(crate) async fn submit(
        &self,
        input: Input,
        processed: Option<String>,
    ) -> Result<(), Error> {
        let (done, committed) = oneshot::channel();
        self.requests
            .send(Request::Input {
                input,
                processed,
                done: Some(done),
            })
            .await
            .map_err(|_| Error::Stopped)?;
        committed.await.map_err(|_| Error::Stopped)?
    }

    /// Queues an input without waiting for its commit (inputs are handled in queue order).
    pub(crate) async fn enqueue(&self, input: Input) -> Result<(), Error> {
        self.requests
            .send(Request::Input {
                input,
                processed: None,
                done: None,
            })
            .await
            .map_err(|_| Error::Stopped)
    }

    /// Takes in events (normalised first), committed together when they arrive together;
    /// returns once each is durable, one answer per event.
    pub(crate) async fn accept_all(
        &self,
        events: Vec<KeptnEvent>,
    ) -> Result<Vec<Result<Received, Error>>, Error> {
        let now = self.clock.now();
        let mut answers = Vec::with_capacity(events.len());
        for mut event in events {
            normalise(&mut event, now);
            let (reply, answer) = oneshot::channel();
            self.requests
                .send(Request::Accept { event, reply })
                .await
                .map_err(|_| Error::Stopped)?;
            answers.push(answer);
        }
        let mut received = Vec::with_capacity(answers.len());
        for answer in answers {
            received.push(answer.await.unwrap_or(Err(Error::Stopped)));
        }
        Ok(received)
    }

    /// The orchestrator state as of the last committed transition.
    pub(crate) async fn state(&self) -> State {
        self.snapshots.read().await.clone()
    }

    /// A read lock on the state as of the last committed transition (no copy).
    pub(crate) async fn read_state(&self) -> tokio::sync::RwLockReadGuard<'_, State> {
        self.snapshots.read().await
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Where the loop sends what it committed.
pub(crate) struct Outlets {
    /// The control plane's own subscribers (`ControlPlane::subscribe`).
    pub(crate) local: broadcast::Sender<Arc<KeptnEvent>>,
    /// The event bus the integrations listen on.
    pub(crate) bus: Arc<dyn EventBus>,
}

/// The loop's dependencies.
pub(crate) struct Parts {
    pub(crate) orchestrator: Orchestrator,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) outlets: Outlets,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Starts the loop; it runs until `stop` changes to `true`, or a commit fails.
pub(crate) fn start(
    parts: Parts,
    stop: watch::Receiver<bool>,
) -> (Engine, tokio::task::JoinHandle<Result<(), Error>>) {
    let (requests, receiver) = mpsc::channel(1024);
    let snapshots = Arc::new(RwLock::new(snapshot_of(&parts.orchestrator.state)));
    let engine = Engine {
        requests,
        snapshots: Arc::clone(&snapshots),
        clock: Arc::clone(&parts.clock),
    };
    let task = tokio::spawn(run(parts, receiver, snapshots, stop));
    (engine, task)
}

/// Puts committed events out (own subscribers first, then the bus) and counts them as
/// emitted. Returns whether the bus took them.
pub(crate) async fn publish(outlets: &Outlets, events: &[KeptnEvent]) -> bool {
    // No subscriber is not an error: the events are in the history either way (and without
    // one, nothing is copied).
    if outlets.local.receiver_count() > 0 {
        for event in events {
            let _ = outlets.local.send(Arc::new(event.clone()));
        }
    }
    match outlets.bus.publish(events).await {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(
                "cannot publish {} events on the event bus (retried later): {err}",
                events.len()
            );
            false
        }
    }
}

async fn run(
    parts: Parts,
    mut requests: mpsc::Receiver<Request>,
    snapshots: Arc<RwLock<State>>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let Parts {
        mut orchestrator,
        store,
        outlets,
        metrics,
        clock,
    } = parts;
    // A wake-up asked for before a restart is due now at the latest.
    let mut wake_at: Option<Timestamp> = orchestrator.state.scheduled_wake;
    let mut unmarked: Vec<String> = Vec::new();
    // Committed events the bus did not take yet, oldest first.
    let mut to_publish: Vec<KeptnEvent> = Vec::new();
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
            Some(at) => Duration::from_millis(at.0.saturating_sub(clock.now().0)),
            None => IDLE_SLEEP,
        };
        let first = tokio::select! {
            request = requests.recv() => match request {
                Some(request) => request,
                None => return Ok(()),
            },
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return Ok(());
                }
                continue;
            }
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
                let err = Error::store("look up event ids")(err);
                for request in batch {
                    match request {
                        Request::Accept { reply, .. } => {
                            let _ = reply.send(Err(err.clone()));
                        }
                        Request::Input { done, .. } => {
                            if let Some(done) = done {
                                let _ = done.send(Err(err.clone()));
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
            let now = clock.now();
            for output in orchestrator.handle(now, input) {
                match output {
                    Output::Emit(event) => {
                        if let EventType::Task {
                            task,
                            kind: TaskEventKind::Triggered,
                        } = &event.event_type
                        {
                            in_flight.insert(event.id.clone(), (task.clone(), now));
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
            .commit(&orchestrator.state, &accepted, &processed, &emitted)
            .await;
        metrics.observe_store_commit(store_started.elapsed());
        if let Err(err) = committed {
            let err = Error::store("commit an orchestrator transition")(err);
            for done in waiting {
                let _ = done.send(Err(err.clone()));
            }
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
            tracing::error!("{err}: {}", error_chain(&err));
            return Err(err);
        }
        *snapshots.write().await = snapshot_of(&orchestrator.state);
        for done in waiting {
            let _ = done.send(Ok(()));
        }
        for reply in replies {
            let _ = reply.send(Ok(Received::Accepted));
        }
        metrics.events_out(&emitted);
        // Integrations see the events others sent, then what the orchestrator emitted.
        let n_emitted = emitted.len();
        to_publish.extend(accepted);
        to_publish.extend(emitted);
        let first_emitted = to_publish.len() - n_emitted;
        if publish(&outlets, &to_publish).await {
            unmarked.extend(
                to_publish[first_emitted..]
                    .iter()
                    .map(|event| event.id.clone()),
            );
            to_publish.clear();
        }
        // Marking events published is one more durable write; under load it waits until the
        // queue is empty (or many are pending). A crash before it only means those events are
        // published again on start, which consumers deduplicate by id.
        if !unmarked.is_empty() && (requests.is_empty() || unmarked.len() >= MAX_UNMARKED) {
            match store.mark_published(&unmarked).await {
                Ok(()) => unmarked.clear(),
                Err(err) => tracing::warn!(
                    "cannot mark {} events published (they go out again on the next start): {err}",
                    unmarked.len()
                ),
            }
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
                metrics.observe_task(&task, Duration::from_millis(clock.now().millis_since(sent)));
            }
        }
        if in_flight.len() > MAX_IN_FLIGHT {
            // Tasks that ended without a `.finished` (timeouts, aborts) are forgotten here.
            let current: HashSet<&str> = orchestrator
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
            .filter(|execution| execution.status == ExecutionStatus::Queued)
            .count();
        metrics.observe_transition(
            started.elapsed(),
            orchestrator.state.executions.len(),
            n_queued,
        );
    }
}

/// What readers of the state get: everything but the ids of recently handled sequence
/// triggers, which only the orchestrator's duplicate check needs (up to 10,000 ids, kept
/// twice: copying them after every batch cost more than the batch itself).
fn snapshot_of(state: &State) -> State {
    State {
        shipyards: state.shipyards.clone(),
        executions: state.executions.clone(),
        paused: state.paused.clone(),
        next_execution_id: state.next_execution_id,
        next_event_number: state.next_event_number,
        handled_triggers: std::collections::VecDeque::new(),
        handled_trigger_set: std::collections::BTreeSet::new(),
        scheduled_wake: state.scheduled_wake,
    }
}

/// An error and its causes, joined with `": "`.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut res = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        res.push(cause.to_string());
        source = cause.source();
    }
    res.join(": ")
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
            .is_some_and(|since| now.duration_since(since) < Duration::from_secs(1))
        {
            self.unlogged += 1;
            return;
        }
        if self.unlogged > 0 {
            tracing::info!("{} more inputs ignored in the last second", self.unlogged);
        }
        tracing::info!("ignored input: {reason}");
        self.since = Some(now);
        self.unlogged = 0;
    }
}
