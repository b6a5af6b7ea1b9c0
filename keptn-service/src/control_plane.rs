//! [`ControlPlane`]: the durable loop with its integrations, started by [`Builder::start`].

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::FutureExt as _;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use keptn_core::event::{EventType, KeptnEvent};
use keptn_core::orchestrator::{Config as OrchestratorConfig, Control, Input, Orchestrator, State};
use keptn_core::ports::{ConfigRepo, EventBus, EventFilter, Store};
use keptn_core::shipyard::Shipyard;
use tokio::sync::{Mutex, broadcast, watch};
use tokio::task::JoinHandle;

use crate::bus::InProcessBus;
use crate::clock::{Clock, SystemClock};
use crate::engine::{self, Engine, Outlets, Parts, Received};
use crate::error::Error;
use crate::integration::{Context, Integration};
use crate::metrics::{Metrics, MetricsSnapshot};

/// How many committed events a [`ControlPlane::subscribe`]r may fall behind before it misses
/// some.
const SUBSCRIBER_CAPACITY: usize = 4096;

/// Sets up a [`ControlPlane`]. The store and the configuration repository are required; the
/// bus defaults to an [`InProcessBus`], the clock to the system clock, the orchestrator's
/// timeouts to Keptn's.
pub struct Builder {
    store: Option<Arc<dyn Store>>,
    config_repo: Option<Arc<dyn ConfigRepo>>,
    bus: Option<Arc<dyn EventBus>>,
    clock: Arc<dyn Clock>,
    orchestrator: OrchestratorConfig,
    integrations: Vec<Arc<dyn Integration>>,
    local: broadcast::Sender<Arc<KeptnEvent>>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("orchestrator", &self.orchestrator)
            .field(
                "integrations",
                &self
                    .integrations
                    .iter()
                    .map(|integration| integration.registration().name.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Why [`Builder::start`] refused to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// [`Builder::store`] was not called.
    #[error("a control plane needs a store")]
    NoStore,
    /// [`Builder::config_repo`] was not called.
    #[error("a control plane needs a configuration repository")]
    NoConfigRepo,
    /// Starting failed.
    #[error(transparent)]
    Failed(#[from] Error),
}

impl Builder {
    /// The store of state and history.
    #[must_use]
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The projects' configuration repository.
    #[must_use]
    pub fn config_repo(mut self, config_repo: Arc<dyn ConfigRepo>) -> Self {
        self.config_repo = Some(config_repo);
        self
    }

    /// The bus that carries committed events to the integrations.
    #[must_use]
    pub fn bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// The time source.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The orchestrator's settings: task timeouts and the namespace of generated event ids.
    #[must_use]
    pub fn orchestrator(mut self, config: OrchestratorConfig) -> Self {
        self.orchestrator = config;
        self
    }

    /// Adds an integration to run in process.
    #[must_use]
    pub fn integration(mut self, integration: Arc<dyn Integration>) -> Self {
        self.integrations.push(integration);
        self
    }

    /// Every event the control plane will commit, from its very start on (recovery included):
    /// [`ControlPlane::subscribe`] for a subscriber that must not miss what happens while it
    /// starts.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<KeptnEvent>> {
        self.local.subscribe()
    }

    /// Adds integrations to run in process.
    #[must_use]
    pub fn integrations(
        mut self,
        integrations: impl IntoIterator<Item = Arc<dyn Integration>>,
    ) -> Self {
        self.integrations.extend(integrations);
        self
    }

    /// Starts the control plane: loads the state, starts the loop and the integrations, then
    /// recovers what a crash may have left: events committed but not published go out again,
    /// so do the triggers of tasks still waiting for an answer (an in-process integration may
    /// have died with the process before answering; answers repeated by one that did answer
    /// are duplicates by id), and events accepted but not processed (databases of earlier
    /// versions) are handled, oldest first.
    pub async fn start(self) -> Result<ControlPlane, StartError> {
        let store = self.store.ok_or(StartError::NoStore)?;
        let config_repo = self.config_repo.ok_or(StartError::NoConfigRepo)?;
        let bus = self
            .bus
            .unwrap_or_else(|| Arc::new(InProcessBus::default()));
        let mut names = HashSet::new();
        for integration in &self.integrations {
            let name = &integration.registration().name;
            if !names.insert(name.clone()) {
                return Err(Error::DuplicateIntegration { name: name.clone() }.into());
            }
        }
        let mut orchestrator = Orchestrator::new(self.orchestrator);
        if let Some(state) = store
            .load_state()
            .await
            .map_err(Error::store("load the orchestrator state"))?
        {
            orchestrator.state = state;
        }
        let metrics = Arc::new(Metrics::new());
        let local = self.local;
        let (stop, stop_signal) = watch::channel(false);
        let (engine, loop_task) = engine::start(
            Parts {
                orchestrator,
                store: Arc::clone(&store),
                outlets: Outlets {
                    local: local.clone(),
                    bus: Arc::clone(&bus),
                },
                metrics: Arc::clone(&metrics),
                clock: Arc::clone(&self.clock),
            },
            stop_signal,
        );
        let context = Context {
            engine: engine.clone(),
            store: Arc::clone(&store),
            config_repo: Arc::clone(&config_repo),
        };
        let mut dispatchers = Vec::new();
        for integration in &self.integrations {
            let registration = integration.registration();
            let subscription = bus
                .subscribe(&registration.bus_subscriber())
                .await
                .map_err(|source| Error::Bus {
                    action: format!("subscribe integration '{}'", registration.name),
                    source: Arc::new(source),
                })?;
            dispatchers.push(tokio::spawn(dispatch(
                Arc::clone(integration),
                subscription,
                context.clone(),
            )));
        }
        let (ended_sender, ended) = watch::channel(None);
        let supervisor = tokio::spawn(async move {
            let outcome = match loop_task.await {
                Ok(outcome) => outcome,
                Err(_) => Err(Error::Stopped),
            };
            let _ = ended_sender.send(Some(outcome.clone()));
            outcome
        });
        let control_plane = ControlPlane {
            inner: Arc::new(Inner {
                engine,
                store,
                config_repo,
                bus,
                metrics,
                local,
                stop,
                ended,
                tasks: Mutex::new(Some(Tasks {
                    supervisor,
                    dispatchers,
                })),
                integrations: self
                    .integrations
                    .iter()
                    .map(|integration| integration.registration().name.clone())
                    .collect(),
            }),
        };
        if let Err(err) = control_plane.recover().await {
            // Nothing half-started is left running.
            let _ = control_plane.shutdown().await;
            return Err(err.into());
        }
        Ok(control_plane)
    }
}

/// Runs one integration: every event of its subscription that its registration matches is
/// handled concurrently with the others, inside this task (no task per event: a handler
/// that waits, for a commit or a tool, costs nothing, and one that answers at once does not
/// pay for a hop to another thread). A handler that panics is logged and dropped; the
/// integration goes on.
async fn dispatch(
    integration: Arc<dyn Integration>,
    mut subscription: Box<dyn keptn_core::ports::BusSubscription>,
    context: Context,
) {
    let name = integration.registration().name.clone();
    let mut handling = FuturesUnordered::new();
    loop {
        let delivery = tokio::select! {
            delivery = subscription.next() => delivery,
            Some(()) = handling.next(), if !handling.is_empty() => continue,
        };
        let delivery = match delivery {
            Ok(Some(delivery)) => delivery,
            Ok(None) => break,
            Err(err) => {
                tracing::warn!("integration {name}: {err}");
                continue;
            }
        };
        if !integration.registration().matches(&delivery.event) {
            if let Err(err) = delivery.ack().await {
                tracing::warn!("integration {name}: cannot acknowledge an event: {err}");
            }
            continue;
        }
        handling.push(handle_one(
            Arc::clone(&integration),
            delivery,
            context.clone(),
        ));
    }
    // The bus closed: let the handlers in flight finish.
    while handling.next().await.is_some() {}
}

/// Handles one delivered event and acknowledges it once its answers are taken in.
async fn handle_one(
    integration: Arc<dyn Integration>,
    delivery: keptn_core::ports::Delivery,
    context: Context,
) {
    let name = &integration.registration().name;
    let handled = std::panic::AssertUnwindSafe(integration.handle(&delivery.event, &context))
        .catch_unwind()
        .await;
    match handled {
        Ok(Ok(())) => {
            if let Err(err) = delivery.ack().await {
                tracing::warn!("integration {name}: cannot acknowledge an event: {err}");
            }
        }
        // Not acknowledged: the bus may deliver it again.
        Ok(Err(err)) => tracing::warn!(
            "integration {name}: cannot answer {} {}: {err}",
            delivery.event.event_type,
            delivery.event.id
        ),
        Err(_) => tracing::error!(
            "integration {name} panicked while handling {} {}",
            delivery.event.event_type,
            delivery.event.id
        ),
    }
}

struct Tasks {
    supervisor: JoinHandle<Result<(), Error>>,
    dispatchers: Vec<JoinHandle<()>>,
}

struct Inner {
    engine: Engine,
    store: Arc<dyn Store>,
    config_repo: Arc<dyn ConfigRepo>,
    bus: Arc<dyn EventBus>,
    metrics: Arc<Metrics>,
    local: broadcast::Sender<Arc<KeptnEvent>>,
    stop: watch::Sender<bool>,
    ended: watch::Receiver<Option<Result<(), Error>>>,
    tasks: Mutex<Option<Tasks>>,
    integrations: Vec<String>,
}

/// A running control plane; cheap to clone (clones share it). It runs until
/// [`ControlPlane::shutdown`] (or a failed commit): dropping the handles does not stop it.
#[derive(Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("integrations", &self.inner.integrations)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Sets one up.
    pub fn builder() -> Builder {
        Builder {
            store: None,
            config_repo: None,
            bus: None,
            clock: Arc::new(SystemClock),
            orchestrator: OrchestratorConfig::default(),
            integrations: Vec::new(),
            local: broadcast::channel(SUBSCRIBER_CAPACITY).0,
        }
    }

    /// Takes in an event, as `POST /api/v1/event` does: fills in a missing id, time, source and
    /// Keptn context, then returns once it is durably stored together with the orchestrator
    /// transition it caused ([`Received::Duplicate`] for an id seen before: nothing changed).
    pub async fn accept(&self, event: KeptnEvent) -> Result<Received, Error> {
        let mut received = self.accept_all(vec![event]).await?;
        received.pop().unwrap_or(Err(Error::Stopped))
    }

    /// [`ControlPlane::accept`] for several events, committed together when they arrive
    /// together; one answer per event.
    pub async fn accept_all(
        &self,
        events: Vec<KeptnEvent>,
    ) -> Result<Vec<Result<Received, Error>>, Error> {
        self.inner.engine.accept_all(events).await
    }

    /// Makes `shipyard` the project's shipyard; returns once that is committed.
    pub async fn set_shipyard(&self, project: &str, shipyard: Shipyard) -> Result<(), Error> {
        self.inner
            .engine
            .submit(
                Input::SetShipyard {
                    project: project.to_owned(),
                    shipyard,
                },
                None,
            )
            .await
    }

    /// Aborts, pauses or resumes sequences; returns once that is committed.
    pub async fn control(&self, control: Control) -> Result<(), Error> {
        self.inner
            .engine
            .submit(Input::Control(control), None)
            .await
    }

    /// Asks the loop to look at its timers now (after moving a [`crate::ManualClock`]).
    pub async fn tick(&self) -> Result<(), Error> {
        self.inner.engine.enqueue(Input::Tick).await
    }

    /// Every event the control plane commits from now on: the events it takes in, then the
    /// ones the orchestrator emitted for them, in commit order (shared: subscribers get the
    /// same event).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<KeptnEvent>> {
        self.inner.local.subscribe()
    }

    /// The orchestrator state as of the last commit: shipyards, executions, pauses and the
    /// next ids (the ids of recently handled sequence triggers are left out; they are the
    /// orchestrator's own business).
    pub async fn state(&self) -> State {
        self.inner.engine.state().await
    }

    /// A read lock on the state as of the last commit (no copy; hold it briefly: the loop
    /// waits for it to publish its next state).
    pub async fn read_state(&self) -> tokio::sync::RwLockReadGuard<'_, State> {
        self.inner.engine.read_state().await
    }

    /// What it counted so far.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// The store it runs on.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The configuration repository it runs on.
    pub fn config_repo(&self) -> &Arc<dyn ConfigRepo> {
        &self.inner.config_repo
    }

    /// The names of the integrations running in process.
    pub fn integrations(&self) -> &[String] {
        &self.inner.integrations
    }

    /// The control plane's current time.
    pub fn now(&self) -> keptn_core::event::Timestamp {
        self.inner.engine.now()
    }

    /// Resolves when the loop has ended: `Ok` after [`ControlPlane::shutdown`], the error of
    /// the failed commit that stopped it otherwise.
    pub async fn stopped(&self) -> Result<(), Error> {
        let mut ended = self.inner.ended.clone();
        loop {
            if let Some(outcome) = ended.borrow_and_update().clone() {
                return outcome;
            }
            if ended.changed().await.is_err() {
                return Err(Error::Stopped);
            }
        }
    }

    /// Stops the integrations (handlers in flight are cancelled: their tasks are re-delivered
    /// on the next start) and the loop (after the batch it is committing), and waits for both.
    /// Calling it again does nothing.
    pub async fn shutdown(&self) -> Result<(), Error> {
        let Some(tasks) = self.inner.tasks.lock().await.take() else {
            return Ok(());
        };
        for dispatcher in &tasks.dispatchers {
            dispatcher.abort();
        }
        for dispatcher in tasks.dispatchers {
            let _ = dispatcher.await;
        }
        let _ = self.inner.stop.send(true);
        match tasks.supervisor.await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::Stopped),
        }
    }

    async fn recover(&self) -> Result<(), Error> {
        let store = &self.inner.store;
        let outlets = Outlets {
            local: self.inner.local.clone(),
            bus: Arc::clone(&self.inner.bus),
        };
        let unpublished = store
            .unpublished()
            .await
            .map_err(Error::store("read the outbox"))?;
        if !unpublished.is_empty() && engine::publish(&outlets, &unpublished).await {
            let ids: Vec<String> = unpublished.iter().map(|event| event.id.clone()).collect();
            store
                .mark_published(&ids)
                .await
                .map_err(Error::store("mark events published"))?;
        }
        let open = open_task_triggers(store, &self.state().await).await?;
        if !open.is_empty() {
            // Only to the integrations: these events are old, the control plane's own
            // subscribers saw them when they were committed.
            if let Err(err) = self.inner.bus.publish(&open).await {
                tracing::warn!("cannot deliver the triggers of open tasks again: {err}");
            }
        }
        for event in store
            .unprocessed()
            .await
            .map_err(Error::store("read the inbox"))?
        {
            let id = event.id.clone();
            self.inner
                .engine
                .submit(Input::Event(event), Some(id))
                .await?;
        }
        Ok(())
    }
}

/// The `.triggered` events of the tasks that executions are waiting on.
async fn open_task_triggers(
    store: &Arc<dyn Store>,
    state: &State,
) -> Result<Vec<KeptnEvent>, Error> {
    let mut triggers = Vec::new();
    for execution in state.executions.values() {
        let Some(task) = &execution.current_task else {
            continue;
        };
        if task.dispatched_at.is_none() {
            continue;
        }
        let Ok(event_type) =
            EventType::task(&task.name, keptn_core::event::TaskEventKind::Triggered)
        else {
            continue;
        };
        let filter = EventFilter {
            keptn_context: Some(execution.keptn_context.clone()),
            event_type: Some(event_type.to_string()),
            ..EventFilter::default()
        };
        let events = store
            .events(&filter)
            .await
            .map_err(Error::store("read the history"))?;
        triggers.extend(
            events
                .into_iter()
                .filter(|event| event.id == task.triggered_id),
        );
    }
    Ok(triggers)
}
