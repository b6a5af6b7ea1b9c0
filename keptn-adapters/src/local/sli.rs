//! The embedded SLI provider: [`keptn_core::ports::SliProvider`] on the requests the local
//! routers recorded, without Prometheus.
//!
//! A request counts when it completed inside the window `[start, end]` (both inclusive,
//! milliseconds) and, when the request names a deployment (`primary`, `canary`, `direct`),
//! when that deployment answered it; an empty deployment counts every request.
//!
//! Indicators ([`SUPPORTED_INDICATORS`]): `throughput` (requests per second over the
//! window's length), `error_rate` (percent of responses with a status of 500 or above),
//! `response_time_p50`, `_p90`, `_p95`, `_p99` (milliseconds, nearest-rank percentiles of the
//! exact durations: the smallest duration that at least that percent of requests did not
//! exceed), `response_time_avg` (milliseconds) and `request_count`.
//!
//! One failing indicator is data: an unknown name, a window without requests (every
//! indicator fails then, `request_count` included: no traffic is no evidence), a zero-length
//! window for `throughput`, an unknown deployment name or a scope nothing was deployed to.
//! The whole call fails only when the window ends before it starts.
//!
//! What it does not do: read `sli.yaml` queries or custom filters (use the Prometheus
//! provider on the telemetry endpoint for those), or see requests older than the router's
//! ring of records.

use async_trait::async_trait;
use keptn_core::ports::{AdapterError, SliProvider, SliRequest};
use keptn_slo::SliValue;

use super::router::{Record, lock};
use super::spec::DeploymentKind;
use super::{Error, LocalPlatform};

/// The indicators the embedded provider computes.
pub const SUPPORTED_INDICATORS: [&str; 8] = [
    "throughput",
    "error_rate",
    "response_time_p50",
    "response_time_p90",
    "response_time_p95",
    "response_time_p99",
    "response_time_avg",
    "request_count",
];

/// The embedded SLI provider of a [`LocalPlatform`] (see [`LocalPlatform::sli_provider`]).
#[derive(Debug, Clone)]
pub struct EmbeddedSli {
    pub(super) platform: LocalPlatform,
}

/// Which requests of a router an SLI request looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First millisecond (inclusive).
    pub start_ms: u64,
    /// Last millisecond (inclusive).
    pub end_ms: u64,
    /// Only this deployment's requests; `None` for all.
    pub deployment: Option<DeploymentKind>,
}

/// The values of `indicators` over the `records` inside `window`, in order.
pub fn compute<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    window: Window,
    indicators: &[String],
) -> Vec<SliValue> {
    let mut durations: Vec<f64> = Vec::new();
    let mut n_errors = 0u64;
    for record in records {
        let in_window = (window.start_ms..=window.end_ms).contains(&record.time_ms);
        let in_deployment = window
            .deployment
            .is_none_or(|deployment| deployment == record.deployment);
        if in_window && in_deployment {
            durations.push(record.duration_ms);
            if record.status >= 500 {
                n_errors += 1;
            }
        }
    }
    durations.sort_by(f64::total_cmp);
    let n_requests = durations.len();
    let window_seconds = (window.end_ms - window.start_ms) as f64 / 1000.0;
    indicators
        .iter()
        .map(|indicator| {
            if !SUPPORTED_INDICATORS.contains(&indicator.as_str()) {
                return SliValue::failed(
                    indicator.as_str(),
                    format!(
                        "indicator '{indicator}' is not supported by the embedded sli provider (supported: {})",
                        SUPPORTED_INDICATORS.join(", ")
                    ),
                );
            }
            if n_requests == 0 {
                return SliValue::failed(
                    indicator.as_str(),
                    format!(
                        "no requests in the window [{}, {}] ms{}",
                        window.start_ms,
                        window.end_ms,
                        window
                            .deployment
                            .map(|deployment| format!(" for deployment '{deployment}'"))
                            .unwrap_or_default()
                    ),
                );
            }
            let value = match indicator.as_str() {
                "throughput" if window_seconds <= 0.0 => {
                    return SliValue::failed(
                        indicator.as_str(),
                        "the window has zero length: no rate per second",
                    );
                }
                "throughput" => n_requests as f64 / window_seconds,
                "error_rate" => n_errors as f64 * 100.0 / n_requests as f64,
                "response_time_p50" => percentile(&durations, 50.0),
                "response_time_p90" => percentile(&durations, 90.0),
                "response_time_p95" => percentile(&durations, 95.0),
                "response_time_p99" => percentile(&durations, 99.0),
                "response_time_avg" => durations.iter().sum::<f64>() / n_requests as f64,
                // "request_count", the last supported name.
                _ => n_requests as f64,
            };
            SliValue::new(indicator.as_str(), value)
        })
        .collect()
}

/// The nearest-rank percentile of sorted, non-empty `values`.
fn percentile(sorted: &[f64], percent: f64) -> f64 {
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl EmbeddedSli {
    /// The values of the request's indicators, in order.
    pub fn get(&self, request: &SliRequest) -> Result<Vec<SliValue>, Error> {
        if request.end < request.start {
            return Err(Error::InvalidTimeframe {
                start: request.start.0,
                end: request.end.0,
            });
        }
        let fail_all = |message: String| {
            request
                .indicators
                .iter()
                .map(|indicator| SliValue::failed(indicator.as_str(), message.clone()))
                .collect()
        };
        let deployment = match request.deployment.as_str() {
            "" => None,
            name => match DeploymentKind::parse(name) {
                Some(kind) => Some(kind),
                None => {
                    return Ok(fail_all(format!(
                        "unknown deployment '{name}' (expected primary, canary, direct or empty for all)"
                    )));
                }
            },
        };
        let Some(router) = self.platform.router(&request.scope) else {
            let scope = &request.scope;
            return Ok(fail_all(format!(
                "no requests: nothing was deployed for service '{}' in stage '{}' of project '{}' on the local platform",
                scope.service, scope.stage, scope.project
            )));
        };
        let window = Window {
            start_ms: request.start.0,
            end_ms: request.end.0,
            deployment,
        };
        let recorded = lock(&router.recorded);
        Ok(compute(&recorded.records, window, &request.indicators))
    }
}

#[async_trait]
impl SliProvider for EmbeddedSli {
    async fn get_slis(&self, request: &SliRequest) -> Result<Vec<SliValue>, AdapterError> {
        Ok(self.get(request)?)
    }
}
