//! Errors of the built-in load runner.

use keptn_core::ports::{AdapterError, AdapterErrorKind};

/// A failure of the built-in load runner. A failing request is not an error: it counts
/// towards the run's error rate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; every problem is listed.
    #[error("invalid load runner configuration: {}", problems.join("; "))]
    Config {
        /// One entry per problem, each starting with its path (`workloads[1].virtual_users`).
        problems: Vec<String>,
    },
    /// No workload is configured for the requested test strategy.
    #[error("no workload for test strategy '{strategy}' (configured: {})", configured.join(", "))]
    UnknownStrategy {
        /// The requested strategy.
        strategy: String,
        /// The strategies that have a workload.
        configured: Vec<String>,
    },
    /// The target plus a request path is not an HTTP URL.
    #[error("invalid target url '{url}': {reason}")]
    InvalidTarget {
        /// The URL as joined from the target and the path.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the http client")]
    Client {
        /// Why.
        source: reqwest::Error,
    },
    /// A virtual user's task ended abnormally (a bug).
    #[error("virtual user {index} stopped abnormally")]
    VirtualUser {
        /// Which one, from 0.
        index: usize,
        /// Why.
        source: tokio::task::JoinError,
    },
}

impl Error {
    fn kind(&self) -> AdapterErrorKind {
        match self {
            Error::Config { .. } | Error::InvalidTarget { .. } => AdapterErrorKind::Invalid,
            Error::UnknownStrategy { .. } => AdapterErrorKind::NotFound,
            Error::Client { .. } | Error::VirtualUser { .. } => AdapterErrorKind::Failed,
        }
    }
}

impl From<Error> for AdapterError {
    fn from(error: Error) -> Self {
        let kind = error.kind();
        let message = error.to_string();
        // The message already says what failed; the source chain continues below it, so the
        // underlying error is not printed twice.
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = match error {
            Error::Client { source } => Some(Box::new(source)),
            Error::VirtualUser { source, .. } => Some(Box::new(source)),
            Error::Config { .. } | Error::UnknownStrategy { .. } | Error::InvalidTarget { .. } => {
                None
            }
        };
        AdapterError {
            kind,
            message,
            source,
        }
    }
}
