//! The Prometheus SLI provider as an in-process integration (uniform
//! `kind: prometheus-service`): answers `get-sli.triggered` with the values of the queries in
//! the project's `prometheus/sli.yaml`, read from the config repo at project, stage and service
//! level (the more specific level wins per indicator, as Keptn's prometheus-service merged
//! them).
//!
//! Its uniform `config` is `keptn_adapters::prometheus::Config` (`url`, `timeout_seconds`,
//! `max_concurrency`).

use std::sync::Arc;

use keptn_adapters::prometheus::{Config, Prometheus, SliConfig};
use keptn_core::event::{KeptnEvent, TaskEventKind};
use keptn_core::ports::{AdapterErrorKind, ConfigRepo, Scope};
use serde_json::Value;

use super::integrations::answer;
use super::sli;

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
        let get_sli = match sli::get_sli(trigger) {
            Ok(get_sli) => get_sli,
            Err(message) => return sli::failed(&self.name, trigger, &message),
        };
        let Scope {
            project,
            stage,
            service,
        } = &get_sli.request.scope;
        let config = match self.sli_config(project, stage, service).await {
            Ok(Some(config)) => config,
            Ok(None) => {
                return sli::failed(
                    &self.name,
                    trigger,
                    &format!("no {SLI_FILE} for {project}/{stage}/{service}"),
                );
            }
            Err(message) => return sli::failed(&self.name, trigger, &message),
        };
        match self
            .prometheus
            .get_slis_for(&config, &get_sli.request)
            .await
        {
            Ok(values) => sli::finished(&self.name, trigger, &get_sli, &values),
            Err(err) => sli::failed(&self.name, trigger, &format!("cannot fetch SLIs: {err}")),
        }
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
}
