//! `/metrics`: what the control plane does, in the Prometheus text format.

use std::time::Duration;

use keptn_core::event::{EventType, KeptnEvent, SequenceEventKind};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabel {
    task: String,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    events_in: Family<TypeLabel, Counter>,
    events_out: Family<TypeLabel, Counter>,
    sequences_finished: Family<ResultLabel, Counter>,
    transition_seconds: Histogram,
    store_commit_seconds: Histogram,
    running_executions: Gauge,
    queued_executions: Gauge,
    task_seconds: Family<TaskLabel, Histogram>,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("keptn");
        let events_in = Family::<TypeLabel, Counter>::default();
        registry.register(
            "events_received",
            "Events accepted by the API, by type",
            events_in.clone(),
        );
        let events_out = Family::<TypeLabel, Counter>::default();
        registry.register(
            "events_emitted",
            "Events emitted by the orchestrator, by type",
            events_out.clone(),
        );
        let sequences_finished = Family::<ResultLabel, Counter>::default();
        registry.register(
            "sequences_finished",
            "Sequences that finished, by result",
            sequences_finished.clone(),
        );
        let transition_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register(
            "orchestrator_transition_seconds",
            "Time to handle one input, commit it and publish its events",
            transition_seconds.clone(),
        );
        let store_commit_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register(
            "store_commit_seconds",
            "Time of the store transaction of one transition",
            store_commit_seconds.clone(),
        );
        let running_executions = Gauge::default();
        registry.register(
            "sequence_executions",
            "Sequence executions that have not ended (running, queued or waiting)",
            running_executions.clone(),
        );
        let queued_executions = Gauge::default();
        registry.register(
            "sequence_executions_queued",
            "Sequence executions waiting for their stage and service to be free",
            queued_executions.clone(),
        );
        let task_seconds = Family::<TaskLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 20))) as fn() -> Histogram,
        );
        registry.register(
            "task_duration_seconds",
            "Time from a task's .triggered to the .finished that completed it, by task",
            task_seconds.clone(),
        );
        Metrics {
            registry,
            queued_executions,
            task_seconds,
            events_in,
            events_out,
            sequences_finished,
            transition_seconds,
            store_commit_seconds,
            running_executions,
        }
    }

    /// Counts an accepted event.
    pub fn event_in(&self, event: &KeptnEvent) {
        self.events_in
            .get_or_create(&TypeLabel {
                r#type: event.event_type.to_string(),
            })
            .inc();
    }

    /// Counts an emitted event (and a finished sequence).
    pub fn event_out(&self, event: &KeptnEvent) {
        self.events_out
            .get_or_create(&TypeLabel {
                r#type: event.event_type.to_string(),
            })
            .inc();
        if let EventType::Sequence {
            kind: SequenceEventKind::Finished,
            ..
        } = &event.event_type
        {
            let result = event
                .data
                .result
                .as_ref()
                .map_or("", |result| result.as_str())
                .to_owned();
            self.sequences_finished
                .get_or_create(&ResultLabel { result })
                .inc();
        }
    }

    /// Records one transition.
    pub fn observe_transition(&self, elapsed: Duration, n_executions: usize, n_queued: usize) {
        self.transition_seconds.observe(elapsed.as_secs_f64());
        self.running_executions
            .set(i64::try_from(n_executions).unwrap_or(i64::MAX));
        self.queued_executions
            .set(i64::try_from(n_queued).unwrap_or(i64::MAX));
    }

    /// Records how long a task took.
    pub fn observe_task(&self, task: &str, elapsed: Duration) {
        self.task_seconds
            .get_or_create(&TaskLabel {
                task: task.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records one store commit.
    pub fn observe_store_commit(&self, elapsed: Duration) {
        self.store_commit_seconds.observe(elapsed.as_secs_f64());
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
