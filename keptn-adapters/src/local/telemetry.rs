//! `GET /metrics`: the request metrics of every router in the Prometheus text format
//! (version 0.0.4, written by hand), named and labelled like Istio's standard metrics, so
//! that `sli.yaml` queries written for Keptn on Istio work against the local platform.
//!
//! Two families: `istio_requests_total` (counter) and `istio_request_duration_milliseconds`
//! (histogram with Istio's default buckets), each labelled with `reporter="destination"`,
//! `destination_service_name`, `destination_service_namespace` (`<project>-<stage>`),
//! `destination_workload` (`<service>-primary`, `<service>-canary` or `<service>`),
//! `destination_version` (the image tag) and `response_code`. The values are cumulative since
//! the router started; other Istio labels are not written.

use std::fmt::Write as _;
use std::sync::Arc;

use super::router::{DURATION_BUCKETS_MS, Router, lock};

/// The value of a label with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    let mut res = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => res.push_str("\\\\"),
            '"' => res.push_str("\\\""),
            '\n' => res.push_str("\\n"),
            c => res.push(c),
        }
    }
    res
}

/// A float as Prometheus reads it.
fn number(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

/// The metrics text of `routers`.
pub(crate) fn render(routers: &[Arc<Router>]) -> String {
    let mut counters = String::new();
    let mut histograms = String::new();
    for router in routers {
        let scope = &router.scope;
        let recorded = lock(&router.recorded);
        for ((kind, version, status), series) in &recorded.series {
            let labels = format!(
                "reporter=\"destination\",destination_service_name=\"{}\",destination_service_namespace=\"{}\",destination_workload=\"{}\",destination_version=\"{}\",response_code=\"{status}\"",
                escape(&scope.service),
                escape(&format!("{}-{}", scope.project, scope.stage)),
                escape(&kind.workload(&scope.service)),
                escape(version),
            );
            // Writing to a String cannot fail.
            let _ = writeln!(
                counters,
                "istio_requests_total{{{labels}}} {}",
                series.count
            );
            let mut cumulative = 0u64;
            for (bound, hits) in DURATION_BUCKETS_MS.iter().zip(series.bucket_hits) {
                cumulative += hits;
                let _ = writeln!(
                    histograms,
                    "istio_request_duration_milliseconds_bucket{{{labels},le=\"{}\"}} {cumulative}",
                    number(*bound)
                );
            }
            let _ = writeln!(
                histograms,
                "istio_request_duration_milliseconds_bucket{{{labels},le=\"+Inf\"}} {}",
                series.count
            );
            let _ = writeln!(
                histograms,
                "istio_request_duration_milliseconds_sum{{{labels}}} {}",
                number(series.sum_ms)
            );
            let _ = writeln!(
                histograms,
                "istio_request_duration_milliseconds_count{{{labels}}} {}",
                series.count
            );
        }
    }
    let mut res = String::with_capacity(counters.len() + histograms.len() + 300);
    res.push_str("# HELP istio_requests_total Requests proxied by the keptn local router.\n");
    res.push_str("# TYPE istio_requests_total counter\n");
    res.push_str(&counters);
    res.push_str(
        "# HELP istio_request_duration_milliseconds Duration of requests proxied by the keptn local router.\n",
    );
    res.push_str("# TYPE istio_request_duration_milliseconds histogram\n");
    res.push_str(&histograms);
    res
}
