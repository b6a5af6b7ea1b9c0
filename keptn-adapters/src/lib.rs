//! keptn-adapters: one module per integration (Prometheus, JMeter, the local platform, Helm,
//! Istio, SQLite, PostgreSQL, NATS, git, ...), each implementing a trait of `keptn-core`, each
//! behind a cargo feature of the same name.
//!
//! - [`sqlite`] (feature `sqlite`): [`keptn_core::ports::Store`] on a SQLite file.
//! - [`git`] (feature `git`): [`keptn_core::ports::ConfigRepo`] on local git repositories
//!   (the git command-line tool), optionally pushed to an upstream.
//! - [`prometheus`] (feature `prometheus`): [`keptn_core::ports::SliProvider`] on the
//!   Prometheus HTTP API, with the queries of Keptn's `sli.yaml`.
//! - [`loadgen`] (feature `loadgen`): [`keptn_core::ports::TestRunner`] built in: virtual
//!   users sending HTTP requests, for machines without JMeter.
//! - [`jmeter`] (feature `jmeter`): [`keptn_core::ports::TestRunner`] on Apache JMeter with
//!   jmeter-service's workloads (`jmeter/jmeter.conf.yaml`).
//! - [`local`] (feature `local`): [`keptn_core::ports::Deployer`],
//!   [`keptn_core::ports::TrafficRouter`] and [`keptn_core::ports::SliProvider`] on local
//!   processes behind a weighted reverse proxy with Istio-named metrics.
//! - [`helm`] (feature `helm`): [`keptn_core::ports::Deployer`],
//!   [`keptn_core::ports::TrafficRouter`] and the `scaling` [`keptn_core::ports::ActionRunner`]
//!   on helm and kubectl, with Istio VirtualServices as helm-service generated them.
//! - [`actions`] (feature `actions`): remediation [`keptn_core::ports::ActionRunner`]s: a
//!   generic webhook (allow-listed hosts, secrets from the environment) and scripts.
//! - `testing` (feature `testing`): the contract checks of [`keptn_core::ports::Store`] and
//!   [`keptn_core::ports::ConfigRepo`] that every store and configuration repository runs.
//!
//! Invariant: adapters implement ports and never call the orchestrator; they hold no business
//! rules (scoring, sequencing).

#[cfg(feature = "actions")]
pub mod actions;
mod clock;
#[cfg(feature = "git")]
pub mod git;
#[cfg(feature = "helm")]
pub mod helm;
#[cfg(feature = "jmeter")]
pub mod jmeter;
#[cfg(feature = "loadgen")]
pub mod loadgen;
#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "prometheus")]
pub mod prometheus;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod state_rows;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(any(feature = "jmeter", feature = "prometheus"))]
mod yaml_value;
