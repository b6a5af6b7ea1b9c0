//! Ports: the narrow async traits that adapters (keptn-adapters) implement and the control
//! plane (keptn-service) calls. keptn-core only defines them (and, in [`crate::memory`], an
//! in-memory store and configuration repository); it never calls them itself, so the
//! orchestrator stays pure.
//!
//! Each trait does one job. Errors are [`AdapterError`]: a [`AdapterErrorKind`] the caller can
//! branch on (retry when `Unavailable` or `Timeout`, report otherwise), a message, and the
//! underlying error as `source`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::event::{KeptnEvent, Timestamp};
use crate::orchestrator::State;

/// What kind of failure an adapter reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterErrorKind {
    /// The tool or peer cannot be reached now; retrying later may work.
    Unavailable,
    /// The call did not complete in time.
    Timeout,
    /// The adapter's configuration or the request is invalid; retrying will not help.
    Invalid,
    /// The thing asked for does not exist (a file, a release, a subject).
    NotFound,
    /// The tool ran and refused or failed (a non-zero exit, an HTTP 4xx/5xx answer).
    Failed,
    /// The thing to create exists already (a project name, a service).
    Conflict,
}

/// An adapter failure.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AdapterError {
    /// What kind of failure.
    pub kind: AdapterErrorKind,
    /// Lower-case message naming what failed.
    pub message: String,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl AdapterError {
    /// An error without an underlying source.
    pub fn new(kind: AdapterErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error caused by `source`.
    pub fn with_source(
        kind: AdapterErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            AdapterErrorKind::Unavailable | AdapterErrorKind::Timeout
        )
    }
}

/// The project/stage/service an adapter call is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Scope {
    /// Project.
    pub project: String,
    /// Stage.
    pub stage: String,
    /// Service.
    pub service: String,
}

impl Scope {
    /// The project, stage and service `event` is about (`None` when its data lacks one).
    pub fn of(event: &KeptnEvent) -> Option<Self> {
        let (project, stage, service) = event.scope()?;
        Some(Self {
            project: project.to_owned(),
            stage: stage.to_owned(),
            service: service.to_owned(),
        })
    }
}

/// A request for SLI values (get-sli).
#[derive(Debug, Clone, PartialEq)]
pub struct SliRequest {
    /// Scope.
    pub scope: Scope,
    /// SLI names to fetch.
    pub indicators: Vec<String>,
    /// Range start.
    pub start: Timestamp,
    /// Range end (queries are evaluated here).
    pub end: Timestamp,
    /// SLO filters (`$key` placeholders).
    pub custom_filters: BTreeMap<String, String>,
    /// Deployment name (`canary`, `primary`, `direct`).
    pub deployment: String,
    /// Event labels (`$LABEL.<key>`).
    pub labels: BTreeMap<String, String>,
}

/// Fetches SLI values. One failing indicator is data (`success: false`), not an `Err`.
#[async_trait]
pub trait SliProvider: Send + Sync {
    /// Values for every requested indicator, in request order.
    async fn get_slis(
        &self,
        request: &SliRequest,
    ) -> Result<Vec<keptn_slo::SliValue>, AdapterError>;
}

/// How to roll out a new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentStrategy {
    /// Replace the running version.
    Direct,
    /// Deploy next to the primary as canary; all traffic to the canary until release.
    BlueGreen,
    /// Deploy next to the primary as canary with `weight` percent of the traffic; later steps
    /// shift more ([`TrafficRouter::set_canary_weight`]) until release promotes it (the
    /// progressive delivery Keptn never shipped).
    Canary {
        /// The canary's first share of the traffic, 0..=100.
        weight: u8,
    },
    /// The user's chart manages everything.
    UserManaged,
}

/// The canary's first share of the traffic when the deployment task names none.
pub const DEFAULT_CANARY_WEIGHT: u8 = 10;

impl DeploymentStrategy {
    /// Whether a canary runs next to a primary (blue/green and canary).
    pub fn has_canary(self) -> bool {
        matches!(self, Self::BlueGreen | Self::Canary { .. })
    }

    /// The strategy a shipyard's `deploymentstrategy` names: `direct` (also when empty),
    /// `blue_green_service` or its older name `duplicate`, `user_managed`, and `canary` (with
    /// [`DEFAULT_CANARY_WEIGHT`]; the deployment task's `canaryweight` sets the weight). Any
    /// other name is an error message listing the known ones.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "" | "direct" => Ok(Self::Direct),
            "blue_green_service" | "duplicate" => Ok(Self::BlueGreen),
            "user_managed" => Ok(Self::UserManaged),
            "canary" => Ok(Self::Canary {
                weight: DEFAULT_CANARY_WEIGHT,
            }),
            other => Err(format!(
                "unknown deploymentstrategy '{other}': expected direct, blue_green_service (or duplicate), user_managed or canary"
            )),
        }
    }
}

/// A deployment request.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRequest {
    /// Scope.
    pub scope: Scope,
    /// Strategy.
    pub strategy: DeploymentStrategy,
    /// Values to apply (`configurationChange.values`, e.g. `image`).
    pub values: BTreeMap<String, Value>,
    /// Config-repo commit to deploy from.
    pub git_commit_id: Option<String>,
}

/// The result of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deployed {
    /// `deploymentNames` (`canary`, `direct`, `user_managed`).
    pub deployment_names: Vec<String>,
    /// URIs reachable inside the environment.
    pub uris_local: Vec<String>,
    /// URIs reachable from outside.
    pub uris_public: Vec<String>,
}

/// Deploys, promotes and rolls back a service.
#[async_trait]
pub trait Deployer: Send + Sync {
    /// Deploys a version (deployment task).
    async fn deploy(&self, request: &DeploymentRequest) -> Result<Deployed, AdapterError>;
    /// Promotes the canary to primary (release task).
    async fn release(
        &self,
        scope: &Scope,
        strategy: DeploymentStrategy,
    ) -> Result<(), AdapterError>;
    /// Discards the canary (rollback task).
    async fn rollback(
        &self,
        scope: &Scope,
        strategy: DeploymentStrategy,
    ) -> Result<(), AdapterError>;
}

/// Shifts traffic between the primary and canary of a service.
#[async_trait]
pub trait TrafficRouter: Send + Sync {
    /// Sends `canary_percent` (0..=100) of the traffic to the canary, the rest to the primary.
    async fn set_canary_weight(
        &self,
        scope: &Scope,
        canary_percent: u8,
    ) -> Result<(), AdapterError>;
}

/// A test run request.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRequest {
    /// Scope.
    pub scope: Scope,
    /// `teststrategy` (`functional`, `performance`, `healthcheck`, custom).
    pub strategy: String,
    /// Target URL.
    pub target: String,
    /// The config-repo commit of the sequence (test plans are read at it), when known.
    pub git_commit_id: Option<String>,
}

/// The outcome of a test run.
#[derive(Debug, Clone, PartialEq)]
pub struct TestReport {
    /// Whether the run met its criteria.
    pub passed: bool,
    /// Start of the run.
    pub start: Timestamp,
    /// End of the run.
    pub end: Timestamp,
    /// Summary for the `.finished` message.
    pub message: String,
}

/// Runs tests against a deployment.
#[async_trait]
pub trait TestRunner: Send + Sync {
    /// Whether this runner answers a test of `strategy` at all. One that does not sends no
    /// event, so another runner may answer (Keptn's jmeter-service ignored `real-user` tests
    /// that way). All strategies by default.
    fn handles(&self, strategy: &str) -> bool {
        let _ = strategy;
        true
    }
    /// Runs the workload for the strategy. `Err` means the test could not be run; a test that
    /// ran and missed its criteria is a report with `passed: false`.
    async fn run(&self, request: &TestRequest) -> Result<TestReport, AdapterError>;
}

/// A remediation action to execute (`action.triggered`).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRequest {
    /// The service the action is for.
    pub scope: Scope,
    /// The action remediation.yaml chose (`{name, action, description, value}`).
    pub action: crate::event::Action,
    /// The problem being remediated (empty when the trigger carries none).
    pub problem: crate::event::Problem,
}

/// Executes a remediation action (`action.triggered`).
#[async_trait]
pub trait ActionRunner: Send + Sync {
    /// Whether this runner handles `action` (e.g. `scaling`).
    fn handles(&self, action: &str) -> bool;
    /// Executes it; the message says what was done.
    async fn execute(&self, request: &ActionRequest) -> Result<String, AdapterError>;
}

/// Who receives events from an [`EventBus`]: subscribers with the same `group` share the
/// events (each event goes to one of them, as a NATS queue group), subscribers of different
/// groups each get every matching event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusSubscriber {
    /// The group (an integration's name).
    pub group: String,
    /// Event types to receive (NATS-style subjects: `*` one token, `>` the rest); empty means
    /// every event.
    pub subjects: Vec<crate::uniform::EventPattern>,
}

/// One event taken from a bus subscription.
pub struct Delivery {
    /// The event.
    pub event: KeptnEvent,
    /// Tells the bus the event was handled; `None` when the bus needs no acknowledgement.
    pub ack: Option<Box<dyn Acknowledge>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("event", &self.event.id)
            .field("ack", &self.ack.is_some())
            .finish()
    }
}

impl Delivery {
    /// Acknowledges the event (a no-op when the bus needs none). An event that is not
    /// acknowledged may be delivered again.
    pub async fn ack(self) -> Result<(), AdapterError> {
        match self.ack {
            Some(ack) => ack.ack().await,
            None => Ok(()),
        }
    }
}

/// The acknowledgement of one [`Delivery`].
#[async_trait]
pub trait Acknowledge: Send + Sync {
    /// Acknowledges the delivered event.
    async fn ack(self: Box<Self>) -> Result<(), AdapterError>;
}

/// The events of one [`EventBus::subscribe`], in publication order.
#[async_trait]
pub trait BusSubscription: Send {
    /// The next event, `None` once the bus is closed. An `Err` is one failed receive (a lost
    /// connection, events dropped because the subscriber fell behind); later calls may
    /// succeed. Cancel-safe: a call dropped before it returns loses no event (the control
    /// plane waits for the next event and its handlers at once).
    async fn next(&mut self) -> Result<Option<Delivery>, AdapterError>;
}

/// Carries the events the control plane has committed to the integrations that subscribe to
/// them: in process, or through a broker between processes.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes events, in order (at least once: consumers deduplicate by event id).
    async fn publish(&self, events: &[KeptnEvent]) -> Result<(), AdapterError>;
    /// A subscription to the events published from now on that match `subscriber`'s subjects.
    async fn subscribe(
        &self,
        subscriber: &BusSubscriber,
    ) -> Result<Box<dyn BusSubscription>, AdapterError>;
}

/// Which events to list (all filters optional; `limit` 0 means no limit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events of this Keptn context.
    pub keptn_context: Option<String>,
    /// Only events of this full type (`sh.keptn.event.dev.delivery.triggered`).
    pub event_type: Option<String>,
    /// Only events whose data names this project.
    pub project: Option<String>,
    /// ... this stage.
    pub stage: Option<String>,
    /// ... this service.
    pub service: Option<String>,
    /// At most this many, newest first when set.
    pub limit: usize,
}

/// A project as the control plane keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    /// Project name.
    pub name: String,
    /// The shipyard as the user gave it (YAML text).
    pub shipyard: String,
    /// Git upstream URL, when the config repo is pushed somewhere.
    pub git_remote_url: Option<String>,
    /// Services onboarded to the project, in creation order.
    pub services: Vec<String>,
}

/// One recorded evaluation (an `evaluation.finished` event of the built-in evaluator).
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationRecord {
    /// The event id (listed in later evaluations' `comparedEvents`).
    pub event_id: String,
    /// Project, stage and service.
    pub project: String,
    /// Stage.
    pub stage: String,
    /// Service.
    pub service: String,
    /// When it finished (milliseconds since the Unix epoch).
    pub time: Timestamp,
    /// The event's `data` (Keptn's evaluation.finished data: `result`, `evaluation{...}`).
    pub data: serde_json::Value,
    /// An invalidated evaluation is never used as baseline.
    pub invalidated: bool,
}

/// Durable storage of the control plane: orchestrator state, the events it took in and emitted
/// (history), which emitted events are not published yet (outbox), projects and evaluations.
///
/// The control plane's guarantees rest on [`Store::commit`]: one transaction records the new
/// events an orchestrator step took in (as accepted and processed), saves the state after the
/// step, and records the events it emitted in the history and the outbox. An event is
/// acknowledged to its sender only after that commit, so a crash at any point loses no
/// acknowledged event and starts no task twice: on start, the outbox republishes what was
/// emitted but not published (consumers deduplicate by event id).
#[async_trait]
pub trait Store: Send + Sync {
    /// Loads the last saved state (`None` on first start).
    async fn load_state(&self) -> Result<Option<State>, AdapterError>;
    /// Events accepted but not yet processed, oldest first. Only a database written by an
    /// earlier version of keptn-rs (which accepted events before handling them) can hold
    /// any; the control plane replays them on start, naming them in `processed`.
    async fn unprocessed(&self) -> Result<Vec<KeptnEvent>, AdapterError>;
    /// One transaction: record `accepted` (new incoming events, handled in this very step) as
    /// accepted and processed, save `state`, mark `processed` (events accepted earlier, see
    /// [`Store::unprocessed`]) as processed, and record `emitted` in the history and the
    /// outbox (unpublished). Several orchestrator steps may be committed together (group
    /// commit): `state` is the state after all of them. An `accepted` id the history holds
    /// already fails the whole transaction, and so does a `processed` id that was never
    /// accepted; nothing of a failed transaction is kept.
    async fn commit(
        &self,
        state: &State,
        accepted: &[KeptnEvent],
        processed: &[String],
        emitted: &[KeptnEvent],
    ) -> Result<(), AdapterError>;
    /// Which of `ids` the history holds (accepted or emitted), in order.
    async fn known_ids(&self, ids: &[String]) -> Result<Vec<bool>, AdapterError>;
    /// Emitted events not yet marked published, oldest first (republished on start).
    async fn unpublished(&self) -> Result<Vec<KeptnEvent>, AdapterError>;
    /// Marks emitted events as published.
    async fn mark_published(&self, event_ids: &[String]) -> Result<(), AdapterError>;
    /// Events of the history (accepted and emitted), oldest first unless `filter.limit` is set.
    async fn events(&self, filter: &EventFilter) -> Result<Vec<KeptnEvent>, AdapterError>;
    /// Creates a project; an existing name is an [`AdapterErrorKind::Conflict`] error.
    async fn create_project(&self, project: &ProjectRecord) -> Result<(), AdapterError>;
    /// Deletes a project (its events and evaluations stay in the history).
    async fn delete_project(&self, name: &str) -> Result<(), AdapterError>;
    /// All projects, by name.
    async fn projects(&self) -> Result<Vec<ProjectRecord>, AdapterError>;
    /// Adds a service to a project (idempotent).
    async fn create_service(&self, project: &str, service: &str) -> Result<(), AdapterError>;
    /// Records an evaluation (idempotent by event id).
    async fn record_evaluation(&self, evaluation: &EvaluationRecord) -> Result<(), AdapterError>;
    /// Evaluations of one project/stage/service, newest first, at most `limit` (0 = all).
    async fn evaluations(
        &self,
        project: &str,
        stage: &str,
        service: &str,
        limit: usize,
    ) -> Result<Vec<EvaluationRecord>, AdapterError>;
}

/// Reads and writes project configuration (shipyard, slo.yaml, charts) per stage.
#[async_trait]
pub trait ConfigRepo: Send + Sync {
    /// A file of the project (`stage` `None`) or of a stage/service, at `commit` or the latest.
    async fn read(
        &self,
        project: &str,
        stage: Option<&str>,
        service: Option<&str>,
        path: &str,
        commit: Option<&str>,
    ) -> Result<Vec<u8>, AdapterError>;
    /// Writes a file and returns the new commit id.
    async fn write(
        &self,
        project: &str,
        stage: Option<&str>,
        service: Option<&str>,
        path: &str,
        content: &[u8],
    ) -> Result<String, AdapterError>;
    /// The latest commit of a stage.
    async fn latest_commit(&self, project: &str, stage: &str) -> Result<String, AdapterError>;
    /// Makes `url` the project's upstream: later writes are pushed there. An optional ability;
    /// a repository kind without upstreams answers `Invalid`.
    async fn set_upstream(&self, project: &str, url: &str) -> Result<(), AdapterError> {
        let _ = (project, url);
        Err(AdapterError::new(
            AdapterErrorKind::Invalid,
            "this configuration repository cannot push to an upstream",
        ))
    }
}

/// How long adapters may take by default before reporting [`AdapterErrorKind::Timeout`].
pub const DEFAULT_ADAPTER_TIMEOUT: Duration = Duration::from_secs(180);
