//! The local platform's configuration (the `local` section of the service configuration).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

use super::Error;

/// The first router port tried when `router_base_port` is not set.
pub const DEFAULT_ROUTER_BASE_PORT: u16 = 18000;

/// Where `/metrics` listens when `telemetry_listen` is not set: just below the routers.
pub const DEFAULT_TELEMETRY_LISTEN: SocketAddr = SocketAddr::new(
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    DEFAULT_ROUTER_BASE_PORT - 1,
);

/// How many proxied requests each service's router remembers when `max_records` is not set.
pub const DEFAULT_MAX_RECORDS: usize = 1_000_000;

/// The fewest and most records a router may be told to keep.
const RECORDS_RANGE: std::ops::RangeInclusive<usize> = 1_000..=50_000_000;

/// How the local platform runs services, as written in the service configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory for the platform's state: `ports.json` (the router port of every service)
    /// and `logs/` (one log file per replica). Created when missing.
    pub state_dir: PathBuf,
    /// The first port tried for a service's router; each new project/stage/service gets the
    /// next free port from here upward and keeps it (remembered in `ports.json`). `0` gives
    /// every router an ephemeral port that is not remembered (tests). Default: 18000.
    #[serde(default)]
    pub router_base_port: Option<u16>,
    /// The address the routers listen on. Default: `127.0.0.1`. The URLs handed to tests
    /// use `127.0.0.1` when this is the unspecified address (`0.0.0.0`).
    #[serde(default)]
    pub bind: Option<IpAddr>,
    /// Where the Istio-named request metrics of every router are served as `GET /metrics`
    /// for Prometheus. Default: `127.0.0.1:17999`; port 0 picks a free one.
    #[serde(default)]
    pub telemetry_listen: Option<SocketAddr>,
    /// Directories searched for a `local.yaml` `command` without a `/`, before `PATH`.
    #[serde(default)]
    pub search_path: Vec<PathBuf>,
    /// How many proxied requests each service's router keeps for the embedded SLI provider
    /// (the oldest are dropped first; about 40 bytes each). Default: 1,000,000.
    #[serde(default)]
    pub max_records: Option<usize>,
}

/// A [`Config`] that passed [`Config::validate`], with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidConfig {
    pub(super) state_dir: PathBuf,
    pub(super) router_base_port: u16,
    pub(super) bind: IpAddr,
    pub(super) telemetry_listen: SocketAddr,
    pub(super) search_path: Vec<PathBuf>,
    pub(super) max_records: usize,
}

impl ValidConfig {
    /// The state directory.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.state_dir
    }

    /// The first router port (0: ephemeral ports).
    pub fn router_base_port(&self) -> u16 {
        self.router_base_port
    }

    /// The telemetry address as configured (port 0 before the platform starts).
    pub fn telemetry_listen(&self) -> SocketAddr {
        self.telemetry_listen
    }
}

impl Config {
    /// A configuration keeping its state in `state_dir`, with every default.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            router_base_port: None,
            bind: None,
            telemetry_listen: None,
            search_path: Vec::new(),
            max_records: None,
        }
    }

    /// A configuration for tests: ephemeral router and telemetry ports on loopback.
    pub fn ephemeral(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            router_base_port: Some(0),
            telemetry_listen: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)),
            ..Self::new(state_dir)
        }
    }

    /// Checks the configuration without touching the file system or the network, reports
    /// every problem at once, and applies the defaults.
    pub fn validate(&self) -> Result<ValidConfig, Error> {
        let mut problems = Vec::new();
        if self.state_dir.as_os_str().is_empty() {
            problems.push("state_dir: must not be empty".to_owned());
        }
        for (dir_idx, dir) in self.search_path.iter().enumerate() {
            if dir.as_os_str().is_empty() {
                problems.push(format!("search_path[{dir_idx}]: must not be empty"));
            }
        }
        let max_records = self.max_records.unwrap_or(DEFAULT_MAX_RECORDS);
        if !RECORDS_RANGE.contains(&max_records) {
            problems.push(format!(
                "max_records: '{max_records}' must be between {} and {}",
                RECORDS_RANGE.start(),
                RECORDS_RANGE.end()
            ));
        }
        if !problems.is_empty() {
            return Err(Error::Config { problems });
        }
        Ok(ValidConfig {
            state_dir: self.state_dir.clone(),
            router_base_port: self.router_base_port.unwrap_or(DEFAULT_ROUTER_BASE_PORT),
            bind: self.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            telemetry_listen: self.telemetry_listen.unwrap_or(DEFAULT_TELEMETRY_LISTEN),
            search_path: self.search_path.clone(),
            max_records,
        })
    }
}
