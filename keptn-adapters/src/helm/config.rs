//! The Helm deployer's configuration: where helm and kubectl are, where charts are unpacked,
//! how long a rollout may take, and how services are exposed through the Istio ingress.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::Error;

/// How long `helm upgrade --wait` may take when `timeout_seconds` is not set (helm-service's
/// fixed 3 minutes).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// The public URI of a service when `hostname_template` is not set (helm-service's
/// `HOSTNAME_TEMPLATE` default).
pub const DEFAULT_HOSTNAME_TEMPLATE: &str = "${INGRESS_PROTOCOL}://${SERVICE}.${PROJECT}-${STAGE}.${INGRESS_HOSTNAME_SUFFIX}:${INGRESS_PORT}";

/// The Istio gateway of the generated VirtualServices when `istio_gateway` is not set.
pub const DEFAULT_ISTIO_GATEWAY: &str = "public-gateway.istio-system";

/// The placeholders a hostname template may use.
const PLACEHOLDERS: [&str; 6] = [
    "INGRESS_PROTOCOL",
    "SERVICE",
    "PROJECT",
    "STAGE",
    "INGRESS_HOSTNAME_SUFFIX",
    "INGRESS_PORT",
];

/// The longest rollout timeout accepted, in seconds (one hour).
const MAX_TIMEOUT_SECONDS: u64 = 3600;

/// The Helm deployer as written in the service configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The helm executable (Helm 3 or 4). Default: `helm`, looked up in `PATH`.
    #[serde(default = "default_helm")]
    pub helm: PathBuf,
    /// The kubectl executable, used only to label a namespace for Istio sidecar injection.
    /// Default: `kubectl`, looked up in `PATH`.
    #[serde(default = "default_kubectl")]
    pub kubectl: PathBuf,
    /// A directory for unpacked and generated charts, one subdirectory per release. Created on
    /// first use; its contents are scratch and may be deleted while the service is stopped.
    pub work_dir: PathBuf,
    /// How long one rollout (`helm upgrade --wait`) may take, in seconds. Default: 180, as
    /// helm-service. Passed to helm as `--timeout`; the helm process itself is killed 30
    /// seconds later if it has not ended by then.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// The kubeconfig context to use (`helm --kube-context`, `kubectl --context`). Default:
    /// the kubeconfig's current context.
    #[serde(default)]
    pub kube_context: Option<String>,
    /// The public URI of a service, with the placeholders `${INGRESS_PROTOCOL}`, `${SERVICE}`,
    /// `${PROJECT}`, `${STAGE}`, `${INGRESS_HOSTNAME_SUFFIX}` and `${INGRESS_PORT}`. Its host
    /// name is also the public host of the generated VirtualService. Default:
    /// `${INGRESS_PROTOCOL}://${SERVICE}.${PROJECT}-${STAGE}.${INGRESS_HOSTNAME_SUFFIX}:${INGRESS_PORT}`.
    #[serde(default)]
    pub hostname_template: Option<String>,
    /// `${INGRESS_PROTOCOL}`. Default: `http`.
    #[serde(default)]
    pub ingress_protocol: Option<String>,
    /// `${INGRESS_HOSTNAME_SUFFIX}`, for example `127.0.0.1.nip.io`. Default:
    /// `svc.cluster.local`.
    #[serde(default)]
    pub ingress_hostname_suffix: Option<String>,
    /// `${INGRESS_PORT}`. Default: 80.
    #[serde(default)]
    pub ingress_port: Option<u16>,
    /// The Istio gateway the generated VirtualServices bind to (next to `mesh`). Default:
    /// `public-gateway.istio-system`.
    #[serde(default)]
    pub istio_gateway: Option<String>,
}

fn default_helm() -> PathBuf {
    PathBuf::from("helm")
}

fn default_kubectl() -> PathBuf {
    PathBuf::from("kubectl")
}

fn default_timeout_seconds() -> u64 {
    DEFAULT_TIMEOUT.as_secs()
}

/// How services are reached from outside: the ingress settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingress {
    pub(super) hostname_template: String,
    pub(super) protocol: String,
    pub(super) hostname_suffix: String,
    pub(super) port: u16,
    pub(super) gateway: String,
}

impl Default for Ingress {
    /// helm-service's defaults: `http://<service>.<project>-<stage>.svc.cluster.local:80`
    /// through `public-gateway.istio-system`.
    fn default() -> Self {
        Self {
            hostname_template: DEFAULT_HOSTNAME_TEMPLATE.to_owned(),
            protocol: "http".to_owned(),
            hostname_suffix: "svc.cluster.local".to_owned(),
            port: 80,
            gateway: DEFAULT_ISTIO_GATEWAY.to_owned(),
        }
    }
}

impl Ingress {
    /// The public URI of a Kubernetes service of a project's stage.
    pub fn public_uri(&self, project: &str, stage: &str, service: &str) -> String {
        let port = self.port.to_string();
        let values = [
            ("INGRESS_PROTOCOL", self.protocol.as_str()),
            ("SERVICE", service),
            ("PROJECT", project),
            ("STAGE", stage),
            ("INGRESS_HOSTNAME_SUFFIX", self.hostname_suffix.as_str()),
            ("INGRESS_PORT", port.as_str()),
        ];
        let mut res = self.hostname_template.clone();
        for (name, value) in values {
            res = res.replace(&format!("${{{name}}}"), value);
        }
        res
    }

    /// The host name of [`Ingress::public_uri`]: the VirtualService's public host.
    pub fn public_host(&self, project: &str, stage: &str, service: &str) -> String {
        host_of(&self.public_uri(project, stage, service)).to_owned()
    }

    /// The Istio gateway of the generated VirtualServices.
    pub fn gateway(&self) -> &str {
        &self.gateway
    }
}

/// The host part of `scheme://host[:port][/path]`.
fn host_of(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let end = rest.find([':', '/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// A [`Config`] that passed [`Config::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidConfig {
    pub(super) helm: PathBuf,
    pub(super) kubectl: PathBuf,
    pub(super) work_dir: PathBuf,
    pub(super) timeout: Duration,
    pub(super) kube_context: Option<String>,
    pub(super) ingress: Ingress,
}

impl ValidConfig {
    /// The scratch directory for charts.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// How long one rollout may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The ingress settings.
    pub fn ingress(&self) -> &Ingress {
        &self.ingress
    }
}

impl Config {
    /// A configuration with charts unpacked under `work_dir` and every default.
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        Self {
            helm: default_helm(),
            kubectl: default_kubectl(),
            work_dir: work_dir.into(),
            timeout_seconds: default_timeout_seconds(),
            kube_context: None,
            hostname_template: None,
            ingress_protocol: None,
            ingress_hostname_suffix: None,
            ingress_port: None,
            istio_gateway: None,
        }
    }

    /// Checks the configuration without touching the filesystem, reports every problem at
    /// once, and applies the defaults.
    pub fn validate(&self) -> Result<ValidConfig, Error> {
        let mut problems = Vec::new();
        if self.helm.as_os_str().is_empty() {
            problems.push("helm: must not be empty".to_owned());
        }
        if self.kubectl.as_os_str().is_empty() {
            problems.push("kubectl: must not be empty".to_owned());
        }
        if self.work_dir.as_os_str().is_empty() {
            problems.push("work_dir: must not be empty".to_owned());
        }
        if !(1..=MAX_TIMEOUT_SECONDS).contains(&self.timeout_seconds) {
            problems.push(format!(
                "timeout_seconds: '{}' must be between 1 and {MAX_TIMEOUT_SECONDS}",
                self.timeout_seconds
            ));
        }
        if let Some(context) = &self.kube_context
            && (context.is_empty() || context.starts_with('-'))
        {
            problems.push(format!(
                "kube_context: '{context}' must not be empty or start with '-'"
            ));
        }
        let defaults = Ingress::default();
        let hostname_template = self
            .hostname_template
            .clone()
            .unwrap_or(defaults.hostname_template);
        check_template(&hostname_template, &mut problems);
        let mut text_field = |field: &str, value: &Option<String>, default: String| match value {
            Some(value) if value.is_empty() || value.contains(char::is_whitespace) => {
                problems.push(format!(
                    "{field}: '{value}' must not be empty or contain spaces"
                ));
                default
            }
            Some(value) => value.clone(),
            None => default,
        };
        let protocol = text_field(
            "ingress_protocol",
            &self.ingress_protocol,
            defaults.protocol,
        );
        let hostname_suffix = text_field(
            "ingress_hostname_suffix",
            &self.ingress_hostname_suffix,
            defaults.hostname_suffix,
        );
        let gateway = text_field("istio_gateway", &self.istio_gateway, defaults.gateway);
        let port = match self.ingress_port {
            Some(0) => {
                problems.push("ingress_port: must not be 0".to_owned());
                defaults.port
            }
            Some(port) => port,
            None => defaults.port,
        };
        if !problems.is_empty() {
            return Err(Error::Config { problems });
        }
        Ok(ValidConfig {
            helm: self.helm.clone(),
            kubectl: self.kubectl.clone(),
            work_dir: self.work_dir.clone(),
            timeout: Duration::from_secs(self.timeout_seconds),
            kube_context: self.kube_context.clone(),
            ingress: Ingress {
                hostname_template,
                protocol,
                hostname_suffix,
                port,
                gateway,
            },
        })
    }
}

/// Checks that the template is `<scheme>://...` and uses only known placeholders.
fn check_template(template: &str, problems: &mut Vec<String>) {
    match template.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() && !rest.is_empty() => {}
        _ => problems.push(format!(
            "hostname_template: '{template}' must start with a protocol such as 'http://'"
        )),
    }
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            problems.push(format!(
                "hostname_template: '{template}' has an unclosed '${{'"
            ));
            return;
        };
        let name = &after[..end];
        if !PLACEHOLDERS.contains(&name) {
            problems.push(format!(
                "hostname_template: unknown placeholder '${{{name}}}' (known: {})",
                PLACEHOLDERS.join(", ")
            ));
        }
        rest = &after[end + 1..];
    }
}
