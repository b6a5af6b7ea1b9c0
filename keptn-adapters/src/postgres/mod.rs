//! The control plane's durable store on PostgreSQL: the [`keptn_core::ports::Store`] for
//! several control-plane replicas sharing one database (the scale-out counterpart of the
//! embedded SQLite store, with the same semantics).
//!
//! One database holds the orchestrator [`State`](keptn_core::orchestrator::State), the event
//! history with its inbox (accepted, not yet processed) and outbox (emitted, not yet published)
//! marks, projects with their services, and evaluations. Events are stored as their JSON text
//! ([`KeptnEvent::to_json`](keptn_core::event::KeptnEvent::to_json)) next to indexed columns
//! (id, type, Keptn context, project, stage, service) and a `BIGSERIAL` sequence number that
//! orders the history; partial indexes cover the inbox and the outbox.
//!
//! Deduplication is by event id over the whole history (a unique index): an accepted or
//! emitted event whose id the history already holds (accepted or emitted), or that a commit
//! names twice, makes [`Store::commit`](keptn_core::ports::Store::commit) fail with `Conflict`
//! and write nothing. A commit is one transaction: the changed state rows, the accepted
//! events, the processed marks and the emitted events, all or nothing. Events go in with one
//! `INSERT ... SELECT FROM UNNEST(...)` statement per kind, whatever their number. The inbox
//! (accepted, not processed) holds only events accepted by earlier versions, which accepted
//! events before handling them; a commit names them in `processed`.
//!
//! Durability: every connection runs with `synchronous_commit = on` (whatever the server's
//! default), so a call returns after PostgreSQL flushed the commit to its write-ahead log
//! (and, with synchronous replication configured on the server, to a standby). Connections
//! also run with `plan_cache_mode = force_custom_plan`: a generic plan cached while the history
//! was small (a sequential scan to look ids up) would otherwise outlive the table's growth.
//!
//! The state is stored in parts (one row per execution and per project's shipyard, one row for
//! the rest), and a commit writes only the parts that changed since the last commit through
//! this store; the rows and the diff are the SQLite store's (`state_rows.rs`, shared).
//!
//! # Several writers
//!
//! Safe under concurrent writers (several [`Postgres`] values, in one process or in several,
//! on one database), because every write is one statement or one transaction and conflicts
//! are settled by the database rather than by a read before the write:
//!
//! - the events of a commit (`INSERT ... ON CONFLICT (id) DO NOTHING`): an event committed by
//!   two replicas at once is stored once, one commit succeeds and the other fails with
//!   `Conflict`;
//! - the processed and published marks, projects and services
//!   (`ON CONFLICT`; a service insert locks its project row against a concurrent delete),
//!   evaluations (`ON CONFLICT (event_id) DO UPDATE`);
//! - opening: the migrator holds an advisory lock, so replicas starting together migrate once;
//! - reads of several tables (`load_state`, `projects`) run in one `REPEATABLE READ`
//!   transaction, so they see one commit's rows, never half of a concurrent one.
//!
//! Transactions that lose a race the database cannot settle (a deadlock between two batches
//! accepting the same ids in different orders, say) fail with `Unavailable` and may be
//! retried; nothing of them is written.
//!
//! Not safe yet:
//!
//! - **The orchestrator state assumes one writer.** Each store remembers in memory which state
//!   rows it wrote last and writes only the difference. Two stores committing states to one
//!   database would overwrite each other's rows part by part (last writer wins per row), and
//!   each one's diff would be wrong after the other's commit, so the stored state would be a
//!   mix of both. Until leader election (or a fencing token checked in the commit) exists, one
//!   replica at a time may run the orchestrator and commit state; the others may serve reads,
//!   publish the outbox and manage projects. A store that
//!   starts after another one wrote rewrites every state row at its first commit.
//! - **`seq` is the order sequence numbers were drawn, not the order of commits.** With
//!   concurrent writers a row with a smaller `seq` can become visible after one with a larger
//!   one, so a reader that pages the history by `seq` (a future "events since" API) could skip
//!   it. The inbox and the outbox are read whole, oldest first, and are not affected.
//! - Nothing claims inbox or outbox rows yet (as `FOR UPDATE SKIP LOCKED` would): two replicas
//!   that both read the outbox at start both republish every unpublished event, and receivers
//!   must drop the second copy by event id (Keptn events are deduplicated by id anyway). The
//!   inbox is replayed by the one replica that runs the orchestrator.
//!
//! It never calls the orchestrator or publishes anything (the service does both), and keeps
//! the whole history (no pruning yet).
//!
//! ```no_run
//! # async fn run() -> Result<(), keptn_adapters::postgres::Error> {
//! use keptn_adapters::postgres::{Config, Postgres};
//! let config = Config::new("postgres://keptn@db.example:5432/keptn");
//! let store = Postgres::open(config.validate()?).await?;
//! store.close().await;
//! # Ok(()) }
//! ```

mod client;
mod config;
mod error;
mod schema;
// The state rows and their diff, shared with the SQLite store.
use crate::state_rows as state;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};

pub use config::{Config, DEFAULT_MAX_CONNECTIONS, ValidConfig};
pub use error::Error;

/// The advisory lock key of [`Postgres::lock_instance`] ("keptn-rs" in ASCII); the migrator's
/// lock uses another key.
const INSTANCE_LOCK_KEY: i64 = 0x6b65_7074_6e2d_7273;

/// The instance lock of a database ([`Postgres::lock_instance`]), held until dropped.
#[derive(Debug)]
pub struct InstanceLock {
    /// The session that holds the lock; closing it releases the lock.
    _connection: PgConnection,
}

/// How long a call waits for a pooled connection before failing with `Timeout`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL store. Cheap to clone: clones share one connection pool and what the store
/// wrote of the state.
#[derive(Debug, Clone)]
pub struct Postgres {
    pool: PgPool,
    /// The database as `host:port/name`.
    database: String,
    /// The state rows as last committed through this store (`None`: unknown, so the next
    /// commit rewrites them all). Locked for a whole commit, so commits diff against what the
    /// previous one wrote.
    written: Arc<tokio::sync::Mutex<Option<state::Written>>>,
}

impl Postgres {
    /// Connects to the database and brings the schema to the current version. The database
    /// must exist.
    pub async fn open(config: ValidConfig) -> Result<Self, Error> {
        let database = config.database().to_owned();
        let options = config
            .options()
            .clone()
            .application_name("keptn")
            // See the module documentation: no accepted event may be lost.
            .options([
                ("synchronous_commit", "on"),
                // Plan every statement for its parameters and the table as it is now. A
                // generic plan cached while the event history was small (a sequential scan
                // for `id = ANY($1)`, say) would otherwise stay as the table grows.
                ("plan_cache_mode", "force_custom_plan"),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections())
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| Error::Open {
                database: database.clone(),
                source,
            })?;
        schema::migrator()
            .run(&pool)
            .await
            .map_err(|source| Error::Migrate {
                database: database.clone(),
                source,
            })?;
        Ok(Self {
            pool,
            database,
            written: Arc::new(tokio::sync::Mutex::new(None)),
        })
    }

    /// The database as `host:port/name`.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Takes the database's instance lock (a PostgreSQL session advisory lock on a connection
    /// of its own), which the control plane holds while its orchestrator commits state: the
    /// state diff assumes one writer (see the module documentation). Fails with
    /// [`Error::InUse`] at once when another process holds it. The lock ends when the
    /// [`InstanceLock`] is dropped or its process dies (the server ends the session).
    pub async fn lock_instance(&self) -> Result<InstanceLock, Error> {
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(|source| Error::Open {
                database: self.database.clone(),
                source,
            })?
            .detach();
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(INSTANCE_LOCK_KEY)
            .fetch_one(&mut connection)
            .await
            .map_err(|source| Error::Query {
                operation: "take the instance lock",
                source,
            })?;
        if !locked {
            let _ = connection.close().await;
            return Err(Error::InUse {
                database: self.database.clone(),
            });
        }
        Ok(InstanceLock {
            _connection: connection,
        })
    }

    /// Closes every connection, waiting for running statements. Later calls fail with
    /// `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
