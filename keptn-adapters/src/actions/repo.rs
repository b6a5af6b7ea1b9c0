//! [`RepoScripts`]: remediation scripts kept in the configuration repository.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use keptn_core::ports::{
    ActionRequest, ActionRunner, AdapterError, AdapterErrorKind, ConfigRepo, Scope,
};

use super::config::ValidScriptConfig;
use super::script::Script;

/// Scripts that live in the project's configuration repository, next to `remediation.yaml`:
/// for each run, the script mapped to the action is read from the repository (the service's
/// file on the stage's branch, else the stage's, else the project's), written under
/// `<work_dir>/<project>/<stage>/<service>/` with the execute bit, and run there as
/// [`Script`] runs it (time limit, problem and scope in its environment, last output lines as
/// message). The validated config's `base_dir` is that work directory.
pub struct RepoScripts {
    config_repo: Arc<dyn ConfigRepo>,
    config: ValidScriptConfig,
}

impl std::fmt::Debug for RepoScripts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoScripts")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RepoScripts {
    /// Scripts of `config.commands` read from `config_repo`, checked out under
    /// `config.base_dir`.
    pub fn new(config: ValidScriptConfig, config_repo: Arc<dyn ConfigRepo>) -> Self {
        Self {
            config_repo,
            config,
        }
    }

    /// Writes the script at `path` for `scope` under the work directory; returns the
    /// directory it runs in.
    async fn checkout(&self, scope: &Scope, path: &str) -> Result<PathBuf, AdapterError> {
        let mut found = None;
        for (stage, service) in [
            (Some(scope.stage.as_str()), Some(scope.service.as_str())),
            (Some(scope.stage.as_str()), None),
            (None, None),
        ] {
            match self
                .config_repo
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
            .config
            .base_dir
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

#[async_trait]
impl ActionRunner for RepoScripts {
    fn handles(&self, action: &str) -> bool {
        self.config.commands.contains_key(action)
    }

    async fn execute(&self, request: &ActionRequest) -> Result<String, AdapterError> {
        let name = request.action.action.as_deref().unwrap_or_default();
        let Some(path) = self.config.commands.get(name) else {
            return Err(AdapterError::new(
                AdapterErrorKind::Invalid,
                format!("no script for action {name}"),
            ));
        };
        let base_dir = self.checkout(&request.scope, path).await?;
        let config = ValidScriptConfig {
            base_dir,
            ..self.config.clone()
        };
        Script::new(config).execute(request).await
    }
}
