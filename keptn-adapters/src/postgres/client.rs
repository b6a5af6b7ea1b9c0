//! [`Store`](keptn_core::ports::Store) for [`Postgres`]: the only file that speaks SQL.

use std::collections::HashSet;

use keptn_core::event::KeptnEvent;
use keptn_core::orchestrator::State;
use keptn_core::ports::{EvaluationRecord, EventFilter, ProjectRecord};
use sqlx::postgres::{PgConnection, PgTransaction};
use sqlx::{Postgres as Db, QueryBuilder};

use super::state::{self, Changes, Written};
use super::{Error, Postgres};
use crate::sql::{self, EvaluationRow};

crate::sql::impl_store!(Postgres);

/// Shorthand for the error of a failed statement.
fn query_error(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Query { operation, source }
}

/// Inserts a batch of events given as one array per column ($1..$7), with the marks $8 and $9,
/// in array order; skips ids the history (or an earlier element) holds, and returns the ids
/// inserted. One statement text for every batch size.
const INSERT_EVENTS: &str = "INSERT INTO events \
     (id, type, keptn_context, project, stage, service, json, processed, published) \
     SELECT id, type, keptn_context, project, stage, service, json, $8::boolean, $9::boolean \
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
     $7::text[]) WITH ORDINALITY \
     AS batch (id, type, keptn_context, project, stage, service, json, ord) \
     ORDER BY ord \
     ON CONFLICT (id) DO NOTHING \
     RETURNING id";

/// Reads for one consistent snapshot of several tables.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// Where an event enters the history. (Earlier versions also accepted events into the inbox,
/// `processed = false`, before handling them; `unprocessed` still lists such rows.)
#[derive(Clone, Copy)]
enum Origin {
    /// Accepted and processed in the same transaction: in the history only.
    Processed,
    /// Emitted: in the outbox, unpublished.
    Emitted,
}

impl Origin {
    /// The `processed` and `published` columns.
    fn marks(self) -> (Option<bool>, Option<bool>) {
        match self {
            Origin::Processed => (Some(true), None),
            Origin::Emitted => (None, Some(false)),
        }
    }
}

/// Inserts those of `events` whose id is not in the history (nor earlier in `events`), in one
/// statement; returns the ids inserted.
async fn insert_events<'c, E>(
    executor: E,
    events: &[KeptnEvent],
    origin: Origin,
) -> Result<HashSet<String>, Error>
where
    E: sqlx::Executor<'c, Database = Db>,
{
    if events.is_empty() {
        return Ok(HashSet::new());
    }
    let (processed, published) = origin.marks();
    let mut ids = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut contexts = Vec::with_capacity(events.len());
    let mut projects = Vec::with_capacity(events.len());
    let mut stages = Vec::with_capacity(events.len());
    let mut services = Vec::with_capacity(events.len());
    let mut jsons = Vec::with_capacity(events.len());
    for event in events {
        ids.push(event.id.as_str());
        types.push(event.event_type.to_string());
        contexts.push(event.keptn_context.as_deref());
        projects.push(event.data.project.as_deref());
        stages.push(event.data.stage.as_deref());
        services.push(event.data.service.as_deref());
        jsons.push(event.to_json());
    }
    let inserted: Vec<String> = sqlx::query_scalar(INSERT_EVENTS)
        .bind(ids)
        .bind(types)
        .bind(contexts)
        .bind(projects)
        .bind(stages)
        .bind(services)
        .bind(jsons)
        .bind(processed)
        .bind(published)
        .fetch_all(executor)
        .await
        .map_err(query_error("record an event"))?;
    Ok(inserted.into_iter().collect())
}

/// Marks accepted events processed; the first id that is not an accepted event fails.
async fn mark_processed(connection: &mut PgConnection, ids: &[String]) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let distinct = sql::distinct(ids);
    let result = sqlx::query(
        "UPDATE events SET processed = true \
         WHERE processed IS NOT NULL AND id = ANY($1::text[])",
    )
    .bind(&distinct)
    .execute(&mut *connection)
    .await
    .map_err(query_error("mark an event processed"))?;
    if result.rows_affected() == distinct.len() as u64 {
        return Ok(());
    }
    // Which one: the accepted events among them.
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM events WHERE processed IS NOT NULL AND id = ANY($1::text[])",
    )
    .bind(&distinct)
    .fetch_all(&mut *connection)
    .await
    .map_err(query_error("mark an event processed"))?;
    let found: HashSet<String> = found.into_iter().collect();
    Err(Error::NotAccepted {
        id: sql::first_not_found(&distinct, &found).to_owned(),
    })
}

/// Writes the state rows that changed.
async fn write_state(connection: &mut PgConnection, changes: &Changes) -> Result<(), Error> {
    if changes.replace_all {
        sqlx::query("DELETE FROM state_entries")
            .execute(&mut *connection)
            .await
            .map_err(query_error("save the state"))?;
    }
    if let Some(rest) = &changes.rest {
        sqlx::query(
            "INSERT INTO state (id, json) VALUES (1, $1) \
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
        if keys.is_empty() {
            continue;
        }
        sqlx::query("DELETE FROM state_entries WHERE kind = $1 AND key = ANY($2::text[])")
            .bind(kind)
            .bind(&keys)
            .execute(&mut *connection)
            .await
            .map_err(query_error("save the state"))?;
    }
    if !changes.upserts.is_empty() {
        let kinds: Vec<&str> = changes.upserts.iter().map(|entry| entry.kind).collect();
        let keys: Vec<&str> = changes
            .upserts
            .iter()
            .map(|entry| entry.key.as_str())
            .collect();
        let jsons: Vec<&str> = changes
            .upserts
            .iter()
            .map(|entry| entry.json.as_str())
            .collect();
        sqlx::query(
            "INSERT INTO state_entries (kind, key, json) \
             SELECT kind, key, json \
             FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY \
             AS entry (kind, key, json, ord) \
             ORDER BY ord \
             ON CONFLICT (kind, key) DO UPDATE SET json = excluded.json",
        )
        .bind(kinds)
        .bind(keys)
        .bind(jsons)
        .execute(&mut *connection)
        .await
        .map_err(query_error("save the state"))?;
    }
    Ok(())
}

impl Postgres {
    async fn begin(&self, operation: &'static str) -> Result<PgTransaction<'static>, Error> {
        self.pool.begin().await.map_err(query_error(operation))
    }

    async fn load_state_inner(&self) -> Result<Option<State>, Error> {
        // One snapshot: the `state` row and the entries of the same commit.
        let mut reader = self
            .pool
            .begin_with(BEGIN_SNAPSHOT)
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
        let known: Vec<String> =
            sqlx::query_scalar("SELECT id FROM events WHERE id = ANY($1::text[])")
                .bind(ids)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("look up event ids"))?;
        let known: HashSet<String> = known.into_iter().collect();
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
        res
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
        let mut transaction = self.begin("commit a transition").await?;
        write_state(&mut transaction, changes).await?;
        if insert_events(&mut *transaction, accepted, Origin::Processed)
            .await?
            .len()
            != accepted.len()
        {
            transaction
                .rollback()
                .await
                .map_err(query_error("commit a transition"))?;
            let events: Vec<&KeptnEvent> = accepted.iter().collect();
            return Err(self.duplicate_error(&events).await);
        }
        mark_processed(&mut transaction, processed).await?;
        if insert_events(&mut *transaction, emitted, Origin::Emitted)
            .await?
            .len()
            != emitted.len()
        {
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
        let rows =
            sqlx::query_as("SELECT id, json FROM events WHERE processed = false ORDER BY seq")
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("list unprocessed events"))?;
        Ok(sql::decode_events(rows)?)
    }

    async fn unpublished_inner(&self) -> Result<Vec<KeptnEvent>, Error> {
        let rows =
            sqlx::query_as("SELECT id, json FROM events WHERE published = false ORDER BY seq")
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("list unpublished events"))?;
        Ok(sql::decode_events(rows)?)
    }

    async fn mark_published_inner(&self, event_ids: &[String]) -> Result<(), Error> {
        if event_ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE events SET published = true \
             WHERE published = false AND id = ANY($1::text[])",
        )
        .bind(event_ids)
        .execute(&self.pool)
        .await
        .map_err(query_error("mark events published"))?;
        Ok(())
    }

    async fn events_inner(&self, filter: &EventFilter) -> Result<Vec<KeptnEvent>, Error> {
        let mut query = QueryBuilder::<Db>::new("SELECT id, json FROM events WHERE true");
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
        let mut transaction = self.begin("create a project").await?;
        let result = sqlx::query(
            "INSERT INTO projects (name, shipyard, git_remote_url) VALUES ($1, $2, $3) \
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
        if !project.services.is_empty() {
            sqlx::query(
                "INSERT INTO services (project, name) \
                 SELECT $1, name FROM UNNEST($2::text[]) WITH ORDINALITY AS service (name, ord) \
                 ORDER BY ord \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&project.name)
            .bind(&project.services)
            .execute(&mut *transaction)
            .await
            .map_err(query_error("create a service"))?;
        }
        transaction
            .commit()
            .await
            .map_err(query_error("create a project"))
    }

    async fn delete_project_inner(&self, name: &str) -> Result<(), Error> {
        // Services go with the project (ON DELETE CASCADE); events and evaluations stay.
        let result = sqlx::query("DELETE FROM projects WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
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
            .begin_with(BEGIN_SNAPSHOT)
            .await
            .map_err(query_error("list projects"))?;
        let project_rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT name, shipyard, git_remote_url FROM projects ORDER BY name COLLATE \"C\"",
        )
        .fetch_all(&mut *reader)
        .await
        .map_err(query_error("list projects"))?;
        let service_rows: Vec<(String, String)> =
            sqlx::query_as("SELECT project, name FROM services ORDER BY seq")
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
        let mut transaction = self.begin("create a service").await?;
        // The lock keeps a concurrent delete of the project waiting until this commits.
        let exists = sqlx::query("SELECT 1 FROM projects WHERE name = $1 FOR KEY SHARE")
            .bind(project)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(query_error("create a service"))?;
        if exists.is_none() {
            return Err(Error::ProjectNotFound {
                name: project.to_owned(),
            });
        }
        sqlx::query("INSERT INTO services (project, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(project)
            .bind(service)
            .execute(&mut *transaction)
            .await
            .map_err(query_error("create a service"))?;
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
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
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
        .execute(&self.pool)
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
        // LIMIT NULL is PostgreSQL for "no limit".
        let limit = sql::limit(limit);
        let rows: Vec<EvaluationRow> = sqlx::query_as(
            "SELECT event_id, project, stage, service, time, data, invalidated FROM evaluations \
             WHERE project = $1 AND stage = $2 AND service = $3 \
             ORDER BY time DESC, seq DESC LIMIT $4",
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
