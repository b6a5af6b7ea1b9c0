//! Apache JMeter as an in-process integration (uniform `kind: jmeter-service`): answers
//! `test.triggered` as Keptn's jmeter-service did (§4.6 of the control-plane spec): the
//! workloads of `jmeter/jmeter.conf.yaml` and the plans it names are read from the config repo
//! (service, else stage, else project level, at the trigger's commit), the target is the first
//! of `deployment.deploymentURIsLocal` (else `...Public`), and `.finished` carries the run's
//! timeframe (`test.start/end`) for the evaluation that follows. `teststrategy: real-user` is
//! left alone without any event, as jmeter-service did.
//!
//! Its uniform `config` is `keptn_adapters::jmeter::Config`; `work_dir` defaults to
//! `<data-dir>/jmeter`.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use keptn_adapters::jmeter::{Config, JMeter, Outcome, PlanSource, RunRequest, Workloads};
use keptn_core::event::{KeptnEvent, TaskEventKind, TaskResult, format_rfc3339};
use keptn_core::ports::{AdapterError, AdapterErrorKind, ConfigRepo, Scope};
use serde_json::{Value, json};

use super::integrations::{answer, errored, scope_of};

/// Where the workloads live in the config repo.
pub const WORKLOADS_FILE: &str = "jmeter/jmeter.conf.yaml";

/// The JMeter integration.
pub struct JMeterIntegration {
    name: String,
    jmeter: JMeter,
    repo: Arc<dyn ConfigRepo>,
}

impl JMeterIntegration {
    /// Builds it from the uniform entry's `config`; every problem is reported at once.
    pub fn from_config(
        name: &str,
        config: &Value,
        data_dir: &Path,
        repo: Arc<dyn ConfigRepo>,
    ) -> Result<Self, String> {
        let mut config = match config {
            Value::Null => serde_json::Map::new(),
            Value::Object(map) => map.clone(),
            other => {
                return Err(format!(
                    "config of '{name}' must be a mapping, found {other}"
                ));
            }
        };
        config
            .entry("work_dir")
            .or_insert_with(|| json!(data_dir.join("jmeter")));
        let parsed: Config = serde_json::from_value(Value::Object(config))
            .map_err(|err| format!("config of '{name}': {err}"))?;
        let valid = parsed
            .validate()
            .map_err(|err| format!("config of '{name}': {err}"))?;
        Ok(JMeterIntegration {
            name: name.to_owned(),
            jmeter: JMeter::new(valid),
            repo,
        })
    }

    fn strategy(trigger: &KeptnEvent) -> String {
        trigger
            .data
            .fields
            .get("test")
            .and_then(|test| test.get("teststrategy"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    }

    /// `.started` at once, except for `real-user` tests, which jmeter-service ignored.
    pub fn start(&self, trigger: &KeptnEvent) -> Option<KeptnEvent> {
        if Self::strategy(trigger) == "real-user" {
            return None;
        }
        answer(&self.name, trigger, TaskEventKind::Started, None, None)
    }

    /// Runs the test and returns its `.finished` (`None` for `real-user`).
    pub async fn finish(&self, trigger: &KeptnEvent) -> Option<KeptnEvent> {
        let scope = scope_of(trigger)?;
        let strategy = Self::strategy(trigger);
        let plans = RepoPlans {
            repo: Arc::clone(&self.repo),
            scope: scope.clone(),
            commit: trigger.git_commit_id.clone(),
        };
        let workloads = match plans.plan(WORKLOADS_FILE).await {
            Ok(Some(bytes)) => match Workloads::parse(&String::from_utf8_lossy(&bytes)) {
                Ok((workloads, _warnings)) => workloads,
                Err(err) => {
                    return errored(
                        &self.name,
                        trigger,
                        &format!("invalid {WORKLOADS_FILE}: {err}"),
                    );
                }
            },
            Ok(None) => Workloads::default(),
            Err(err) => {
                return errored(
                    &self.name,
                    trigger,
                    &format!("cannot read {WORKLOADS_FILE}: {err}"),
                );
            }
        };
        let target = ["deploymentURIsLocal", "deploymentURIsPublic"]
            .iter()
            .find_map(|key| {
                trigger
                    .data
                    .fields
                    .get("deployment")
                    .and_then(|deployment| deployment.get(key))
                    .and_then(|uris| uris.get(0))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        let Some(target) = target else {
            return errored(
                &self.name,
                trigger,
                "no target to test: the trigger carries no deployment.deploymentURIsLocal",
            );
        };
        let request = RunRequest {
            scope,
            strategy: strategy.clone(),
            target,
            workloads: &workloads,
            plans: &plans,
        };
        let run = match self.jmeter.run(request).await {
            Ok(Outcome::Tested(run)) => run,
            Ok(Outcome::NotHandled) => return None,
            Err(err) => {
                return errored(&self.name, trigger, &format!("JMeter could not run: {err}"));
            }
        };
        let result = if run.report.passed {
            TaskResult::Pass
        } else {
            TaskResult::Fail
        };
        let mut finished = answer(
            &self.name,
            trigger,
            TaskEventKind::Finished,
            Some(result),
            Some(run.report.message.clone()),
        )?;
        finished.data.fields.insert(
            "test".to_owned(),
            json!({
                "teststrategy": strategy,
                "start": format_rfc3339(run.report.start),
                "end": format_rfc3339(run.report.end),
            }),
        );
        Some(finished)
    }
}

/// Plans from the config repo: the service's file, else the stage's, else the project's.
struct RepoPlans {
    repo: Arc<dyn ConfigRepo>,
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
                .repo
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
