//! The PostgreSQL store's configuration.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;

use super::Error;

/// Connections in the pool when the configuration does not say.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

fn default_max_connections() -> u32 {
    DEFAULT_MAX_CONNECTIONS
}

/// Where the control plane keeps its state, as written in the service configuration.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The database, as a URL: `postgres://user:password@host:5432/keptn`. It must name the
    /// database, which must exist; the store creates its tables in it (in the first schema of
    /// the connection's `search_path`, normally `public`). Any libpq-style parameter sqlx
    /// understands may follow (`?sslmode=require`).
    pub url: String,
    /// Connections in the pool (default [`DEFAULT_MAX_CONNECTIONS`]).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

impl fmt::Debug for Config {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password.
        formatter
            .debug_struct("Config")
            .field("url", &redact(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// A [`Config`] that passed [`Config::validate`]: the only way to open a [`super::Postgres`].
#[derive(Clone)]
pub struct ValidConfig {
    options: PgConnectOptions,
    database: String,
    max_connections: u32,
}

impl fmt::Debug for ValidConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ValidConfig")
            .field("database", &self.database)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl ValidConfig {
    /// The database as `host:port/name`, without user or password (for messages).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Connections in the pool.
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    pub(super) fn options(&self) -> &PgConnectOptions {
        &self.options
    }
}

/// `url` with the password, if any, replaced by `***`.
pub(super) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl Config {
    /// A configuration for the database at `url`, with the default pool size.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// Checks the configuration without connecting and reports every problem.
    pub fn validate(&self) -> Result<ValidConfig, Error> {
        let mut problems = Vec::new();
        let url = self.url.trim();
        let mut parsed = None;
        if url.is_empty() {
            problems.push("url: must not be empty".to_owned());
        } else if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            problems.push(format!(
                "url: '{}' is not a PostgreSQL URL (postgres://user@host:5432/database)",
                redact(url)
            ));
        } else {
            match PgConnectOptions::from_str(url) {
                Ok(options) => match options.get_database().map(str::to_owned) {
                    Some(database) if !database.is_empty() => {
                        let place =
                            format!("{}:{}/{database}", options.get_host(), options.get_port());
                        parsed = Some((options, place));
                    }
                    _ => problems.push(format!(
                        "url: '{}' names no database (postgres://user@host:5432/database)",
                        redact(url)
                    )),
                },
                Err(error) => problems.push(format!("url: '{}' is invalid: {error}", redact(url))),
            }
        }
        if self.max_connections == 0 {
            problems.push("max_connections: must be at least 1".to_owned());
        }
        match parsed {
            Some((options, database)) if problems.is_empty() => Ok(ValidConfig {
                options,
                database,
                max_connections: self.max_connections,
            }),
            _ => Err(Error::Config { problems }),
        }
    }
}

#[cfg(test)]
mod redact_tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("postgres://keptn:s3cret@db:5432/keptn?sslmode=require"),
            "postgres://keptn:***@db:5432/keptn?sslmode=require"
        );
        assert_eq!(
            redact("postgres://keptn@db/keptn"),
            "postgres://keptn@db/keptn"
        );
        assert_eq!(redact("not a url"), "not a url");
    }
}
