//! [`LoadGen`]: the only file that sends HTTP requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hdrhistogram::Histogram;
use keptn_core::ports::{AdapterError, TestReport, TestRequest, TestRunner};
use reqwest::Url;
use tokio::task::JoinSet;

use super::config::{Method, ValidConfig, ValidWorkload};
use super::{Error, FUNCTIONAL, HEALTHCHECK};

/// The highest response time the histogram tells apart, in microseconds (one hour); slower
/// answers are recorded as this.
const HISTOGRAM_MAX_MICROS: u64 = 3_600_000_000;
/// Significant figures of the histogram (0.1 % precision).
const HISTOGRAM_FIGURES: u8 = 3;

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, HISTOGRAM_FIGURES)
        .expect("the histogram bounds are constants known to be valid")
}

use crate::clock::now;

/// The built-in load runner. Cheap to clone: clones share the HTTP client.
#[derive(Debug, Clone)]
pub struct LoadGen {
    config: Arc<ValidConfig>,
    client: reqwest::Client,
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// The test strategy.
    pub teststrategy: String,
    /// Virtual users.
    pub virtual_users: u32,
    /// Requests sent (answered or not).
    pub requests: u64,
    /// Failed requests (no answer in time, or status 400 and above).
    pub errors: u64,
    /// Wall-clock time from the first virtual user's start to the last one's end.
    pub elapsed: Duration,
    /// Average response time, milliseconds (exact).
    pub mean_ms: f64,
    /// Median response time, milliseconds (from the histogram, 0.1 % precision).
    pub p50_ms: f64,
    /// 90th percentile, milliseconds.
    pub p90_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Slowest response, milliseconds.
    pub max_ms: f64,
    /// The first failure seen, for the report (`GET /x answered 500`).
    pub first_error: Option<String>,
}

impl Stats {
    /// Failed requests as a share of all requests (0 when none was sent).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }

    /// Requests per second over the run.
    pub fn throughput(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.requests as f64 / seconds
        } else {
            0.0
        }
    }
}

/// The outcome of [`LoadGen::run_strategy`].
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// What the test task reports.
    pub report: TestReport,
    /// The strategy's measurements; `None` when nothing ran (empty strategy, failed health
    /// check).
    pub stats: Option<Stats>,
    /// The health check's measurements, when one ran.
    pub healthcheck: Option<Stats>,
    /// Why the run failed, one entry per broken criterion; empty when it passed.
    pub failures: Vec<String>,
}

/// One request, ready to send.
struct Prepared {
    method: reqwest::Method,
    url: Url,
    label: String,
    body: Option<serde_json::Value>,
}

/// What one virtual user measured.
struct Tally {
    histogram: Histogram<u64>,
    total_micros: u128,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
}

fn reqwest_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
        Method::Head => reqwest::Method::HEAD,
    }
}

fn prepare(workload: &ValidWorkload, target: &str) -> Result<Vec<Prepared>, Error> {
    workload
        .requests
        .iter()
        .map(|request| {
            let url = format!("{}{}", target.trim_end_matches('/'), request.path);
            let parsed = Url::parse(&url).map_err(|source| Error::InvalidTarget {
                url: url.clone(),
                reason: source.to_string(),
            })?;
            if parsed.scheme() != "http" {
                return Err(Error::InvalidTarget {
                    url,
                    reason: "only http:// is supported".to_owned(),
                });
            }
            Ok(Prepared {
                method: reqwest_method(request.method),
                url: parsed,
                label: format!("{} {}", request.method.as_str(), request.path),
                body: request.body.clone(),
            })
        })
        .collect()
}

/// Sends one request and reads the whole answer; `Err` describes a failure.
async fn send(client: &reqwest::Client, request: &Prepared) -> Result<(), String> {
    let mut builder = client.request(request.method.clone(), request.url.clone());
    if let Some(body) = &request.body {
        builder = builder.json(body);
    }
    let response = builder
        .send()
        .await
        .map_err(|error| format!("{} failed: {error}", request.label))?;
    let status = response.status();
    // The response time includes the body, as JMeter measures it.
    let body = response.bytes().await;
    if status.as_u16() >= 400 {
        return Err(format!("{} answered {}", request.label, status.as_u16()));
    }
    body.map(drop)
        .map_err(|error| format!("{} body failed: {error}", request.label))
}

async fn virtual_user(
    client: reqwest::Client,
    requests: Arc<Vec<Prepared>>,
    iterations: u64,
    deadline: Option<Instant>,
    think_time: Duration,
) -> Tally {
    let mut tally = Tally {
        histogram: new_histogram(),
        total_micros: 0,
        requests: 0,
        errors: 0,
        first_error: None,
    };
    let time_left = |deadline: Option<Instant>| match deadline {
        None => Some(Duration::MAX),
        Some(deadline) => deadline.checked_duration_since(Instant::now()),
    };
    // Bounded: `iterations` is finite, or the deadline ends the loop (validation sets one).
    'run: for _ in 0..iterations {
        for request in requests.iter() {
            if time_left(deadline).is_none_or(|left| left.is_zero()) {
                break 'run;
            }
            let started = Instant::now();
            let outcome = send(&client, request).await;
            let micros = started.elapsed().as_micros();
            tally.total_micros += micros;
            tally
                .histogram
                .saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
            tally.requests += 1;
            if let Err(error) = outcome {
                tally.errors += 1;
                tally.first_error.get_or_insert(error);
            }
            if !think_time.is_zero() {
                let Some(left) = time_left(deadline) else {
                    break 'run;
                };
                tokio::time::sleep(think_time.min(left)).await;
            }
        }
    }
    tally
}

fn millis(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}

impl LoadGen {
    /// Builds the runner and its HTTP client.
    pub fn new(config: ValidConfig) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|source| Error::Client { source })?;
        Ok(Self {
            config: Arc::new(config),
            client,
        })
    }

    /// Runs one workload against `target` and measures it.
    pub async fn run_workload(
        &self,
        workload: &ValidWorkload,
        target: &str,
    ) -> Result<Stats, Error> {
        let requests = Arc::new(prepare(workload, target)?);
        let started = Instant::now();
        let deadline = workload.duration.map(|duration| started + duration);
        let iterations = workload.iterations.unwrap_or(u64::MAX);
        let mut tasks = JoinSet::new();
        let mut indexes = Vec::new();
        for user_idx in 0..workload.virtual_users {
            let handle = tasks.spawn(virtual_user(
                self.client.clone(),
                Arc::clone(&requests),
                iterations,
                deadline,
                workload.think_time,
            ));
            indexes.push((handle.id(), user_idx as usize));
        }
        let mut histogram = new_histogram();
        let mut total_micros = 0_u128;
        let mut n_requests = 0;
        let mut errors = 0;
        let mut first_error = None;
        while let Some(joined) = tasks.join_next_with_id().await {
            let (_, tally) = joined.map_err(|source| {
                let index = indexes
                    .iter()
                    .find(|(id, _)| *id == source.id())
                    .map_or(0, |&(_, index)| index);
                Error::VirtualUser { index, source }
            })?;
            histogram
                .add(&tally.histogram)
                .expect("every virtual user's histogram has the same bounds");
            total_micros += tally.total_micros;
            n_requests += tally.requests;
            errors += tally.errors;
            if first_error.is_none() {
                first_error = tally.first_error;
            }
        }
        let elapsed = started.elapsed();
        let mean_ms = if n_requests == 0 {
            0.0
        } else {
            total_micros as f64 / n_requests as f64 / 1_000.0
        };
        Ok(Stats {
            teststrategy: workload.teststrategy.clone(),
            virtual_users: workload.virtual_users,
            requests: n_requests,
            errors,
            elapsed,
            mean_ms,
            p50_ms: millis(histogram.value_at_quantile(0.50)),
            p90_ms: millis(histogram.value_at_quantile(0.90)),
            p95_ms: millis(histogram.value_at_quantile(0.95)),
            p99_ms: millis(histogram.value_at_quantile(0.99)),
            max_ms: millis(histogram.max()),
            first_error,
        })
    }

    /// Runs the workload of `teststrategy` against `target` (the deployment's URL, e.g.
    /// `http://127.0.0.1:8080`), after the health check when one is configured, and decides
    /// pass or fail.
    pub async fn run_strategy(&self, teststrategy: &str, target: &str) -> Result<Run, Error> {
        if teststrategy.is_empty() {
            let at = now();
            return Ok(Run {
                report: TestReport {
                    passed: true,
                    start: at,
                    end: at,
                    message: "no test strategy: nothing to run".to_owned(),
                },
                stats: None,
                healthcheck: None,
                failures: Vec::new(),
            });
        }
        let workload =
            self.config
                .workload(teststrategy)
                .ok_or_else(|| Error::UnknownStrategy {
                    strategy: teststrategy.to_owned(),
                    configured: self.config.workloads.keys().cloned().collect(),
                })?;
        let mut healthcheck = None;
        if teststrategy != HEALTHCHECK
            && let Some(check) = self.config.workload(HEALTHCHECK)
        {
            let start = now();
            let stats = self.run_workload(check, target).await?;
            let end = now();
            let failures = failures(check, &stats);
            if !failures.is_empty() {
                return Ok(Run {
                    report: TestReport {
                        passed: false,
                        start,
                        end,
                        message: format!(
                            "health check failed, {teststrategy} not run: {}",
                            summary(&stats, &failures)
                        ),
                    },
                    stats: None,
                    healthcheck: Some(stats),
                    failures,
                });
            }
            healthcheck = Some(stats);
        }
        let start = now();
        let stats = self.run_workload(workload, target).await?;
        let end = now();
        let failures = failures(workload, &stats);
        Ok(Run {
            report: TestReport {
                passed: failures.is_empty(),
                start,
                end,
                message: summary(&stats, &failures),
            },
            stats: Some(stats),
            healthcheck,
            failures,
        })
    }
}

/// jmeter-service's criteria, one entry per broken one.
fn failures(workload: &ValidWorkload, stats: &Stats) -> Vec<String> {
    let mut res = Vec::new();
    if stats.requests == 0 {
        res.push("no request was sent".to_owned());
        return res;
    }
    if workload.teststrategy == FUNCTIONAL && stats.errors > 0 {
        res.push(format!(
            "{} of {} requests failed; a functional test accepts none",
            stats.errors, stats.requests
        ));
    } else if stats.errors as f64 > workload.accept_error_rate * stats.requests as f64 {
        res.push(format!(
            "error rate {:.2} % is above the accepted {:.2} %",
            stats.error_rate() * 100.0,
            workload.accept_error_rate * 100.0
        ));
    }
    if let Some(limit) = workload.avg_rt_limit_ms
        && stats.mean_ms > limit
    {
        res.push(format!(
            "average response time {:.1} ms is above the limit of {limit} ms",
            stats.mean_ms
        ));
    }
    res
}

fn summary(stats: &Stats, failures: &[String]) -> String {
    let mut res = format!(
        "{}: {} requests by {} virtual users in {:.2} s ({:.1}/s), {} failed ({:.2} %); \
         response time avg {:.1} ms, p50 {:.1} ms, p90 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, \
         max {:.1} ms",
        stats.teststrategy,
        stats.requests,
        stats.virtual_users,
        stats.elapsed.as_secs_f64(),
        stats.throughput(),
        stats.errors,
        stats.error_rate() * 100.0,
        stats.mean_ms,
        stats.p50_ms,
        stats.p90_ms,
        stats.p95_ms,
        stats.p99_ms,
        stats.max_ms,
    );
    if let Some(error) = &stats.first_error {
        res.push_str(&format!("; first failure: {error}"));
    }
    if failures.is_empty() {
        res.push_str("; passed");
    } else {
        res.push_str(&format!("; failed: {}", failures.join("; ")));
    }
    res
}

#[async_trait]
impl TestRunner for LoadGen {
    async fn run(&self, request: &TestRequest) -> Result<TestReport, AdapterError> {
        let run = self
            .run_strategy(&request.strategy, &request.target)
            .await?;
        Ok(run.report)
    }
}
