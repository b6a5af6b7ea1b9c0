//! The sequence orchestrator (what Keptn's shipyard-controller does) as a pure state machine.
//!
//! [`Orchestrator::handle`] takes the time (`now`) and one [`Input`] — a Keptn event, a control
//! command (abort/pause/resume), a clock tick or a shipyard update — changes [`State`] and
//! returns [`Output`]s: events to publish and commands for the service. It never reads a
//! clock, never does I/O and never blocks; the service persists [`State`] (it is serde) and the
//! outputs together.
//!
//! Behaviour, following Keptn's shipyard-controller with its known problems fixed:
//!
//! - `<stage>.<sequence>.triggered` starts a sequence (the built-in `evaluation` included);
//!   one that cannot start finishes at once with `fail`/`errored` and does not chain.
//! - At most one sequence runs per project + stage + service; later ones queue in FIFO order.
//!   A sequence waiting on an `approval` task does not hold the stage; when the approval
//!   finishes it queues to continue. Sequences of one Keptn context queue as well (Keptn let
//!   them interfere, keptn#7400).
//! - A task's `.triggered` data is the trigger's data, merged with every completed task's
//!   output (newer numbers and booleans win: keptn's merge quirk is fixed), the last task's
//!   `result`/`status`, and the task's shipyard `properties` under `data.<task>`.
//! - A task completes when at least one `.finished` arrived and there are at least as many
//!   `.finished` as `.started` events (counted over all sources: a manual approval is started
//!   by the approval-service and finished by a person). A `.finished` without any `.started`
//!   therefore completes it too (Keptn required equal counts, and that case stuck forever).
//!   An answer redelivered by the bus (same event id) is counted once.
//! - Results aggregate over all `.finished` events (`fail` beats `warning` beats `pass`; an
//!   empty or unknown result is `fail`; a missing status forces `fail`). `fail` or `errored`
//!   stops the sequence, and the sequence result is then `fail`; otherwise the last task's
//!   result is the sequence result.
//! - A normal ending chains through `triggeredOn` in shipyard order; the chained triggers are
//!   emitted and started in the same transition (their ids make a copy coming back from the bus
//!   a no-op).
//! - Timeouts end a sequence with `fail`/`errored`, a clear message and no chaining: no
//!   `.started`/`.finished` within [`Config::task_started_timeout`] after `.triggered`, or no
//!   completion within the task's finished limit after its first response
//!   ([`Config::finished_timeout_for`]; manual approvals have none by default).
//! - Abort finishes the context's sequences with status `aborted` (result `pass`, as Keptn);
//!   pause holds their next task and their start; resume releases them.
//!
//! ```
//! use keptn_core::event::{EventData, EventType, KeptnEvent, Timestamp};
//! use keptn_core::orchestrator::{Config, Input, Orchestrator, Output};
//!
//! let shipyard = keptn_core::shipyard::parse(
//!     "apiVersion: spec.keptn.sh/0.2.3
//! spec:
//!   stages:
//!     - name: dev
//!       sequences:
//!         - name: delivery
//!           tasks:
//!             - name: deployment",
//! )?
//! .shipyard;
//! let mut orchestrator = Orchestrator::new(Config::default());
//! orchestrator.handle(Timestamp(0), Input::SetShipyard { project: "sockshop".into(), shipyard });
//!
//! let event_type = EventType::parse("sh.keptn.event.dev.delivery.triggered")?;
//! let mut trigger =
//!     KeptnEvent::new("t1", "cli", event_type, EventData::scoped("sockshop", "dev", "carts"));
//! trigger.keptn_context = Some("c1".into());
//! let outputs = orchestrator.handle(Timestamp(1_000), Input::Event(trigger));
//! let Output::Emit(task) = &outputs[0] else { unreachable!("the first task is triggered") };
//! assert_eq!(task.event_type.to_string(), "sh.keptn.event.deployment.triggered");
//! # Ok::<(), keptn_core::Error>(())
//! ```

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{
    EventData, EventType, KeptnEvent, SequenceEventKind, TaskEventKind, TaskResult, TaskStatus,
    Timestamp, format_rfc3339,
};
use crate::merge::merge_into;
use crate::shipyard::{Sequence, Shipyard};

/// How many handled sequence-trigger ids are remembered for idempotency.
const REMEMBERED_TRIGGER_IDS: usize = 10_000;

/// Orchestrator settings. Defaults follow Keptn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// `source` of the events the orchestrator emits.
    pub source: String,
    /// A task with neither `.started` nor `.finished` this long after `.triggered` times out
    /// (Keptn's `TASK_STARTED_WAIT_DURATION`, default 10 minutes).
    pub task_started_timeout: Duration,
    /// After a task's first response, it must complete within this limit (per-task limits
    /// requested in keptn#4624; Keptn had none). `None` = no limit.
    pub task_finished_timeout: Option<Duration>,
    /// Per task name overrides of `task_finished_timeout` (`None` = no limit). The default
    /// exempts `approval`: a manual approval may wait for a human indefinitely.
    pub task_finished_timeouts: BTreeMap<String, Option<Duration>>,
    /// First 8 hex digits of generated event ids, to keep ids of several orchestrator
    /// instances apart.
    pub id_namespace: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            source: "shipyard-controller".to_owned(),
            task_started_timeout: Duration::from_secs(10 * 60),
            task_finished_timeout: Some(Duration::from_secs(60 * 60)),
            task_finished_timeouts: BTreeMap::from([("approval".to_owned(), None)]),
            id_namespace: 0,
        }
    }
}

impl Config {
    /// The finished limit that applies to a task named `task`.
    pub fn finished_timeout_for(&self, task: &str) -> Option<Duration> {
        match self.task_finished_timeouts.get(task) {
            Some(limit) => *limit,
            None => self.task_finished_timeout,
        }
    }
}

/// One input to the orchestrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "events are nearly every input; boxing them costs an allocation per transition"
)]
pub enum Input {
    /// A Keptn event from the bus or the API.
    Event(KeptnEvent),
    /// Abort, pause or resume.
    Control(Control),
    /// Time passed; delayed tasks and timeouts are due.
    Tick,
    /// The project's shipyard was created or changed (used for new sequences and chaining;
    /// running sequences keep the copy they started with).
    SetShipyard {
        /// Project name.
        project: String,
        /// The validated shipyard.
        shipyard: Shipyard,
    },
}

/// A control command (`POST /v1/sequence/{project}/{keptnContext}/control`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// Project.
    pub project: String,
    /// Keptn context of the sequences to control.
    pub keptn_context: String,
    /// Only this stage; `None` = every stage.
    pub stage: Option<String>,
    /// What to do.
    pub action: ControlAction,
}

/// Abort, pause or resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlAction {
    /// Finish the sequences now (status `aborted`).
    Abort,
    /// Hold their next task and their start.
    Pause,
    /// Release what pause held.
    Resume,
}

/// One output: an event to publish, or a command for the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "events are nearly every output; boxing them costs an allocation each"
)]
pub enum Output {
    /// Publish this event (persist it with the state first: outbox).
    Emit(KeptnEvent),
    /// Carry out this command.
    Command(Command),
}

/// A command for the service running the orchestrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Call [`Orchestrator::handle`] with [`Input::Tick`] at this time (replaces any earlier
    /// wake-up request).
    WakeAt(Timestamp),
    /// Nothing is due any more; cancel the wake-up request.
    CancelWake,
    /// An input was ignored; log this at warning level.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionStatus {
    /// Waiting for its stage+service to be free (Keptn's `waiting`).
    Queued,
    /// Holds its stage+service; its current task is pending or in flight (`started`).
    Active,
    /// Its current task is an approval in flight; does not hold the stage.
    WaitingForApproval,
    /// The approval finished; waiting for the stage+service to continue.
    Resuming,
}

/// The answers one source gave to the current task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceResponses {
    /// Number of `.started` events.
    pub n_started: u32,
    /// The `.finished` reports.
    pub finished: Vec<FinishedReport>,
}

/// One `.finished` event, reduced to what completion needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishedReport {
    /// `result` (`None` when absent).
    pub result: Option<TaskResult>,
    /// `status` (`None` when absent).
    pub status: Option<TaskStatus>,
    /// `message`.
    pub message: Option<String>,
    /// The rest of `data` (payloads, labels).
    pub properties: Value,
}

/// The task an execution is on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentTask {
    /// Index in the sequence.
    pub index: usize,
    /// Task name.
    pub name: String,
    /// Id of the task's `.triggered` event.
    pub triggered_id: String,
    /// When the `.triggered` event is due (`triggeredAfter`).
    pub send_at: Timestamp,
    /// When it was emitted; `None` while pending.
    pub dispatched_at: Option<Timestamp>,
    /// When the first `.started`/`.finished` arrived.
    pub first_response_at: Option<Timestamp>,
    /// Answers per source.
    pub responses: BTreeMap<String, SourceResponses>,
    /// Ids of the answers counted so far: the bus delivers at least once, and a redelivered
    /// `.finished` must not complete a task another executor is still working on.
    pub answer_ids: BTreeSet<String>,
}

/// A completed task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskOutcome {
    /// Task name.
    pub name: String,
    /// Id of its `.triggered` event.
    pub triggered_id: String,
    /// Aggregated result.
    pub result: TaskResult,
    /// Aggregated status.
    pub status: TaskStatus,
    /// Messages of its `.finished` events, joined with `; `.
    pub message: String,
}

/// One run of a sequence in one stage for one service (Keptn's SequenceExecution).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Creation order; also the FIFO order of the queue.
    pub id: u64,
    /// Project.
    pub project: String,
    /// Stage.
    pub stage: String,
    /// Service.
    pub service: String,
    /// `shkeptncontext`.
    pub keptn_context: String,
    /// Id of the sequence `.triggered` event.
    pub sequence_triggered_id: String,
    /// `gitcommitid` of the trigger, stamped on every task event.
    pub git_commit_id: Option<String>,
    /// Copy of the sequence (later shipyard edits do not affect this run).
    pub sequence: Sequence,
    /// `data` of the sequence `.triggered` event (Keptn's `inputProperties`).
    pub input_properties: EventData,
    /// Life-cycle status.
    pub status: ExecutionStatus,
    /// Task in progress.
    pub current_task: Option<CurrentTask>,
    /// Completed tasks.
    pub previous_tasks: Vec<TaskOutcome>,
    /// The payload so far, which the next task's `.triggered` data and the `.triggered` of a
    /// chained sequence start from: the trigger's data with the scope forced, merged with
    /// every completed task's output, and the last task's `result`/`status`.
    pub accumulated: EventData,
    /// When the trigger arrived.
    pub triggered_at: Timestamp,
    /// Position in the stage+service queue (lower goes first). Usually the id; a sequence
    /// chained from a sequence of the same stage and service takes its predecessor's place,
    /// so a rollback does not wait behind newer deliveries (keptn#8435).
    pub queue_position: u64,
}

/// A paused context (optionally one stage of it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PauseScope {
    /// Project.
    pub project: String,
    /// Keptn context.
    pub keptn_context: String,
    /// Stage, or every stage.
    pub stage: Option<String>,
}

/// Everything the orchestrator remembers. Serialisable; the service persists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Current shipyard per project.
    pub shipyards: BTreeMap<String, Shipyard>,
    /// Executions that have not ended, by id.
    pub executions: BTreeMap<u64, Execution>,
    /// Paused contexts.
    pub paused: BTreeSet<PauseScope>,
    /// Next execution id.
    pub next_execution_id: u64,
    /// Next event number (ids are derived from it).
    pub next_event_number: u64,
    /// Recently handled sequence-trigger ids (idempotency), oldest first.
    pub handled_triggers: VecDeque<String>,
    /// The same ids as a set, for lookups.
    pub handled_trigger_set: BTreeSet<String>,
    /// The wake-up time last requested with [`Command::WakeAt`].
    pub scheduled_wake: Option<Timestamp>,
}

/// The orchestrator: configuration plus state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Orchestrator {
    /// Settings.
    pub config: Config,
    /// State.
    pub state: State,
}

impl Orchestrator {
    /// An orchestrator with no projects.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            state: State::default(),
        }
    }

    /// Handles one input at time `now`; returns what to publish and do, in order.
    pub fn handle(&mut self, now: Timestamp, input: Input) -> Vec<Output> {
        let mut transition = Transition {
            config: &self.config,
            state: &mut self.state,
            now,
            outputs: Vec::new(),
        };
        transition.run(input);
        transition.outputs
    }
}

struct Transition<'a> {
    config: &'a Config,
    state: &'a mut State,
    now: Timestamp,
    outputs: Vec<Output>,
}

fn scope_data(project: &str, stage: &str, service: &str) -> EventData {
    EventData::scoped(project, stage, service)
}

impl Transition<'_> {
    fn run(&mut self, input: Input) {
        // Deadlines that passed before `now` fire first: an answer arriving after its task
        // timed out is late, whether or not a tick came in between.
        self.check_timeouts();
        match input {
            Input::Event(event) => self.on_event(event),
            Input::Control(control) => self.on_control(&control),
            Input::Tick => {}
            Input::SetShipyard { project, shipyard } => {
                self.state.shipyards.insert(project, shipyard);
            }
        }
        self.pump();
        self.schedule_wake();
    }

    fn ignore(&mut self, reason: String) {
        self.outputs
            .push(Output::Command(Command::Ignored { reason }));
    }

    fn next_event_id(&mut self) -> String {
        let number = self.state.next_event_number;
        self.state.next_event_number += 1;
        event_id(self.config.id_namespace, number)
    }

    fn new_event(
        &mut self,
        event_type: EventType,
        data: EventData,
        keptn_context: &str,
    ) -> KeptnEvent {
        let id = self.next_event_id();
        let mut event = KeptnEvent::new(&id, &self.config.source, event_type, data);
        event.time = Some(format_rfc3339(self.now));
        event.keptn_context = Some(keptn_context.to_owned());
        event
    }

    fn on_event(&mut self, event: KeptnEvent) {
        match &event.event_type {
            EventType::Sequence {
                kind: SequenceEventKind::Triggered,
                ..
            } => self.start_sequence(event),
            EventType::Task {
                kind: TaskEventKind::Started | TaskEventKind::Finished,
                ..
            } => {
                self.on_task_response(event);
            }
            // Our own `.triggered`/`.finished` coming back from the bus, status changes,
            // invalidations and foreign types need no action.
            _ => {}
        }
    }

    fn remember_trigger(&mut self, id: &str) -> bool {
        if !self.state.handled_trigger_set.insert(id.to_owned()) {
            return false;
        }
        self.state.handled_triggers.push_back(id.to_owned());
        if self.state.handled_triggers.len() > REMEMBERED_TRIGGER_IDS
            && let Some(oldest) = self.state.handled_triggers.pop_front()
        {
            self.state.handled_trigger_set.remove(&oldest);
        }
        true
    }

    fn start_sequence(&mut self, event: KeptnEvent) {
        self.start_sequence_at(event, None);
    }

    fn start_sequence_at(&mut self, event: KeptnEvent, queue_position: Option<u64>) {
        let EventType::Sequence {
            stage, sequence, ..
        } = &event.event_type
        else {
            return;
        };
        let (Some(project), Some(service)) =
            (event.data.project.clone(), event.data.service.clone())
        else {
            self.ignore(format!(
                "ignored {}: invalid event scope (data needs project, stage and service)",
                event.event_type
            ));
            return;
        };
        let Some(keptn_context) = event.keptn_context.clone() else {
            self.ignore(format!("ignored {}: no shkeptncontext", event.event_type));
            return;
        };
        if !self.remember_trigger(&event.id) {
            self.ignore(format!(
                "ignored {} '{}': this trigger was handled already",
                event.event_type, event.id
            ));
            return;
        }
        let (stage, sequence_name) = (stage.clone(), sequence.clone());
        let resolved = match self.state.shipyards.get(&project) {
            None => Err(format!("project '{project}' has no shipyard")),
            Some(shipyard) => shipyard
                .resolve_sequence(&stage, &sequence_name)
                .map(std::borrow::Cow::into_owned)
                .map_err(|failure| failure.message(&stage, &sequence_name)),
        };
        let sequence_definition = match resolved {
            Ok(definition) => definition,
            Err(message) => {
                let mut data = scope_data(&project, &stage, &service);
                data.labels = event.data.labels.clone();
                data.result = Some(TaskResult::Fail);
                data.status = Some(TaskStatus::Errored);
                data.message = Some(format!(
                    "sequence '{stage}.{sequence_name}' cannot start: {message}"
                ));
                let event_type = EventType::Sequence {
                    stage,
                    sequence: sequence_name,
                    kind: SequenceEventKind::Finished,
                };
                let mut finished = self.new_event(event_type, data, &keptn_context);
                finished.triggered_id = Some(event.id.clone());
                self.outputs.push(Output::Emit(finished));
                return;
            }
        };
        let mut accumulated = event.data.clone();
        accumulated.project = Some(project.clone());
        accumulated.stage = Some(stage.clone());
        accumulated.service = Some(service.clone());
        let id = self.state.next_execution_id;
        self.state.next_execution_id += 1;
        self.state.executions.insert(
            id,
            Execution {
                id,
                project,
                stage,
                service,
                keptn_context,
                sequence_triggered_id: event.id,
                git_commit_id: event.git_commit_id,
                sequence: sequence_definition,
                input_properties: event.data,
                accumulated,
                status: ExecutionStatus::Queued,
                current_task: None,
                previous_tasks: Vec::new(),
                triggered_at: self.now,
                queue_position: queue_position.unwrap_or(id),
            },
        );
    }

    fn on_task_response(&mut self, event: KeptnEvent) {
        let Some(triggered_id) = event.triggered_id.as_deref() else {
            self.ignore(format!(
                "ignored {} '{}': no triggeredid",
                event.event_type, event.id
            ));
            return;
        };
        let found = self.state.executions.values_mut().find(|execution| {
            execution
                .current_task
                .as_ref()
                .is_some_and(|task| task.triggered_id == triggered_id)
                && event
                    .keptn_context
                    .as_deref()
                    .is_none_or(|context| context == execution.keptn_context)
                && event
                    .data
                    .project
                    .as_deref()
                    .is_none_or(|project| project == execution.project)
        });
        let Some(execution) = found else {
            self.ignore(format!(
                "ignored {} '{}': no running task was triggered with id '{triggered_id}' (late, duplicate or foreign)",
                event.event_type, event.id
            ));
            return;
        };
        let execution_id = execution.id;
        let task = execution
            .current_task
            .as_mut()
            .expect("the execution was found by its current task");
        if !task.answer_ids.insert(event.id.clone()) {
            let reason = format!(
                "ignored {} '{}': this answer was counted already (redelivery)",
                event.event_type, event.id
            );
            self.ignore(reason);
            return;
        }
        task.first_response_at.get_or_insert(self.now);
        let is_started = matches!(
            event.event_type,
            EventType::Task {
                kind: TaskEventKind::Started,
                ..
            }
        );
        let KeptnEvent { source, data, .. } = event;
        let responses = task.responses.entry(source).or_default();
        if is_started {
            responses.n_started += 1;
            return;
        }
        let mut properties = data.fields;
        if let Some(labels) = data.labels {
            let labels = labels
                .into_iter()
                .map(|(key, value)| (key, Value::String(value)))
                .collect();
            properties.insert("labels".to_owned(), Value::Object(labels));
        }
        responses.finished.push(FinishedReport {
            result: data.result,
            status: data.status,
            message: data.message,
            properties: Value::Object(properties),
        });
        let n_started: usize = task
            .responses
            .values()
            .map(|source| source.n_started as usize)
            .sum();
        let n_finished: usize = task
            .responses
            .values()
            .map(|source| source.finished.len())
            .sum();
        let is_complete = n_finished >= 1 && n_finished >= n_started;
        if is_complete {
            self.complete_task(execution_id);
        }
    }

    fn complete_task(&mut self, execution_id: u64) {
        let execution = self
            .state
            .executions
            .get_mut(&execution_id)
            .expect("completing a task of a live execution");
        let mut task = execution
            .current_task
            .take()
            .expect("completing the current task");
        let reports: Vec<FinishedReport> = std::mem::take(&mut task.responses)
            .into_values()
            .flat_map(|source| source.finished)
            .collect();
        let next_index = task.index + 1;
        let (outcome, properties) = aggregate(task, reports);
        let stops = outcome.result == TaskResult::Fail || outcome.status == TaskStatus::Errored;
        merge_output(&mut execution.accumulated, properties);
        execution.accumulated.result = Some(outcome.result.clone());
        execution.accumulated.status = Some(outcome.status.clone());
        execution.previous_tasks.push(outcome);
        if stops {
            let status = execution
                .previous_tasks
                .last()
                .map(|o| o.status.clone())
                .unwrap_or(TaskStatus::Errored);
            self.finish(execution_id, TaskResult::Fail, status, None, true);
        } else if next_index < execution.sequence.tasks.len() {
            if execution.status == ExecutionStatus::WaitingForApproval {
                execution.status = ExecutionStatus::Resuming;
            }
            let now = self.now;
            self.prepare_task(execution_id, next_index, now);
        } else {
            let last = execution
                .previous_tasks
                .last()
                .expect("a task just completed");
            let (result, status) = (last.result.clone(), last.status.clone());
            self.finish(execution_id, result, status, None, true);
        }
    }

    fn prepare_task(&mut self, execution_id: u64, index: usize, now: Timestamp) {
        let triggered_id = self.next_event_id();
        let execution = self
            .state
            .executions
            .get_mut(&execution_id)
            .expect("preparing a task of a live execution");
        let task = &execution.sequence.tasks[index];
        let send_at = task.triggered_after.map_or(now, |delay| now.plus(delay));
        execution.current_task = Some(CurrentTask {
            index,
            name: task.name.clone(),
            triggered_id,
            send_at,
            dispatched_at: None,
            first_response_at: None,
            responses: BTreeMap::new(),
            answer_ids: BTreeSet::new(),
        });
    }

    fn dispatch(&mut self, execution_id: u64) {
        let execution = &self.state.executions[&execution_id];
        let task = execution
            .current_task
            .as_ref()
            .expect("dispatching the current task");
        let definition = &execution.sequence.tasks[task.index];
        let mut data = execution.accumulated.clone();
        if !definition.properties.is_null() {
            let slot = data
                .fields
                .entry(definition.name.clone())
                .or_insert(Value::Null);
            merge_into(slot, definition.properties.clone());
        }
        if data.message.is_some() {
            data.message = Some(String::new());
        }
        let event_type = EventType::Task {
            task: definition.name.clone(),
            kind: TaskEventKind::Triggered,
        };
        let (triggered_id, context, commit) = (
            task.triggered_id.clone(),
            execution.keptn_context.clone(),
            execution.git_commit_id.clone(),
        );
        let is_approval = definition.name == "approval";
        let mut event = KeptnEvent::new(&triggered_id, &self.config.source, event_type, data);
        event.time = Some(format_rfc3339(self.now));
        event.keptn_context = Some(context);
        event.git_commit_id = commit;
        self.outputs.push(Output::Emit(event));
        let execution = self
            .state
            .executions
            .get_mut(&execution_id)
            .expect("dispatching a live execution");
        if let Some(task) = execution.current_task.as_mut() {
            task.dispatched_at = Some(self.now);
        }
        execution.status = if is_approval {
            ExecutionStatus::WaitingForApproval
        } else {
            ExecutionStatus::Active
        };
    }

    /// Ends an execution: emits `<stage>.<sequence>.finished`, then (if `chain`) the triggers
    /// it fires, which start at once.
    fn finish(
        &mut self,
        execution_id: u64,
        result: TaskResult,
        status: TaskStatus,
        message: Option<String>,
        chain: bool,
    ) {
        let execution = self
            .state
            .executions
            .remove(&execution_id)
            .expect("finishing a live execution");
        let mut data = scope_data(&execution.project, &execution.stage, &execution.service);
        data.labels = execution.input_properties.labels.clone();
        let message = message.unwrap_or_else(|| {
            execution
                .previous_tasks
                .last()
                .map(|outcome| outcome.message.clone())
                .unwrap_or_default()
        });
        data.message = Some(message);
        data.result = Some(result.clone());
        data.status = Some(status);
        let event_type = EventType::Sequence {
            stage: execution.stage.clone(),
            sequence: execution.sequence.name.clone(),
            kind: SequenceEventKind::Finished,
        };
        let mut finished = self.new_event(event_type, data, &execution.keptn_context);
        finished.triggered_id = Some(execution.sequence_triggered_id.clone());
        self.outputs.push(Output::Emit(finished));
        if !chain {
            return;
        }
        let Some(last_task) = execution
            .previous_tasks
            .last()
            .map(|outcome| outcome.name.clone())
        else {
            return;
        };
        let Some(shipyard) = self.state.shipyards.get(&execution.project) else {
            return;
        };
        let targets: Vec<(String, String)> = shipyard
            .triggered_by(
                &execution.stage,
                &execution.sequence.name,
                &result,
                &last_task,
            )
            .into_iter()
            .map(|(stage, sequence)| (stage.to_owned(), sequence.to_owned()))
            .collect();
        if targets.is_empty() {
            return;
        }
        let payload = execution.accumulated;
        for (stage, sequence) in targets {
            let mut data = payload.clone();
            data.stage = Some(stage.clone());
            let event_type = EventType::Sequence {
                stage,
                sequence,
                kind: SequenceEventKind::Triggered,
            };
            let trigger = self.new_event(event_type, data, &execution.keptn_context);
            self.outputs.push(Output::Emit(trigger.clone()));
            let same_queue = trigger.data.stage.as_deref() == Some(execution.stage.as_str());
            self.start_sequence_at(trigger, same_queue.then_some(execution.queue_position));
        }
    }

    fn is_paused(&self, execution: &Execution) -> bool {
        self.state.paused.iter().any(|scope| {
            scope.project == execution.project
                && scope.keptn_context == execution.keptn_context
                && scope
                    .stage
                    .as_ref()
                    .is_none_or(|stage| stage == &execution.stage)
        })
    }

    fn on_control(&mut self, control: &Control) {
        let matches = |execution: &Execution| {
            execution.project == control.project
                && execution.keptn_context == control.keptn_context
                && control
                    .stage
                    .as_ref()
                    .is_none_or(|stage| stage == &execution.stage)
        };
        let targets: Vec<u64> = self
            .state
            .executions
            .values()
            .filter(|e| matches(e))
            .map(|e| e.id)
            .collect();
        match control.action {
            ControlAction::Abort => {
                if targets.is_empty() {
                    self.ignore(format!(
                        "abort: no sequence of context '{}' is running in project '{}'",
                        control.keptn_context, control.project
                    ));
                }
                for execution_id in targets {
                    self.finish(
                        execution_id,
                        TaskResult::Pass,
                        TaskStatus::Aborted,
                        Some("sequence aborted".to_owned()),
                        false,
                    );
                }
                // Nothing of the aborted scope is left to hold.
                self.state.paused.retain(|scope| {
                    !(scope.project == control.project
                        && scope.keptn_context == control.keptn_context
                        && (control.stage.is_none() || scope.stage == control.stage))
                });
            }
            ControlAction::Pause => {
                self.state.paused.insert(PauseScope {
                    project: control.project.clone(),
                    keptn_context: control.keptn_context.clone(),
                    stage: control.stage.clone(),
                });
            }
            ControlAction::Resume => {
                let before = self.state.paused.len();
                self.state.paused.retain(|scope| {
                    !(scope.project == control.project
                        && scope.keptn_context == control.keptn_context
                        && (control.stage.is_none() || scope.stage == control.stage))
                });
                if before == self.state.paused.len() {
                    self.ignore(format!(
                        "resume: context '{}' is not paused",
                        control.keptn_context
                    ));
                }
            }
        }
    }

    fn check_timeouts(&mut self) {
        let mut timed_out = Vec::new();
        for execution in self.state.executions.values() {
            let Some(task) = &execution.current_task else {
                continue;
            };
            let Some(dispatched_at) = task.dispatched_at else {
                continue;
            };
            match task.first_response_at {
                None => {
                    if self.now >= dispatched_at.plus(self.config.task_started_timeout) {
                        timed_out.push((execution.id, format!(
                            "sequence timed out while waiting for task {} to receive a correlating .started or .finished event (none within {})",
                            task.name,
                            crate::shipyard::format_go_duration(self.config.task_started_timeout)
                        )));
                    }
                }
                Some(first_response_at) => {
                    let Some(limit) = self.config.finished_timeout_for(&task.name) else {
                        continue;
                    };
                    if self.now >= first_response_at.plus(limit) {
                        let n_started: u32 = task.responses.values().map(|r| r.n_started).sum();
                        let n_finished: usize =
                            task.responses.values().map(|r| r.finished.len()).sum();
                        timed_out.push((execution.id, format!(
                            "sequence timed out: task {} did not finish within {} of its first response ({n_started} .started, {n_finished} .finished)",
                            task.name,
                            crate::shipyard::format_go_duration(limit)
                        )));
                    }
                }
            }
        }
        for (execution_id, message) in timed_out {
            self.finish(
                execution_id,
                TaskResult::Fail,
                TaskStatus::Errored,
                Some(message),
                false,
            );
        }
    }

    fn holds_stage(&self, execution: &Execution) -> bool {
        self.state.executions.values().any(|other| {
            other.id != execution.id
                && other.status == ExecutionStatus::Active
                && other.project == execution.project
                && other.stage == execution.stage
                && other.service == execution.service
        })
    }

    fn is_first_in_line(&self, execution: &Execution) -> bool {
        !self.state.executions.values().any(|other| {
            other.queue_position < execution.queue_position
                && matches!(
                    other.status,
                    ExecutionStatus::Queued | ExecutionStatus::Resuming
                )
                && other.project == execution.project
                && other.stage == execution.stage
                && other.service == execution.service
                && !self.is_paused(other)
        })
    }

    /// Starts queued executions, continues approved ones and dispatches due tasks until nothing
    /// changes.
    fn pump(&mut self) {
        loop {
            let mut progressed = false;
            let mut next_id = 0;
            // Walk by id with a cursor: executions may end or start during the walk.
            while let Some((&execution_id, execution)) =
                self.state.executions.range(next_id..).next()
            {
                next_id = execution_id + 1;
                if self.is_paused(execution) {
                    continue;
                }
                match execution.status {
                    ExecutionStatus::Queued | ExecutionStatus::Resuming => {
                        if self.holds_stage(execution) || !self.is_first_in_line(execution) {
                            continue;
                        }
                        let is_new = execution.status == ExecutionStatus::Queued;
                        let execution = self
                            .state
                            .executions
                            .get_mut(&execution_id)
                            .expect("live execution");
                        execution.status = ExecutionStatus::Active;
                        if is_new {
                            let now = self.now;
                            self.prepare_task(execution_id, 0, now);
                        }
                        progressed = true;
                    }
                    ExecutionStatus::Active => {
                        let due = execution.current_task.as_ref().is_some_and(|task| {
                            task.dispatched_at.is_none() && task.send_at <= self.now
                        });
                        if due {
                            self.dispatch(execution_id);
                            progressed = true;
                        }
                    }
                    ExecutionStatus::WaitingForApproval => {}
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        let mut deadline: Option<Timestamp> = None;
        let mut consider =
            |at: Timestamp| deadline = Some(deadline.map_or(at, |current| current.min(at)));
        for execution in self.state.executions.values() {
            let Some(task) = &execution.current_task else {
                continue;
            };
            match (task.dispatched_at, task.first_response_at) {
                (None, _) => {
                    if execution.status == ExecutionStatus::Active && !self.is_paused(execution) {
                        consider(task.send_at);
                    }
                }
                (Some(dispatched_at), None) => {
                    consider(dispatched_at.plus(self.config.task_started_timeout))
                }
                (Some(_), Some(first_response_at)) => {
                    if let Some(limit) = self.config.finished_timeout_for(&task.name) {
                        consider(first_response_at.plus(limit));
                    }
                }
            }
        }
        deadline
    }

    fn schedule_wake(&mut self) {
        let deadline = self.next_deadline();
        if deadline == self.state.scheduled_wake {
            return;
        }
        self.state.scheduled_wake = deadline;
        self.outputs.push(Output::Command(match deadline {
            Some(at) => Command::WakeAt(at),
            None => Command::CancelWake,
        }));
    }
}

/// A UUID-shaped id `NNNNNNNN-0000-4000-8000-CCCCCCCCCCCC` from the namespace and a counter
/// (written by hand: this runs on every transition).
fn event_id(namespace: u32, number: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut res = String::with_capacity(36);
    for shift in (0..8).rev() {
        res.push(char::from(HEX[((namespace >> (shift * 4)) & 0xf) as usize]));
    }
    res.push_str("-0000-4000-8000-");
    for shift in (0..12).rev() {
        res.push(char::from(HEX[((number >> (shift * 4)) & 0xf) as usize]));
    }
    res
}

/// Merges a task's output into the accumulated payload: labels into the labels, everything
/// else into the other fields (with the rules of [`crate::merge`]).
fn merge_output(accumulated: &mut EventData, output: Value) {
    let Value::Object(mut output) = output else {
        return;
    };
    if let Some(Value::Object(labels)) = output.remove("labels") {
        let target = accumulated.labels.get_or_insert_with(Default::default);
        for (key, value) in labels {
            if let Value::String(text) = value {
                target.insert(key, text);
            }
        }
    }
    for (key, newer) in output {
        match accumulated.fields.get_mut(&key) {
            Some(older) => merge_into(older, newer),
            None => {
                accumulated.fields.insert(key, newer);
            }
        }
    }
}

/// Aggregates the `.finished` reports of one task as Keptn did: the result is `fail` if any
/// result is neither `pass` nor `warning` (a missing one included), else `warning` if any is,
/// else `pass`; the status is `errored` if any is, else `aborted` if any is, else `succeeded`
/// if all are, else `unknown`, which forces the result to `fail`. Returns the outcome and the
/// merged output of the reports.
fn aggregate(task: CurrentTask, reports: Vec<FinishedReport>) -> (TaskOutcome, Value) {
    let is_failing = |report: &FinishedReport| {
        report
            .result
            .as_ref()
            .is_none_or(|result| !result.is_passing())
    };
    let mut result = if reports.iter().any(is_failing) {
        TaskResult::Fail
    } else if reports
        .iter()
        .any(|report| report.result == Some(TaskResult::Warning))
    {
        TaskResult::Warning
    } else {
        TaskResult::Pass
    };
    let has_status = |status: TaskStatus| {
        reports
            .iter()
            .any(|report| report.status.as_ref() == Some(&status))
    };
    let status = if has_status(TaskStatus::Errored) {
        TaskStatus::Errored
    } else if has_status(TaskStatus::Aborted) {
        TaskStatus::Aborted
    } else if reports
        .iter()
        .all(|report| report.status == Some(TaskStatus::Succeeded))
    {
        TaskStatus::Succeeded
    } else {
        result = TaskResult::Fail;
        TaskStatus::Unknown
    };
    let mut message = String::new();
    for text in reports
        .iter()
        .filter_map(|report| report.message.as_deref())
        .filter(|text| !text.is_empty())
    {
        if !message.is_empty() {
            message.push_str("; ");
        }
        message.push_str(text);
    }
    let mut properties = Value::Null;
    for report in reports {
        merge_into(&mut properties, report.properties);
    }
    let outcome = TaskOutcome {
        name: task.name,
        triggered_id: task.triggered_id,
        result,
        status,
        message,
    };
    (outcome, properties)
}
