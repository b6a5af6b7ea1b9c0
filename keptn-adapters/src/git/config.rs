//! The git config repo's configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::Error;

/// How long one git command may run when `timeout_seconds` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where project configuration lives, as written in the service configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The directory that holds one bare git repository per project (`<base_dir>/<project>.git`),
    /// for example `/var/lib/keptn/config`. Created on first start.
    pub base_dir: PathBuf,
    /// The git executable. Default: `git`, looked up in `PATH`.
    #[serde(default)]
    pub git: Option<PathBuf>,
    /// How long one git command (a push included) may take, in seconds. Default: 60.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// A [`Config`] that passed [`Config::validate`], with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidConfig {
    pub(super) base_dir: PathBuf,
    pub(super) git: PathBuf,
    pub(super) timeout: Duration,
}

impl ValidConfig {
    /// The directory holding the project repositories.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }
}

impl Config {
    /// A configuration with repositories under `base_dir` and every default.
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_dir: base_dir.into(),
            git: None,
            timeout_seconds: None,
        }
    }

    /// Checks the configuration without touching the filesystem, reports every problem, and
    /// applies the defaults (`git` from `PATH`, a 60 s timeout).
    pub fn validate(&self) -> Result<ValidConfig, Error> {
        let mut problems = Vec::new();
        if self.base_dir.as_os_str().is_empty() {
            problems.push("base_dir: must not be empty".to_owned());
        }
        if self
            .git
            .as_ref()
            .is_some_and(|git| git.as_os_str().is_empty())
        {
            problems.push("git: must not be empty (leave it out to use 'git' from PATH)".into());
        }
        if self.timeout_seconds == Some(0) {
            problems.push("timeout_seconds: must be at least 1".to_owned());
        }
        if !problems.is_empty() {
            return Err(Error::Config { problems });
        }
        Ok(ValidConfig {
            base_dir: self.base_dir.clone(),
            git: self.git.clone().unwrap_or_else(|| PathBuf::from("git")),
            timeout: self
                .timeout_seconds
                .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
        })
    }
}
