//! The built-in load runner as an in-process integration (uniform `kind: loadgen`): answers
//! `test.triggered` by running the workload of the task's `teststrategy` against the deployed
//! service and finishing with `pass` or `fail` and the run's timeframe (`data.test.start/end`,
//! which the evaluation that follows uses).
//!
//! Its uniform `config` is the load runner's configuration (`workloads`, `request_timeout_ms`,
//! see `keptn_adapters::loadgen::Config`) plus an optional `target` URL; without it the target
//! is the first of the trigger's `deployment.deploymentURIsLocal` (or `...Public`).

use keptn_adapters::loadgen::{Config, LoadGen};
use keptn_core::event::{KeptnEvent, TaskEventKind, TaskResult, format_rfc3339};
use serde_json::{Value, json};

use super::integrations::{answer, errored};

/// The load-runner integration.
pub struct LoadGenIntegration {
    name: String,
    target: Option<String>,
    runner: LoadGen,
}

impl LoadGenIntegration {
    /// Builds it from the uniform entry's `config`; every problem is reported at once.
    pub fn from_config(name: &str, config: &Value) -> Result<Self, String> {
        let mut config = match config {
            Value::Null => serde_json::Map::new(),
            Value::Object(map) => map.clone(),
            other => {
                return Err(format!(
                    "config of '{name}' must be a mapping, found {other}"
                ));
            }
        };
        let target = match config.remove("target") {
            None | Some(Value::Null) => None,
            Some(Value::String(target)) => Some(target),
            Some(other) => {
                return Err(format!(
                    "config.target of '{name}' must be a URL, found {other}"
                ));
            }
        };
        let parsed: Config = serde_json::from_value(Value::Object(config))
            .map_err(|err| format!("config of '{name}': {err}"))?;
        let valid = parsed
            .validate()
            .map_err(|err| format!("config of '{name}': {err}"))?;
        let runner = LoadGen::new(valid).map_err(|err| format!("config of '{name}': {err}"))?;
        Ok(LoadGenIntegration {
            name: name.to_owned(),
            target,
            runner,
        })
    }

    /// `.started` at once; the caller sends it, then awaits [`LoadGenIntegration::finish`].
    pub fn start(&self, trigger: &KeptnEvent) -> Option<KeptnEvent> {
        answer(&self.name, trigger, TaskEventKind::Started, None, None)
    }

    /// Runs the test and returns its `.finished`.
    pub async fn finish(&self, trigger: &KeptnEvent) -> Option<KeptnEvent> {
        let field = |payload: &str, key: &str| {
            trigger
                .data
                .fields
                .get(payload)
                .and_then(|payload| payload.get(key))
                .cloned()
        };
        let strategy = field("test", "teststrategy")
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default();
        let target = self.target.clone().or_else(|| {
            ["deploymentURIsLocal", "deploymentURIsPublic"]
                .iter()
                .find_map(|key| {
                    field("deployment", key)
                        .and_then(|uris| uris.get(0).and_then(Value::as_str).map(str::to_owned))
                })
        });
        let Some(target) = target else {
            return errored(
                &self.name,
                trigger,
                "no target to test: set config.target or send deployment.deploymentURIsLocal",
            );
        };
        let (result, message, start, end) = match self.runner.run_strategy(&strategy, &target).await
        {
            Ok(run) => {
                let result = if run.report.passed {
                    TaskResult::Pass
                } else {
                    TaskResult::Fail
                };
                (
                    result,
                    run.report.message,
                    Some(run.report.start),
                    Some(run.report.end),
                )
            }
            Err(err) => (
                TaskResult::Fail,
                format!("the load test could not run: {err}"),
                None,
                None,
            ),
        };
        let mut finished = answer(
            &self.name,
            trigger,
            TaskEventKind::Finished,
            Some(result),
            Some(message),
        )?;
        let mut test = json!({ "teststrategy": strategy });
        if let (Some(start), Some(end)) = (start, end) {
            test["start"] = Value::String(format_rfc3339(start));
            test["end"] = Value::String(format_rfc3339(end));
        }
        finished.data.fields.insert("test".to_owned(), test);
        Some(finished)
    }
}
