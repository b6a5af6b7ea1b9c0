//! Integration tests of keptn-adapters against real tools, started by the tests on loopback.
//!
//! A missing tool skips its test on a developer machine and fails it under `CI=true`; every
//! test prints which real tool it used.

#[cfg(feature = "prometheus")]
mod alerting;
#[cfg(feature = "jmeter")]
mod jmeter;
#[cfg(feature = "local")]
mod local;
#[cfg(feature = "prometheus")]
mod prometheus;
