//! Errors of the local platform.

use std::path::PathBuf;
use std::time::Duration;

use keptn_core::ports::{AdapterError, AdapterErrorKind};

/// A failure of the local platform.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The platform configuration is invalid; every problem is listed.
    #[error("invalid local platform configuration: {}", problems.join("; "))]
    Config {
        /// One entry per problem, each starting with the field name.
        problems: Vec<String>,
    },
    /// A `local.yaml` is invalid; every problem is listed.
    #[error("invalid local.yaml: {}", problems.join("; "))]
    Spec {
        /// One entry per problem, each starting with its location (`line:column` or a field).
        problems: Vec<String>,
    },
    /// The `local.yaml` of the service could not be read from the configuration repository.
    #[error(
        "cannot read local.yaml of service '{service}' in stage '{stage}' of project '{project}'"
    )]
    ReadSpec {
        /// Project.
        project: String,
        /// Stage.
        stage: String,
        /// Service.
        service: String,
        /// Why (its kind is kept: a missing file stays `NotFound`).
        source: AdapterError,
    },
    /// The deployment request has no usable `image` value.
    #[error("deployment of '{service}': {reason}")]
    Image {
        /// Service.
        service: String,
        /// What is wrong with `values.image`.
        reason: String,
    },
    /// The `command` of a `local.yaml` is not an executable file.
    #[error("command '{command}' not found (searched: {})", searched.iter().map(|dir| dir.display().to_string()).collect::<Vec<_>>().join(", "))]
    CommandNotFound {
        /// The command as written.
        command: String,
        /// The directories searched.
        searched: Vec<PathBuf>,
    },
    /// A replica could not be started.
    #[error("cannot start replica '{replica}' ('{program}')")]
    Spawn {
        /// The replica (`carts-canary-0.9.2-1`).
        replica: String,
        /// The resolved program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A replica exited before it became healthy.
    #[error("replica '{replica}' exited with {status} before it became healthy; last lines of {}:\n{log_tail}", log.display())]
    Exited {
        /// The replica.
        replica: String,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log.
        log_tail: String,
    },
    /// A replica did not answer its health path with 2xx in time.
    #[error("replica '{replica}' was not healthy within {timeout:?} ({last_check}); last lines of {}:\n{log_tail}", log.display())]
    Unhealthy {
        /// The replica.
        replica: String,
        /// The start timeout.
        timeout: Duration,
        /// The last health check and its outcome (`GET <url>: http 503`).
        last_check: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log.
        log_tail: String,
    },
    /// A file or directory of the state directory could not be used.
    #[error("cannot {action} '{}'", path.display())]
    Io {
        /// What was attempted (`create`, `write`, `read`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `ports.json` is not the map this platform writes.
    #[error("invalid router port file '{}': {reason}", path.display())]
    PortsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A listener could not be opened.
    #[error("cannot listen on {addr} for {what}")]
    Bind {
        /// The address.
        addr: String,
        /// The router of a service, or the telemetry endpoint.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// No port from the base port upward could be bound.
    #[error("no free router port from {base} upward")]
    NoFreePort {
        /// `router_base_port`.
        base: u16,
    },
    /// Nothing is deployed for the scope.
    #[error(
        "nothing is deployed for service '{service}' in stage '{stage}' of project '{project}'"
    )]
    NotDeployed {
        /// Project.
        project: String,
        /// Stage.
        stage: String,
        /// Service.
        service: String,
    },
    /// A canary weight above 100.
    #[error("canary weight {weight} is not a percentage (0..=100)")]
    Weight {
        /// The weight asked for.
        weight: u8,
    },
    /// A scaling request that cannot be done.
    #[error("cannot scale service '{service}': {reason}")]
    Scale {
        /// Service.
        service: String,
        /// Why.
        reason: String,
    },
    /// Nothing to revert to (remediation's `rollback` action).
    #[error("cannot roll back service '{service}': {reason}")]
    Revert {
        /// Service.
        service: String,
        /// Why.
        reason: String,
    },
    /// The SLI request's end lies before its start.
    #[error("invalid timeframe: end {end} ms is before start {start} ms")]
    InvalidTimeframe {
        /// Start, in milliseconds since the epoch.
        start: u64,
        /// End, in milliseconds since the epoch.
        end: u64,
    },
}

impl Error {
    fn kind(&self) -> AdapterErrorKind {
        match self {
            Error::Config { .. }
            | Error::Spec { .. }
            | Error::Image { .. }
            | Error::CommandNotFound { .. }
            | Error::PortsFile { .. }
            | Error::Weight { .. }
            | Error::Scale { .. }
            | Error::InvalidTimeframe { .. } => AdapterErrorKind::Invalid,
            Error::Revert { .. } => AdapterErrorKind::Conflict,
            Error::ReadSpec { source, .. } => source.kind,
            Error::NotDeployed { .. } => AdapterErrorKind::NotFound,
            Error::Bind { .. } | Error::NoFreePort { .. } => AdapterErrorKind::Unavailable,
            Error::Spawn { .. }
            | Error::Exited { .. }
            | Error::Unhealthy { .. }
            | Error::Io { .. } => AdapterErrorKind::Failed,
        }
    }
}

impl From<Error> for AdapterError {
    fn from(error: Error) -> Self {
        let kind = error.kind();
        let message = error.to_string();
        // The message says what failed; the source continues the chain below it.
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = match error {
            Error::ReadSpec { source, .. } => Some(Box::new(source)),
            Error::Spawn { source, .. } | Error::Io { source, .. } | Error::Bind { source, .. } => {
                Some(Box::new(source))
            }
            _ => None,
        };
        AdapterError {
            kind,
            message,
            source,
        }
    }
}
