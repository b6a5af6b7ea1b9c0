//! keptn-core: the control-plane model of keptn-rs.
//!
//! - [`shipyard`]: stages, sequences and tasks (spec.keptn.sh/0.2.x and the 2020 `keptn: v1`
//!   form), validated with located [`Diagnostic`]s.
//! - [`uniform`]: which integration subscribes to which event types, with filters.
//! - [`remediation`]: `remediation.yaml` (spec.keptn.sh/0.1.4) and action selection.
//! - [`alertmanager`]: Prometheus Alertmanager webhook notifications turned into
//!   `remediation.triggered` events (firing) or "resolved" notices, with ids derived from the
//!   alert so that a re-sent notification is a duplicate.
//! - [`event`]: Keptn CloudEvents: the typed [`event::EventType`], extension attributes, common
//!   data and task payloads, on top of `cloudevents-sdk`.
//! - [`merge`]: the payload merge used to carry task results forward.
//! - [`orchestrator`]: the sequence orchestrator as a pure state machine,
//!   `Orchestrator::handle(now, input) -> Vec<Output>`.
//! - [`simulate`]: the deterministic simulation model behind `keptn shipyard simulate`.
//! - [`placeholder`]: `$PROJECT`/`$LABEL.<key>`/... rendering of SLI queries (an unknown
//!   placeholder is an error).
//! - [`answer`]: the `.started`/`.finished`/errored answers an integration derives from a
//!   task's `.triggered` event.
//! - [`ports`]: the adapter traits (SliProvider, Deployer, TrafficRouter, TestRunner,
//!   ActionRunner, EventBus, Store, ConfigRepo) and [`ports::AdapterError`].
//! - [`memory`]: in-memory implementations of `Store` and `ConfigRepo` (embedding, examples,
//!   tests; nothing durable).
//!
//! Invariant: nothing in this crate touches the clock, the filesystem or the network, and
//! nothing starts a thread or a runtime. Time arrives as an input ([`event::Timestamp`]);
//! files arrive as text.

#![deny(missing_docs)]

pub mod alertmanager;
pub mod answer;
pub mod diagnostic;
pub mod event;
pub mod memory;
pub mod merge;
pub mod orchestrator;
pub mod placeholder;
pub mod ports;
pub mod remediation;
pub mod shipyard;
pub mod simulate;
pub mod uniform;
pub mod yaml;

pub use diagnostic::{Diagnostic, Severity};

/// Errors of keptn-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The shipyard does not parse or validate; `diagnostics` holds every error and warning.
    #[error("invalid shipyard: {}", first_error(diagnostics))]
    InvalidShipyard {
        /// All findings, errors and warnings, in document order of discovery.
        diagnostics: Vec<Diagnostic>,
    },
    /// The remediation file does not parse or validate.
    #[error("invalid remediation: {}", first_error(diagnostics))]
    InvalidRemediation {
        /// All findings.
        diagnostics: Vec<Diagnostic>,
    },
    /// The uniform does not parse or validate.
    #[error("invalid uniform: {}", first_error(diagnostics))]
    InvalidUniform {
        /// All findings.
        diagnostics: Vec<Diagnostic>,
    },
    /// An event type string that is not a valid Keptn type.
    #[error("invalid event type '{event_type}': {reason}")]
    InvalidEventType {
        /// The type as given.
        event_type: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A CloudEvent that is not a valid Keptn event.
    #[error("invalid event: {message}")]
    InvalidEvent {
        /// What is wrong.
        message: String,
    },
    /// A data field that does not have the expected shape.
    #[error("invalid event data at '{field}': {message}")]
    InvalidEventData {
        /// The field (e.g. `deployment`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A query uses a placeholder that has no value.
    #[error("unknown placeholder '{placeholder}' in query '{template}'")]
    UnknownPlaceholder {
        /// The placeholder, with its `$`.
        placeholder: String,
        /// The whole query.
        template: String,
    },
    /// A simulation input that names something the shipyard does not have.
    #[error("invalid simulation input: {message}")]
    InvalidSimulation {
        /// What is wrong.
        message: String,
    },
    /// The simulation hit its event limit (a self-triggering loop).
    #[error(
        "simulation stopped after {n_events} events: the shipyard keeps triggering itself ({sequence} loops)"
    )]
    SimulationLimit {
        /// Events logged before stopping.
        n_events: usize,
        /// The sequence that was about to run again.
        sequence: String,
    },
}

fn first_error(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .find(|diagnostic| diagnostic.severity == Severity::Error)
        .or(diagnostics.first())
        .map(ToString::to_string)
        .unwrap_or_else(|| "no details".to_owned())
}
