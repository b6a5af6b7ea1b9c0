//! [`Store`](keptn_core::ports::Store) for [`Sqlite`]: the only file that speaks SQL.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use keptn_core::event::KeptnEvent;
use keptn_core::orchestrator::State;
use keptn_core::ports::{EvaluationRecord, EventFilter, ProjectRecord};
use sqlx::sqlite::{SqliteConnection, SqliteTransaction};
use sqlx::{QueryBuilder, Sqlite as Db};

use super::state::{self, Changes, Written};
use super::{CHECKPOINT_EVERY, Error, Sqlite};
use crate::sql::{self, EvaluationRow};

crate::sql::impl_store!(Sqlite);

/// Shorthand for the error of a failed statement.
fn query_error(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Query { operation, source }
}

/// The start of a statement inserting events, for rows of the indexed columns, the JSON and
/// the marks (`processed`, `published`).
const INSERT_EVENTS: &str = "INSERT INTO events \
     (id, type, keptn_context, project, stage, service, json, processed, published) ";

/// Rows per multi-row statement at most. Batches are cut into powers of two up to this, so a
/// few statement texts cover every batch size (sqlx caches prepared statements by text).
const MAX_ROWS_PER_STATEMENT: usize = 64;

/// Where an event enters the history. (Earlier versions also accepted events into the inbox,
/// `processed = 0`, before handling them; `unprocessed` still lists such rows.)
#[derive(Clone, Copy)]
enum Origin {
    /// Accepted and processed in the same transaction: in the history only.
    Processed,
    /// Emitted: in the outbox, unpublished.
    Emitted,
}

impl Origin {
    /// The `processed` and `published` columns.
    fn marks(self) -> (Option<i64>, Option<i64>) {
        match self {
            Origin::Processed => (Some(1), None),
            Origin::Emitted => (None, Some(0)),
        }
    }
}

/// `items` cut into runs whose lengths are powers of two, at most [`MAX_ROWS_PER_STATEMENT`].
pub(super) fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = MAX_ROWS_PER_STATEMENT.min(1 << rest.len().ilog2());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// Inserts those of `events` whose id is not in the history, a few statements for all of
/// them; returns how many were inserted.
async fn insert_events(
    connection: &mut SqliteConnection,
    events: &[KeptnEvent],
    origin: Origin,
) -> Result<usize, Error> {
    let (processed, published) = origin.marks();
    let mut inserted = 0;
    for chunk in chunks(events) {
        let mut query = QueryBuilder::<Db>::new(INSERT_EVENTS);
        query.push_values(chunk, |mut row, event| {
            row.push_bind(event.id.as_str())
                .push_bind(event.event_type.to_string())
                .push_bind(event.keptn_context.as_deref())
                .push_bind(event.data.project.as_deref())
                .push_bind(event.data.stage.as_deref())
                .push_bind(event.data.service.as_deref())
                .push_bind(event.to_json())
                .push_bind(processed)
                .push_bind(published);
        });
        query.push(" ON CONFLICT (id) DO NOTHING");
        let result = query
            .build()
            .execute(&mut *connection)
            .await
            .map_err(query_error("record an event"))?;
        inserted += usize::try_from(result.rows_affected()).unwrap_or(usize::MAX);
    }
    Ok(inserted)
}

/// Marks accepted events processed; the first id that is not an accepted event fails.
async fn mark_processed(connection: &mut SqliteConnection, ids: &[String]) -> Result<(), Error> {
    let distinct = sql::distinct(ids);
    for chunk in chunks(&distinct) {
        let mut query = QueryBuilder::<Db>::new(
            "UPDATE events SET processed = 1 WHERE processed IS NOT NULL AND id IN (",
        );
        let mut separated = query.separated(", ");
        for id in chunk {
            separated.push_bind(*id);
        }
        separated.push_unseparated(")");
        let result = query
            .build()
            .execute(&mut *connection)
            .await
            .map_err(query_error("mark an event processed"))?;
        if result.rows_affected() == chunk.len() as u64 {
            continue;
        }
        // Which one: the accepted events among them.
        let mut query = QueryBuilder::<Db>::new(
            "SELECT id FROM events WHERE processed IS NOT NULL AND id IN (",
        );
        let mut separated = query.separated(", ");
        for id in chunk {
            separated.push_bind(*id);
        }
        separated.push_unseparated(")");
        let found: HashSet<String> = query
            .build_query_scalar()
            .fetch_all(&mut *connection)
            .await
            .map_err(query_error("mark an event processed"))?
            .into_iter()
            .collect();
        return Err(Error::NotAccepted {
            id: sql::first_not_found(chunk, &found).to_owned(),
        });
    }
    Ok(())
}

/// Writes the state rows that changed.
async fn write_state(connection: &mut SqliteConnection, changes: &Changes) -> Result<(), Error> {
    if changes.replace_all {
        sqlx::query("DELETE FROM state_entries")
            .execute(&mut *connection)
            .await
            .map_err(query_error("save the state"))?;
    }
    if let Some(rest) = &changes.rest {
        sqlx::query(
            "INSERT INTO state (id, json) VALUES (1, ?) \
             ON CONFLICT (id) DO UPDATE SET json = excluded.json",
        )
        .bind(rest.as_str())
        .execute(&mut *connection)
        .await
        .map_err(query_error("save the state"))?;
    }
    for kind in [state::EXECUTION, state::SHIPYARD] {
        let keys: Vec<&str> = changes
            .deletes
            .iter()
            .filter(|(deleted_kind, _)| *deleted_kind == kind)
            .map(|(_, key)| key.as_str())
            .collect();
        for chunk in chunks(&keys) {
            let mut query = QueryBuilder::<Db>::new("DELETE FROM state_entries WHERE kind = ");
            query.push_bind(kind).push(" AND key IN (");
            let mut separated = query.separated(", ");
            for key in chunk {
                separated.push_bind(*key);
            }
            separated.push_unseparated(")");
            query
                .build()
                .execute(&mut *connection)
                .await
                .map_err(query_error("save the state"))?;
        }
    }
    for chunk in chunks(&changes.upserts) {
        let mut query = QueryBuilder::<Db>::new("INSERT INTO state_entries (kind, key, json) ");
        query.push_values(chunk, |mut row, entry| {
            row.push_bind(entry.kind)
                .push_bind(entry.key.as_str())
                .push_bind(entry.json.as_str());
        });
        query.push(" ON CONFLICT (kind, key) DO UPDATE SET json = excluded.json");
        query
            .build()
            .execute(&mut *connection)
            .await
            .map_err(query_error("save the state"))?;
    }
    Ok(())
}

/// Takes the write lock at once, so a transaction never fails upgrading a read lock (which the
/// busy timeout does not cover).
async fn begin_write(
    sqlite: &Sqlite,
    operation: &'static str,
) -> Result<SqliteTransaction<'static>, Error> {
    sqlite
        .writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(query_error(operation))
}

impl Sqlite {
    async fn load_state_inner(&self) -> Result<Option<State>, Error> {
        // One read transaction: the `state` row and the entries of the same commit.
        let mut reader = self
            .pool
            .begin()
            .await
            .map_err(query_error("load the state"))?;
        let json: Option<String> = sqlx::query_scalar("SELECT json FROM state WHERE id = 1")
            .fetch_optional(&mut *reader)
            .await
            .map_err(query_error("load the state"))?;
        let Some(json) = json else { return Ok(None) };
        let entries: Vec<(String, String, String)> =
            sqlx::query_as("SELECT kind, key, json FROM state_entries")
                .fetch_all(&mut *reader)
                .await
                .map_err(query_error("load the state"))?;
        reader
            .commit()
            .await
            .map_err(query_error("load the state"))?;
        Ok(Some(state::assemble(&json, entries)?))
    }

    /// Counts a committed write and, every [`CHECKPOINT_EVERY`] of them, starts a checkpoint
    /// on another connection unless one runs.
    fn after_write(&self) {
        let n_commits = self.checkpoints.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if !n_commits.is_multiple_of(CHECKPOINT_EVERY)
            || self.checkpoints.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let pool = self.pool.clone();
        let checkpoints = Arc::clone(&self.checkpoints);
        tokio::spawn(async move {
            // PASSIVE copies what it can without waiting for readers or blocking the writer. A
            // failure (a closed pool, say) is not the committer's: the next checkpoint retries,
            // and SQLite's automatic checkpoint bounds a log that keeps growing.
            let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await;
            checkpoints.running.store(false, Ordering::Release);
        });
    }

    /// The error for a failed insert of `events` in order: the first one whose id the history
    /// held before the transaction (which rolled back) or an earlier one of them has.
    async fn duplicate_error(&self, events: &[&KeptnEvent]) -> Error {
        let ids: Vec<String> = events.iter().map(|event| event.id.clone()).collect();
        match self.known_ids_inner(&ids).await {
            Ok(known) => Error::DuplicateEvent {
                id: sql::first_duplicate(&ids, &known),
            },
            Err(error) => error,
        }
    }

    async fn known_ids_inner(&self, ids: &[String]) -> Result<Vec<bool>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Db>::new("SELECT id FROM events WHERE id IN (");
        let mut separated = query.separated(", ");
        for id in ids {
            separated.push_bind(id);
        }
        separated.push_unseparated(")");
        let known: HashSet<String> = query
            .build_query_scalar()
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("look up event ids"))?
            .into_iter()
            .collect();
        Ok(ids.iter().map(|id| known.contains(id)).collect())
    }

    async fn commit_inner(
        &self,
        state: &State,
        accepted: &[KeptnEvent],
        processed: &[String],
        emitted: &[KeptnEvent],
    ) -> Result<(), Error> {
        sql::check_ids(accepted.iter().chain(emitted))?;
        // Held until the end: the next commit diffs against what this one wrote.
        let mut written = self.written.lock().await;
        let changes = Written::changes(written.as_ref(), state)?;
        let res = self
            .write_transition(&changes, accepted, processed, emitted)
            .await;
        Written::settle(&mut written, state, &changes, res.is_ok());
        drop(written);
        res?;
        self.after_write();
        Ok(())
    }

    /// The transaction of [`Store::commit`](keptn_core::ports::Store::commit): the changed
    /// state rows, the accepted events (as processed), the processed marks and the emitted
    /// events, all or nothing.
    async fn write_transition(
        &self,
        changes: &Changes,
        accepted: &[KeptnEvent],
        processed: &[String],
        emitted: &[KeptnEvent],
    ) -> Result<(), Error> {
        // Dropping `transaction` on any error below rolls everything back.
        let mut transaction = begin_write(self, "commit a transition").await?;
        write_state(&mut transaction, changes).await?;
        if insert_events(&mut transaction, accepted, Origin::Processed).await? != accepted.len() {
            transaction
                .rollback()
                .await
                .map_err(query_error("commit a transition"))?;
            let events: Vec<&KeptnEvent> = accepted.iter().collect();
            return Err(self.duplicate_error(&events).await);
        }
        mark_processed(&mut transaction, processed).await?;
        if insert_events(&mut transaction, emitted, Origin::Emitted).await? != emitted.len() {
            transaction
                .rollback()
                .await
                .map_err(query_error("commit a transition"))?;
            let events: Vec<&KeptnEvent> = accepted.iter().chain(emitted).collect();
            return Err(self.duplicate_error(&events).await);
        }
        transaction
            .commit()
            .await
            .map_err(query_error("commit a transition"))
    }

    async fn unprocessed_inner(&self) -> Result<Vec<KeptnEvent>, Error> {
        let rows = sqlx::query_as("SELECT id, json FROM events WHERE processed = 0 ORDER BY seq")
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("list unprocessed events"))?;
        Ok(sql::decode_events(rows)?)
    }

    async fn unpublished_inner(&self) -> Result<Vec<KeptnEvent>, Error> {
        let rows = sqlx::query_as("SELECT id, json FROM events WHERE published = 0 ORDER BY seq")
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("list unpublished events"))?;
        Ok(sql::decode_events(rows)?)
    }

    async fn mark_published_inner(&self, event_ids: &[String]) -> Result<(), Error> {
        if event_ids.is_empty() {
            return Ok(());
        }
        let mut transaction = begin_write(self, "mark events published").await?;
        for id in event_ids {
            sqlx::query("UPDATE events SET published = 1 WHERE id = ? AND published = 0")
                .bind(id)
                .execute(&mut *transaction)
                .await
                .map_err(query_error("mark events published"))?;
        }
        transaction
            .commit()
            .await
            .map_err(query_error("mark events published"))?;
        self.after_write();
        Ok(())
    }

    async fn events_inner(&self, filter: &EventFilter) -> Result<Vec<KeptnEvent>, Error> {
        let mut query = QueryBuilder::<Db>::new("SELECT id, json FROM events WHERE 1 = 1");
        let columns = [
            ("keptn_context", &filter.keptn_context),
            ("type", &filter.event_type),
            ("project", &filter.project),
            ("stage", &filter.stage),
            ("service", &filter.service),
        ];
        for (column, value) in columns {
            if let Some(value) = value {
                query
                    .push(" AND ")
                    .push(column)
                    .push(" = ")
                    .push_bind(value);
            }
        }
        match sql::limit(filter.limit) {
            None => query.push(" ORDER BY seq"),
            Some(limit) => query.push(" ORDER BY seq DESC LIMIT ").push_bind(limit),
        };
        let rows = query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("list events"))?;
        Ok(sql::decode_events(rows)?)
    }

    async fn create_project_inner(&self, project: &ProjectRecord) -> Result<(), Error> {
        let mut transaction = begin_write(self, "create a project").await?;
        let result = sqlx::query(
            "INSERT INTO projects (name, shipyard, git_remote_url) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&project.name)
        .bind(&project.shipyard)
        .bind(project.git_remote_url.as_deref())
        .execute(&mut *transaction)
        .await
        .map_err(query_error("create a project"))?;
        if result.rows_affected() == 0 {
            return Err(Error::ProjectExists {
                name: project.name.clone(),
            });
        }
        for service in &project.services {
            insert_service(&mut *transaction, &project.name, service).await?;
        }
        transaction
            .commit()
            .await
            .map_err(query_error("create a project"))
    }

    async fn delete_project_inner(&self, name: &str) -> Result<(), Error> {
        // Services go with the project (ON DELETE CASCADE); events and evaluations stay.
        let result = sqlx::query("DELETE FROM projects WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(query_error("delete a project"))?;
        if result.rows_affected() == 0 {
            return Err(Error::ProjectNotFound {
                name: name.to_owned(),
            });
        }
        Ok(())
    }

    async fn projects_inner(&self) -> Result<Vec<ProjectRecord>, Error> {
        let mut reader = self
            .pool
            .begin()
            .await
            .map_err(query_error("list projects"))?;
        let project_rows =
            sqlx::query_as("SELECT name, shipyard, git_remote_url FROM projects ORDER BY name")
                .fetch_all(&mut *reader)
                .await
                .map_err(query_error("list projects"))?;
        let service_rows = sqlx::query_as("SELECT project, name FROM services ORDER BY seq")
            .fetch_all(&mut *reader)
            .await
            .map_err(query_error("list services"))?;
        reader
            .commit()
            .await
            .map_err(query_error("list projects"))?;
        Ok(sql::projects(project_rows, service_rows))
    }

    async fn create_service_inner(&self, project: &str, service: &str) -> Result<(), Error> {
        let mut transaction = begin_write(self, "create a service").await?;
        let exists = sqlx::query("SELECT 1 FROM projects WHERE name = ?")
            .bind(project)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(query_error("create a service"))?;
        if exists.is_none() {
            return Err(Error::ProjectNotFound {
                name: project.to_owned(),
            });
        }
        insert_service(&mut *transaction, project, service).await?;
        transaction
            .commit()
            .await
            .map_err(query_error("create a service"))
    }

    async fn record_evaluation_inner(&self, evaluation: &EvaluationRecord) -> Result<(), Error> {
        let time = sql::evaluation_time(evaluation)?;
        // Idempotent by event id; recording it again replaces the fields (so an evaluation can
        // be invalidated later) and keeps its place in the order.
        sqlx::query(
            "INSERT INTO evaluations \
             (event_id, project, stage, service, time, data, invalidated) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (event_id) DO UPDATE SET project = excluded.project, \
             stage = excluded.stage, service = excluded.service, time = excluded.time, \
             data = excluded.data, invalidated = excluded.invalidated",
        )
        .bind(&evaluation.event_id)
        .bind(&evaluation.project)
        .bind(&evaluation.stage)
        .bind(&evaluation.service)
        .bind(time)
        .bind(evaluation.data.to_string())
        .bind(evaluation.invalidated)
        .execute(&self.writer)
        .await
        .map_err(query_error("record an evaluation"))?;
        Ok(())
    }

    async fn evaluations_inner(
        &self,
        project: &str,
        stage: &str,
        service: &str,
        limit: usize,
    ) -> Result<Vec<EvaluationRecord>, Error> {
        // LIMIT -1 is SQLite for "no limit".
        let limit = sql::limit(limit).unwrap_or(-1);
        let rows: Vec<EvaluationRow> = sqlx::query_as(
            "SELECT event_id, project, stage, service, time, data, invalidated FROM evaluations \
             WHERE project = ? AND stage = ? AND service = ? \
             ORDER BY time DESC, seq DESC LIMIT ?",
        )
        .bind(project)
        .bind(stage)
        .bind(service)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error("list evaluations"))?;
        Ok(rows
            .into_iter()
            .map(sql::decode_evaluation)
            .collect::<Result<_, _>>()?)
    }
}

async fn insert_service<'c, E>(executor: E, project: &str, service: &str) -> Result<(), Error>
where
    E: sqlx::Executor<'c, Database = Db>,
{
    sqlx::query("INSERT INTO services (project, name) VALUES (?, ?) ON CONFLICT DO NOTHING")
        .bind(project)
        .bind(service)
        .execute(executor)
        .await
        .map_err(query_error("create a service"))?;
    Ok(())
}
