//! The local platform: services run as local processes behind a weighted reverse proxy, the
//! way Keptn's helm-service ran them as Deployments behind an Istio VirtualService, on one
//! machine without Kubernetes.
//!
//! - [`LocalDeployer`] implements [`keptn_core::ports::Deployer`]: it reads the service's
//!   [`Spec`] (`local.yaml`, from the configuration repository at the sequence's commit),
//!   takes the image from the request's `values.image`, and starts the replicas with
//!   [`LocalPlatform`]. Strategies as helm-service: `direct` (and `user_managed`) starts the
//!   new version, waits until it is healthy, switches the router to it and stops the old
//!   one; `blue_green_service` starts the new version as the canary (and, the first time,
//!   as the primary too) and sends it all traffic; `release` promotes the canary's
//!   processes to primary (no restart) and stops the old primary; `rollback` sends all
//!   traffic back to the primary and stops the canary.
//! - [`LocalPlatform`] (and [`LocalDeployer`]) implement [`keptn_core::ports::TrafficRouter`]:
//!   the canary weight of a service's router.
//! - [`EmbeddedSli`] implements [`keptn_core::ports::SliProvider`] on the routers' own
//!   request records.
//! - [`LocalActions`] implements [`keptn_core::ports::ActionRunner`]: remediation's
//!   `scaling`, `toggle-feature` and `rollback` on the platform's services.
//! - Every router's requests are served as Istio-named Prometheus metrics on
//!   [`LocalPlatform::telemetry_url`]`/metrics`, so `sli.yaml` queries for Istio work too.
//!
//! Each project/stage/service has one router on a stable port: assigned once from
//! `router_base_port` upward and remembered in `<state_dir>/ports.json`. Its URL is the
//! deployment's local and public URI. Replicas listen on free loopback ports chosen per
//! process (`{port}`), log to `<state_dir>/logs/`, and must answer `GET <health_path>` with
//! 2xx within `start_timeout_seconds` before they get traffic.
//!
//! Operations on one service run one at a time (a deployment holds the service until its
//! replicas are healthy, so [`LocalPlatform::status`] of that service waits for it); other
//! services, the routers, the telemetry endpoint and the SLI provider are not held up.
//! Memory per router is bounded (see `router.rs`: a ring of the last `max_records` requests
//! plus one cumulative histogram per deployment, version and status code).
//!
//! What it does not do: isolate processes (no containers, cgroups or users), restart
//! replicas that crash after they became healthy, keep services running across a restart
//! of the platform (the processes stop with it; only router ports are remembered), stream
//! request or response bodies, or speak TLS.
//!
//! ```no_run
//! # async fn run() -> Result<(), keptn_adapters::local::Error> {
//! use keptn_adapters::local::{Config, LocalPlatform, Spec};
//! use keptn_core::ports::{DeploymentStrategy, Scope};
//! let platform = LocalPlatform::new(Config::new("/var/lib/keptn/local").validate()?).await?;
//! let spec = Spec::parse("command: carts\nargs: ['--listen', '127.0.0.1:{port}', '--version', '{tag}']\n")?;
//! let scope = Scope { project: "sockshop".into(), stage: "dev".into(), service: "carts".into() };
//! let deployed = platform
//!     .deploy(&scope, &spec, "docker.io/keptnexamples/carts:0.9.1", DeploymentStrategy::Direct)
//!     .await?;
//! println!("carts at {}", deployed.uris_local[0]);
//! platform.shutdown().await;
//! # Ok(()) }
//! ```

mod actions;
mod client;
mod config;
mod error;
mod process;
mod router;
mod sli;
mod spec;
mod telemetry;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use keptn_core::ports::{
    AdapterError, ConfigRepo, Deployed, Deployer, DeploymentRequest, DeploymentStrategy, Scope,
    TrafficRouter,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use actions::LocalActions;
use client::{HttpClient, http_client, text_response};
pub use config::{
    Config, DEFAULT_MAX_RECORDS, DEFAULT_ROUTER_BASE_PORT, DEFAULT_TELEMETRY_LISTEN, ValidConfig,
};
pub use error::Error;
use process::{Launch, Replica, resolve_command};
use router::{Backends, Router, Routes, lock};
pub use router::{DURATION_BUCKETS_MS, Record, goes_to_canary};
pub use sli::{EmbeddedSli, SUPPORTED_INDICATORS, Window, compute};
pub use spec::{
    DEFAULT_HEALTH_PATH, DEFAULT_START_TIMEOUT, DeploymentKind, MAX_REPLICAS, Placeholder, RawSpec,
    Spec, Template, Values, image_tag,
};

/// The name of the deployment spec in the configuration repository (service level).
pub const SPEC_FILE: &str = "local.yaml";

/// How long a remembered router port is retried when it is still held (a previous
/// platform's listener closing).
const REBIND_WAIT: Duration = Duration::from_secs(3);

/// What runs for one deployment of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentStatus {
    /// The version tag.
    pub tag: String,
    /// The image of the deployment request.
    pub image: String,
    /// How many replicas run.
    pub replicas: u32,
    /// Their loopback ports, in replica order.
    pub ports: Vec<u16>,
}

/// What runs for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    /// The router's URL (the service's URI).
    pub router_url: String,
    /// Percent of the traffic sent to the canary.
    pub canary_weight: u8,
    /// The primary of a blue/green service.
    pub primary: Option<DeploymentStatus>,
    /// The canary of a blue/green service.
    pub canary: Option<DeploymentStatus>,
    /// The deployment of a direct service.
    pub direct: Option<DeploymentStatus>,
}

/// The replicas of one deployment.
#[derive(Debug)]
struct Deployment {
    launch: Launch,
    replicas: Vec<Replica>,
    /// The number of the next replica started (replicas are numbered from 1).
    next_index: u32,
}

impl Deployment {
    fn backends(&self) -> Arc<Backends> {
        Arc::new(Backends::new(
            self.launch.kind,
            &self.launch.tag,
            self.replicas
                .iter()
                .map(|replica| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), replica.port))
                .collect(),
        ))
    }

    fn status(&self) -> DeploymentStatus {
        DeploymentStatus {
            tag: self.launch.tag.clone(),
            image: self.launch.image.clone(),
            replicas: u32::try_from(self.replicas.len()).unwrap_or(u32::MAX),
            ports: self.replicas.iter().map(|replica| replica.port).collect(),
        }
    }

    async fn stop(self) {
        for replica in self.replicas {
            replica.stop().await;
        }
    }
}

/// One service: its router and what runs behind it.
#[derive(Debug)]
struct Service {
    router: Arc<Router>,
    /// The primary (blue/green) or direct deployment.
    stable: Option<Deployment>,
    canary: Option<Deployment>,
    canary_weight: u8,
    /// How the version replaced by the last promotion or direct deployment ran (for the
    /// `rollback` remediation action).
    previous: Option<Launch>,
}

impl Service {
    /// Points the router at the current deployments and weight.
    fn apply_routes(&self) {
        self.router.set_routes(Routes {
            stable: self.stable.as_ref().map(Deployment::backends),
            canary: self.canary.as_ref().map(Deployment::backends),
            canary_weight: self.canary_weight,
        });
    }

    fn status(&self) -> ServiceStatus {
        let mut res = ServiceStatus {
            router_url: self.router.url.clone(),
            canary_weight: self.canary_weight,
            primary: None,
            canary: self.canary.as_ref().map(Deployment::status),
            direct: None,
        };
        if let Some(stable) = &self.stable {
            match stable.launch.kind {
                DeploymentKind::Direct => res.direct = Some(stable.status()),
                _ => res.primary = Some(stable.status()),
            }
        }
        res
    }
}

/// The router port of every project/stage/service, as kept in `ports.json`.
#[derive(Debug)]
struct PortBook {
    path: PathBuf,
    ports: BTreeMap<String, u16>,
}

impl PortBook {
    fn load(path: PathBuf) -> Result<Self, Error> {
        let ports = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| Error::PortsFile {
                path: path.clone(),
                reason: format!(
                    "expected a JSON object of 'project/stage/service': port ({error})"
                ),
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        Ok(Self { path, ports })
    }

    fn save(&self) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(&self.ports).map_err(|error| Error::PortsFile {
            path: self.path.clone(),
            reason: format!("cannot encode the ports: {error}"),
        })?;
        let temporary = self.path.with_extension("json.tmp");
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .map_err(|source| Error::Io {
                action: "write",
                path: self.path.clone(),
                source,
            })
    }

    /// The listener of `scope`'s router: its remembered port, else the first free port from
    /// `base` upward that no other scope has (remembered from now on), or an ephemeral port
    /// when `base` is 0.
    async fn bind(&mut self, scope: &Scope, base: u16, ip: IpAddr) -> Result<TcpListener, Error> {
        let what = format!(
            "the router of service '{}' in stage '{}' of project '{}'",
            scope.service, scope.stage, scope.project
        );
        let bind_error = |port: u16, source| Error::Bind {
            addr: SocketAddr::new(ip, port).to_string(),
            what: what.clone(),
            source,
        };
        if base == 0 {
            return TcpListener::bind((ip, 0))
                .await
                .map_err(|source| bind_error(0, source));
        }
        let key = format!("{}/{}/{}", scope.project, scope.stage, scope.service);
        if let Some(port) = self.ports.get(&key).copied() {
            let started = std::time::Instant::now();
            loop {
                match TcpListener::bind((ip, port)).await {
                    Ok(listener) => return Ok(listener),
                    Err(source) if started.elapsed() >= REBIND_WAIT => {
                        return Err(bind_error(port, source));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        let taken: Vec<u16> = self.ports.values().copied().collect();
        let mut port = base;
        loop {
            if !taken.contains(&port)
                && let Ok(listener) = TcpListener::bind((ip, port)).await
            {
                self.ports.insert(key, port);
                self.save()?;
                return Ok(listener);
            }
            port = port.checked_add(1).ok_or(Error::NoFreePort { base })?;
        }
    }
}

struct Inner {
    config: ValidConfig,
    client: HttpClient,
    logs_dir: PathBuf,
    services: Mutex<BTreeMap<Scope, Arc<tokio::sync::Mutex<Service>>>>,
    routers: Arc<Mutex<BTreeMap<Scope, Arc<Router>>>>,
    ports: tokio::sync::Mutex<PortBook>,
    telemetry_addr: SocketAddr,
    telemetry_task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Processes are killed by `kill_on_drop`; listeners end with their tasks.
        if let Some(task) = lock(&self.telemetry_task).take() {
            task.abort();
        }
        for router in lock(&self.routers).values() {
            router.abort();
        }
    }
}

/// The local platform: every service's router and replicas, and the telemetry endpoint.
/// Cheap to clone: clones share everything. Call [`LocalPlatform::shutdown`] to stop the
/// processes and wait for them; dropping the last clone kills them without waiting.
#[derive(Clone)]
pub struct LocalPlatform {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPlatform")
            .field("state_dir", &self.inner.config.state_dir)
            .field("telemetry", &self.inner.telemetry_addr)
            .finish_non_exhaustive()
    }
}

impl LocalPlatform {
    /// Creates the state directory and starts the telemetry listener. Routers start with a
    /// service's first deployment.
    pub async fn new(config: ValidConfig) -> Result<Self, Error> {
        let logs_dir = config.state_dir.join("logs");
        std::fs::create_dir_all(&logs_dir).map_err(|source| Error::Io {
            action: "create",
            path: logs_dir.clone(),
            source,
        })?;
        let ports = PortBook::load(config.state_dir.join("ports.json"))?;
        let listener = TcpListener::bind(config.telemetry_listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.telemetry_listen.to_string(),
                what: "the telemetry endpoint".to_owned(),
                source,
            })?;
        let telemetry_addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.telemetry_listen.to_string(),
            what: "the telemetry endpoint".to_owned(),
            source,
        })?;
        let routers: Arc<Mutex<BTreeMap<Scope, Arc<Router>>>> = Arc::default();
        let routers_for_metrics = Arc::clone(&routers);
        let telemetry_task = client::serve(listener, move |request| {
            let routers = Arc::clone(&routers_for_metrics);
            async move {
                if request.method() != hyper::Method::GET || request.uri().path() != "/metrics" {
                    return text_response(
                        404,
                        "keptn local platform: only GET /metrics is served\n",
                    );
                }
                let snapshot: Vec<Arc<Router>> = lock(&routers).values().cloned().collect();
                let mut response = text_response(200, telemetry::render(&snapshot));
                response.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static(
                        "text/plain; version=0.0.4; charset=utf-8",
                    ),
                );
                response
            }
        });
        Ok(Self {
            inner: Arc::new(Inner {
                client: http_client(),
                logs_dir,
                services: Mutex::default(),
                routers,
                ports: tokio::sync::Mutex::new(ports),
                telemetry_addr,
                telemetry_task: Mutex::new(Some(telemetry_task)),
                config,
            }),
        })
    }

    /// The telemetry endpoint's base URL; metrics are at `<url>/metrics`.
    pub fn telemetry_url(&self) -> String {
        format!("http://{}", self.inner.telemetry_addr)
    }

    /// The embedded SLI provider reading this platform's routers.
    pub fn sli_provider(&self) -> EmbeddedSli {
        EmbeddedSli {
            platform: self.clone(),
        }
    }

    /// The router of `scope`, when one was started.
    pub(crate) fn router(&self, scope: &Scope) -> Option<Arc<Router>> {
        lock(&self.inner.routers).get(scope).cloned()
    }

    fn existing_service(&self, scope: &Scope) -> Result<Arc<tokio::sync::Mutex<Service>>, Error> {
        lock(&self.inner.services)
            .get(scope)
            .cloned()
            .ok_or_else(|| not_deployed(scope))
    }

    /// The service of `scope`, starting its router on first use.
    async fn service(&self, scope: &Scope) -> Result<Arc<tokio::sync::Mutex<Service>>, Error> {
        if let Ok(service) = self.existing_service(scope) {
            return Ok(service);
        }
        // The port book's lock also serialises router creation.
        let mut ports = self.inner.ports.lock().await;
        if let Ok(service) = self.existing_service(scope) {
            return Ok(service);
        }
        let config = &self.inner.config;
        let listener = ports
            .bind(scope, config.router_base_port, config.bind)
            .await?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.bind.to_string(),
            what: "a router".to_owned(),
            source,
        })?;
        let url_ip = if addr.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            addr.ip()
        };
        let url = format!("http://{}", SocketAddr::new(url_ip, addr.port()));
        let router = Arc::new(Router::new(scope.clone(), url, config.max_records));
        router.listen(listener, self.inner.client.clone());
        lock(&self.inner.routers).insert(scope.clone(), Arc::clone(&router));
        let service = Arc::new(tokio::sync::Mutex::new(Service {
            router,
            stable: None,
            previous: None,
            canary: None,
            canary_weight: 0,
        }));
        lock(&self.inner.services).insert(scope.clone(), Arc::clone(&service));
        Ok(service)
    }

    fn launch(
        &self,
        scope: &Scope,
        spec: &Arc<Spec>,
        image: &str,
        kind: DeploymentKind,
    ) -> Result<Launch, Error> {
        Ok(Launch {
            scope: scope.clone(),
            program: resolve_command(&spec.command, &self.inner.config.search_path)?,
            spec: Arc::clone(spec),
            image: image.to_owned(),
            tag: image_tag(image),
            kind,
            logs_dir: self.inner.logs_dir.clone(),
        })
    }

    async fn start(&self, launch: Launch) -> Result<Deployment, Error> {
        let n_replicas = launch.spec.replicas;
        let replicas = launch
            .start(1..=n_replicas, n_replicas, &self.inner.client)
            .await?;
        Ok(Deployment {
            launch,
            replicas,
            next_index: n_replicas + 1,
        })
    }

    /// Deploys `image` of `scope` as `spec` says, with `strategy` (see the module docs).
    /// The old processes keep serving until the new ones are healthy; a failed deployment
    /// leaves what ran before untouched.
    pub async fn deploy(
        &self,
        scope: &Scope,
        spec: &Spec,
        image: &str,
        strategy: DeploymentStrategy,
    ) -> Result<Deployed, Error> {
        if image.trim().is_empty() {
            return Err(Error::Image {
                service: scope.service.clone(),
                reason: "values.image is empty".to_owned(),
            });
        }
        let spec = Arc::new(spec.clone());
        let service = self.service(scope).await?;
        let mut service = service.lock().await;
        let deployment_name = match strategy {
            DeploymentStrategy::Direct | DeploymentStrategy::UserManaged => {
                let direct = self
                    .start(self.launch(scope, &spec, image, DeploymentKind::Direct)?)
                    .await?;
                let old_stable = service.stable.replace(direct);
                if let Some(old) = &old_stable {
                    service.previous = Some(old.launch.clone());
                }
                let old_canary = service.canary.take();
                service.canary_weight = 0;
                service.apply_routes();
                for old in old_stable.into_iter().chain(old_canary) {
                    old.stop().await;
                }
                DeploymentKind::Direct
            }
            DeploymentStrategy::BlueGreen | DeploymentStrategy::Canary { .. } => {
                let canary = self
                    .start(self.launch(scope, &spec, image, DeploymentKind::Canary)?)
                    .await?;
                match &mut service.stable {
                    None => {
                        // helm-service generated the primary from the same chart.
                        let primary_launch =
                            self.launch(scope, &spec, image, DeploymentKind::Primary)?;
                        match self.start(primary_launch).await {
                            Ok(primary) => service.stable = Some(primary),
                            Err(error) => {
                                canary.stop().await;
                                return Err(error);
                            }
                        }
                    }
                    Some(stable) => stable.launch.kind = DeploymentKind::Primary,
                }
                let old_canary = service.canary.replace(canary);
                service.canary_weight = match strategy {
                    DeploymentStrategy::Canary { weight } => weight.min(100),
                    _ => 100,
                };
                service.apply_routes();
                if let Some(old) = old_canary {
                    old.stop().await;
                }
                DeploymentKind::Canary
            }
        };
        let url = service.router.url.clone();
        Ok(Deployed {
            deployment_names: vec![deployment_name.as_str().to_owned()],
            uris_local: vec![url.clone()],
            uris_public: vec![url],
        })
    }

    /// Promotes the canary of a blue/green service: its processes become the primary, the
    /// old primary stops, and the primary gets all traffic. Nothing to promote (no canary)
    /// is not an error; the direct and user-managed strategies do nothing.
    pub async fn release(&self, scope: &Scope, strategy: DeploymentStrategy) -> Result<(), Error> {
        if !strategy.has_canary() {
            return Ok(());
        }
        let service = self.existing_service(scope)?;
        let mut service = service.lock().await;
        let Some(mut canary) = service.canary.take() else {
            return if service.stable.is_some() {
                Ok(())
            } else {
                Err(not_deployed(scope))
            };
        };
        canary.launch.kind = DeploymentKind::Primary;
        let old_primary = service.stable.replace(canary);
        let promoted_image = service
            .stable
            .as_ref()
            .map_or("", |new| new.launch.image.as_str());
        if let Some(old) = &old_primary
            && old.launch.image != promoted_image
        {
            service.previous = Some(old.launch.clone());
        }
        service.canary_weight = 0;
        service.apply_routes();
        if let Some(old) = old_primary {
            old.stop().await;
        }
        Ok(())
    }

    /// Discards the canary of a blue/green service: all traffic to the unchanged primary,
    /// the canary stops. The direct and user-managed strategies do nothing.
    pub async fn rollback(&self, scope: &Scope, strategy: DeploymentStrategy) -> Result<(), Error> {
        if !strategy.has_canary() {
            return Ok(());
        }
        let service = self.existing_service(scope)?;
        let mut service = service.lock().await;
        service.canary_weight = 0;
        let canary = service.canary.take();
        service.apply_routes();
        if let Some(canary) = canary {
            canary.stop().await;
        }
        Ok(())
    }

    /// Remediation's `rollback` action: a canary is discarded (all traffic back to the
    /// primary); without one, the version that ran before the last promotion (or direct
    /// deployment) is started again, healthy before it gets the traffic, and the current one
    /// stops. Returns what now serves. Reverting twice returns to where it started.
    pub async fn revert(&self, scope: &Scope) -> Result<String, Error> {
        let service = self.existing_service(scope)?;
        let mut service = service.lock().await;
        if let Some(canary) = service.canary.take() {
            service.canary_weight = 0;
            service.apply_routes();
            canary.stop().await;
            let tag = service
                .stable
                .as_ref()
                .map_or_else(String::new, |stable| stable.launch.tag.clone());
            return Ok(format!("canary discarded; {tag} serves"));
        }
        let Some(mut launch) = service.previous.take() else {
            return Err(Error::Revert {
                service: scope.service.clone(),
                reason: "no earlier version ran here since the platform started".to_owned(),
            });
        };
        let Some(kind) = service.stable.as_ref().map(|stable| stable.launch.kind) else {
            return Err(not_deployed(scope));
        };
        launch.kind = kind;
        let tag = launch.tag.clone();
        let restored = match self.start(launch.clone()).await {
            Ok(restored) => restored,
            Err(error) => {
                service.previous = Some(launch);
                return Err(error);
            }
        };
        let current = service.stable.replace(restored);
        if let Some(current) = current {
            service.previous = Some(current.launch.clone());
            service.apply_routes();
            current.stop().await;
        } else {
            service.apply_routes();
        }
        Ok(format!("{tag} serves again"))
    }

    /// Sends `canary_percent` (0..=100) of `scope`'s traffic to its canary.
    pub async fn set_canary_weight(&self, scope: &Scope, canary_percent: u8) -> Result<(), Error> {
        if canary_percent > 100 {
            return Err(Error::Weight {
                weight: canary_percent,
            });
        }
        let service = self.existing_service(scope)?;
        let mut service = service.lock().await;
        service.canary_weight = canary_percent;
        service.apply_routes();
        Ok(())
    }

    /// Adds `delta` replicas to the primary (or direct) deployment of `scope`, or removes
    /// `-delta` of them (the newest first), and returns the new count (remediation's
    /// `scaling` action). The count stays between 1 and [`MAX_REPLICAS`]. New replicas are
    /// healthy before they get traffic.
    pub async fn scale(&self, scope: &Scope, delta: i64) -> Result<u32, Error> {
        let service = self.existing_service(scope)?;
        let mut service = service.lock().await;
        let client = self.inner.client.clone();
        let Some(stable) = service.stable.as_mut() else {
            return Err(not_deployed(scope));
        };
        let current = i64::try_from(stable.replicas.len()).unwrap_or(i64::MAX);
        let wanted = current.saturating_add(delta);
        if !(1..=i64::from(MAX_REPLICAS)).contains(&wanted) {
            return Err(Error::Scale {
                service: scope.service.clone(),
                reason: format!(
                    "{current} replicas {delta:+} is {wanted}, outside 1..={MAX_REPLICAS}"
                ),
            });
        }
        // In range 1..=MAX_REPLICAS, so it fits.
        let wanted = u32::try_from(wanted).unwrap_or(MAX_REPLICAS);
        let n_current = u32::try_from(current).unwrap_or(MAX_REPLICAS);
        let mut removed = Vec::new();
        if wanted > n_current {
            let first = stable.next_index;
            let last = first + (wanted - n_current) - 1;
            let added = stable.launch.start(first..=last, wanted, &client).await?;
            stable.replicas.extend(added);
            stable.next_index = last + 1;
        } else {
            removed = stable.replicas.split_off(wanted as usize);
        }
        service.apply_routes();
        for replica in removed {
            replica.stop().await;
        }
        Ok(wanted)
    }

    /// What runs for `scope`, when anything was deployed.
    pub async fn status(&self, scope: &Scope) -> Option<ServiceStatus> {
        let service = self.existing_service(scope).ok()?;
        let service = service.lock().await;
        Some(service.status())
    }

    /// What runs for every service, by scope.
    pub async fn services(&self) -> Vec<(Scope, ServiceStatus)> {
        let services: Vec<(Scope, Arc<tokio::sync::Mutex<Service>>)> = lock(&self.inner.services)
            .iter()
            .map(|(scope, service)| (scope.clone(), Arc::clone(service)))
            .collect();
        let mut res = Vec::with_capacity(services.len());
        for (scope, service) in services {
            let status = service.lock().await.status();
            res.push((scope, status));
        }
        res
    }

    /// Stops every replica (and waits for it), every router and the telemetry endpoint.
    /// The platform answers nothing afterwards; router ports stay remembered.
    pub async fn shutdown(&self) {
        let services: Vec<Arc<tokio::sync::Mutex<Service>>> =
            std::mem::take(&mut *lock(&self.inner.services))
                .into_values()
                .collect();
        for service in services {
            let mut service = service.lock().await;
            let stable = service.stable.take();
            let canary = service.canary.take();
            service.apply_routes();
            for deployment in stable.into_iter().chain(canary) {
                deployment.stop().await;
            }
            service.router.stop().await;
        }
        let routers: Vec<Arc<Router>> = std::mem::take(&mut *lock(&self.inner.routers))
            .into_values()
            .collect();
        for router in routers {
            router.stop().await;
        }
        let telemetry = lock(&self.inner.telemetry_task).take();
        if let Some(task) = telemetry {
            task.abort();
            let _ = task.await;
        }
    }

    /// Routes `scope`'s `kind` deployment to servers that already run (tests of the router,
    /// the telemetry and the SLIs without processes).
    #[cfg(test)]
    pub(crate) async fn register_backends(
        &self,
        scope: &Scope,
        kind: DeploymentKind,
        tag: &str,
        addrs: Vec<SocketAddr>,
        canary_weight: u8,
    ) -> Result<String, Error> {
        let service = self.service(scope).await?;
        let service = service.lock().await;
        let backends = Some(Arc::new(Backends::new(kind, tag, addrs)));
        service.router.update_routes(|routes| {
            routes.canary_weight = canary_weight;
            match kind {
                DeploymentKind::Canary => routes.canary = backends,
                DeploymentKind::Primary | DeploymentKind::Direct => routes.stable = backends,
            }
        });
        Ok(service.router.url.clone())
    }
}

fn not_deployed(scope: &Scope) -> Error {
    Error::NotDeployed {
        project: scope.project.clone(),
        stage: scope.stage.clone(),
        service: scope.service.clone(),
    }
}

#[async_trait]
impl TrafficRouter for LocalPlatform {
    async fn set_canary_weight(
        &self,
        scope: &Scope,
        canary_percent: u8,
    ) -> Result<(), AdapterError> {
        Ok(LocalPlatform::set_canary_weight(self, scope, canary_percent).await?)
    }
}

/// [`Deployer`] of the local platform: reads `local.yaml` from the configuration repository
/// and deploys with [`LocalPlatform`].
#[derive(Clone)]
pub struct LocalDeployer {
    platform: LocalPlatform,
    config_repo: Arc<dyn ConfigRepo>,
}

impl std::fmt::Debug for LocalDeployer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDeployer")
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

impl LocalDeployer {
    /// A deployer on `platform` reading specs from `repo`.
    pub fn new(platform: LocalPlatform, config_repo: Arc<dyn ConfigRepo>) -> Self {
        Self {
            platform,
            config_repo,
        }
    }

    /// The platform it deploys to.
    pub fn platform(&self) -> &LocalPlatform {
        &self.platform
    }

    /// The service's `local.yaml` at `commit` (the stage's latest when `None`), validated.
    pub async fn read_spec(&self, scope: &Scope, commit: Option<&str>) -> Result<Spec, Error> {
        let bytes = self
            .config_repo
            .read(
                &scope.project,
                Some(&scope.stage),
                Some(&scope.service),
                SPEC_FILE,
                commit,
            )
            .await
            .map_err(|source| Error::ReadSpec {
                project: scope.project.clone(),
                stage: scope.stage.clone(),
                service: scope.service.clone(),
                source,
            })?;
        let text = String::from_utf8_lossy(&bytes);
        Spec::parse(&text)
    }
}

/// The `image` value of a deployment request.
fn requested_image(request: &DeploymentRequest) -> Result<&str, Error> {
    let service = &request.scope.service;
    match request.values.get("image") {
        Some(serde_json::Value::String(image)) if !image.trim().is_empty() => Ok(image),
        Some(serde_json::Value::String(_)) => Err(Error::Image {
            service: service.clone(),
            reason: "values.image is empty".to_owned(),
        }),
        Some(other) => Err(Error::Image {
            service: service.clone(),
            reason: format!("values.image must be a string, got '{other}'"),
        }),
        None => Err(Error::Image {
            service: service.clone(),
            reason: "values.image is missing (the image to deploy, e.g. 'docker.io/keptnexamples/carts:0.9.1')".to_owned(),
        }),
    }
}

#[async_trait]
impl Deployer for LocalDeployer {
    async fn deploy(&self, request: &DeploymentRequest) -> Result<Deployed, AdapterError> {
        let image = requested_image(request)?;
        let spec = self
            .read_spec(&request.scope, request.git_commit_id.as_deref())
            .await?;
        Ok(self
            .platform
            .deploy(&request.scope, &spec, image, request.strategy)
            .await?)
    }

    async fn release(
        &self,
        scope: &Scope,
        strategy: DeploymentStrategy,
    ) -> Result<(), AdapterError> {
        Ok(self.platform.release(scope, strategy).await?)
    }

    async fn rollback(
        &self,
        scope: &Scope,
        strategy: DeploymentStrategy,
    ) -> Result<(), AdapterError> {
        Ok(self.platform.rollback(scope, strategy).await?)
    }
}

#[async_trait]
impl TrafficRouter for LocalDeployer {
    async fn set_canary_weight(
        &self,
        scope: &Scope,
        canary_percent: u8,
    ) -> Result<(), AdapterError> {
        Ok(self
            .platform
            .set_canary_weight(scope, canary_percent)
            .await?)
    }
}
