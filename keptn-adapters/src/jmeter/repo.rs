//! [`RepoJMeter`]: JMeter with the workloads and plans of the configuration repository, as
//! Keptn's jmeter-service read them.

use std::sync::Arc;

use async_trait::async_trait;
use keptn_core::ports::{
    AdapterError, AdapterErrorKind, ConfigRepo, Scope, TestReport, TestRequest, TestRunner,
};

use super::client::{JMeter, Outcome, PlanSource, RunRequest};
use super::{REAL_USER, Workloads};

/// Where the workloads live in the config repo.
pub const WORKLOADS_FILE: &str = "jmeter/jmeter.conf.yaml";

/// A [`TestRunner`]: for each test, `jmeter/jmeter.conf.yaml` and the plans it names are read
/// from the configuration repository (the service's file on the stage's branch at the
/// sequence's commit, else the stage's, else the project's latest), and [`JMeter::run`] runs
/// the strategy's workload. Without a `jmeter.conf.yaml`, jmeter-service's default workloads
/// apply. `real-user` tests are not handled ([`TestRunner::handles`]), as jmeter-service
/// answered them with no event at all.
#[derive(Clone)]
pub struct RepoJMeter {
    jmeter: JMeter,
    config_repo: Arc<dyn ConfigRepo>,
}

impl std::fmt::Debug for RepoJMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoJMeter")
            .field("jmeter", &self.jmeter)
            .finish_non_exhaustive()
    }
}

impl RepoJMeter {
    /// `jmeter` with the files of `config_repo`.
    pub fn new(jmeter: JMeter, config_repo: Arc<dyn ConfigRepo>) -> Self {
        Self {
            jmeter,
            config_repo,
        }
    }
}

/// Plans from the config repo: the service's file, else the stage's, else the project's.
struct RepoPlans {
    config_repo: Arc<dyn ConfigRepo>,
    scope: Scope,
    commit: Option<String>,
}

#[async_trait]
impl PlanSource for RepoPlans {
    async fn plan(&self, path: &str) -> Result<Option<Vec<u8>>, AdapterError> {
        let Scope {
            project,
            stage,
            service,
        } = &self.scope;
        for (level_stage, level_service, commit) in [
            (
                Some(stage.as_str()),
                Some(service.as_str()),
                self.commit.as_deref(),
            ),
            (Some(stage.as_str()), None, self.commit.as_deref()),
            (None, None, None),
        ] {
            match self
                .config_repo
                .read(project, level_stage, level_service, path, commit)
                .await
            {
                Ok(bytes) => return Ok(Some(bytes)),
                Err(err) if err.kind == AdapterErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl TestRunner for RepoJMeter {
    fn handles(&self, strategy: &str) -> bool {
        !strategy.eq_ignore_ascii_case(REAL_USER)
    }

    async fn run(&self, request: &TestRequest) -> Result<TestReport, AdapterError> {
        let plans = RepoPlans {
            config_repo: Arc::clone(&self.config_repo),
            scope: request.scope.clone(),
            commit: request.git_commit_id.clone(),
        };
        let workloads = match plans.plan(WORKLOADS_FILE).await {
            Ok(Some(bytes)) => match Workloads::parse(&String::from_utf8_lossy(&bytes)) {
                Ok((workloads, _warnings)) => workloads,
                Err(err) => {
                    return Err(AdapterError::new(
                        AdapterErrorKind::Invalid,
                        format!("invalid {WORKLOADS_FILE}: {err}"),
                    ));
                }
            },
            Ok(None) => Workloads::default(),
            Err(err) => {
                return Err(AdapterError::new(
                    err.kind,
                    format!("cannot read {WORKLOADS_FILE}: {err}"),
                ));
            }
        };
        let outcome = self
            .jmeter
            .run(RunRequest {
                scope: request.scope.clone(),
                strategy: request.strategy.clone(),
                target: request.target.clone(),
                workloads: &workloads,
                plans: &plans,
            })
            .await?;
        match outcome {
            Outcome::Tested(run) => Ok(run.report),
            Outcome::NotHandled => Err(not_handled(&request.strategy)),
        }
    }
}

/// The error for a strategy JMeter does not run (callers ask [`TestRunner::handles`] first).
pub(super) fn not_handled(strategy: &str) -> AdapterError {
    AdapterError::new(
        AdapterErrorKind::Invalid,
        format!(
            "test strategy '{strategy}' is not handled by jmeter (jmeter-service answered it with no event)"
        ),
    )
}
