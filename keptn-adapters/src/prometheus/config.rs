//! The Prometheus SLI provider's configuration.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use super::Error;

/// How long one SLI query may take when `timeout_seconds` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many SLI queries of one evaluation run at once when `max_concurrency` is not set: a
/// typical SLO (sockshop's has 4 to 10 SLIs) is fetched in one round, and it is half of what
/// Prometheus itself runs at once by default (`--query.max-concurrency=20`).
pub const DEFAULT_MAX_CONCURRENCY: usize = 10;

/// The most queries of one evaluation that may run at once.
const MAX_CONCURRENCY_LIMIT: usize = 256;

/// The longest timeout accepted, in seconds (one hour).
const MAX_TIMEOUT_SECONDS: f64 = 3600.0;

/// Where Prometheus is and how it is queried, as written in the service configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Prometheus server, for example `http://prometheus.monitoring:9090`. A path is kept
    /// as a prefix (`http://host/prometheus` for a server started with
    /// `--web.route-prefix=/prometheus`). Plain `http` only: this build has no TLS.
    pub url: String,
    /// How long one SLI query may take, in seconds (fractions allowed), from sending the
    /// request to reading the whole answer. It is also sent to Prometheus as the query's
    /// `timeout`, so Prometheus stops evaluating a query nobody waits for. A query that runs
    /// out of time makes that SLI fail; the others are unaffected. Default: 30.
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
    /// How many SLI queries of one evaluation run at the same time. Default: 10.
    #[serde(default)]
    pub max_concurrency: Option<usize>,
}

/// A [`Config`] that passed [`Config::validate`], with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidConfig {
    pub(super) url: Url,
    pub(super) timeout: Duration,
    pub(super) max_concurrency: usize,
}

impl ValidConfig {
    /// The Prometheus server.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// How long one SLI query may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many queries of one evaluation run at once.
    pub fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }
}

impl Config {
    /// A configuration for the server at `url` with every default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout_seconds: None,
            max_concurrency: None,
        }
    }

    /// Checks the configuration without touching the network, reports every problem at
    /// once, and applies the defaults (a 30 s timeout, 10 queries at once).
    pub fn validate(&self) -> Result<ValidConfig, Error> {
        let mut problems = Vec::new();
        let url = match Url::parse(&self.url) {
            Ok(url) => {
                if url.scheme() != "http" {
                    let reason = if url.scheme() == "https" {
                        "https is not supported by this build (no TLS); use http"
                    } else {
                        "must start with http://"
                    };
                    problems.push(format!("url: '{}' {reason}", self.url));
                }
                if url.host_str().is_none_or(str::is_empty) {
                    problems.push(format!("url: '{}' has no host", self.url));
                }
                if url.query().is_some() || url.fragment().is_some() {
                    problems.push(format!(
                        "url: '{}' must not have a query or a fragment",
                        self.url
                    ));
                }
                if !url.username().is_empty() || url.password().is_some() {
                    problems.push(format!(
                        "url: '{}' must not hold credentials",
                        redact_credentials(&url)
                    ));
                }
                Some(url)
            }
            Err(error) => {
                problems.push(format!("url: '{}' is not a valid url ({error})", self.url));
                None
            }
        };
        let timeout = match self.timeout_seconds {
            None => DEFAULT_TIMEOUT,
            Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
                if seconds > MAX_TIMEOUT_SECONDS {
                    problems.push(format!(
                        "timeout_seconds: '{seconds}' is more than {MAX_TIMEOUT_SECONDS}"
                    ));
                    DEFAULT_TIMEOUT
                } else {
                    Duration::from_secs_f64(seconds)
                }
            }
            Some(seconds) => {
                problems.push(format!(
                    "timeout_seconds: '{seconds}' must be a number greater than 0"
                ));
                DEFAULT_TIMEOUT
            }
        };
        let max_concurrency = self.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
        if !(1..=MAX_CONCURRENCY_LIMIT).contains(&max_concurrency) {
            problems.push(format!(
                "max_concurrency: '{max_concurrency}' must be between 1 and {MAX_CONCURRENCY_LIMIT}"
            ));
        }
        match url {
            Some(url) if problems.is_empty() => Ok(ValidConfig {
                url,
                timeout,
                max_concurrency,
            }),
            _ => Err(Error::Config { problems }),
        }
    }
}

/// The url with user and password replaced, for messages.
fn redact_credentials(url: &Url) -> String {
    let mut res = url.clone();
    // Both only fail for urls that cannot have credentials, which this one has.
    let _ = res.set_username("***");
    let _ = res.set_password(None);
    res.to_string()
}
