//! Apache JMeter as a [`keptn_core::ports::TestRunner`]: what Keptn's jmeter-service did for
//! `sh.keptn.event.test.triggered`, with the `jmeter` command.
//!
//! A test run ([`JMeter::run`]) takes the target URL, the test strategy, the workloads of
//! Keptn's `jmeter/jmeter.conf.yaml` ([`Workloads`], with jmeter-service's defaults for
//! `healthcheck`, `performance` and `functional`) and a [`PlanSource`] for the `.jmx` files.
//! An empty strategy passes without running; `real-user` is [`Outcome::NotHandled`] (the
//! caller sends nothing, as jmeter-service did). Otherwise the target must accept a TCP
//! connection (3 tries 5 s apart by default), the `healthcheck` workload runs, then the
//! strategy's. Each workload is one `jmeter -n` run in its own directory below the work
//! directory, with jmeter-service's properties (`PROTOCOL`, `SERVER_URL`, `SERVER_PORT`,
//! `CHECK_PATH`, `VUCount`, `LoopCount`, `ThinkTime`, `KEPTN_*`, ...) and the workload's own.
//! A workload whose script is not found is skipped and passes.
//!
//! Pass or fail follows jmeter-service ([`judge`]): a `functional` workload fails on any
//! failed sample; any workload fails when failed samples exceed `acceptederrorrate` (a
//! fraction: 0.1 is 10 %) times the samples, or when `avgrtvalidation` is set and the average
//! response time is above it. The numbers come from JMeter's results file (JTL, CSV with a
//! header), not from its exit code: Debian's JMeter 2.13 exits 0 when the plan does not load
//! and when every sample fails. No results, or none in them, is an error quoting the log
//! lines that say why; the `summary =` line of JMeter's output is kept in the [`Stats`].
//!
//! Debian's JMeter 2.13 needs two fixes to run at all: the package
//! `jmeter-http` next to `jmeter` (no HTTP sampler otherwise), and a converter that lifts
//! XStream 1.4.20's type allow-list, which otherwise refuses every plan. The runner builds
//! that converter once per work directory with `javac` and `jar` (package
//! default-jdk-headless) from the Java source shipped with this module, and registers it
//! through a copy of JMeter's `saveservice.properties` ([`JMeter::prepare`]). Debian's
//! `jmeter` itself depends on a JRE, libxstream-java, libbsh-java and about thirty more
//! Java libraries; `apt-get install -y jmeter jmeter-http default-jdk-headless` installs
//! everything.
//!
//! What it does not do: fetch other files a plan references (CSV data next to the plan);
//! run JMeter distributed or in GUI mode; report per-label statistics; write Dynatrace
//! headers (it only passes `DT_TENANT` and `DT_API_TOKEN` through when they are set in its
//! environment, as jmeter-service did); pick the target from a test.triggered event (the
//! caller gives the URL).
//!
//! ```no_run
//! # async fn run() -> Result<(), keptn_adapters::jmeter::Error> {
//! use std::collections::BTreeMap;
//! use keptn_adapters::jmeter::{Config, JMeter, Outcome, RunRequest, Workloads};
//! use keptn_core::ports::Scope;
//!
//! let jmeter = JMeter::new(Config::new("/var/lib/keptn/jmeter").validate()?);
//! let (workloads, _warnings) = Workloads::parse(
//!     "spec_version: '0.1.0'\nworkloads:\n  - { teststrategy: performance, vuser: 5, loopcount: 20, script: jmeter/load.jmx, acceptederrorrate: 0.1 }\n",
//! )?;
//! let mut plans = BTreeMap::new();
//! plans.insert("jmeter/load.jmx".to_owned(), std::fs::read("load.jmx").unwrap_or_default());
//! let outcome = jmeter
//!     .run(RunRequest {
//!         scope: Scope { project: "sockshop".into(), stage: "dev".into(), service: "carts".into() },
//!         strategy: "performance".into(),
//!         target: "http://127.0.0.1:8080".into(),
//!         workloads: &workloads,
//!         plans: &plans,
//!     })
//!     .await?;
//! if let Outcome::Tested(run) = outcome {
//!     println!("{}", run.report.message);
//! }
//! # Ok(()) }
//! ```

mod client;
mod config;
mod error;
mod jtl;
mod repo;
#[cfg(test)]
mod tests;
mod workloads;

pub use client::{
    DEFAULT_CHECK_PATH, FixFiles, JMeter, JMeterRunner, Outcome, PlanSource, Run, RunRequest,
    TargetProperties, XSTREAM_FIX_REGISTRATION, XSTREAM_FIX_SOURCE, judge,
};
pub use config::{
    Config, DEFAULT_CONNECT_TIMEOUT_SECONDS, DEFAULT_HEALTHCHECK_INTERVAL_SECONDS,
    DEFAULT_HEALTHCHECK_TRIES, DEFAULT_JMETER_HOME, DEFAULT_TIMEOUT_SECONDS, DEFAULT_XSTREAM_JAR,
    HealthcheckConfig, ValidConfig,
};
pub use error::Error;
pub use jtl::{Stats, Summary, last_summary_line, parse_jtl, parse_summary};
pub use repo::{RepoJMeter, WORKLOADS_FILE};
pub use workloads::{WORKLOADS_SPEC_VERSION, Workload, Workloads, default_workloads};

/// The strategy that runs before every other one (and whose workload checks the target).
pub const HEALTHCHECK: &str = "healthcheck";
/// The strategy that accepts no failed sample.
pub const FUNCTIONAL: &str = "functional";
/// The load test strategy.
pub const PERFORMANCE: &str = "performance";
/// The strategy jmeter-service ignored without answering (someone else tests with real users).
pub const REAL_USER: &str = "real-user";
