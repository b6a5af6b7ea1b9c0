//! [`RepoSli`]: Prometheus with the queries of the project's `sli.yaml` in the configuration
//! repository, as Keptn's prometheus-service read them.

use std::sync::Arc;

use async_trait::async_trait;
use keptn_core::ports::{AdapterError, AdapterErrorKind, ConfigRepo, SliProvider, SliRequest};
use keptn_slo::SliValue;

use super::{Prometheus, SliConfig};

/// Where the SLI queries live in the config repo.
pub const SLI_FILE: &str = "prometheus/sli.yaml";

/// An [`SliProvider`]: for each request, the `prometheus/sli.yaml` of the project, of the
/// stage and of the service are read from the configuration repository and merged (the more
/// specific level wins per indicator, as Keptn's prometheus-service merged them), and
/// [`Prometheus::get_slis_for`] runs their queries. No file at any level is a `NotFound`
/// error; a file that does not validate is `Invalid`, with every problem located.
#[derive(Clone)]
pub struct RepoSli {
    prometheus: Prometheus,
    config_repo: Arc<dyn ConfigRepo>,
}

impl std::fmt::Debug for RepoSli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoSli")
            .field("prometheus", &self.prometheus)
            .finish_non_exhaustive()
    }
}

impl RepoSli {
    /// `prometheus` with the queries of `config_repo`.
    pub fn new(prometheus: Prometheus, config_repo: Arc<dyn ConfigRepo>) -> Self {
        Self {
            prometheus,
            config_repo,
        }
    }

    /// `prometheus/sli.yaml` of the project, stage and service, merged; `None` when there is
    /// none at any level.
    pub async fn sli_config(
        &self,
        project: &str,
        stage: &str,
        service: &str,
    ) -> Result<Option<SliConfig>, AdapterError> {
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
                Err(err) => {
                    return Err(AdapterError::new(
                        err.kind,
                        format!("cannot read {SLI_FILE}: {err}"),
                    ));
                }
            };
            let text = String::from_utf8_lossy(&bytes);
            let (level, _warnings) = SliConfig::parse(&text).map_err(|err| {
                AdapterError::new(
                    AdapterErrorKind::Invalid,
                    format!("invalid {SLI_FILE}: {err}"),
                )
            })?;
            merged = Some(match merged {
                Some(general) => general.overridden_by(&level),
                None => level,
            });
        }
        Ok(merged)
    }
}

#[async_trait]
impl SliProvider for RepoSli {
    async fn get_slis(&self, request: &SliRequest) -> Result<Vec<SliValue>, AdapterError> {
        let scope = &request.scope;
        let Some(sli) = self
            .sli_config(&scope.project, &scope.stage, &scope.service)
            .await?
        else {
            return Err(AdapterError::new(
                AdapterErrorKind::NotFound,
                format!(
                    "no {SLI_FILE} for {}/{}/{}",
                    scope.project, scope.stage, scope.service
                ),
            ));
        };
        Ok(self.prometheus.get_slis_for(&sli, request).await?)
    }
}
