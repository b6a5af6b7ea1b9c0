//! The load runner's configuration: workloads per test strategy, like jmeter-service's
//! `jmeter/jmeter.conf.yaml`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::Error;

/// The most virtual users one workload may run.
pub const MAX_VIRTUAL_USERS: u32 = 10_000;
/// The longest a workload may run, in seconds (one day).
pub const MAX_DURATION_SECONDS: f64 = 86_400.0;
/// The longest request timeout and think time, in milliseconds (ten minutes).
pub const MAX_WAIT_MS: u64 = 600_000;

/// Default of [`Config::request_timeout_ms`].
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Default of [`Workload::think_time_ms`] (jmeter-service's `thinktime`).
pub const DEFAULT_THINK_TIME_MS: u64 = 250;
/// Default of [`Workload::accept_error_rate`] (jmeter-service's `acceptederrorrate`).
pub const DEFAULT_ACCEPT_ERROR_RATE: f64 = 0.1;

/// The load runner's configuration, as written in the service configuration.
///
/// ```yaml
/// request_timeout_ms: 10000
/// workloads:
///   - teststrategy: performance
///     virtual_users: 10
///     duration_seconds: 60
///     think_time_ms: 250
///     accept_error_rate: 0.1
///     avg_rt_limit_ms: 500
///     requests:
///       - { method: POST, path: /carts/1/items, body: { itemId: "03fef6ac", unitPrice: "99.99" } }
///       - { path: /carts/1/items }
/// ```
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// One workload per test strategy (`teststrategy` of the test task: `functional`,
    /// `performance`, `healthcheck` or your own). When a `healthcheck` workload exists it runs
    /// before every other strategy's workload, and a failing health check fails the test
    /// without running the strategy's workload, as jmeter-service did.
    #[serde(default)]
    pub workloads: Vec<Workload>,
    /// How long one request may take before it counts as an error, in milliseconds.
    /// Default 10000.
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
}

/// What the virtual users of one test strategy do; jmeter-service's `workloads` entry.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// The test strategy this workload runs for (jmeter-service's `teststrategy`).
    pub teststrategy: String,
    /// Concurrent virtual users (jmeter-service's `vuser`). Default 1.
    #[serde(default)]
    pub virtual_users: Option<u32>,
    /// Passes over `requests` per virtual user (jmeter-service's `loopcount`). Default 1 when
    /// `duration_seconds` is not set either; with both, the run stops at whichever comes first.
    #[serde(default)]
    pub iterations: Option<u64>,
    /// How long the virtual users keep going, in seconds. A request in flight when the time is
    /// up completes (within the request timeout); no new request starts.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    /// Pause of a virtual user after each request, in milliseconds (jmeter-service's
    /// `thinktime`). Default 250.
    #[serde(default)]
    pub think_time_ms: Option<u64>,
    /// The requests one iteration sends, in order, against the deployment's URL.
    #[serde(default)]
    pub requests: Vec<Request>,
    /// The share of failed requests (0 to 1) that still passes (jmeter-service's
    /// `acceptederrorrate`). Default 0.1. The `functional` strategy accepts no failed request
    /// whatever this says, as jmeter-service did.
    #[serde(default)]
    pub accept_error_rate: Option<f64>,
    /// The highest average response time that passes, in milliseconds (jmeter-service's
    /// `avgrtvalidation`). Default: no limit.
    #[serde(default)]
    pub avg_rt_limit_ms: Option<f64>,
}

/// One request of a workload. A request fails when it gets no answer in time or an answer
/// with status 400 or above.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE` or `HEAD`. Default `GET`.
    #[serde(default)]
    pub method: Option<String>,
    /// The path, starting with `/`, appended to the deployment's URL (`/carts/1/items`).
    pub path: String,
    /// A JSON body, sent with `content-type: application/json`.
    #[serde(default)]
    pub body: Option<Value>,
}

/// The HTTP methods a workload may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// HEAD.
    Head,
}

impl Method {
    const ALL: [(&'static str, Method); 6] = [
        ("GET", Method::Get),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("PATCH", Method::Patch),
        ("DELETE", Method::Delete),
        ("HEAD", Method::Head),
    ];

    fn parse(text: &str) -> Option<Method> {
        Method::ALL
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .map(|&(_, method)| method)
    }

    /// The method's name (`GET`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
        }
    }
}

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRequest {
    /// Method.
    pub method: Method,
    /// Path, starting with `/`.
    pub path: String,
    /// JSON body.
    pub body: Option<Value>,
}

/// A validated workload, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidWorkload {
    /// Test strategy.
    pub teststrategy: String,
    /// Concurrent virtual users, at least 1.
    pub virtual_users: u32,
    /// Iterations per virtual user; `None` only when `duration` is set.
    pub iterations: Option<u64>,
    /// How long the run may last.
    pub duration: Option<Duration>,
    /// Pause after each request.
    pub think_time: Duration,
    /// At least one request.
    pub requests: Vec<ValidRequest>,
    /// Accepted share of failed requests (0 for `functional`).
    pub accept_error_rate: f64,
    /// Highest passing average response time, in milliseconds.
    pub avg_rt_limit_ms: Option<f64>,
}

/// A [`Config`] that passed [`Config::validate`]: the only way to build a [`super::LoadGen`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidConfig {
    pub(super) workloads: BTreeMap<String, ValidWorkload>,
    pub(super) request_timeout: Duration,
}

impl ValidConfig {
    /// The workload of a test strategy.
    pub fn workload(&self, teststrategy: &str) -> Option<&ValidWorkload> {
        self.workloads.get(teststrategy)
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
}

impl Config {
    /// Checks the configuration and applies the defaults (documented on each field and in the
    /// `DEFAULT_*` constants): `virtual_users` 1, `iterations` 1 when no `duration_seconds`,
    /// `think_time_ms` 250, `method` GET, `accept_error_rate` 0.1 (0 for `functional`),
    /// `request_timeout_ms` 10000. Reports every problem, each with its path.
    pub fn validate(&self) -> Result<ValidConfig, Error> {
        let mut problems = Vec::new();
        let request_timeout_ms = self
            .request_timeout_ms
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS);
        if request_timeout_ms == 0 || request_timeout_ms > MAX_WAIT_MS {
            problems.push(format!(
                "request_timeout_ms: must be between 1 and {MAX_WAIT_MS}, got '{request_timeout_ms}'"
            ));
        }
        let mut workloads = BTreeMap::new();
        let mut first_index = BTreeMap::new();
        for (workload_idx, workload) in self.workloads.iter().enumerate() {
            let path = format!("workloads[{workload_idx}]");
            if let Some(first) = first_index.insert(workload.teststrategy.clone(), workload_idx) {
                problems.push(format!(
                    "{path}.teststrategy: '{}' has a workload already at workloads[{first}]",
                    workload.teststrategy
                ));
                first_index.insert(workload.teststrategy.clone(), first);
            }
            if let Some(valid) = validate_workload(&path, workload, &mut problems) {
                workloads.entry(valid.teststrategy.clone()).or_insert(valid);
            }
        }
        if problems.is_empty() {
            Ok(ValidConfig {
                workloads,
                request_timeout: Duration::from_millis(request_timeout_ms),
            })
        } else {
            Err(Error::Config { problems })
        }
    }
}

fn validate_workload(
    path: &str,
    workload: &Workload,
    problems: &mut Vec<String>,
) -> Option<ValidWorkload> {
    let n_problems = problems.len();
    let teststrategy = workload.teststrategy.trim();
    if teststrategy.is_empty() {
        problems.push(format!("{path}.teststrategy: must not be empty"));
    } else if teststrategy != workload.teststrategy {
        problems.push(format!(
            "{path}.teststrategy: '{}' has surrounding whitespace",
            workload.teststrategy
        ));
    }
    let virtual_users = workload.virtual_users.unwrap_or(1);
    if virtual_users == 0 || virtual_users > MAX_VIRTUAL_USERS {
        problems.push(format!(
            "{path}.virtual_users: must be between 1 and {MAX_VIRTUAL_USERS}, got '{virtual_users}'"
        ));
    }
    if workload.iterations == Some(0) {
        problems.push(format!("{path}.iterations: must be at least 1, got '0'"));
    }
    let duration = match workload.duration_seconds {
        None => None,
        Some(seconds)
            if seconds.is_finite() && seconds > 0.0 && seconds <= MAX_DURATION_SECONDS =>
        {
            Some(Duration::from_secs_f64(seconds))
        }
        Some(seconds) => {
            problems.push(format!(
                "{path}.duration_seconds: must be above 0 and at most {MAX_DURATION_SECONDS}, got '{seconds}'"
            ));
            None
        }
    };
    let iterations = match (workload.iterations, workload.duration_seconds) {
        (None, None) => Some(1),
        (iterations, _) => iterations,
    };
    let think_time_ms = workload.think_time_ms.unwrap_or(DEFAULT_THINK_TIME_MS);
    if think_time_ms > MAX_WAIT_MS {
        problems.push(format!(
            "{path}.think_time_ms: must be at most {MAX_WAIT_MS}, got '{think_time_ms}'"
        ));
    }
    if workload.requests.is_empty() {
        problems.push(format!("{path}.requests: must list at least one request"));
    }
    let mut requests = Vec::new();
    for (request_idx, request) in workload.requests.iter().enumerate() {
        let request_path = format!("{path}.requests[{request_idx}]");
        let method_text = request.method.as_deref().unwrap_or("GET");
        let method = Method::parse(method_text);
        if method.is_none() {
            problems.push(format!(
                "{request_path}.method: unknown method '{method_text}' (expected GET, POST, PUT, PATCH, DELETE or HEAD)"
            ));
        }
        if !request.path.starts_with('/') || request.path.chars().any(char::is_whitespace) {
            problems.push(format!(
                "{request_path}.path: '{}' must start with '/' and contain no whitespace",
                request.path
            ));
        }
        if let Some(method) = method {
            requests.push(ValidRequest {
                method,
                path: request.path.clone(),
                body: request.body.clone(),
            });
        }
    }
    let accept_error_rate = workload
        .accept_error_rate
        .unwrap_or(DEFAULT_ACCEPT_ERROR_RATE);
    if !(0.0..=1.0).contains(&accept_error_rate) {
        problems.push(format!(
            "{path}.accept_error_rate: must be between 0 and 1, got '{accept_error_rate}'"
        ));
    }
    if let Some(limit) = workload.avg_rt_limit_ms
        && !(limit.is_finite() && limit > 0.0)
    {
        problems.push(format!(
            "{path}.avg_rt_limit_ms: must be above 0, got '{limit}'"
        ));
    }
    if problems.len() > n_problems {
        return None;
    }
    Some(ValidWorkload {
        teststrategy: workload.teststrategy.clone(),
        virtual_users,
        iterations,
        duration,
        think_time: Duration::from_millis(think_time_ms),
        requests,
        // jmeter-service: a functional test passes only without errors.
        accept_error_rate: if workload.teststrategy == super::FUNCTIONAL {
            0.0
        } else {
            accept_error_rate
        },
        avg_rt_limit_ms: workload.avg_rt_limit_ms,
    })
}
