//! The control plane's durable store on a SQLite file: the embedded default of
//! [`keptn_core::ports::Store`].
//!
//! One file holds the orchestrator [`State`](keptn_core::orchestrator::State), the event
//! history with its inbox (accepted, not yet processed) and outbox (emitted, not yet published)
//! marks, projects with their services, and evaluations. Events are stored as their JSON text
//! ([`KeptnEvent::to_json`](keptn_core::event::KeptnEvent::to_json)) next to indexed columns
//! (id, type, Keptn context, project, stage, service) and a sequence number that orders the
//! history.
//!
//! Durability: the database runs in WAL mode with `synchronous=FULL`, so every committed
//! transaction is fsynced before the call returns. With `NORMAL`, WAL commits survive a crash
//! of the process but the last ones may be lost on power failure or a kernel crash, and the
//! store's promise is that an accepted event is never lost. Writes take the write lock at
//! `BEGIN IMMEDIATE`, and a busy timeout lets concurrent writers queue instead of failing.
//!
//! Deduplication is by event id over the whole history: [`Store::accept`](keptn_core::ports::Store::accept) returns `false` for
//! an id seen before, accepted or emitted (the orchestrator treats its own events coming back
//! from the bus as no-ops anyway), and an emitted event whose id is already in the history
//! makes [`Store::commit_transition`](keptn_core::ports::Store::commit_transition) fail with `Conflict` and write nothing.
//!
//! What it does not do: it never calls the orchestrator or publishes anything (the service
//! does both); it keeps the whole history (no pruning yet); it serves one process (several
//! control-plane replicas need the PostgreSQL store).
//!
//! ```no_run
//! # async fn run() -> Result<(), keptn_adapters::sqlite::Error> {
//! use keptn_adapters::sqlite::{Config, Sqlite};
//! let store = Sqlite::open(Config::new("/var/lib/keptn/keptn.db").validate()?).await?;
//! # drop(store); Ok(()) }
//! ```

mod client;
mod config;
mod error;
mod schema;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use config::{Config, ValidConfig};
pub use error::Error;

/// How long a statement waits for another connection's write lock before failing with
/// `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the pool. SQLite has one writer at a time; the others serve reads, which
/// WAL lets run next to a write.
const MAX_CONNECTIONS: u32 = 4;

/// The SQLite store. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Sqlite {
    pool: SqlitePool,
    path: PathBuf,
}

impl Sqlite {
    /// Opens the database, creating the file and its parent directory when missing, and
    /// brings the schema to the current version.
    pub async fn open(config: ValidConfig) -> Result<Self, Error> {
        let path = config.path().to_path_buf();
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| Error::CreateDir {
                    path: parent.to_path_buf(),
                    source,
                })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL, not NORMAL: see the module documentation (no accepted event may be lost).
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?;
        schema::migrator()
            .run(&pool)
            .await
            .map_err(|source| Error::Migrate {
                path: path.clone(),
                source,
            })?;
        Ok(Self { pool, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection, waiting for running statements. Later calls fail with
    /// `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
