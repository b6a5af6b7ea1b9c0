//! Remediation inside `keptn serve` (§4.3 of the control-plane spec):
//!
//! - [`RemediationService`] (uniform `kind: remediation-service`) answers `get-action.triggered`
//!   as Keptn's remediation-service did: it reads the stage's `remediation.yaml` for the service,
//!   picks the problem type (root cause, then title, then `default`) and returns action number
//!   `get-action.actionIndex` with the index of the next one; out of actions it finishes with
//!   `fail`, which ends the loop (escalation).
//! - [`run_action`] answers `action.triggered` through any [`ActionRunner`] that handles the
//!   action: the local platform's [`LocalActions`] (`scaling`, `toggle-feature`, `rollback`), Helm's
//!   `scaling`, the generic `webhook` and `script` runners (uniform kinds `webhook-action`,
//!   `script-action`; without a `base_dir`, scripts come from the config repo). A runner that does not handle the action sends nothing, so another one
//!   can.

use std::sync::Arc;

use keptn_adapters::local::LocalPlatform;
use keptn_core::event::{Action, KeptnEvent, Problem, TaskEventKind, TaskResult};
use keptn_core::ports::{ActionRunner, AdapterError, AdapterErrorKind, ConfigRepo, Scope};
use keptn_core::remediation::ActionChoice;
use serde_json::{Value, json};

use super::integrations::{answer, errored, scope_of};

/// Where the remediation actions live (stage branch, service level).
pub const REMEDIATION_FILE: &str = "remediation.yaml";

/// Keptn's remediation-service.
pub struct RemediationService {
    name: String,
    repo: Arc<dyn ConfigRepo>,
}

impl RemediationService {
    /// The service under the uniform entry's name.
    pub fn new(name: &str, repo: Arc<dyn ConfigRepo>) -> Self {
        RemediationService {
            name: name.to_owned(),
            repo,
        }
    }

    /// `.started` at once.
    pub fn start(&self, trigger: &KeptnEvent) -> Option<KeptnEvent> {
        answer(&self.name, trigger, TaskEventKind::Started, None, None)
    }

    /// Picks the action and returns the `get-action.finished`.
    pub async fn finish(&self, trigger: &KeptnEvent) -> Option<KeptnEvent> {
        let (project, stage, service) = trigger.scope()?;
        let problem = problem_of(trigger);
        let index = trigger
            .data
            .fields
            .get("get-action")
            .and_then(|get_action| get_action.get("actionIndex"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let text = match self
            .repo
            .read(
                project,
                Some(stage),
                Some(service),
                REMEDIATION_FILE,
                trigger.git_commit_id.as_deref(),
            )
            .await
        {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) => {
                return errored(
                    &self.name,
                    trigger,
                    &format!(
                        "cannot read {REMEDIATION_FILE} of {project}/{stage}/{service}: {err}"
                    ),
                );
            }
        };
        let remediation = match keptn_core::remediation::parse(&text) {
            Ok((remediation, _warnings)) => remediation,
            Err(err) => {
                return errored(
                    &self.name,
                    trigger,
                    &format!("invalid {REMEDIATION_FILE}: {err}"),
                );
            }
        };
        let title = problem
            .problem_title
            .clone()
            .unwrap_or_else(|| "(untitled)".to_owned());
        match remediation.action_for(&problem, index) {
            ActionChoice::Action { action, next_index } => {
                let mut finished = answer(
                    &self.name,
                    trigger,
                    TaskEventKind::Finished,
                    Some(TaskResult::Pass),
                    Some(format!(
                        "action {} for problem '{title}': {}",
                        index + 1,
                        action
                            .name
                            .as_deref()
                            .or(action.action.as_deref())
                            .unwrap_or("")
                    )),
                )?;
                finished.data.fields.insert(
                    "action".to_owned(),
                    serde_json::to_value(action).unwrap_or(Value::Null),
                );
                finished.data.fields.insert(
                    "get-action".to_owned(),
                    json!({ "actionIndex": next_index }),
                );
                Some(finished)
            }
            ActionChoice::Escalate => answer(
                &self.name,
                trigger,
                TaskEventKind::Finished,
                Some(TaskResult::Fail),
                Some(format!(
                    "no more remediation actions for problem '{title}' (tried {index}): escalated"
                )),
            ),
        }
    }
}

fn problem_of(trigger: &KeptnEvent) -> Problem {
    trigger
        .data
        .fields
        .get("problem")
        .cloned()
        .and_then(|problem| serde_json::from_value(problem).ok())
        .unwrap_or_default()
}

fn action_of(trigger: &KeptnEvent) -> Option<Action> {
    trigger
        .data
        .fields
        .get("action")
        .cloned()
        .and_then(|action| serde_json::from_value(action).ok())
}

/// Whether `runner` handles the action an `action.triggered` asks for.
pub fn handles(runner: &dyn ActionRunner, trigger: &KeptnEvent) -> bool {
    super::deploy::triggered_task(trigger) == Some("action")
        && action_of(trigger)
            .and_then(|action| action.action)
            .is_some_and(|action| runner.handles(&action))
}

/// Runs the action of an `action.triggered` and returns its `.finished`.
pub async fn run_action(
    name: &str,
    runner: &dyn ActionRunner,
    trigger: &KeptnEvent,
) -> Option<KeptnEvent> {
    let scope = scope_of(trigger)?;
    let action = action_of(trigger)?;
    let label = action
        .name
        .clone()
        .or_else(|| action.action.clone())
        .unwrap_or_default();
    let problem = problem_of(trigger);
    let outcome =
        keptn_adapters::actions::with_problem(problem, runner.execute(&scope, &action)).await;
    match outcome {
        Ok(message) => answer(
            name,
            trigger,
            TaskEventKind::Finished,
            Some(TaskResult::Pass),
            Some(format!("{label}: {message}")),
        ),
        Err(err) => errored(name, trigger, &format!("{label} failed: {err}")),
    }
}

/// Remediation actions on the local platform.
///
/// - `rollback`: a canary is discarded; without one, the version that served before the last
///   promotion serves again.
/// - `scaling`: `value` (a string holding an integer, as Keptn wrote it) replicas more (or
///   fewer) for the service's serving deployment, behind the same router.
/// - `toggle-feature`: `value` maps flags to `on`/`off` (or booleans), e.g.
///   `{EnablePromotion: "off"}`; each replica of the service gets
///   `POST /admin/feature/<name>` with `{"enabled": …}`, where `<name>` is the flag without its
///   `Enable` prefix, in lower case (`promotion`): the switch the example services offer.
pub struct LocalActions {
    platform: LocalPlatform,
    http: reqwest::Client,
}

impl LocalActions {
    /// Actions on `platform`'s services.
    pub fn new(platform: LocalPlatform) -> Self {
        LocalActions {
            platform,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    async fn toggle(&self, scope: &Scope, value: Option<&Value>) -> Result<String, AdapterError> {
        let invalid = |message: String| AdapterError::new(AdapterErrorKind::Invalid, message);
        let Some(Value::Object(flags)) = value else {
            return Err(invalid(format!(
                "toggle-feature needs a value mapping flags to on/off, e.g. {{EnablePromotion: \"off\"}}, got {}",
                value.map_or_else(|| "nothing".to_owned(), Value::to_string)
            )));
        };
        let status = self.platform.status(scope).await.ok_or_else(|| {
            AdapterError::new(
                AdapterErrorKind::NotFound,
                format!(
                    "{}/{}/{} is not deployed on the local platform",
                    scope.project, scope.stage, scope.service
                ),
            )
        })?;
        let ports: Vec<u16> = [&status.primary, &status.canary, &status.direct]
            .into_iter()
            .flatten()
            .flat_map(|deployment| deployment.ports.iter().copied())
            .collect();
        let mut done = Vec::new();
        for (flag, setting) in flags {
            let enabled = match setting {
                Value::Bool(enabled) => *enabled,
                Value::String(text) if matches!(text.as_str(), "on" | "true") => true,
                Value::String(text) if matches!(text.as_str(), "off" | "false") => false,
                other => {
                    return Err(invalid(format!(
                        "toggle-feature: flag {flag} must be on or off, got {other}"
                    )));
                }
            };
            let feature = flag.strip_prefix("Enable").unwrap_or(flag).to_lowercase();
            for port in &ports {
                let url = format!("http://127.0.0.1:{port}/admin/feature/{feature}");
                let response = self
                    .http
                    .post(&url)
                    .json(&json!({ "enabled": enabled }))
                    .send()
                    .await
                    .map_err(|err| {
                        AdapterError::new(
                            AdapterErrorKind::Unavailable,
                            format!("toggle-feature: POST {url}: {err}"),
                        )
                    })?;
                if !response.status().is_success() {
                    return Err(AdapterError::new(
                        AdapterErrorKind::Failed,
                        format!("toggle-feature: POST {url} answered {}", response.status()),
                    ));
                }
            }
            done.push(format!(
                "{flag} {} on {} replicas",
                if enabled { "on" } else { "off" },
                ports.len()
            ));
        }
        Ok(done.join(", "))
    }
}

#[async_trait::async_trait]
impl ActionRunner for LocalActions {
    fn handles(&self, action: &str) -> bool {
        matches!(action, "scaling" | "toggle-feature" | "rollback")
    }

    async fn execute(&self, scope: &Scope, action: &Action) -> Result<String, AdapterError> {
        match action.action.as_deref() {
            Some("scaling") => {
                let delta = match &action.value {
                    Some(Value::String(text)) => text.trim().parse::<i64>().ok(),
                    Some(Value::Number(number)) => number.as_i64(),
                    _ => None,
                }
                .ok_or_else(|| {
                    AdapterError::new(
                        AdapterErrorKind::Invalid,
                        format!(
                            "scaling needs a value holding an integer (\"1\"), got {}",
                            action
                                .value
                                .as_ref()
                                .map_or_else(|| "nothing".to_owned(), Value::to_string)
                        ),
                    )
                })?;
                let replicas = self.platform.scale(scope, delta).await?;
                Ok(format!("scaled by {delta:+} to {replicas} replicas"))
            }
            Some("toggle-feature") => self.toggle(scope, action.value.as_ref()).await,
            Some("rollback") => Ok(self.platform.revert(scope).await?),
            other => Err(AdapterError::new(
                AdapterErrorKind::Invalid,
                format!("the local platform cannot run action {other:?}"),
            )),
        }
    }
}

/// `script-action` without a `base_dir`: the scripts come from the config repo (the service's
/// file on the stage's branch, else the stage's, else the project's), are written under
/// `work_dir` with the execute bit, and run there with the problem in their environment.
pub struct RepoScripts {
    repo: Arc<dyn ConfigRepo>,
    config: keptn_adapters::actions::ScriptConfig,
    work_dir: std::path::PathBuf,
}

impl RepoScripts {
    async fn checkout(
        &self,
        scope: &Scope,
        path: &str,
    ) -> Result<std::path::PathBuf, AdapterError> {
        let mut found = None;
        for (stage, service) in [
            (Some(scope.stage.as_str()), Some(scope.service.as_str())),
            (Some(scope.stage.as_str()), None),
            (None, None),
        ] {
            match self
                .repo
                .read(&scope.project, stage, service, path, None)
                .await
            {
                Ok(bytes) => {
                    found = Some(bytes);
                    break;
                }
                Err(err) if err.kind == AdapterErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        let bytes = found.ok_or_else(|| {
            AdapterError::new(
                AdapterErrorKind::NotFound,
                format!(
                    "script {path} is not in the config repo of {}/{}/{}",
                    scope.project, scope.stage, scope.service
                ),
            )
        })?;
        let base = self
            .work_dir
            .join(&scope.project)
            .join(&scope.stage)
            .join(&scope.service);
        let file = base.join(path);
        let io = |err: std::io::Error| {
            AdapterError::new(
                AdapterErrorKind::Failed,
                format!("cannot write {}: {err}", file.display()),
            )
        };
        if let Some(parent) = file.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        tokio::fs::write(&file, bytes).await.map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            tokio::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o700))
                .await
                .map_err(io)?;
        }
        Ok(base)
    }
}

#[async_trait::async_trait]
impl ActionRunner for RepoScripts {
    fn handles(&self, action: &str) -> bool {
        self.config.commands.contains_key(action)
    }

    async fn execute(&self, scope: &Scope, action: &Action) -> Result<String, AdapterError> {
        let name = action.action.as_deref().unwrap_or_default();
        let Some(path) = self.config.commands.get(name) else {
            return Err(AdapterError::new(
                AdapterErrorKind::Invalid,
                format!("no script for action {name}"),
            ));
        };
        let base_dir = self.checkout(scope, path).await?;
        let config = keptn_adapters::actions::ScriptConfig {
            base_dir,
            ..self.config.clone()
        };
        let valid = config.validate().map_err(AdapterError::from)?;
        keptn_adapters::actions::Script::new(valid)
            .execute(scope, action)
            .await
    }
}

/// The generic action runners of `keptn_adapters::actions` from a uniform entry.
pub fn runner(
    kind: &str,
    name: &str,
    config: &Value,
    repo: &Arc<dyn ConfigRepo>,
    data_dir: &std::path::Path,
) -> Result<Arc<dyn ActionRunner>, String> {
    use keptn_adapters::actions::{Script, ScriptConfig, Webhook, WebhookConfig};
    let context = |err: &dyn std::fmt::Display| format!("config of '{name}': {err}");
    match kind {
        "webhook-action" => {
            let parsed: WebhookConfig =
                serde_json::from_value(config.clone()).map_err(|err| context(&err))?;
            let valid = parsed.validate().map_err(|err| context(&err))?;
            Ok(Arc::new(Webhook::new(valid).map_err(|err| context(&err))?))
        }
        "script-action" => {
            let mut config = config.clone();
            let from_repo = config.get("base_dir").is_none();
            if from_repo && let Value::Object(map) = &mut config {
                // Validated with a placeholder; each run uses the checked-out directory.
                map.insert(
                    "base_dir".to_owned(),
                    json!(data_dir.join("scripts").join(name)),
                );
            }
            let parsed: ScriptConfig =
                serde_json::from_value(config).map_err(|err| context(&err))?;
            if from_repo {
                parsed.validate().map_err(|err| context(&err))?;
                return Ok(Arc::new(RepoScripts {
                    repo: Arc::clone(repo),
                    work_dir: parsed.base_dir.clone(),
                    config: parsed,
                }));
            }
            let valid = parsed.validate().map_err(|err| context(&err))?;
            Ok(Arc::new(Script::new(valid)))
        }
        other => Err(format!("'{other}' is not an action runner kind")),
    }
}
