//! Errors of the SQLite store.

use std::path::PathBuf;

use keptn_core::ports::{AdapterError, AdapterErrorKind};

/// A failure of the SQLite store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; every problem is listed.
    #[error("invalid sqlite store configuration: {}", problems.join("; "))]
    Config {
        /// One entry per problem, each starting with the field name.
        problems: Vec<String>,
    },
    /// The database file's directory could not be created.
    #[error("cannot create the database directory '{}'", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be opened or configured.
    #[error("cannot open the database '{}'", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: sqlx::Error,
    },
    /// The schema could not be brought to the current version.
    #[error("cannot migrate the schema of the database '{}'", path.display())]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: sqlx::migrate::MigrateError,
    },
    /// A statement failed.
    #[error("cannot {operation}")]
    Query {
        /// What the store was doing, for example `load the state`.
        operation: &'static str,
        /// Why.
        source: sqlx::Error,
    },
    /// A stored value could not be read back (written by another version, or edited by hand).
    #[error("stored {what} '{key}' cannot be decoded")]
    Corrupt {
        /// `state`, `state entry`, `event` or `evaluation`.
        what: &'static str,
        /// Its key (event id, evaluation event id, `1` for the state, `kind/key` for a state
        /// entry such as `execution/3`).
        key: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The state could not be encoded.
    #[error("cannot encode the state")]
    EncodeState {
        /// Why.
        source: serde_json::Error,
    },
    /// An event without an id cannot be stored or deduplicated.
    #[error("event of type '{event_type}' has an empty id")]
    EmptyEventId {
        /// The event's type.
        event_type: String,
    },
    /// A commit named an event processed that was never accepted.
    #[error("event '{id}' was never accepted, so it cannot be marked processed")]
    NotAccepted {
        /// The event id.
        id: String,
    },
    /// A commit accepted or emitted an event whose id is in the history already (or twice).
    #[error("emitted event '{id}' has the id of an event in the history")]
    DuplicateEvent {
        /// The event id.
        id: String,
    },
    /// A project of this name exists already.
    #[error("project '{name}' exists already")]
    ProjectExists {
        /// The project name.
        name: String,
    },
    /// No project of this name exists.
    #[error("project '{name}' does not exist")]
    ProjectNotFound {
        /// The project name.
        name: String,
    },
    /// A number does not fit SQLite's signed 64-bit integers.
    #[error("{what} {value} is too large to store")]
    OutOfRange {
        /// `time`.
        what: &'static str,
        /// The value.
        value: u64,
    },
}

impl Error {
    fn kind(&self) -> AdapterErrorKind {
        match self {
            Error::Config { .. }
            | Error::EmptyEventId { .. }
            | Error::NotAccepted { .. }
            | Error::OutOfRange { .. } => AdapterErrorKind::Invalid,
            Error::DuplicateEvent { .. } | Error::ProjectExists { .. } => {
                AdapterErrorKind::Conflict
            }
            Error::ProjectNotFound { .. } => AdapterErrorKind::NotFound,
            Error::Open { source, .. } | Error::Query { source, .. } => sqlx_kind(source),
            Error::Migrate { source, .. } => match source {
                sqlx::migrate::MigrateError::Execute(source)
                | sqlx::migrate::MigrateError::ExecuteMigration(source, _) => sqlx_kind(source),
                _ => AdapterErrorKind::Failed,
            },
            Error::CreateDir { .. } | Error::Corrupt { .. } | Error::EncodeState { .. } => {
                AdapterErrorKind::Failed
            }
        }
    }
}

/// Busy or locked databases and exhausted pools may work on retry; everything else will not.
fn sqlx_kind(error: &sqlx::Error) -> AdapterErrorKind {
    // Primary result codes (the low byte of an extended code): SQLITE_BUSY and SQLITE_LOCKED.
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    match error {
        sqlx::Error::PoolTimedOut => AdapterErrorKind::Timeout,
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed | sqlx::Error::Io(_) => {
            AdapterErrorKind::Unavailable
        }
        sqlx::Error::Database(database_error) => {
            let primary_code = database_error
                .code()
                .and_then(|code| code.parse::<i64>().ok())
                .map(|code| code & 0xff);
            match primary_code {
                Some(SQLITE_BUSY | SQLITE_LOCKED) => AdapterErrorKind::Unavailable,
                _ => AdapterErrorKind::Failed,
            }
        }
        _ => AdapterErrorKind::Failed,
    }
}

impl From<Error> for AdapterError {
    fn from(error: Error) -> Self {
        let kind = error.kind();
        let message = error.to_string();
        // The message already says what failed; the source chain continues below it, so the
        // underlying error is not printed twice.
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = match error {
            Error::CreateDir { source, .. } => Some(Box::new(source)),
            Error::Open { source, .. } | Error::Query { source, .. } => Some(Box::new(source)),
            Error::Migrate { source, .. } => Some(Box::new(source)),
            Error::Corrupt { source, .. } => Some(source),
            Error::EncodeState { source } => Some(Box::new(source)),
            Error::Config { .. }
            | Error::EmptyEventId { .. }
            | Error::NotAccepted { .. }
            | Error::DuplicateEvent { .. }
            | Error::ProjectExists { .. }
            | Error::ProjectNotFound { .. }
            | Error::OutOfRange { .. } => None,
        };
        AdapterError {
            kind,
            message,
            source,
        }
    }
}

impl From<crate::sql::RowError> for Error {
    fn from(error: crate::sql::RowError) -> Self {
        match error {
            crate::sql::RowError::EncodeState(source) => Error::EncodeState { source },
            crate::sql::RowError::Corrupt { what, key, source } => {
                Error::Corrupt { what, key, source }
            }
            crate::sql::RowError::EmptyEventId { event_type } => Error::EmptyEventId { event_type },
            crate::sql::RowError::OutOfRange { what, value } => Error::OutOfRange { what, value },
        }
    }
}
