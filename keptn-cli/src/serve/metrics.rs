//! `/metrics`: the control plane's counters ([`keptn_service::MetricsSnapshot`]) in the
//! Prometheus text format, through the Prometheus project's own client.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use keptn_service::{Histogram, MetricsSnapshot};

/// The text exposition of `snapshot`, every name prefixed `keptn_`.
pub fn render(snapshot: MetricsSnapshot) -> String {
    let mut registry = Registry::with_prefix("keptn");
    registry.register_collector(Box::new(Snapshot(snapshot)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}

#[derive(Debug)]
struct Snapshot(MetricsSnapshot);

fn counters(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    counts: &[(String, u64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, count) in counts {
        let labels = [(label.to_owned(), value.clone())];
        ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn histogram(
    encoder: prometheus_client::encoding::MetricEncoder<'_>,
    histogram: &Histogram,
) -> Result<(), std::fmt::Error> {
    let mut cumulative = 0;
    let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(histogram.counts.len());
    for (bucket_idx, count) in histogram.counts.iter().enumerate() {
        cumulative += count;
        let bound = histogram
            .bounds
            .get(bucket_idx)
            .copied()
            .unwrap_or(f64::INFINITY);
        buckets.push((bound, cumulative));
    }
    let mut encoder = encoder;
    encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
        histogram.sum,
        histogram.count,
        &buckets,
        None,
    )
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let snapshot = &self.0;
        counters(
            &mut encoder,
            "events_received",
            "Events accepted by the API, by type",
            "type",
            &snapshot.events_received,
        )?;
        counters(
            &mut encoder,
            "events_emitted",
            "Events emitted by the orchestrator, by type",
            "type",
            &snapshot.events_emitted,
        )?;
        counters(
            &mut encoder,
            "sequences_finished",
            "Sequences that finished, by result",
            "result",
            &snapshot.sequences_finished,
        )?;
        histogram(
            encoder.encode_descriptor(
                "orchestrator_transition_seconds",
                "Time to handle one input, commit it and publish its events",
                None,
                MetricType::Histogram,
            )?,
            &snapshot.transition_seconds,
        )?;
        histogram(
            encoder.encode_descriptor(
                "store_commit_seconds",
                "Time of the store transaction of one transition",
                None,
                MetricType::Histogram,
            )?,
            &snapshot.store_commit_seconds,
        )?;
        ConstGauge::new(i64::try_from(snapshot.executions).unwrap_or(i64::MAX)).encode(
            encoder.encode_descriptor(
                "sequence_executions",
                "Sequence executions that have not ended (running, queued or waiting)",
                None,
                MetricType::Gauge,
            )?,
        )?;
        ConstGauge::new(i64::try_from(snapshot.queued_executions).unwrap_or(i64::MAX)).encode(
            encoder.encode_descriptor(
                "sequence_executions_queued",
                "Sequence executions waiting for their stage and service to be free",
                None,
                MetricType::Gauge,
            )?,
        )?;
        let mut tasks = encoder.encode_descriptor(
            "task_duration_seconds",
            "Time from a task's .triggered to the .finished that completed it, by task",
            None,
            MetricType::Histogram,
        )?;
        for (task, durations) in &snapshot.task_duration_seconds {
            let labels = [("task".to_owned(), task.clone())];
            histogram(tasks.encode_family(&labels)?, durations)?;
        }
        Ok(())
    }
}
