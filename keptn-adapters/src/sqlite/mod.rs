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
//! `BEGIN IMMEDIATE`, and a busy timeout lets concurrent writers queue instead of failing. The
//! store's own writes go through one dedicated connection (SQLite has one writer at a time, and
//! a connection keeps its page cache only while no other connection writes); reads use a pool.
//! A commit writes its events with a few multi-row statements rather than one per event.
//!
//! Deduplication is by event id over the whole history: an accepted or emitted event whose id
//! the history already holds (accepted or emitted), or that a commit names twice, makes
//! [`Store::commit`](keptn_core::ports::Store::commit) fail with `Conflict` and write nothing.
//! The inbox (accepted, not processed) holds only events accepted by earlier versions, which
//! accepted events before handling them; a commit names them in `processed`.
//!
//! The state is stored in parts (one row per execution and per project's shipyard, one row for
//! the rest), and a commit writes only the parts that changed since the last commit through
//! this store, in the same transaction as the events; a database of schema version 1 (the whole
//! state in one row) is read as it is and converted by the first commit. That diff assumes one
//! [`Sqlite`] (and its clones, which share what it wrote) commits the state of a file; a store
//! opened later rewrites every part at its first commit.
//!
//! Checkpoints: SQLite's automatic checkpoint copies the write-ahead log into the database file
//! (and fsyncs it) inside the commit that crosses its threshold (1,000 pages by default), which
//! shows as a latency spike. Here a background task checkpoints (`PASSIVE`, which never blocks
//! writers) from another pooled connection every 64 commits. The log starts over at the first
//! write after a checkpoint that caught up with it, which needs a pause in the writes; under
//! writes without pause, the automatic checkpoint at 4,096 pages (16 MiB) bounds the log, and
//! then has only the frames written since the last background checkpoint left to copy.
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
// The state rows and their diff, shared with the PostgreSQL store.
use crate::state_rows as state;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use config::{Config, ValidConfig};
pub use error::Error;

/// How long a statement waits for another connection's write lock before failing with
/// `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the pool of readers, which WAL lets run next to a write.
const MAX_CONNECTIONS: u32 = 4;

/// Commits between two background checkpoints.
const CHECKPOINT_EVERY: u64 = 64;

/// The automatic checkpoint's threshold in pages of the write-ahead log (SQLite's default is
/// 1,000): reached only under writes without pause, or when background checkpoints fail.
const AUTOCHECKPOINT_PAGES: u32 = 4_096;

/// The size the write-ahead log file is truncated to when it is reset after a checkpoint.
const JOURNAL_SIZE_LIMIT_BYTES: u64 = 16 * 1024 * 1024;

/// How much of the database file is read through a memory map; beyond it, pages are read with
/// read(2).
const MMAP_SIZE_BYTES: u64 = 256 * 1024 * 1024;

/// The SQLite store. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Sqlite {
    /// Reads (and background checkpoints).
    pool: SqlitePool,
    /// The one connection that writes. SQLite has one writer at a time anyway, and a
    /// connection keeps its page cache only while no other connection writes.
    writer: SqlitePool,
    path: PathBuf,
    /// The state rows as last committed through this store (`None`: unknown, so the next
    /// commit rewrites them all). Locked for a whole commit, so commits diff against what the
    /// previous one wrote.
    written: Arc<tokio::sync::Mutex<Option<state::Written>>>,
    /// Background checkpoint bookkeeping.
    checkpoints: Arc<Checkpoints>,
}

/// Counts commits and tells whether a background checkpoint runs.
#[derive(Debug, Default)]
struct Checkpoints {
    commits: AtomicU64,
    running: AtomicBool,
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
            .foreign_keys(true)
            // Checkpoints run in the background (see the module documentation).
            .pragma("wal_autocheckpoint", AUTOCHECKPOINT_PAGES.to_string())
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES.to_string())
            // Pages of the database file are read through a memory map instead of one read(2)
            // each (writes still go through the write-ahead log).
            .pragma("mmap_size", MMAP_SIZE_BYTES.to_string());
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?;
        schema::migrator()
            .run(&writer)
            .await
            .map_err(|source| Error::Migrate {
                path: path.clone(),
                source,
            })?;
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            pool,
            writer,
            path,
            written: Arc::new(tokio::sync::Mutex::new(None)),
            checkpoints: Arc::new(Checkpoints::default()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection, waiting for running statements. Later calls fail with
    /// `Unavailable`.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}
