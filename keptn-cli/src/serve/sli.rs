//! `get-sli.triggered` handling shared by the SLI-provider integrations, and the generic one
//! (uniform `kind: local-sli`) that answers from any [`SliProvider`] needing no query file —
//! the local platform's router records, so quality gates work with no Prometheus at all.

use std::collections::BTreeMap;
use std::sync::Arc;

use keptn_core::event::{KeptnEvent, TaskEventKind, TaskResult, Timestamp};
use keptn_core::ports::{Scope, SliProvider, SliRequest};
use serde_json::{Value, json};

use super::integrations::{answer, errored};

/// A `get-sli.triggered` read into an [`SliRequest`], with the timeframe as sent.
pub struct GetSli {
    /// The request for the provider.
    pub request: SliRequest,
    /// `get-sli.start` as sent (echoed in `.finished`).
    pub start: String,
    /// `get-sli.end` as sent.
    pub end: String,
}

/// Reads a `get-sli.triggered`; the message says what is missing or malformed.
pub fn get_sli(trigger: &KeptnEvent) -> Result<GetSli, String> {
    let (project, stage, service) = trigger
        .scope()
        .ok_or_else(|| "get-sli.triggered without project, stage and service".to_owned())?;
    let get_sli = trigger
        .data
        .fields
        .get("get-sli")
        .cloned()
        .unwrap_or(Value::Null);
    let text = |key: &str| {
        get_sli
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (start_text, end_text) = (text("start"), text("end"));
    let (Some(start), Some(end)) = (parse_time(&start_text), parse_time(&end_text)) else {
        return Err(format!(
            "invalid timeframe: start '{start_text}', end '{end_text}'"
        ));
    };
    let indicators: Vec<String> = get_sli
        .get("indicators")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let custom_filters: BTreeMap<String, String> = get_sli
        .get("customFilters")
        .and_then(Value::as_array)
        .map(|filters| {
            filters
                .iter()
                .filter_map(|filter| {
                    Some((
                        filter.get("key")?.as_str()?.to_owned(),
                        filter.get("value")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    // Keptn sent the deployment name inside `get-sli` (lighthouse) or at the top level (older
    // senders); both are read.
    let deployment = get_sli
        .get("deployment")
        .and_then(Value::as_str)
        .or_else(|| {
            trigger
                .data
                .fields
                .get("deployment")
                .and_then(Value::as_str)
        })
        .unwrap_or("")
        .to_owned();
    Ok(GetSli {
        request: SliRequest {
            scope: Scope {
                project: project.to_owned(),
                stage: stage.to_owned(),
                service: service.to_owned(),
            },
            indicators,
            start,
            end,
            custom_filters,
            deployment,
            labels: trigger.data.labels.clone().unwrap_or_default(),
        },
        start: start_text,
        end: end_text,
    })
}

/// The `get-sli.finished` carrying `values`.
pub fn finished(
    name: &str,
    trigger: &KeptnEvent,
    get_sli: &GetSli,
    values: &[keptn_slo::SliValue],
) -> Option<KeptnEvent> {
    let mut finished = answer(
        name,
        trigger,
        TaskEventKind::Finished,
        Some(TaskResult::Pass),
        None,
    )?;
    finished.data.fields.insert(
        "get-sli".to_owned(),
        json!({ "start": get_sli.start, "end": get_sli.end, "indicatorValues": values }),
    );
    Some(finished)
}

/// A `get-sli.finished` with `fail`/`errored` and the reason.
pub fn failed(name: &str, trigger: &KeptnEvent, message: &str) -> Option<KeptnEvent> {
    errored(name, trigger, message)
}

fn parse_time(text: &str) -> Option<Timestamp> {
    let time = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    u64::try_from(time.timestamp_millis()).ok().map(Timestamp)
}

/// An SLI provider that needs no query file, as an integration.
pub struct ProviderIntegration {
    name: String,
    provider: Arc<dyn SliProvider>,
}

impl ProviderIntegration {
    /// Wraps `provider` under the uniform entry's name.
    pub fn new(name: &str, provider: Arc<dyn SliProvider>) -> Self {
        ProviderIntegration {
            name: name.to_owned(),
            provider,
        }
    }

    /// `.started` at once; the caller sends it, then awaits [`ProviderIntegration::finish`].
    pub fn start(&self, trigger: &KeptnEvent) -> Option<KeptnEvent> {
        answer(&self.name, trigger, TaskEventKind::Started, None, None)
    }

    /// Fetches the SLIs and returns the `get-sli.finished`.
    pub async fn finish(&self, trigger: &KeptnEvent) -> Option<KeptnEvent> {
        let get_sli = match get_sli(trigger) {
            Ok(get_sli) => get_sli,
            Err(message) => return failed(&self.name, trigger, &message),
        };
        match self.provider.get_slis(&get_sli.request).await {
            Ok(values) => finished(&self.name, trigger, &get_sli, &values),
            Err(err) => failed(&self.name, trigger, &format!("cannot fetch SLIs: {err}")),
        }
    }
}
