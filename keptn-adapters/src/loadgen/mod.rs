//! The built-in load runner: [`keptn_core::ports::TestRunner`] for machines without JMeter.
//!
//! For each test strategy a [`Workload`] says what to do, like a `workloads` entry of
//! jmeter-service's `jmeter/jmeter.conf.yaml`: how many virtual users, how many iterations or
//! for how long, the think time after each request, the requests (method, path, JSON body)
//! and the pass criteria. Virtual users are tokio tasks sharing one HTTP client (reqwest,
//! keep-alive); each sends its requests one after the other. Every response time goes into a
//! latency histogram (hdrhistogram, microsecond resolution), and the [`Stats`] of a run hold
//! the request count, the error count and rate, the average and p50/p90/p95/p99/max.
//!
//! Pass or fail is decided as jmeter-service decided it: a run fails
//! when `functional` had any failed request, when failed requests exceed
//! `accept_error_rate` × requests, or when an average response time limit is set and exceeded.
//! A request fails when it gets no answer within the request timeout or a status of 400 or
//! above. An empty test strategy passes without running anything. When a `healthcheck`
//! workload is configured it runs first for every other strategy, and a failing health check
//! fails the test without running the strategy's workload.
//!
//! The report's `start` and `end` are the wall-clock bounds of the strategy's workload (the
//! health check is not in them): they become the evaluation's timeframe.
//!
//! What it does not do: run JMeter plans (`.jmx`; see the JMeter adapter), speak anything but
//! plain HTTP/1.1 (no TLS), follow a ramp-up, or check response bodies.
//!
//! ```no_run
//! # async fn run() -> Result<(), keptn_adapters::loadgen::Error> {
//! use keptn_adapters::loadgen::{Config, LoadGen, Request, Workload};
//! let config = Config {
//!     workloads: vec![Workload {
//!         teststrategy: "performance".into(),
//!         virtual_users: Some(10),
//!         duration_seconds: Some(60.0),
//!         requests: vec![Request { path: "/carts/1/items".into(), ..Request::default() }],
//!         ..Workload::default()
//!     }],
//!     ..Config::default()
//! };
//! let loadgen = LoadGen::new(config.validate()?)?;
//! let run = loadgen.run_strategy("performance", "http://127.0.0.1:8080").await?;
//! println!("{}", run.report.message);
//! # Ok(()) }
//! ```

mod client;
mod config;
mod error;
#[cfg(test)]
mod tests;

pub use client::{LoadGen, Run, Stats};
pub use config::{
    Config, DEFAULT_ACCEPT_ERROR_RATE, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_THINK_TIME_MS,
    MAX_DURATION_SECONDS, MAX_VIRTUAL_USERS, MAX_WAIT_MS, Method, Request, ValidConfig,
    ValidRequest, ValidWorkload, Workload,
};
pub use error::Error;

/// The strategy that accepts no failed request.
pub const FUNCTIONAL: &str = "functional";
/// The strategy that runs before every other one when configured.
pub const HEALTHCHECK: &str = "healthcheck";
