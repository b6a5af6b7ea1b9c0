//! The script action runner: runs an executable from the config repo checkout per action.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use async_trait::async_trait;
use keptn_core::event::{Action, Problem};
use keptn_core::ports::{ActionRequest, ActionRunner, AdapterError, Scope};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::Error;
use super::config::{CallContext, ValidScriptConfig, is_relative_inside};

/// Executes remediation actions by running scripts (see the module docs of [`super`]).
#[derive(Debug, Clone)]
pub struct Script {
    config: ValidScriptConfig,
}

impl Script {
    /// A runner for a validated configuration.
    pub fn new(config: ValidScriptConfig) -> Self {
        Self { config }
    }

    /// The script of `path` inside the base directory, symlinks resolved; refuses a path that
    /// leaves it.
    fn resolve(&self, path: &str) -> Result<PathBuf, Error> {
        let escape = || Error::PathEscape {
            path: path.to_owned(),
            base_dir: self.config.base_dir.display().to_string(),
        };
        if !is_relative_inside(Path::new(path)) {
            return Err(escape());
        }
        let spawn_error = |message: String| Error::Spawn {
            path: path.to_owned(),
            message,
        };
        let base = self.config.base_dir.canonicalize().map_err(|error| {
            spawn_error(format!(
                "base directory '{}': {error}",
                self.config.base_dir.display()
            ))
        })?;
        let script = base
            .join(path)
            .canonicalize()
            .map_err(|error| spawn_error(error.to_string()))?;
        if !script.starts_with(&base) {
            return Err(escape());
        }
        Ok(script)
    }

    /// Runs the script of `action` with the scope, action and `problem` in its environment:
    /// `KEPTN_PROJECT`, `KEPTN_STAGE`, `KEPTN_SERVICE`, `KEPTN_ACTION` (the action
    /// identifier), `KEPTN_ACTION_NAME`, `KEPTN_ACTION_DESCRIPTION`, `KEPTN_ACTION_VALUE` (a
    /// string value as it is, anything else as JSON), `KEPTN_PROBLEM_TITLE`,
    /// `KEPTN_PROBLEM_ID`, `KEPTN_PROBLEM_STATE`, `KEPTN_PROBLEM_ROOT_CAUSE` and
    /// `KEPTN_PROBLEM` (the whole problem as JSON, `{}` without one). The rest of the
    /// environment is inherited. Returns the last output lines (stdout, then stderr).
    pub async fn execute_for(
        &self,
        scope: &Scope,
        action: &Action,
        problem: Option<&Problem>,
    ) -> Result<String, Error> {
        let name = action.action.as_deref().unwrap_or_default();
        let Some(path) = self.config.commands.get(name) else {
            return Err(Error::NotHandled {
                action: name.to_owned(),
                handled: self.config.commands.keys().cloned().collect(),
            });
        };
        let script = self.resolve(path)?;
        let context = CallContext {
            scope,
            action,
            problem,
        };
        let problem_text = |field: Option<&String>| field.cloned().unwrap_or_default();
        let mut command = Command::new(&script);
        command
            .current_dir(&self.config.base_dir)
            .env("KEPTN_PROJECT", &scope.project)
            .env("KEPTN_STAGE", &scope.stage)
            .env("KEPTN_SERVICE", &scope.service)
            .env("KEPTN_ACTION", name)
            .env("KEPTN_ACTION_NAME", problem_text(action.name.as_ref()))
            .env(
                "KEPTN_ACTION_DESCRIPTION",
                problem_text(action.description.as_ref()),
            )
            .env("KEPTN_ACTION_VALUE", context.action_value())
            .env(
                "KEPTN_PROBLEM_TITLE",
                problem_text(problem.and_then(|problem| problem.problem_title.as_ref())),
            )
            .env(
                "KEPTN_PROBLEM_ID",
                problem_text(problem.and_then(|problem| problem.problem_id.as_ref())),
            )
            .env(
                "KEPTN_PROBLEM_STATE",
                problem_text(problem.and_then(|problem| problem.state.as_ref())),
            )
            .env(
                "KEPTN_PROBLEM_ROOT_CAUSE",
                problem_text(problem.and_then(|problem| problem.root_cause.as_ref())),
            )
            .env(
                "KEPTN_PROBLEM",
                problem
                    .and_then(|problem| serde_json::to_string(problem).ok())
                    .unwrap_or_else(|| "{}".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout kills the children the script started.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|error| Error::Spawn {
            path: path.clone(),
            message: error.to_string(),
        })?;
        let stdout = child.stdout.take().map(read_all);
        let stderr = child.stderr.take().map(read_all);
        let status = match tokio::time::timeout(self.config.timeout, child.wait()).await {
            Ok(status) => status.map_err(|error| Error::Spawn {
                path: path.clone(),
                message: error.to_string(),
            })?,
            Err(_elapsed) => {
                if let Some(pid) = child.id() {
                    kill_group(pid).await;
                }
                let _ = child.kill().await;
                return Err(Error::Timeout {
                    what: format!("script '{path}'"),
                    timeout: self.config.timeout,
                });
            }
        };
        let mut output = String::new();
        for reader in [stdout, stderr].into_iter().flatten() {
            // The pipes close when the script and what it started exit; a child that keeps
            // them open is not waited for long.
            let text = tokio::time::timeout(std::time::Duration::from_secs(2), reader)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            output.push_str(&text);
            if !output.is_empty() && !output.ends_with('\n') {
                output.push('\n');
            }
        }
        let tail = last_lines(&output, self.config.output_lines);
        if !status.success() {
            return Err(Error::Exit {
                path: path.clone(),
                code: status.code(),
                output: tail,
            });
        }
        Ok(tail)
    }
}

#[async_trait]
impl ActionRunner for Script {
    fn handles(&self, action: &str) -> bool {
        self.config.commands.contains_key(action)
    }

    /// Runs [`Script::execute_for`] with the request's problem.
    async fn execute(&self, request: &ActionRequest) -> Result<String, AdapterError> {
        Ok(self
            .execute_for(&request.scope, &request.action, Some(&request.problem))
            .await?)
    }
}

fn read_all(
    mut reader: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes).await;
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Kills the process group `pid` leads (the script and its children) with `kill(1)`.
async fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

/// The last `n_lines` non-empty lines of `text`.
fn last_lines(text: &str, n_lines: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let first = lines.len().saturating_sub(n_lines);
    lines[first..].join("\n")
}
