//! The SQLite store's configuration.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Error;

/// Where the control plane keeps its state, as written in the service configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The database file, for example `/var/lib/keptn/keptn.db`. It and its parent directory
    /// are created on first start. SQLite keeps two companion files next to it while it runs
    /// (`-wal` and `-shm`); back up all three together, or stop the service first.
    pub path: PathBuf,
}

/// A [`Config`] that passed [`Config::validate`]: the only way to open a [`super::Sqlite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidConfig {
    path: PathBuf,
}

impl ValidConfig {
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Config {
    /// A configuration for the database file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Checks the configuration without touching the filesystem and reports every problem.
    pub fn validate(&self) -> Result<ValidConfig, Error> {
        let mut problems = Vec::new();
        let text = self.path.to_string_lossy();
        if text.is_empty() {
            problems.push("path: must not be empty".to_owned());
        } else if text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
            problems.push(format!("path: '{text}' names a directory, not a file"));
        } else if text == ":memory:" || text.starts_with("file:") || text.starts_with("sqlite:") {
            problems.push(format!(
                "path: '{text}' is a SQLite URL; give a file path (the store must be durable)"
            ));
        }
        if problems.is_empty() {
            Ok(ValidConfig {
                path: self.path.clone(),
            })
        } else {
            Err(Error::Config { problems })
        }
    }
}
