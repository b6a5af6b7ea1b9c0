//! The deterministic simulation model behind `keptn shipyard simulate`: one interleaving of
//! events that is consistent with Keptn's rules when every integration answers at once.
//!
//! Every task is answered at once by a simulated integration with the outcome configured for
//! `<stage>.<task>` (default `pass`). Work items are processed from one FIFO queue:
//! `Start(stage, sequence)` and `Done(execution, task index)`. The transcript lists the
//! `.triggered` events and the sequence `.finished` events, in the order they are emitted.
//! Chaining uses the same selector semantics as the orchestrator
//! ([`crate::shipyard::Shipyard::triggered_by`]).

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::event::{EventType, SequenceEventKind, TaskEventKind, TaskResult};
use crate::shipyard::Shipyard;

/// The default event limit; self-triggering sequences loop forever otherwise.
pub const DEFAULT_EVENT_LIMIT: usize = 10_000;

/// What the simulated integration answers for a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// `pass`.
    Pass,
    /// `warning` (the sequence continues).
    Warning,
    /// `fail` (the sequence stops).
    Fail,
    /// status `errored` (the sequence stops with `fail`).
    Errored,
}

impl Outcome {
    /// The result a sequence ending with this outcome has.
    pub fn sequence_result(self) -> TaskResult {
        match self {
            Self::Pass => TaskResult::Pass,
            Self::Warning => TaskResult::Warning,
            Self::Fail | Self::Errored => TaskResult::Fail,
        }
    }

    fn stops(self) -> bool {
        matches!(self, Self::Fail | Self::Errored)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pass => "pass",
            Self::Warning => "warning",
            Self::Fail => "fail",
            Self::Errored => "errored",
        })
    }
}

impl FromStr for Outcome {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "pass" => Ok(Self::Pass),
            "warning" => Ok(Self::Warning),
            "fail" => Ok(Self::Fail),
            "errored" => Ok(Self::Errored),
            other => Err(Error::InvalidSimulation {
                message: format!("outcome '{other}' is not one of pass, warning, fail, errored"),
            }),
        }
    }
}

/// Outcomes per `<stage>.<task>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes(pub BTreeMap<String, Outcome>);

impl Outcomes {
    /// Parses `stage.task=outcome`.
    pub fn insert_assignment(&mut self, assignment: &str) -> Result<(), Error> {
        let invalid = || Error::InvalidSimulation {
            message: format!(
                "outcome '{assignment}' is not of the form <stage>.<task>=pass|warning|fail|errored"
            ),
        };
        let (key, value) = assignment.split_once('=').ok_or_else(invalid)?;
        let (stage, task) = key.split_once('.').ok_or_else(invalid)?;
        if stage.is_empty() || task.is_empty() || task.contains('.') {
            return Err(invalid());
        }
        self.0.insert(key.to_owned(), value.parse()?);
        Ok(())
    }

    /// Checks that every key names a task that exists in that stage.
    pub fn check_against(&self, shipyard: &Shipyard) -> Result<(), Error> {
        for key in self.0.keys() {
            let (stage_name, task_name) = key.split_once('.').unwrap_or((key.as_str(), ""));
            let Some(stage) = shipyard.stage(stage_name) else {
                return Err(Error::InvalidSimulation {
                    message: format!(
                        "outcome '{key}' names stage '{stage_name}', which the shipyard does not define"
                    ),
                });
            };
            let has_task = task_name == "evaluation"
                || stage
                    .sequences
                    .iter()
                    .any(|sequence| sequence.tasks.iter().any(|task| task.name == task_name));
            if !has_task {
                return Err(Error::InvalidSimulation {
                    message: format!(
                        "outcome '{key}' names task '{task_name}', which no sequence of stage '{stage_name}' has"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The outcome of `task` in `stage`.
    pub fn get(&self, stage: &str, task: &str) -> Outcome {
        self.0
            .get(&format!("{stage}.{task}"))
            .copied()
            .unwrap_or(Outcome::Pass)
    }
}

/// One line of the transcript: an event the orchestrator emits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatedEvent {
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The result (sequence `.finished` events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<TaskResult>,
    /// The stage the event is about (for the text timeline; not in the JSON output).
    #[serde(skip)]
    pub stage: String,
    /// For a task `.triggered`: what the simulated integration answers (text timeline only).
    #[serde(skip)]
    pub answer: Option<Outcome>,
}

#[derive(Debug)]
enum Work {
    Start {
        stage: String,
        sequence: String,
    },
    Done {
        execution_idx: usize,
        task_idx: usize,
    },
}

#[derive(Debug)]
struct SimulatedExecution {
    stage: String,
    sequence: String,
    tasks: Vec<String>,
}

/// Runs the model from `stage.sequence.triggered`. Stops with [`Error::SimulationLimit`]
/// after `event_limit` events.
pub fn simulate(
    shipyard: &Shipyard,
    stage: &str,
    sequence: &str,
    outcomes: &Outcomes,
    event_limit: usize,
) -> Result<Vec<SimulatedEvent>, Error> {
    for (what, name) in [("stage", stage), ("sequence", sequence)] {
        if name.is_empty() || name.contains('.') || name.chars().any(char::is_whitespace) {
            return Err(Error::InvalidSimulation {
                message: format!("{what} '{name}' must be non-empty, without dots or spaces"),
            });
        }
    }
    let mut log: Vec<SimulatedEvent> = Vec::new();
    let mut queue: VecDeque<Work> = VecDeque::new();
    let mut executions: Vec<SimulatedExecution> = Vec::new();
    let mut active: BTreeMap<String, usize> = BTreeMap::new();
    let mut parked: BTreeMap<String, VecDeque<(String, String)>> = BTreeMap::new();

    let push = |log: &mut Vec<SimulatedEvent>, event: SimulatedEvent| -> Result<(), Error> {
        if log.len() >= event_limit {
            let sequence = match &event.event_type {
                EventType::Sequence {
                    stage, sequence, ..
                } => format!("{stage}.{sequence}"),
                other => other.to_string(),
            };
            return Err(Error::SimulationLimit {
                n_events: log.len(),
                sequence,
            });
        }
        log.push(event);
        Ok(())
    };
    let sequence_event = |stage: &str,
                          sequence: &str,
                          kind: SequenceEventKind,
                          result: Option<TaskResult>| SimulatedEvent {
        event_type: EventType::Sequence {
            stage: stage.to_owned(),
            sequence: sequence.to_owned(),
            kind,
        },
        result,
        stage: stage.to_owned(),
        answer: None,
    };
    let task_triggered = |stage: &str, task: &str| SimulatedEvent {
        event_type: EventType::Task {
            task: task.to_owned(),
            kind: TaskEventKind::Triggered,
        },
        result: None,
        stage: stage.to_owned(),
        answer: Some(outcomes.get(stage, task)),
    };

    push(
        &mut log,
        sequence_event(stage, sequence, SequenceEventKind::Triggered, None),
    )?;
    queue.push_back(Work::Start {
        stage: stage.to_owned(),
        sequence: sequence.to_owned(),
    });

    while let Some(work) = queue.pop_front() {
        match work {
            Work::Start { stage, sequence } => {
                let tasks: Vec<String> = match shipyard.resolve_sequence(&stage, &sequence) {
                    Ok(resolved) => resolved
                        .tasks
                        .iter()
                        .map(|task| task.name.clone())
                        .collect(),
                    Err(_) => {
                        push(
                            &mut log,
                            sequence_event(
                                &stage,
                                &sequence,
                                SequenceEventKind::Finished,
                                Some(TaskResult::Fail),
                            ),
                        )?;
                        continue;
                    }
                };
                if active.contains_key(&stage) {
                    parked
                        .entry(stage.clone())
                        .or_default()
                        .push_back((stage, sequence));
                    continue;
                }
                let execution_idx = executions.len();
                push(&mut log, task_triggered(&stage, &tasks[0]))?;
                executions.push(SimulatedExecution {
                    stage: stage.clone(),
                    sequence,
                    tasks,
                });
                active.insert(stage, execution_idx);
                queue.push_back(Work::Done {
                    execution_idx,
                    task_idx: 0,
                });
            }
            Work::Done {
                execution_idx,
                task_idx,
            } => {
                let execution = &executions[execution_idx];
                let task_name = &execution.tasks[task_idx];
                let outcome = outcomes.get(&execution.stage, task_name);
                let next_idx = task_idx + 1;
                if !outcome.stops() && next_idx < execution.tasks.len() {
                    push(
                        &mut log,
                        task_triggered(&execution.stage, &execution.tasks[next_idx]),
                    )?;
                    queue.push_back(Work::Done {
                        execution_idx,
                        task_idx: next_idx,
                    });
                    continue;
                }
                // finish(exec, r)
                let result = outcome.sequence_result();
                let (stage, sequence) = (execution.stage.clone(), execution.sequence.clone());
                push(
                    &mut log,
                    sequence_event(
                        &stage,
                        &sequence,
                        SequenceEventKind::Finished,
                        Some(result.clone()),
                    ),
                )?;
                active.remove(&stage);
                for (next_stage, next_sequence) in
                    shipyard.triggered_by(&stage, &sequence, &result, task_name)
                {
                    push(
                        &mut log,
                        sequence_event(
                            next_stage,
                            next_sequence,
                            SequenceEventKind::Triggered,
                            None,
                        ),
                    )?;
                    queue.push_back(Work::Start {
                        stage: next_stage.to_owned(),
                        sequence: next_sequence.to_owned(),
                    });
                }
                if let Some((parked_stage, parked_sequence)) =
                    parked.get_mut(&stage).and_then(VecDeque::pop_front)
                {
                    queue.push_back(Work::Start {
                        stage: parked_stage,
                        sequence: parked_sequence,
                    });
                }
            }
        }
    }
    Ok(log)
}

/// Renders a transcript as the JSON array of `--output json`.
pub fn to_json(events: &[SimulatedEvent]) -> String {
    serde_json::to_string_pretty(events).expect("a transcript always serialises")
}

/// Renders a transcript as a readable timeline (`--output text`).
pub fn to_text(events: &[SimulatedEvent]) -> String {
    let width = events
        .iter()
        .map(|event| event.stage.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut res = String::new();
    for (event_idx, event) in events.iter().enumerate() {
        let line = match (&event.event_type, &event.result, event.answer) {
            (
                EventType::Sequence {
                    stage,
                    sequence,
                    kind: SequenceEventKind::Triggered,
                },
                _,
                _,
            ) => {
                format!("▶ {stage}.{sequence} triggered")
            }
            (
                EventType::Sequence {
                    stage, sequence, ..
                },
                result,
                _,
            ) => {
                let result = result.as_ref().map(ToString::to_string).unwrap_or_default();
                format!("■ {stage}.{sequence} finished: {result}")
            }
            (EventType::Task { task, .. }, _, Some(answer)) => format!("  ├─ {task} → {answer}"),
            (other, _, _) => format!("  {other}"),
        };
        res.push_str(&format!(
            "{:>4}  {:<width$}  {line}\n",
            event_idx + 1,
            event.stage
        ));
    }
    res
}
