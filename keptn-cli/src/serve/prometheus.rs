//! The Prometheus SLI provider as an in-process integration (uniform
//! `kind: prometheus-service`): answers `get-sli.triggered` with the values of the queries in
//! the project's `prometheus/sli.yaml`, read from the config repo at project, stage and service
//! level (the more specific level wins per indicator, as Keptn's prometheus-service merged
//! them).
//!
//! Its uniform `config` is `keptn_adapters::prometheus::Config` (`url`, `timeout_seconds`,
//! `max_concurrency`).

use std::collections::BTreeMap;
use std::sync::Arc;

use keptn_adapters::prometheus::{Config, Prometheus, SliConfig};
use keptn_core::event::{KeptnEvent, TaskEventKind, TaskResult, TaskStatus, Timestamp};
use keptn_core::ports::{AdapterErrorKind, ConfigRepo, Scope, SliRequest};
use serde_json::{Value, json};

use super::integrations::answer;

/// Where the SLI queries live in the config repo.
pub const SLI_FILE: &str = "prometheus/sli.yaml";

/// The SLI-provider integration.
pub struct PrometheusIntegration {
    name: String,
    prometheus: Prometheus,
    config_repo: Arc<dyn ConfigRepo>,
}

impl PrometheusIntegration {
    /// Builds it from the uniform entry's `config`; every problem is reported at once.
    pub fn from_config(
        name: &str,
        config: &Value,
        config_repo: Arc<dyn ConfigRepo>,
    ) -> Result<Self, String> {
        let parsed: Config = serde_json::from_value(config.clone())
            .map_err(|err| format!("config of '{name}': {err}"))?;
        let valid = parsed
            .validate()
            .map_err(|err| format!("config of '{name}': {err}"))?;
        let prometheus =
            Prometheus::new(valid).map_err(|err| format!("config of '{name}': {err}"))?;
        Ok(PrometheusIntegration {
            name: name.to_owned(),
            prometheus,
            config_repo,
        })
    }

    /// `.started` at once; the caller sends it, then awaits [`PrometheusIntegration::finish`].
    pub fn start(&self, trigger: &KeptnEvent) -> Option<KeptnEvent> {
        answer(&self.name, trigger, TaskEventKind::Started, None, None)
    }

    /// Fetches the SLIs and returns the `get-sli.finished`.
    pub async fn finish(&self, trigger: &KeptnEvent) -> Option<KeptnEvent> {
        let (project, stage, service) = trigger.scope()?;
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
            return self.failed(
                trigger,
                &format!("invalid timeframe: start '{start_text}', end '{end_text}'"),
            );
        };
        let sli = match self.sli_config(project, stage, service).await {
            Ok(Some(sli)) => sli,
            Ok(None) => {
                return self.failed(
                    trigger,
                    &format!("no {SLI_FILE} for {project}/{stage}/{service}"),
                );
            }
            Err(message) => return self.failed(trigger, &message),
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
        let request = SliRequest {
            scope: Scope {
                project: project.to_owned(),
                stage: stage.to_owned(),
                service: service.to_owned(),
            },
            indicators,
            start,
            end,
            custom_filters,
            deployment: trigger
                .data
                .fields
                .get("deployment")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            labels: trigger.data.labels.clone().unwrap_or_default(),
        };
        let values = match self.prometheus.get_slis_for(&sli, &request).await {
            Ok(values) => values,
            Err(err) => return self.failed(trigger, &format!("cannot fetch SLIs: {err}")),
        };
        let mut finished = answer(
            &self.name,
            trigger,
            TaskEventKind::Finished,
            Some(TaskResult::Pass),
            None,
        )?;
        finished.data.fields.insert(
            "get-sli".to_owned(),
            json!({ "start": start_text, "end": end_text, "indicatorValues": values }),
        );
        Some(finished)
    }

    /// `prometheus/sli.yaml` of the project, stage and service, merged; `None` when there is none.
    async fn sli_config(
        &self,
        project: &str,
        stage: &str,
        service: &str,
    ) -> Result<Option<SliConfig>, String> {
        let mut merged: Option<SliConfig> = None;
        for (level_stage, level_service) in [
            (None, None),
            (Some(stage), None),
            (Some(stage), Some(service)),
        ] {
            let bytes = match self
                .config_repo
                .read(project, level_stage, level_service, SLI_FILE, None)
                .await
            {
                Ok(bytes) => bytes,
                Err(err) if err.kind == AdapterErrorKind::NotFound => continue,
                Err(err) => return Err(format!("cannot read {SLI_FILE}: {err}")),
            };
            let text = String::from_utf8_lossy(&bytes);
            let (level, _warnings) =
                SliConfig::parse(&text).map_err(|err| format!("invalid {SLI_FILE}: {err}"))?;
            merged = Some(match merged {
                Some(general) => general.overridden_by(&level),
                None => level,
            });
        }
        Ok(merged)
    }

    fn failed(&self, trigger: &KeptnEvent, message: &str) -> Option<KeptnEvent> {
        let mut finished = answer(
            &self.name,
            trigger,
            TaskEventKind::Finished,
            Some(TaskResult::Fail),
            Some(message.to_owned()),
        )?;
        finished.data.status = Some(TaskStatus::Errored);
        Some(finished)
    }
}

fn parse_time(text: &str) -> Option<Timestamp> {
    let time = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    u64::try_from(time.timestamp_millis()).ok().map(Timestamp)
}
