//! The orchestrator [`State`] as rows, and what changed since the last commit.
//!
//! The state is stored in parts so that a commit rewrites only what changed: one row per
//! execution and one per project's shipyard (table `state_entries`), plus the `state` row with
//! the rest (those two maps written empty). [`Written`] remembers the parts as last committed;
//! [`Written::changes`] compares the new state with it by value (no serialisation of unchanged
//! parts) and serialises only the parts to write.
//!
//! What it does not do: it runs no SQL (`client.rs` does) and holds no lock; the caller holds
//! one over the remembered parts for a whole commit and settles them afterwards
//! ([`Written::settle`]: forgotten on any failed commit).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use keptn_core::event::Timestamp;
use keptn_core::orchestrator::{Execution, PauseScope, State};
use keptn_core::shipyard::Shipyard;
use serde::Serialize;

use crate::sql::RowError;

/// `state_entries.kind` of an execution; its key is the execution id in decimal.
pub(crate) const EXECUTION: &str = "execution";
/// `state_entries.kind` of a project's shipyard; its key is the project name.
pub(crate) const SHIPYARD: &str = "shipyard";

/// The fields of [`State`] kept in the `state` row (everything but the two maps).
#[derive(Debug, Clone, PartialEq)]
struct Rest {
    paused: BTreeSet<PauseScope>,
    next_execution_id: u64,
    next_event_number: u64,
    handled_triggers: VecDeque<String>,
    handled_trigger_set: BTreeSet<String>,
    scheduled_wake: Option<Timestamp>,
}

/// The `state` row as serialised: [`State`]'s fields, with `shipyards` and `executions` empty,
/// so the row alone still reads as a [`State`].
#[derive(Serialize)]
struct RestRow<'a> {
    shipyards: BTreeMap<String, Shipyard>,
    executions: BTreeMap<u64, Execution>,
    paused: &'a BTreeSet<PauseScope>,
    next_execution_id: u64,
    next_event_number: u64,
    handled_triggers: &'a VecDeque<String>,
    handled_trigger_set: &'a BTreeSet<String>,
    scheduled_wake: Option<Timestamp>,
}

/// The borrowed parts of a [`State`].
struct Parts<'a> {
    shipyards: &'a BTreeMap<String, Shipyard>,
    executions: &'a BTreeMap<u64, Execution>,
    rest: RestRef<'a>,
}

/// [`Rest`], borrowed.
struct RestRef<'a> {
    paused: &'a BTreeSet<PauseScope>,
    next_execution_id: u64,
    next_event_number: u64,
    handled_triggers: &'a VecDeque<String>,
    handled_trigger_set: &'a BTreeSet<String>,
    scheduled_wake: Option<Timestamp>,
}

impl<'a> Parts<'a> {
    fn of(state: &'a State) -> Self {
        // No `..`: a field added to `State` fails to compile here instead of being lost.
        let State {
            shipyards,
            executions,
            paused,
            next_execution_id,
            next_event_number,
            handled_triggers,
            handled_trigger_set,
            scheduled_wake,
        } = state;
        Parts {
            shipyards,
            executions,
            rest: RestRef {
                paused,
                next_execution_id: *next_execution_id,
                next_event_number: *next_event_number,
                handled_triggers,
                handled_trigger_set,
                scheduled_wake: *scheduled_wake,
            },
        }
    }
}

impl RestRef<'_> {
    fn matches(&self, rest: &Rest) -> bool {
        self.next_execution_id == rest.next_execution_id
            && self.next_event_number == rest.next_event_number
            && self.scheduled_wake == rest.scheduled_wake
            && *self.paused == rest.paused
            && *self.handled_triggers == rest.handled_triggers
            && *self.handled_trigger_set == rest.handled_trigger_set
    }

    fn to_owned(&self) -> Rest {
        Rest {
            paused: self.paused.clone(),
            next_execution_id: self.next_execution_id,
            next_event_number: self.next_event_number,
            handled_triggers: self.handled_triggers.clone(),
            handled_trigger_set: self.handled_trigger_set.clone(),
            scheduled_wake: self.scheduled_wake,
        }
    }

    fn to_json(&self) -> Result<String, RowError> {
        serde_json::to_string(&RestRow {
            shipyards: BTreeMap::new(),
            executions: BTreeMap::new(),
            paused: self.paused,
            next_execution_id: self.next_execution_id,
            next_event_number: self.next_event_number,
            handled_triggers: self.handled_triggers,
            handled_trigger_set: self.handled_trigger_set,
            scheduled_wake: self.scheduled_wake,
        })
        .map_err(RowError::EncodeState)
    }
}

/// The state as last committed by this store, part by part.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Written {
    shipyards: BTreeMap<String, Shipyard>,
    executions: BTreeMap<u64, Execution>,
    rest: Rest,
}

/// One `state_entries` row to insert or replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// [`EXECUTION`] or [`SHIPYARD`].
    pub(crate) kind: &'static str,
    /// The execution id or the project name.
    pub(crate) key: String,
    /// The serde JSON of the execution or shipyard.
    pub(crate) json: String,
}

/// What a commit writes of the state.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Nothing is known about the stored rows: delete every entry before writing.
    pub(crate) replace_all: bool,
    /// The new `state` row, when it changed.
    pub(crate) rest: Option<String>,
    /// Entries to insert or replace.
    pub(crate) upserts: Vec<Entry>,
    /// Entries to delete, as (kind, key).
    pub(crate) deletes: Vec<(&'static str, String)>,
}

fn encode<T: Serialize>(value: &T) -> Result<String, RowError> {
    serde_json::to_string(value).map_err(RowError::EncodeState)
}

/// Upserts and deletes that turn the rows of `before` (everything, when `None`) into `now`.
fn diff_map<K: Ord, V: PartialEq + Serialize>(
    kind: &'static str,
    before: Option<&BTreeMap<K, V>>,
    now: &BTreeMap<K, V>,
    key_text: impl Fn(&K) -> String,
    changes: &mut Changes,
) -> Result<(), RowError> {
    for (key, value) in now {
        if before.and_then(|before| before.get(key)) != Some(value) {
            changes.upserts.push(Entry {
                kind,
                key: key_text(key),
                json: encode(value)?,
            });
        }
    }
    if let Some(before) = before {
        for key in before.keys() {
            if !now.contains_key(key) {
                changes.deletes.push((kind, key_text(key)));
            }
        }
    }
    Ok(())
}

impl Written {
    /// What to write so the rows hold `state`, given the rows hold `written` (`None`: unknown,
    /// so everything is rewritten).
    pub(crate) fn changes(written: Option<&Written>, state: &State) -> Result<Changes, RowError> {
        let parts = Parts::of(state);
        let mut changes = Changes {
            replace_all: written.is_none(),
            ..Changes::default()
        };
        if written.is_none_or(|written| !parts.rest.matches(&written.rest)) {
            changes.rest = Some(parts.rest.to_json()?);
        }
        diff_map(
            SHIPYARD,
            written.map(|written| &written.shipyards),
            parts.shipyards,
            String::clone,
            &mut changes,
        )?;
        diff_map(
            EXECUTION,
            written.map(|written| &written.executions),
            parts.executions,
            u64::to_string,
            &mut changes,
        )?;
        Ok(changes)
    }

    /// Settles what `written` remembers after a commit of `state` that wrote `changes`: the
    /// new parts when it was committed; nothing when it failed (whether a failed `COMMIT`
    /// wrote anything is unknown), so the next commit rewrites every row.
    pub(crate) fn settle(
        written: &mut Option<Written>,
        state: &State,
        changes: &Changes,
        committed: bool,
    ) {
        *written = if committed {
            Some(Written::after(written.take(), state, changes))
        } else {
            None
        };
    }

    /// Remembers `state` as committed, cloning only what `changes` wrote (when `written`
    /// described the rows before).
    fn after(written: Option<Written>, state: &State, changes: &Changes) -> Written {
        let parts = Parts::of(state);
        let Some(mut written) = written.filter(|_| !changes.replace_all) else {
            return Written {
                shipyards: parts.shipyards.clone(),
                executions: parts.executions.clone(),
                rest: parts.rest.to_owned(),
            };
        };
        if changes.rest.is_some() {
            written.rest = parts.rest.to_owned();
        }
        for (kind, key) in &changes.deletes {
            match *kind {
                SHIPYARD => {
                    written.shipyards.remove(key);
                }
                _ => {
                    if let Ok(id) = key.parse::<u64>() {
                        written.executions.remove(&id);
                    }
                }
            }
        }
        // Upserts name the changed parts; copy those from the state.
        for entry in &changes.upserts {
            match entry.kind {
                SHIPYARD => {
                    if let Some(shipyard) = parts.shipyards.get(&entry.key) {
                        written
                            .shipyards
                            .insert(entry.key.clone(), shipyard.clone());
                    }
                }
                _ => {
                    if let Some((id, execution)) = entry
                        .key
                        .parse::<u64>()
                        .ok()
                        .and_then(|id| parts.executions.get_key_value(&id))
                    {
                        written.executions.insert(*id, execution.clone());
                    }
                }
            }
        }
        written
    }
}

/// Builds the state from the `state` row and the `state_entries` rows (kind, key, json). The
/// row of a version-1 database holds everything; entries override it.
pub(crate) fn assemble(
    row: &str,
    entries: impl IntoIterator<Item = (String, String, String)>,
) -> Result<State, RowError> {
    let mut state: State = serde_json::from_str(row).map_err(|source| RowError::Corrupt {
        what: "state",
        key: "1".to_owned(),
        source: Box::new(source),
    })?;
    for (kind, key, json) in entries {
        let corrupt = |source: Box<dyn std::error::Error + Send + Sync>| RowError::Corrupt {
            what: "state entry",
            key: format!("{kind}/{key}"),
            source,
        };
        match kind.as_str() {
            EXECUTION => {
                let id = key
                    .parse::<u64>()
                    .map_err(|source| corrupt(Box::new(source)))?;
                let execution: Execution =
                    serde_json::from_str(&json).map_err(|source| corrupt(Box::new(source)))?;
                state.executions.insert(id, execution);
            }
            SHIPYARD => {
                let shipyard: Shipyard =
                    serde_json::from_str(&json).map_err(|source| corrupt(Box::new(source)))?;
                state.shipyards.insert(key, shipyard);
            }
            other => {
                return Err(corrupt(
                    format!("unknown kind '{other}', expected 'execution' or 'shipyard'").into(),
                ));
            }
        }
    }
    Ok(state)
}
