//! Errors of the Prometheus SLI provider.
//!
//! Most of these never leave the adapter as an `Err`: a query that fails becomes that SLI's
//! `success: false` value, with [`failure_message`] as its message. Only an invalid
//! configuration, an invalid `sli.yaml` and an invalid timeframe fail a whole call.

use std::time::Duration;

use keptn_core::Diagnostic;
use keptn_core::ports::{AdapterError, AdapterErrorKind};

/// A failure of the Prometheus SLI provider.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; every problem is listed.
    #[error("invalid prometheus configuration: {}", problems.join("; "))]
    Config {
        /// One entry per problem, each starting with the field name.
        problems: Vec<String>,
    },
    /// The HTTP client could not be built.
    #[error("cannot create the http client for prometheus")]
    Client {
        /// Why.
        source: reqwest::Error,
    },
    /// The `sli.yaml` does not parse or validate; `diagnostics` holds every error and warning.
    #[error("invalid sli.yaml: {}", first_error(diagnostics))]
    InvalidSli {
        /// All findings, located.
        diagnostics: Vec<Diagnostic>,
    },
    /// The request's end lies before its start.
    #[error("invalid timeframe: end {end} ms is before start {start} ms")]
    InvalidTimeframe {
        /// Start, in milliseconds since the epoch.
        start: u64,
        /// End, in milliseconds since the epoch.
        end: u64,
    },
    /// The requested indicator has no query in the sli.yaml.
    #[error("indicator '{indicator}' is not defined in sli.yaml")]
    IndicatorNotDefined {
        /// The SLI name.
        indicator: String,
    },
    /// The query uses a placeholder that has no value; it was not sent.
    #[error("cannot render the query of indicator '{indicator}'")]
    Placeholder {
        /// The SLI name.
        indicator: String,
        /// Which placeholder.
        source: keptn_core::Error,
    },
    /// Prometheus could not be reached or the connection broke.
    #[error("cannot query prometheus at '{url}'")]
    Request {
        /// The query endpoint.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The query did not finish in time.
    #[error("query '{query}' did not finish within {timeout:?}")]
    Timeout {
        /// The rendered query.
        query: String,
        /// The limit.
        timeout: Duration,
    },
    /// Prometheus answered with its error JSON (`status: error`).
    #[error("prometheus rejected query '{query}' (http {status}, {error_type}): {message}")]
    Rejected {
        /// The rendered query.
        query: String,
        /// The HTTP status.
        status: u16,
        /// Prometheus's `errorType` (`bad_data`, `timeout`, `execution`, ...).
        error_type: String,
        /// Prometheus's `error`.
        message: String,
    },
    /// An HTTP error answer that is not Prometheus's error JSON (a proxy in between, a
    /// server that is not Prometheus).
    #[error("http {status} from prometheus for query '{query}': '{body}'")]
    Http {
        /// The rendered query.
        query: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// A success answer that is not the Prometheus query API's JSON.
    #[error("unexpected answer from prometheus for query '{query}': {reason}")]
    InvalidResponse {
        /// The rendered query.
        query: String,
        /// What is wrong.
        reason: String,
    },
    /// The query returned an empty vector.
    #[error("no data: query '{query}' returned no samples")]
    NoData {
        /// The rendered query.
        query: String,
    },
    /// The query returned more than one sample.
    #[error(
        "query '{query}' returned {n_samples} samples, expected exactly one (aggregate it, e.g. with sum(...))"
    )]
    SeveralSamples {
        /// The rendered query.
        query: String,
        /// How many samples came back.
        n_samples: usize,
    },
    /// The value is NaN or infinite.
    #[error("query '{query}' returned '{value}', not a finite number")]
    NotFinite {
        /// The rendered query.
        query: String,
        /// The value as Prometheus wrote it (`NaN`, `+Inf`, `-Inf`).
        value: String,
    },
    /// The query returned a range vector or a string.
    #[error(
        "query '{query}' returned a {result_type}, expected an instant vector with one sample or a scalar"
    )]
    UnsupportedResult {
        /// The rendered query.
        query: String,
        /// Prometheus's `resultType` (`matrix`, `string`, ...).
        result_type: String,
    },
}

impl Error {
    fn kind(&self) -> AdapterErrorKind {
        match self {
            Error::Config { .. }
            | Error::InvalidSli { .. }
            | Error::InvalidTimeframe { .. }
            | Error::Placeholder { .. }
            | Error::Rejected { .. }
            | Error::UnsupportedResult { .. }
            | Error::SeveralSamples { .. } => AdapterErrorKind::Invalid,
            Error::IndicatorNotDefined { .. } | Error::NoData { .. } => AdapterErrorKind::NotFound,
            Error::Request { .. } => AdapterErrorKind::Unavailable,
            Error::Timeout { .. } => AdapterErrorKind::Timeout,
            Error::Client { .. }
            | Error::Http { .. }
            | Error::InvalidResponse { .. }
            | Error::NotFinite { .. } => AdapterErrorKind::Failed,
        }
    }
}

impl From<Error> for AdapterError {
    fn from(error: Error) -> Self {
        let kind = error.kind();
        let message = error.to_string();
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = match error {
            Error::Client { source } | Error::Request { source, .. } => Some(Box::new(source)),
            Error::Placeholder { source, .. } => Some(Box::new(source)),
            _ => None,
        };
        AdapterError {
            kind,
            message,
            source,
        }
    }
}

/// The message of a failed SLI: the error and its sources, joined with `": "`.
pub(super) fn failure_message(error: &Error) -> String {
    let mut res = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        // reqwest repeats parts of its chain; skip a cause already spelled out.
        if !res.contains(&text) {
            res.push_str(": ");
            res.push_str(&text);
        }
        source = cause.source();
    }
    res
}

fn first_error(diagnostics: &[Diagnostic]) -> String {
    let n_errors = diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.severity == keptn_core::Severity::Error)
        .count();
    match diagnostics
        .iter()
        .find(|diagnostic| diagnostic.severity == keptn_core::Severity::Error)
    {
        Some(first) if n_errors > 1 => format!("{first} (and {} more)", n_errors - 1),
        Some(first) => first.to_string(),
        None => "no errors".to_owned(),
    }
}
