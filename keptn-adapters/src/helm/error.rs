//! Errors of the Helm deployer.

use std::path::PathBuf;
use std::time::Duration;

use keptn_core::ports::{AdapterError, AdapterErrorKind};

/// A failure of the Helm deployer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; every problem is listed.
    #[error("invalid helm configuration: {}", problems.join("; "))]
    Config {
        /// One entry per problem, each starting with the field name.
        problems: Vec<String>,
    },
    /// A project, stage or service name that cannot name a namespace or a release.
    #[error("invalid {what} name '{name}': only a-z, 0-9 and '-' are allowed")]
    InvalidName {
        /// `project`, `stage` or `service`.
        what: &'static str,
        /// The name as given.
        name: String,
    },
    /// A document of a rendered manifest is not YAML.
    #[error("document {document} of the manifest is not valid yaml")]
    ManifestSyntax {
        /// Which document, counted from 1.
        document: usize,
        /// The parser's error.
        source: serde_yaml::Error,
    },
    /// A document of a rendered manifest is not a Kubernetes object.
    #[error("document {document} of the manifest is invalid: {reason}")]
    InvalidManifest {
        /// Which document, counted from 1.
        document: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The user chart cannot be turned into a blue/green chart.
    #[error("cannot generate a blue/green chart for service '{service}': {reason}")]
    Unsupported {
        /// The Keptn service.
        service: String,
        /// Why.
        reason: String,
    },
    /// A canary weight above 100.
    #[error("invalid canary weight {percent}: must be between 0 and 100")]
    InvalidWeight {
        /// The weight asked for.
        percent: u8,
    },
    /// A VirtualService whose weights cannot be updated.
    #[error("cannot update the weights of virtualservice '{name}': {reason}")]
    VirtualService {
        /// The VirtualService's name (empty when it has none).
        name: String,
        /// Why.
        reason: String,
    },
    /// Scaling would leave a deployment with fewer than 0 replicas, or the value is invalid.
    #[error("cannot scale deployment '{name}': {reason}")]
    Scaling {
        /// The deployment (or `-` when the action value is invalid).
        name: String,
        /// Why.
        reason: String,
    },
    /// A chart archive or a file in it is not what a Helm chart looks like.
    #[error("invalid chart '{chart}': {reason}")]
    InvalidChart {
        /// The chart's path in the config repo.
        chart: String,
        /// What is wrong.
        reason: String,
    },
    /// A YAML file of the config repo (values.yaml, endpoints.yaml) that does not parse.
    #[error("invalid '{path}'")]
    InvalidFile {
        /// Which file.
        path: String,
        /// The parser's error.
        source: serde_yaml::Error,
    },
    /// The service has no generated chart yet, so there is no traffic routing to change.
    #[error(
        "service '{service}' of stage '{stage}' in project '{project}' has no generated chart \
         'helm/{service}-generated.tgz' yet: deploy it with a blue_green_service strategy first"
    )]
    NoGeneratedChart {
        /// The project.
        project: String,
        /// The stage.
        stage: String,
        /// The service.
        service: String,
    },
    /// The config repo failed (its kind is kept).
    #[error("cannot {action} '{path}' in the config repo")]
    Repo {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: String,
        /// The config repo's error.
        source: AdapterError,
    },
    /// A file or directory under the work directory could not be written or read.
    #[error("cannot access '{}'", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An executable could not be started.
    #[error("cannot run '{}'", program.display())]
    Spawn {
        /// The executable.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A command did not finish in time (it was killed).
    #[error("'{command}' did not finish within {timeout:?}")]
    Timeout {
        /// The command line.
        command: String,
        /// The limit.
        timeout: Duration,
    },
    /// A command failed.
    #[error("'{command}' failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// The exit status.
        status: String,
        /// What it printed on stderr, trimmed (stdout when stderr is empty).
        stderr: String,
    },
    /// A generated object could not be written as YAML.
    #[error("cannot write {what} as yaml")]
    Yaml {
        /// What was written.
        what: &'static str,
        /// The serialiser's error.
        source: serde_yaml::Error,
    },
    /// A command printed something this adapter does not understand.
    #[error("unexpected output of '{command}': {reason}")]
    Unexpected {
        /// The command line.
        command: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    fn kind(&self) -> AdapterErrorKind {
        match self {
            Error::Config { .. }
            | Error::InvalidName { .. }
            | Error::ManifestSyntax { .. }
            | Error::InvalidManifest { .. }
            | Error::Unsupported { .. }
            | Error::InvalidWeight { .. }
            | Error::VirtualService { .. }
            | Error::Scaling { .. }
            | Error::InvalidChart { .. }
            | Error::InvalidFile { .. } => AdapterErrorKind::Invalid,
            Error::Yaml { .. } => AdapterErrorKind::Failed,
            Error::NoGeneratedChart { .. } => AdapterErrorKind::NotFound,
            Error::Repo { source, .. } => source.kind,
            Error::Spawn { .. } => AdapterErrorKind::Unavailable,
            Error::Timeout { .. } => AdapterErrorKind::Timeout,
            Error::Io { .. } | Error::Command { .. } | Error::Unexpected { .. } => {
                AdapterErrorKind::Failed
            }
        }
    }
}

impl From<Error> for AdapterError {
    fn from(error: Error) -> Self {
        let kind = error.kind();
        let message = error.to_string();
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = match error {
            Error::Repo { source, .. } => Some(Box::new(source)),
            Error::ManifestSyntax { source, .. }
            | Error::InvalidFile { source, .. }
            | Error::Yaml { source, .. } => Some(Box::new(source)),
            Error::Io { source, .. } | Error::Spawn { source, .. } => Some(Box::new(source)),
            _ => None,
        };
        AdapterError {
            kind,
            message,
            source,
        }
    }
}
