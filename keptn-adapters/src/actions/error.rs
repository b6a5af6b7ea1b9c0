//! Errors of the action runners. Messages never hold a secret: everything read from the
//! environment through `{{env.NAME}}` is replaced by `***` before an error is built.

use std::time::Duration;

use keptn_core::ports::{AdapterError, AdapterErrorKind};

/// A failure of the webhook or script action runner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; every problem is listed, each starting with its field.
    #[error("invalid action runner configuration: {}", problems.join("; "))]
    Config {
        /// One entry per problem.
        problems: Vec<String>,
    },
    /// The runner was asked to execute an action it does not handle.
    #[error("action '{action}' is not handled by this runner (it handles: {})", handled.join(", "))]
    NotHandled {
        /// The action's identifier.
        action: String,
        /// The actions it handles.
        handled: Vec<String>,
    },
    /// `{{env.NAME}}` names an environment variable that is not set.
    #[error("environment variable '{name}' used in the {field} template is not set")]
    MissingEnv {
        /// The variable.
        name: String,
        /// `url`, `body` or `headers.<name>`.
        field: String,
    },
    /// The rendered URL is not a valid URL.
    #[error("the rendered webhook url '{url}' is invalid: {reason}")]
    InvalidUrl {
        /// The URL, secrets redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// A rendered header value is not a valid HTTP header value.
    #[error(
        "the rendered value of header '{header}' is invalid (control characters or line breaks)"
    )]
    InvalidHeader {
        /// The header name.
        header: String,
    },
    /// The URL's host is not on the allow-list; no request was sent.
    #[error("host '{host}' is not in allowed_hosts [{}]; the request was not sent", allowed.join(", "))]
    HostNotAllowed {
        /// The host of the rendered URL.
        host: String,
        /// The allow-list.
        allowed: Vec<String>,
    },
    /// The HTTP client could not be built.
    #[error("cannot create the http client: {message}")]
    Client {
        /// Why.
        message: String,
    },
    /// The request could not be sent or its answer not read.
    #[error("webhook {method} '{url}' failed: {message}")]
    Request {
        /// The method.
        method: String,
        /// The URL, secrets redacted.
        url: String,
        /// Why, secrets redacted.
        message: String,
    },
    /// The webhook or the script did not finish in time.
    #[error("{what} did not finish within {timeout:?}")]
    Timeout {
        /// What ran (`webhook POST '<url>'`, `script 'scale.sh'`).
        what: String,
        /// The limit.
        timeout: Duration,
    },
    /// The webhook answered with a non-2xx status.
    #[error("webhook {method} '{url}' answered http {status}: '{body}'")]
    Status {
        /// The method.
        method: String,
        /// The URL, secrets redacted.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body, secrets redacted.
        body: String,
    },
    /// A script path leaves the base directory (`..`, an absolute path, a symlink out).
    #[error("script path '{path}' escapes the base directory '{base_dir}'")]
    PathEscape {
        /// The path as configured.
        path: String,
        /// The base directory.
        base_dir: String,
    },
    /// The script does not exist or cannot be started.
    #[error("cannot start script '{path}': {message}")]
    Spawn {
        /// The path as configured.
        path: String,
        /// Why.
        message: String,
    },
    /// The script exited unsuccessfully.
    #[error("script '{path}' exited with {}; output tail: '{output}'", match code { Some(code) => format!("code {code}"), None => "a signal".to_owned() })]
    Exit {
        /// The path as configured.
        path: String,
        /// The exit code (`None` when a signal ended it).
        code: Option<i32>,
        /// The last lines of its output.
        output: String,
    },
}

impl Error {
    fn kind(&self) -> AdapterErrorKind {
        match self {
            Error::Config { .. }
            | Error::NotHandled { .. }
            | Error::MissingEnv { .. }
            | Error::InvalidUrl { .. }
            | Error::InvalidHeader { .. }
            | Error::HostNotAllowed { .. }
            | Error::PathEscape { .. } => AdapterErrorKind::Invalid,
            Error::Request { .. } => AdapterErrorKind::Unavailable,
            Error::Timeout { .. } => AdapterErrorKind::Timeout,
            Error::Spawn { .. } => AdapterErrorKind::NotFound,
            Error::Client { .. } | Error::Status { .. } | Error::Exit { .. } => {
                AdapterErrorKind::Failed
            }
        }
    }
}

impl From<Error> for AdapterError {
    fn from(error: Error) -> Self {
        AdapterError::new(error.kind(), error.to_string())
    }
}
