//! [`GetSli`]: an SLI provider's side of the lighthouse protocol, over any [`SliProvider`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use keptn_core::answer::{errored, finished, started, triggered_task};
use keptn_core::event::{GetSli as GetSliPayload, KeptnEvent, TaskResult, parse_rfc3339};
use keptn_core::ports::{Scope, SliProvider, SliRequest};
use serde_json::Value;

use crate::error::Error;
use crate::integration::{Context, Integration, Registration};

/// Answers `get-sli.triggered` with the values of an [`SliProvider`] (Prometheus with the
/// project's `sli.yaml`, the local platform's router records, ...): `.started` at once, then
/// `.finished` with `get-sli.indicatorValues` in request order and the timeframe as sent. A
/// trigger that cannot be read (no scope, no valid timeframe) or a provider that fails as a
/// whole is answered errored with the reason; one indicator that fails is data in the answer.
pub struct GetSli {
    registration: Registration,
    provider: Arc<dyn SliProvider>,
}

impl std::fmt::Debug for GetSli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetSli")
            .field("registration", &self.registration)
            .finish_non_exhaustive()
    }
}

/// A `get-sli.triggered` read into an [`SliRequest`], with the timeframe as sent.
struct Request {
    request: SliRequest,
    start: String,
    end: String,
}

impl GetSli {
    /// The provider under this registration (Keptn's providers subscribe to
    /// `sh.keptn.event.get-sli.triggered`).
    pub fn new(registration: Registration, provider: Arc<dyn SliProvider>) -> Self {
        Self {
            registration,
            provider,
        }
    }
}

/// Reads a `get-sli.triggered`; the message says what is missing or malformed.
fn read(trigger: &KeptnEvent) -> Result<Request, String> {
    let (project, stage, service) = trigger
        .scope()
        .ok_or_else(|| "get-sli.triggered without project, stage and service".to_owned())?;
    let get_sli: GetSliPayload = trigger.data.payload_or_default("get-sli");
    let start_text = get_sli.start.unwrap_or_default();
    let end_text = get_sli.end.unwrap_or_default();
    let (Some(start), Some(end)) = (parse_rfc3339(&start_text), parse_rfc3339(&end_text)) else {
        return Err(format!(
            "invalid timeframe: start '{start_text}', end '{end_text}'"
        ));
    };
    let custom_filters: BTreeMap<String, String> = get_sli
        .custom_filters
        .unwrap_or_default()
        .iter()
        .filter_map(|filter| {
            Some((
                filter.get("key")?.as_str()?.to_owned(),
                filter.get("value")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    // Keptn's lighthouse sent the deployment inside `get-sli`; older senders sent it as a
    // plain string in `data.deployment`. Both are read.
    let deployment = get_sli
        .deployment
        .filter(|deployment| !deployment.is_empty())
        .or_else(|| {
            trigger
                .data
                .fields
                .get("deployment")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    Ok(Request {
        request: SliRequest {
            scope: Scope {
                project: project.to_owned(),
                stage: stage.to_owned(),
                service: service.to_owned(),
            },
            indicators: get_sli.indicators.unwrap_or_default(),
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

#[async_trait]
impl Integration for GetSli {
    fn registration(&self) -> &Registration {
        &self.registration
    }

    async fn handle(&self, trigger: &KeptnEvent, context: &Context) -> Result<(), Error> {
        if triggered_task(trigger) != Some("get-sli") {
            return Ok(());
        }
        let name = &self.registration.name;
        context
            .emit_some([started(trigger, name, context.now())])
            .await?;
        let finished = match read(trigger) {
            Err(message) => errored(trigger, name, &message, context.now()),
            Ok(request) => match self.provider.get_slis(&request.request).await {
                Err(err) => errored(
                    trigger,
                    name,
                    &format!("cannot fetch SLIs: {err}"),
                    context.now(),
                ),
                Ok(values) => finished(trigger, name, TaskResult::Pass, None, context.now()).map(
                    |mut event| {
                        let payload = GetSliPayload {
                            start: Some(request.start),
                            end: Some(request.end),
                            indicator_values: Some(values),
                            ..GetSliPayload::default()
                        };
                        event
                            .data
                            .set_payload("get-sli", &payload)
                            .expect("an SLI answer serialises");
                        event
                    },
                ),
            },
        };
        context.emit_some([finished]).await?;
        Ok(())
    }
}
