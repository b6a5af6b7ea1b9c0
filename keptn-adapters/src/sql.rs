//! What the SQLite and PostgreSQL stores share besides their SQL: the shape of their
//! [`Store`](keptn_core::ports::Store) implementation ([`impl_store!`]), the checks before a
//! commit, the decoding of stored events, evaluations and projects, and the searches that
//! name the failing id of a refused commit.
//!
//! What it does not do: it runs no SQL (the dialects differ; each store's `client.rs` is the
//! only file that speaks it) and has no error of its own to show: its functions return
//! [`RowError`], which each store converts into its own `Error` (one per adapter), so the
//! messages stay each store's.

use std::collections::{BTreeMap, HashSet};

use keptn_core::event::{KeptnEvent, Timestamp};
use keptn_core::ports::{EvaluationRecord, ProjectRecord};

/// Why a value cannot be stored or read back; each store maps it into its own error.
#[derive(Debug)]
pub(crate) enum RowError {
    /// The state (or a part of it) cannot be encoded as JSON.
    EncodeState(serde_json::Error),
    /// A stored value cannot be decoded.
    Corrupt {
        /// `state`, `state entry`, `event` or `evaluation`.
        what: &'static str,
        /// `1` for the state row, `kind/key` for a state entry such as `execution/3`, the
        /// event id, the evaluation's event id.
        key: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An event without an id cannot be stored or deduplicated.
    EmptyEventId {
        /// The event's type.
        event_type: String,
    },
    /// A number does not fit a signed 64-bit column.
    OutOfRange {
        /// `time`.
        what: &'static str,
        /// The value.
        value: u64,
    },
}

/// Implements [`Store`](keptn_core::ports::Store) for a store type whose inherent methods are
/// the trait's with `_inner` appended (same arguments) and return its own `Error`, which
/// converts into [`AdapterError`](keptn_core::ports::AdapterError).
macro_rules! impl_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl keptn_core::ports::Store for $store {
            async fn load_state(
                &self,
            ) -> Result<Option<keptn_core::orchestrator::State>, keptn_core::ports::AdapterError>
            {
                Ok(self.load_state_inner().await?)
            }

            async fn unprocessed(
                &self,
            ) -> Result<Vec<keptn_core::event::KeptnEvent>, keptn_core::ports::AdapterError> {
                Ok(self.unprocessed_inner().await?)
            }

            async fn commit(
                &self,
                state: &keptn_core::orchestrator::State,
                accepted: &[keptn_core::event::KeptnEvent],
                processed: &[String],
                emitted: &[keptn_core::event::KeptnEvent],
            ) -> Result<(), keptn_core::ports::AdapterError> {
                Ok(self
                    .commit_inner(state, accepted, processed, emitted)
                    .await?)
            }

            async fn known_ids(
                &self,
                ids: &[String],
            ) -> Result<Vec<bool>, keptn_core::ports::AdapterError> {
                Ok(self.known_ids_inner(ids).await?)
            }

            async fn unpublished(
                &self,
            ) -> Result<Vec<keptn_core::event::KeptnEvent>, keptn_core::ports::AdapterError> {
                Ok(self.unpublished_inner().await?)
            }

            async fn mark_published(
                &self,
                event_ids: &[String],
            ) -> Result<(), keptn_core::ports::AdapterError> {
                Ok(self.mark_published_inner(event_ids).await?)
            }

            async fn events(
                &self,
                filter: &keptn_core::ports::EventFilter,
            ) -> Result<Vec<keptn_core::event::KeptnEvent>, keptn_core::ports::AdapterError> {
                Ok(self.events_inner(filter).await?)
            }

            async fn create_project(
                &self,
                project: &keptn_core::ports::ProjectRecord,
            ) -> Result<(), keptn_core::ports::AdapterError> {
                Ok(self.create_project_inner(project).await?)
            }

            async fn delete_project(
                &self,
                name: &str,
            ) -> Result<(), keptn_core::ports::AdapterError> {
                Ok(self.delete_project_inner(name).await?)
            }

            async fn projects(
                &self,
            ) -> Result<Vec<keptn_core::ports::ProjectRecord>, keptn_core::ports::AdapterError>
            {
                Ok(self.projects_inner().await?)
            }

            async fn create_service(
                &self,
                project: &str,
                service: &str,
            ) -> Result<(), keptn_core::ports::AdapterError> {
                Ok(self.create_service_inner(project, service).await?)
            }

            async fn record_evaluation(
                &self,
                evaluation: &keptn_core::ports::EvaluationRecord,
            ) -> Result<(), keptn_core::ports::AdapterError> {
                Ok(self.record_evaluation_inner(evaluation).await?)
            }

            async fn evaluations(
                &self,
                project: &str,
                stage: &str,
                service: &str,
                limit: usize,
            ) -> Result<Vec<keptn_core::ports::EvaluationRecord>, keptn_core::ports::AdapterError>
            {
                Ok(self
                    .evaluations_inner(project, stage, service, limit)
                    .await?)
            }
        }
    };
}
pub(crate) use impl_store;

/// Refuses a commit whose events include one without an id, before anything is written.
pub(crate) fn check_ids<'a>(
    events: impl IntoIterator<Item = &'a KeptnEvent>,
) -> Result<(), RowError> {
    match events.into_iter().find(|event| event.id.is_empty()) {
        Some(event) => Err(RowError::EmptyEventId {
            event_type: event.event_type.to_string(),
        }),
        None => Ok(()),
    }
}

/// The `LIMIT` of a listing: `None` for 0 (no limit); a limit beyond the largest a column
/// holds lists everything.
pub(crate) fn limit(limit: usize) -> Option<i64> {
    (limit != 0).then(|| i64::try_from(limit).unwrap_or(i64::MAX))
}

/// An evaluation's time as stored: milliseconds in a signed 64-bit column.
pub(crate) fn evaluation_time(evaluation: &EvaluationRecord) -> Result<i64, RowError> {
    i64::try_from(evaluation.time.0).map_err(|_| RowError::OutOfRange {
        what: "time",
        value: evaluation.time.0,
    })
}

/// Events from their stored `(id, json)` rows, in row order.
pub(crate) fn decode_events(rows: Vec<(String, String)>) -> Result<Vec<KeptnEvent>, RowError> {
    rows.into_iter()
        .map(|(id, json)| {
            KeptnEvent::from_json(&json).map_err(|source| RowError::Corrupt {
                what: "event",
                key: id,
                source: Box::new(source),
            })
        })
        .collect()
}

/// An `evaluations` row: `event_id, project, stage, service, time, data, invalidated`.
pub(crate) type EvaluationRow = (String, String, String, String, i64, String, bool);

/// An evaluation from its stored row.
pub(crate) fn decode_evaluation(row: EvaluationRow) -> Result<EvaluationRecord, RowError> {
    let (event_id, project, stage, service, time, data, invalidated) = row;
    let corrupt = |source: Box<dyn std::error::Error + Send + Sync>| RowError::Corrupt {
        what: "evaluation",
        key: event_id.clone(),
        source,
    };
    let data = serde_json::from_str(&data).map_err(|source| corrupt(Box::new(source)))?;
    let time = u64::try_from(time).map_err(|source| corrupt(Box::new(source)))?;
    Ok(EvaluationRecord {
        event_id,
        project,
        stage,
        service,
        time: Timestamp(time),
        data,
        invalidated,
    })
}

/// Projects from their `(name, shipyard, git_remote_url)` rows (in the order to list them)
/// and the `(project, service)` rows (in creation order).
pub(crate) fn projects(
    project_rows: Vec<(String, String, Option<String>)>,
    service_rows: Vec<(String, String)>,
) -> Vec<ProjectRecord> {
    let mut services_by_project: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (project, service) in service_rows {
        services_by_project
            .entry(project)
            .or_default()
            .push(service);
    }
    project_rows
        .into_iter()
        .map(|(name, shipyard, git_remote_url)| ProjectRecord {
            services: services_by_project.remove(&name).unwrap_or_default(),
            shipyard,
            git_remote_url,
            name,
        })
        .collect()
}

/// `ids` without repeats, in order of first appearance.
pub(crate) fn distinct(ids: &[String]) -> Vec<&str> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter()
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect()
}

/// The id to name when marking `wanted` processed touched fewer rows than asked: the first
/// one not among the accepted events `found`.
pub(crate) fn first_not_found<'a>(wanted: &[&'a str], found: &HashSet<String>) -> &'a str {
    wanted
        .iter()
        .find(|id| !found.contains(**id))
        .or(wanted.first())
        .copied()
        .unwrap_or_default()
}

/// The id to name when inserting the events with `ids`, in order, failed on a duplicate,
/// given which ids the history held before (`known`, one per id): the first one the history
/// held or an earlier one of them has. Only a row deleted (or a concurrent insert rolled back)
/// meanwhile would leave none; then all of them.
pub(crate) fn first_duplicate(ids: &[String], known: &[bool]) -> String {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter()
        .zip(known)
        .find(|(id, known)| **known || !seen.insert(id.as_str()))
        .map_or_else(|| ids.join(", "), |(id, _)| id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|&id| id.to_owned()).collect()
    }

    #[test]
    fn the_first_duplicate_is_a_known_id_or_a_repeat() {
        let ids = strings(&["a", "b", "c", "b", "d"]);
        assert_eq!(first_duplicate(&ids, &[false; 5]), "b");
        assert_eq!(
            first_duplicate(&ids, &[false, false, true, false, true]),
            "c"
        );
        assert_eq!(first_duplicate(&strings(&["a", "b"]), &[false; 2]), "a, b");
    }

    #[test]
    fn the_first_not_found_is_named() {
        let found: HashSet<String> = strings(&["a", "c"]).into_iter().collect();
        assert_eq!(first_not_found(&["a", "b", "c", "d"], &found), "b");
        assert_eq!(first_not_found(&["a", "c"], &found), "a");
        assert_eq!(
            distinct(&strings(&["a", "b", "a", "c", "b"])),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn limits_beyond_a_column_list_everything() {
        assert_eq!(limit(0), None);
        assert_eq!(limit(2), Some(2));
        assert_eq!(limit(usize::MAX), Some(i64::MAX));
    }

    #[test]
    fn services_go_to_their_projects_in_order() {
        let listed = projects(
            vec![
                ("a".into(), "s".into(), None),
                ("b".into(), "s".into(), Some("url".into())),
            ],
            vec![
                ("b".into(), "x".into()),
                ("gone".into(), "y".into()),
                ("b".into(), "w".into()),
            ],
        );
        assert_eq!(listed[0].services, Vec::<String>::new());
        assert_eq!(listed[1].services, ["x", "w"]);
        assert_eq!(listed[1].git_remote_url.as_deref(), Some("url"));
    }
}
