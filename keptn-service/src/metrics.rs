//! What the control plane counts, as data: counters by event type and result, gauges of the
//! executions, histograms of loop and store times and of task durations. A caller reads a
//! [`MetricsSnapshot`] with [`crate::ControlPlane::metrics`] and renders it as it likes
//! (`keptn serve` serves it in the Prometheus text format at `/metrics`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use keptn_core::event::{EventType, KeptnEvent, SequenceEventKind};

/// Upper bounds of the buckets of the loop and store histograms, in seconds: 50 µs doubling
/// 16 times (up to 1.6 s).
fn loop_buckets() -> Vec<f64> {
    exponential_buckets(0.000_05, 2.0, 16)
}

/// Upper bounds of the task-duration buckets, in seconds: 1 ms doubling 20 times (~17 min).
fn task_buckets() -> Vec<f64> {
    exponential_buckets(0.001, 2.0, 20)
}

fn exponential_buckets(start: f64, factor: f64, n_buckets: usize) -> Vec<f64> {
    std::iter::successors(Some(start), |bound| Some(bound * factor))
        .take(n_buckets)
        .collect()
}

/// A histogram as data: cumulative counts are the caller's to compute.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Upper bounds of the buckets, ascending (an implicit last bucket holds the rest).
    pub bounds: Vec<f64>,
    /// Observations per bucket (not cumulative); one more than `bounds`, the last one above
    /// every bound.
    pub counts: Vec<u64>,
    /// Sum of all observations, in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    fn new(bounds: Vec<f64>) -> Self {
        let n_counts = bounds.len() + 1;
        Self {
            bounds,
            counts: vec![0; n_counts],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, seconds: f64) {
        let bucket_idx = self.bounds.partition_point(|bound| *bound < seconds);
        self.counts[bucket_idx] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

/// Everything counted so far.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    /// Events taken in (from the API, integrations, recovery), by type.
    pub events_received: Vec<(String, u64)>,
    /// Events the orchestrator emitted, by type.
    pub events_emitted: Vec<(String, u64)>,
    /// Sequences that finished, by result.
    pub sequences_finished: Vec<(String, u64)>,
    /// Time to handle a batch of inputs, commit it and publish its events.
    pub transition_seconds: Histogram,
    /// Time of the store transaction of a batch.
    pub store_commit_seconds: Histogram,
    /// Time from a task's `.triggered` to the `.finished` that completed it, by task.
    pub task_duration_seconds: Vec<(String, Histogram)>,
    /// Sequence executions that have not ended (running, queued or waiting).
    pub executions: u64,
    /// Sequence executions waiting for their stage and service to be free.
    pub queued_executions: u64,
}

#[derive(Debug)]
struct Data {
    events_received: HashMap<EventType, u64>,
    events_emitted: HashMap<EventType, u64>,
    sequences_finished: HashMap<String, u64>,
    transition_seconds: Histogram,
    store_commit_seconds: Histogram,
    task_duration_seconds: HashMap<String, Histogram>,
    executions: u64,
    queued_executions: u64,
}

/// The control plane's counters.
#[derive(Debug)]
pub(crate) struct Metrics {
    data: Mutex<Data>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn sorted<K: ToString>(counts: &HashMap<K, u64>) -> Vec<(String, u64)> {
    let mut res: Vec<(String, u64)> = counts
        .iter()
        .map(|(key, count)| (key.to_string(), *count))
        .collect();
    res.sort();
    res
}

impl Metrics {
    /// Everything at zero.
    pub(crate) fn new() -> Self {
        Self {
            data: Mutex::new(Data {
                events_received: HashMap::new(),
                events_emitted: HashMap::new(),
                sequences_finished: HashMap::new(),
                transition_seconds: Histogram::new(loop_buckets()),
                store_commit_seconds: Histogram::new(loop_buckets()),
                task_duration_seconds: HashMap::new(),
                executions: 0,
                queued_executions: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Data> {
        // Counters stay usable after a panic elsewhere: each update is a few additions.
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A copy of every counter, sorted by label.
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let data = self.lock();
        let mut task_duration_seconds: Vec<(String, Histogram)> = data
            .task_duration_seconds
            .iter()
            .map(|(task, histogram)| (task.clone(), histogram.clone()))
            .collect();
        task_duration_seconds.sort_by(|left, right| left.0.cmp(&right.0));
        MetricsSnapshot {
            events_received: sorted(&data.events_received),
            events_emitted: sorted(&data.events_emitted),
            sequences_finished: sorted(&data.sequences_finished),
            transition_seconds: data.transition_seconds.clone(),
            store_commit_seconds: data.store_commit_seconds.clone(),
            task_duration_seconds,
            executions: data.executions,
            queued_executions: data.queued_executions,
        }
    }

    pub(crate) fn event_in(&self, event: &KeptnEvent) {
        let mut data = self.lock();
        match data.events_received.get_mut(&event.event_type) {
            Some(count) => *count += 1,
            None => {
                data.events_received.insert(event.event_type.clone(), 1);
            }
        }
    }

    pub(crate) fn events_out(&self, events: &[KeptnEvent]) {
        let mut data = self.lock();
        for event in events {
            match data.events_emitted.get_mut(&event.event_type) {
                Some(count) => *count += 1,
                None => {
                    data.events_emitted.insert(event.event_type.clone(), 1);
                }
            }
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
                *data.sequences_finished.entry(result).or_insert(0) += 1;
            }
        }
    }

    pub(crate) fn observe_transition(
        &self,
        elapsed: Duration,
        n_executions: usize,
        n_queued: usize,
    ) {
        let mut data = self.lock();
        data.transition_seconds.observe(elapsed.as_secs_f64());
        data.executions = u64::try_from(n_executions).unwrap_or(u64::MAX);
        data.queued_executions = u64::try_from(n_queued).unwrap_or(u64::MAX);
    }

    pub(crate) fn observe_store_commit(&self, elapsed: Duration) {
        self.lock()
            .store_commit_seconds
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn observe_task(&self, task: &str, elapsed: Duration) {
        let mut data = self.lock();
        if !data.task_duration_seconds.contains_key(task) {
            data.task_duration_seconds
                .insert(task.to_owned(), Histogram::new(task_buckets()));
        }
        if let Some(histogram) = data.task_duration_seconds.get_mut(task) {
            histogram.observe(elapsed.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Histogram, exponential_buckets};

    #[test]
    fn observations_land_in_the_first_bucket_whose_bound_is_not_below_them() {
        let mut histogram = Histogram::new(exponential_buckets(1.0, 2.0, 3));
        assert_eq!(histogram.bounds, [1.0, 2.0, 4.0]);
        for seconds in [0.5, 1.0, 1.5, 4.0, 9.0] {
            histogram.observe(seconds);
        }
        assert_eq!(histogram.counts, [2, 1, 1, 1]);
        assert_eq!(histogram.count, 5);
        assert!((histogram.sum - 16.0).abs() < 1e-12);
    }
}
