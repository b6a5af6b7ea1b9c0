//! [`Store`] for [`Sqlite`]: the only file that speaks SQL.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use keptn_core::event::{KeptnEvent, Timestamp};
use keptn_core::orchestrator::State;
use keptn_core::ports::{AdapterError, EvaluationRecord, EventFilter, ProjectRecord, Store};
use sqlx::sqlite::{SqliteConnection, SqliteRow, SqliteTransaction};
use sqlx::{QueryBuilder, Row, Sqlite as Db};

use super::state::{self, Changes, Written};
use super::{CHECKPOINT_EVERY, Error, Sqlite};

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
    let mut seen = HashSet::with_capacity(ids.len());
    let distinct: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect();
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
        let rows = query
            .build()
            .fetch_all(&mut *connection)
            .await
            .map_err(query_error("mark an event processed"))?;
        let mut found = HashSet::with_capacity(rows.len());
        for row in &rows {
            let id: String = row
                .try_get("id")
                .map_err(query_error("mark an event processed"))?;
            found.insert(id);
        }
        let missing = chunk
            .iter()
            .find(|id| !found.contains(**id))
            .or(chunk.first())
            .copied()
            .unwrap_or_default();
        return Err(Error::NotAccepted {
            id: missing.to_owned(),
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

fn check_id(event: &KeptnEvent) -> Result<(), Error> {
    if event.id.is_empty() {
        return Err(Error::EmptyEventId {
            event_type: event.event_type.to_string(),
        });
    }
    Ok(())
}

fn decode_event(row: &SqliteRow) -> Result<KeptnEvent, Error> {
    let id: String = row.try_get("id").map_err(query_error("read an event"))?;
    let json: String = row.try_get("json").map_err(query_error("read an event"))?;
    KeptnEvent::from_json(&json).map_err(|source| Error::Corrupt {
        what: "event",
        key: id,
        source: Box::new(source),
    })
}

fn decode_events(rows: &[SqliteRow]) -> Result<Vec<KeptnEvent>, Error> {
    rows.iter().map(decode_event).collect()
}

fn to_i64(what: &'static str, value: u64) -> Result<i64, Error> {
    i64::try_from(value).map_err(|_| Error::OutOfRange { what, value })
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
        let row = sqlx::query("SELECT json FROM state WHERE id = 1")
            .fetch_optional(&mut *reader)
            .await
            .map_err(query_error("load the state"))?;
        let Some(row) = row else { return Ok(None) };
        let json: String = row.try_get("json").map_err(query_error("load the state"))?;
        let entry_rows = sqlx::query("SELECT kind, key, json FROM state_entries")
            .fetch_all(&mut *reader)
            .await
            .map_err(query_error("load the state"))?;
        reader
            .commit()
            .await
            .map_err(query_error("load the state"))?;
        let mut entries = Vec::with_capacity(entry_rows.len());
        for row in &entry_rows {
            let read = |column: &str| -> Result<String, Error> {
                row.try_get(column).map_err(query_error("load the state"))
            };
            entries.push((read("kind")?, read("key")?, read("json")?));
        }
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
        let known = match self.known_ids_inner(&ids).await {
            Ok(known) => known,
            Err(error) => return error,
        };
        let mut seen = HashSet::with_capacity(ids.len());
        let duplicate = ids
            .iter()
            .zip(known)
            .find(|(id, known)| *known || !seen.insert(id.as_str()))
            .map(|(id, _)| id.clone());
        Error::DuplicateEvent {
            // Only a row deleted meanwhile would leave none; then name them all.
            id: duplicate.unwrap_or_else(|| ids.join(", ")),
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
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("look up event ids"))?;
        let mut known = std::collections::HashSet::with_capacity(rows.len());
        for row in &rows {
            let id: String = row
                .try_get("id")
                .map_err(query_error("look up event ids"))?;
            known.insert(id);
        }
        Ok(ids.iter().map(|id| known.contains(id)).collect())
    }

    async fn commit_inner(
        &self,
        state: &State,
        accepted: &[KeptnEvent],
        processed: &[String],
        emitted: &[KeptnEvent],
    ) -> Result<(), Error> {
        for event in accepted.iter().chain(emitted) {
            check_id(event)?;
        }
        // Held until the end: the next commit diffs against what this one wrote.
        let mut written = self.written.lock().await;
        let changes = Written::changes(written.as_ref(), state)?;
        match self
            .write_transition(&changes, accepted, processed, emitted)
            .await
        {
            Ok(()) => {
                *written = Some(Written::after(written.take(), state, &changes));
                drop(written);
                self.after_write();
                Ok(())
            }
            Err(error) => {
                // Whether a failed COMMIT wrote anything is unknown: rewrite everything next.
                *written = None;
                Err(error)
            }
        }
    }

    /// The transaction of [`Store::commit`]: the changed state rows, the accepted
    /// events (as processed), the processed marks and the emitted events, all or nothing.
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
        let rows = sqlx::query("SELECT id, json FROM events WHERE processed = 0 ORDER BY seq")
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("list unprocessed events"))?;
        decode_events(&rows)
    }

    async fn unpublished_inner(&self) -> Result<Vec<KeptnEvent>, Error> {
        let rows = sqlx::query("SELECT id, json FROM events WHERE published = 0 ORDER BY seq")
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("list unpublished events"))?;
        decode_events(&rows)
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
        if filter.limit == 0 {
            query.push(" ORDER BY seq");
        } else {
            // A limit beyond the history lists all of it.
            let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
            query.push(" ORDER BY seq DESC LIMIT ").push_bind(limit);
        }
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("list events"))?;
        decode_events(&rows)
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
            sqlx::query("SELECT name, shipyard, git_remote_url FROM projects ORDER BY name")
                .fetch_all(&mut *reader)
                .await
                .map_err(query_error("list projects"))?;
        let service_rows = sqlx::query("SELECT project, name FROM services ORDER BY seq")
            .fetch_all(&mut *reader)
            .await
            .map_err(query_error("list services"))?;
        reader
            .commit()
            .await
            .map_err(query_error("list projects"))?;
        let mut services_by_project: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in &service_rows {
            let project: String = row
                .try_get("project")
                .map_err(query_error("list services"))?;
            let service: String = row.try_get("name").map_err(query_error("list services"))?;
            services_by_project
                .entry(project)
                .or_default()
                .push(service);
        }
        project_rows
            .iter()
            .map(|row| {
                let name: String = row.try_get("name").map_err(query_error("list projects"))?;
                Ok(ProjectRecord {
                    services: services_by_project.remove(&name).unwrap_or_default(),
                    shipyard: row
                        .try_get("shipyard")
                        .map_err(query_error("list projects"))?,
                    git_remote_url: row
                        .try_get("git_remote_url")
                        .map_err(query_error("list projects"))?,
                    name,
                })
            })
            .collect()
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
        let time = to_i64("time", evaluation.time.0)?;
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
        let limit = if limit == 0 {
            -1
        } else {
            i64::try_from(limit).unwrap_or(i64::MAX)
        };
        let rows = sqlx::query(
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
        rows.iter().map(decode_evaluation).collect()
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

fn decode_evaluation(row: &SqliteRow) -> Result<EvaluationRecord, Error> {
    let read = query_error("read an evaluation");
    let event_id: String = row.try_get("event_id").map_err(read)?;
    let get_text = |column: &str| -> Result<String, Error> {
        row.try_get(column)
            .map_err(query_error("read an evaluation"))
    };
    let time: i64 = row
        .try_get("time")
        .map_err(query_error("read an evaluation"))?;
    let data_text = get_text("data")?;
    let corrupt = |source: Box<dyn std::error::Error + Send + Sync>| Error::Corrupt {
        what: "evaluation",
        key: event_id.clone(),
        source,
    };
    let data = serde_json::from_str(&data_text).map_err(|source| corrupt(Box::new(source)))?;
    let time = u64::try_from(time).map_err(|source| corrupt(Box::new(source)))?;
    Ok(EvaluationRecord {
        project: get_text("project")?,
        stage: get_text("stage")?,
        service: get_text("service")?,
        time: Timestamp(time),
        data,
        invalidated: row
            .try_get("invalidated")
            .map_err(query_error("read an evaluation"))?,
        event_id,
    })
}

#[async_trait]
impl Store for Sqlite {
    async fn load_state(&self) -> Result<Option<State>, AdapterError> {
        Ok(self.load_state_inner().await?)
    }

    async fn unprocessed(&self) -> Result<Vec<KeptnEvent>, AdapterError> {
        Ok(self.unprocessed_inner().await?)
    }

    async fn commit(
        &self,
        state: &State,
        accepted: &[KeptnEvent],
        processed: &[String],
        emitted: &[KeptnEvent],
    ) -> Result<(), AdapterError> {
        Ok(self
            .commit_inner(state, accepted, processed, emitted)
            .await?)
    }

    async fn known_ids(&self, ids: &[String]) -> Result<Vec<bool>, AdapterError> {
        Ok(self.known_ids_inner(ids).await?)
    }

    async fn unpublished(&self) -> Result<Vec<KeptnEvent>, AdapterError> {
        Ok(self.unpublished_inner().await?)
    }

    async fn mark_published(&self, event_ids: &[String]) -> Result<(), AdapterError> {
        Ok(self.mark_published_inner(event_ids).await?)
    }

    async fn events(&self, filter: &EventFilter) -> Result<Vec<KeptnEvent>, AdapterError> {
        Ok(self.events_inner(filter).await?)
    }

    async fn create_project(&self, project: &ProjectRecord) -> Result<(), AdapterError> {
        Ok(self.create_project_inner(project).await?)
    }

    async fn delete_project(&self, name: &str) -> Result<(), AdapterError> {
        Ok(self.delete_project_inner(name).await?)
    }

    async fn projects(&self) -> Result<Vec<ProjectRecord>, AdapterError> {
        Ok(self.projects_inner().await?)
    }

    async fn create_service(&self, project: &str, service: &str) -> Result<(), AdapterError> {
        Ok(self.create_service_inner(project, service).await?)
    }

    async fn record_evaluation(&self, evaluation: &EvaluationRecord) -> Result<(), AdapterError> {
        Ok(self.record_evaluation_inner(evaluation).await?)
    }

    async fn evaluations(
        &self,
        project: &str,
        stage: &str,
        service: &str,
        limit: usize,
    ) -> Result<Vec<EvaluationRecord>, AdapterError> {
        Ok(self
            .evaluations_inner(project, stage, service, limit)
            .await?)
    }
}
