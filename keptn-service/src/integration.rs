//! The [`Integration`] trait: what reacts to the control plane's events, in process.
//!
//! An integration has a [`Registration`] (its name, which is also the `source` of the events
//! it sends, and its subscriptions: event patterns with project/stage/service filters, as in
//! Keptn's uniform) and handles one event at a time through a [`Context`], which tells the
//! time and takes its answers in. Events are handled concurrently: each delivered event gets a
//! task of its own, so a deployment that takes a minute does not hold up the next trigger.
//!
//! Answers go through the same intake as events sent to the API: [`Context::emit`] returns
//! once they are durable and the orchestrator has seen them. Answers to a task's `.triggered`
//! event take their ids from the trigger (`keptn_core::answer`), so an integration that
//! answers the same trigger again after a restart changes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use keptn_core::event::{KeptnEvent, Timestamp};
use keptn_core::ports::{BusSubscriber, ConfigRepo, Store};
use keptn_core::uniform::{EventPattern, Filter, Subscription};

use crate::engine::{Engine, Received};
use crate::error::Error;

/// An integration's name and what it subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The name (`lighthouse-service`); the `source` of its events and its event-bus group.
    pub name: String,
    /// The events it receives: any subscription whose pattern and filter match.
    pub subscriptions: Vec<Subscription>,
}

impl Registration {
    /// A registration with these subscriptions.
    pub fn new(name: impl Into<String>, subscriptions: Vec<Subscription>) -> Self {
        Self {
            name: name.into(),
            subscriptions,
        }
    }

    /// A registration for event patterns (`sh.keptn.event.deployment.triggered`,
    /// `sh.keptn.event.*.triggered`) without filters; an invalid pattern is an error message.
    pub fn for_events(name: impl Into<String>, patterns: &[&str]) -> Result<Self, String> {
        let subscriptions = patterns
            .iter()
            .map(|pattern| {
                Ok(Subscription {
                    event: EventPattern::parse(pattern)?,
                    filter: Filter::default(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self::new(name, subscriptions))
    }

    /// Whether `event` is one this integration receives: a subscription's pattern matches its
    /// type and its filter the event's project, stage and service.
    pub fn matches(&self, event: &KeptnEvent) -> bool {
        let event_type = event.event_type.to_string();
        let (project, stage, service) = event.scope().unwrap_or(("", "", ""));
        self.subscriptions.iter().any(|subscription| {
            subscription.event.matches(&event_type)
                && subscription.filter.matches(project, stage, service)
        })
    }

    /// What to subscribe to on the event bus.
    pub fn bus_subscriber(&self) -> BusSubscriber {
        BusSubscriber {
            group: self.name.clone(),
            subjects: self
                .subscriptions
                .iter()
                .map(|subscription| subscription.event.clone())
                .collect(),
        }
    }
}

/// Something that reacts to events, in the control plane's process.
#[async_trait]
pub trait Integration: Send + Sync {
    /// Its name and subscriptions.
    fn registration(&self) -> &Registration;

    /// Handles one event it subscribed to: sends its answers with [`Context::emit`]. An
    /// integration that has nothing to say about the event sends nothing. `Err` is for answers
    /// that could not be delivered (the control plane stopped); a task that fails is answered
    /// with a failing `.finished`, not an `Err`.
    async fn handle(&self, event: &KeptnEvent, context: &Context) -> Result<(), Error>;
}

/// What an integration handles an event with.
#[derive(Clone)]
pub struct Context {
    pub(crate) engine: Engine,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config_repo: Arc<dyn ConfigRepo>,
}

impl Context {
    /// The control plane's current time.
    pub fn now(&self) -> Timestamp {
        self.engine.now()
    }

    /// Takes in `events` (committed together, in order); returns once they are durable and
    /// the orchestrator has handled them, with what happened to each. Missing ids, times and
    /// sources are filled in as for events sent to the API.
    pub async fn emit(&self, events: Vec<KeptnEvent>) -> Result<Vec<Received>, Error> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.engine.accept_all(events).await?.into_iter().collect()
    }

    /// [`Context::emit`] for the `Some` of `events` (answers of `keptn_core::answer` are
    /// `None` for a trigger that is not a task event).
    pub async fn emit_some(
        &self,
        events: impl IntoIterator<Item = Option<KeptnEvent>> + Send,
    ) -> Result<Vec<Received>, Error> {
        self.emit(events.into_iter().flatten().collect()).await
    }

    /// The control plane's store: the event history, projects and evaluations (read it;
    /// events are written through [`Context::emit`]).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The projects' configuration (`slo.yaml`, `remediation.yaml`, ...).
    pub fn config_repo(&self) -> &Arc<dyn ConfigRepo> {
        &self.config_repo
    }
}
