//! SLI values from Prometheus: [`keptn_core::ports::SliProvider`] on the Prometheus HTTP API,
//! with the queries of Keptn's `sli.yaml` (what Keptn's prometheus-service did for
//! `get-sli.triggered`).
//!
//! For each requested indicator the adapter takes its query from the sli.yaml
//! ([`SliConfig`]), renders the placeholders with [`keptn_core::placeholder`] (`$PROJECT`,
//! `$STAGE`, `$SERVICE`, `$DEPLOYMENT`, `$DURATION_SECONDS`, `$LABEL.<key>`, and the SLO's
//! filters as `$<key>`/`$<KEY>`), and runs it as an instant query at the evaluation's end
//! (`GET /api/v1/query?query=...&time=<end>`). The result must be a vector with exactly one
//! sample or a scalar, with a finite value.
//!
//! One failing indicator is data, never an `Err`: an indicator missing from the sli.yaml, an
//! unknown placeholder (the query is not sent), an empty result ("no data"), several
//! samples, `NaN`/`±Inf`, a Prometheus error answer (4xx with its error JSON, 5xx), a
//! connection failure or a timeout each make that SLI `success: false` with the reason as its
//! message. Prometheus's query warnings go into the message of a successful SLI. The whole
//! call fails only for an invalid sli.yaml text ([`Prometheus::get_slis_with`]) or a
//! timeframe whose end is before its start.
//!
//! Unlike Keptn, which fetched the SLIs one by one, the queries of one request run
//! concurrently, at most `max_concurrency` at once, each bounded by `timeout_seconds` from
//! the moment it is sent (waiting for a free slot does not count).
//!
//! Where the sli.yaml comes from:
//! - [`Prometheus::get_slis_with`] takes the file's text (the service reads it from the
//!   config repo, at the sequence's commit), [`Prometheus::get_slis_for`] a parsed and, if
//!   wanted, merged [`SliConfig`] (project level [`SliConfig::overridden_by`] stage level
//!   overridden by service level, as Keptn merged them).
//! - [`RepoSli`] reads them from the configuration repository for each request: the
//!   project's, the stage's and the service's `prometheus/sli.yaml`, merged.
//! - The [`SliProvider`] implementation of [`Prometheus`] itself uses the indicators set for the request's project
//!   ([`Prometheus::set_project_sli`]), else those given at construction
//!   ([`Prometheus::with_sli`]); with neither, every SLI fails as not defined.
//!
//! What it does not do: Keptn's built-in default queries (`throughput`, `error_rate`,
//! `response_time_p50`... over a `job='<service>-<project>-<stage>-canary'` scrape job) are
//! not offered, since a query the user never wrote should not decide a quality gate; TLS and
//! credentials for Prometheus are not supported yet; `monitoring.configure` (scrape jobs,
//! alerting rules) and the Alertmanager webhook belong elsewhere.
//!
//! ```no_run
//! # async fn run() -> Result<(), keptn_adapters::prometheus::Error> {
//! use keptn_adapters::prometheus::{Config, Prometheus, SliConfig};
//! let (sli, _warnings) = SliConfig::parse(
//!     "spec_version: '1.0'\nindicators:\n  throughput: sum(rate(http_requests_total[$DURATION_SECONDS]))\n",
//! )?;
//! let prometheus = Prometheus::new(Config::new("http://127.0.0.1:9090").validate()?)?.with_sli(sli);
//! # drop(prometheus); Ok(()) }
//! ```

mod client;
mod config;
mod error;
mod repo;
pub mod rules;
mod sli;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use keptn_core::placeholder::{Placeholders, SliScope};
use keptn_core::ports::{AdapterError, SliProvider, SliRequest};
use keptn_slo::SliValue;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use client::QueryClient;
pub use config::{Config, DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT, ValidConfig};
pub use error::Error;
use error::failure_message;
pub use repo::{RepoSli, SLI_FILE};
pub use sli::{SLI_SPEC_VERSION, SliConfig};

/// `$DEPLOYMENT` when the request names no deployment and has no `deployment` label.
pub const DEFAULT_DEPLOYMENT: &str = "primary";

/// The Prometheus SLI provider. Cheap to clone: clones share the HTTP connection pool and the
/// per-project indicators.
#[derive(Debug, Clone)]
pub struct Prometheus {
    client: QueryClient,
    max_concurrency: usize,
    default_sli: Option<Arc<SliConfig>>,
    project_sli: Arc<RwLock<BTreeMap<String, Arc<SliConfig>>>>,
}

impl Prometheus {
    /// Creates the HTTP client. It does not contact Prometheus: an unreachable server shows
    /// up as failed SLIs.
    pub fn new(config: ValidConfig) -> Result<Self, Error> {
        Ok(Self {
            client: QueryClient::new(&config.url, config.timeout)?,
            max_concurrency: config.max_concurrency,
            default_sli: None,
            project_sli: Arc::new(RwLock::new(BTreeMap::new())),
        })
    }

    /// Uses `sli` for every project that has no indicators of its own.
    pub fn with_sli(mut self, sli: SliConfig) -> Self {
        self.default_sli = Some(Arc::new(sli));
        self
    }

    /// Sets (or replaces) the indicators of `project`, used by [`SliProvider::get_slis`].
    pub fn set_project_sli(&self, project: &str, sli: SliConfig) {
        self.project_sli
            .write()
            .expect("the project sli map is never left poisoned: no code panics holding it")
            .insert(project.to_owned(), Arc::new(sli));
    }

    /// Removes the indicators of `project`; it falls back to the default ones.
    pub fn remove_project_sli(&self, project: &str) {
        self.project_sli
            .write()
            .expect("the project sli map is never left poisoned: no code panics holding it")
            .remove(project);
    }

    /// The indicators [`SliProvider::get_slis`] uses for `project`.
    pub fn sli_for_project(&self, project: &str) -> Option<Arc<SliConfig>> {
        self.project_sli
            .read()
            .expect("the project sli map is never left poisoned: no code panics holding it")
            .get(project)
            .cloned()
            .or_else(|| self.default_sli.clone())
    }

    /// Parses `sli_yaml` (the text of an sli.yaml) and fetches the requested SLIs with it.
    /// Fails for an invalid file (every problem located) or an invalid timeframe; the file's
    /// warnings are dropped (call [`SliConfig::parse`] to see them).
    pub async fn get_slis_with(
        &self,
        sli_yaml: &str,
        request: &SliRequest,
    ) -> Result<Vec<SliValue>, Error> {
        let (sli, _warnings) = SliConfig::parse(sli_yaml)?;
        self.get_slis_for(&sli, request).await
    }

    /// Fetches the requested SLIs with the queries of `sli`, in request order. Fails only
    /// when the timeframe's end is before its start.
    pub async fn get_slis_for(
        &self,
        sli: &SliConfig,
        request: &SliRequest,
    ) -> Result<Vec<SliValue>, Error> {
        if request.end < request.start {
            return Err(Error::InvalidTimeframe {
                start: request.start.0,
                end: request.end.0,
            });
        }
        let placeholders = placeholders(request);
        let mut res: Vec<Option<SliValue>> = vec![None; request.indicators.len()];
        let slots = Arc::new(Semaphore::new(self.max_concurrency));
        let mut queries = JoinSet::new();
        for (indicator_idx, indicator) in request.indicators.iter().enumerate() {
            let query = match render(sli, &placeholders, indicator) {
                Ok(query) => query,
                Err(error) => {
                    res[indicator_idx] = Some(SliValue::failed(
                        indicator.as_str(),
                        failure_message(&error),
                    ));
                    continue;
                }
            };
            let client = self.client.clone();
            let slots = Arc::clone(&slots);
            let end = request.end;
            queries.spawn(async move {
                let _slot = slots
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                (indicator_idx, client.instant(&query, end).await)
            });
        }
        while let Some(joined) = queries.join_next().await {
            // A query task only ends by returning (they are not aborted, and a panic there
            // would be a bug): its slot below stays `None` and is reported as such.
            let Ok((indicator_idx, outcome)) = joined else {
                continue;
            };
            let indicator = &request.indicators[indicator_idx];
            res[indicator_idx] = Some(match outcome {
                Ok(sample) => {
                    let mut value = SliValue::new(indicator.as_str(), sample.value);
                    if !sample.warnings.is_empty() {
                        value.message =
                            format!("prometheus warning: {}", sample.warnings.join("; "));
                    }
                    value
                }
                Err(error) => SliValue::failed(indicator.as_str(), failure_message(&error)),
            });
        }
        Ok(res
            .into_iter()
            .zip(&request.indicators)
            .map(|(value, indicator)| {
                value.unwrap_or_else(|| {
                    SliValue::failed(
                        indicator.as_str(),
                        "the query task of this indicator panicked",
                    )
                })
            })
            .collect())
    }
}

/// The query of `indicator` with its placeholders rendered.
fn render(sli: &SliConfig, placeholders: &Placeholders, indicator: &str) -> Result<String, Error> {
    let template = sli
        .query(indicator)
        .ok_or_else(|| Error::IndicatorNotDefined {
            indicator: indicator.to_owned(),
        })?;
    placeholders
        .render(template)
        .map_err(|source| Error::Placeholder {
            indicator: indicator.to_owned(),
            source,
        })
}

/// The placeholder values of a request, as Keptn's prometheus-service set them: `$DEPLOYMENT` is the request's deployment,
/// else its `deployment` label, else `primary`; `$DURATION_SECONDS` is end - start rounded up
/// to whole seconds.
fn placeholders(request: &SliRequest) -> Placeholders {
    let deployment = Some(request.deployment.as_str())
        .filter(|deployment| !deployment.is_empty())
        .or_else(|| {
            request
                .labels
                .get("deployment")
                .map(String::as_str)
                .filter(|deployment| !deployment.is_empty())
        })
        .unwrap_or(DEFAULT_DEPLOYMENT);
    let duration_seconds = request.end.millis_since(request.start).div_ceil(1000);
    Placeholders::for_sli(&SliScope {
        project: &request.scope.project,
        stage: &request.scope.stage,
        service: &request.scope.service,
        deployment,
        duration_seconds,
        labels: &request.labels,
        custom_filters: &request.custom_filters,
    })
}

#[async_trait]
impl SliProvider for Prometheus {
    async fn get_slis(&self, request: &SliRequest) -> Result<Vec<SliValue>, AdapterError> {
        match self.sli_for_project(&request.scope.project) {
            Some(sli) => Ok(self.get_slis_for(&sli, request).await?),
            None => {
                let empty = SliConfig::default();
                let mut res = self.get_slis_for(&empty, request).await?;
                for value in &mut res {
                    value.message = format!(
                        "indicator '{}' is not defined: no sli.yaml for project '{}'",
                        value.metric, request.scope.project
                    );
                }
                Ok(res)
            }
        }
    }
}
