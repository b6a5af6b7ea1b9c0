//! Pure generation of the Keptn-managed ("generated") chart from a user chart's rendered
//! manifest, as helm-service's `GeneratedChartGenerator` did, plus the two edits made to it
//! later: canary weights and replica counts. No IO: text in, text out.
//!
//! Input is a rendered manifest, several YAML documents as `helm get manifest` or
//! `helm template` prints them. Which kinds count:
//! - `Service` (v1) and `Deployment` (apps/v1) are used; everything else (ServiceAccount,
//!   ConfigMap, Ingress, CRDs, ...) is skipped and listed in [`GeneratedChart::skipped`]: it
//!   stays in the user release, which keeps running it for canary and primary alike
//!   (helm-service did the same, silently).
//! - Documents that are not YAML, or not a mapping with `kind`, `apiVersion` and
//!   `metadata.name`, are rejected with the document's index. Empty documents are ignored.
//!
//! Output keys are sorted alphabetically at every level, as Go's `sigs.k8s.io/yaml` printed
//! them, so golden files are stable. Unlike Go, zero values that were never in the input
//! (`creationTimestamp: null`, `status: {}`) are not printed, and the canary's `weight: 0` is
//! printed (Go's `omitempty` dropped it; Istio reads a missing weight as 0 there).

use serde_yaml::{Mapping, Value};

use super::Error;
use super::config::Ingress;

/// The suffix of the blue/green copies.
const PRIMARY: &str = "-primary";
/// The suffix of the Service that selects the user chart's (canary) pods.
const CANARY: &str = "-canary";
/// File name suffixes of the generated templates (helm-service's `IstioMesh`).
const VIRTUAL_SERVICE_SUFFIX: &str = "-istio-virtualservice.yaml";
const DESTINATION_RULE_SUFFIX: &str = "-istio-destinationrule.yaml";
/// The labels helm-service suffixed with `-primary` in selectors and pod templates.
const SUFFIXED_LABELS: [&str; 2] = ["app", "app.kubernetes.io/name"];
/// The Istio API version helm-service generated.
const ISTIO_API_VERSION: &str = "networking.istio.io/v1alpha3";

/// Which generated chart: what helm-service wrote into its `Chart.yaml` keywords
/// (`deployment_strategy=<strategy>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartStrategy {
    /// `duplicate` (Keptn's name of blue/green): primary copies, canary/primary services,
    /// weighted VirtualService.
    Duplicate,
    /// `direct`: a VirtualService and DestinationRule per service, no weights.
    Direct,
}

impl ChartStrategy {
    /// The keyword value, as helm-service wrote it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChartStrategy::Duplicate => "duplicate",
            ChartStrategy::Direct => "direct",
        }
    }

    /// The `keptn.deployment` value the generated release is installed with.
    pub fn deployment_name(self) -> &'static str {
        match self {
            ChartStrategy::Duplicate => "primary",
            ChartStrategy::Direct => "direct",
        }
    }
}

/// One file of a chart, by its path inside the chart directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFile {
    /// `Chart.yaml` or `templates/<name>.yaml`.
    pub path: String,
    /// The file's text.
    pub content: String,
}

/// A generated chart: `Chart.yaml` plus templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedChart {
    /// `<service>-generated`.
    pub name: String,
    /// Which strategy it was generated for.
    pub strategy: ChartStrategy,
    /// The templates, in generation order (per Service: its canary Service and
    /// DestinationRule, primary Service and DestinationRule, VirtualService; then one primary
    /// Deployment per Deployment).
    pub templates: Vec<ChartFile>,
    /// `Kind/name` of every manifest object that was not used.
    pub skipped: Vec<String>,
}

impl GeneratedChart {
    /// The chart's `Chart.yaml`.
    pub fn chart_yaml(&self) -> String {
        format!(
            "apiVersion: v2\nname: {}\nversion: 0.1.0\nkeywords:\n- deployment_strategy={}\n",
            self.name,
            self.strategy.as_str()
        )
    }

    /// Reads the strategy back from a `Chart.yaml` written by [`GeneratedChart::chart_yaml`]
    /// (or by helm-service).
    pub fn strategy_of(chart_yaml: &str) -> Option<ChartStrategy> {
        let value: Value = serde_yaml::from_str(chart_yaml).ok()?;
        let keywords = value.get("keywords")?.as_sequence()?;
        keywords.iter().find_map(|keyword| {
            match keyword.as_str()?.strip_prefix("deployment_strategy=")? {
                "duplicate" => Some(ChartStrategy::Duplicate),
                "direct" => Some(ChartStrategy::Direct),
                _ => None,
            }
        })
    }

    /// Sets the weights of every VirtualService template: canary `canary_percent`, primary
    /// the rest. Fails for a chart without canary/primary routes (a `direct` chart).
    pub fn set_canary_weight(&mut self, canary_percent: u8) -> Result<(), Error> {
        let mut n_updated = 0;
        for template in &mut self.templates {
            if template.path.ends_with(VIRTUAL_SERVICE_SUFFIX) {
                template.content = update_weights(&template.content, canary_percent)?;
                n_updated += 1;
            }
        }
        if n_updated == 0 {
            return Err(Error::VirtualService {
                name: String::new(),
                reason: format!("chart '{}' has no virtualservice template", self.name),
            });
        }
        Ok(())
    }

    /// Adds `increment` to the replicas of every Deployment template.
    pub fn scale(&mut self, increment: i64) -> Result<usize, Error> {
        let mut n_scaled = 0;
        for template in &mut self.templates {
            if let Some(scaled) = scale_deployments(&template.content, increment)? {
                template.content = scaled;
                n_scaled += 1;
            }
        }
        if n_scaled == 0 {
            return Err(Error::Scaling {
                name: self.name.clone(),
                reason: "the generated chart has no deployment".to_owned(),
            });
        }
        Ok(n_scaled)
    }
}

/// Where the generated objects live and how they are exposed.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Keptn project.
    pub project: &'a str,
    /// Keptn stage.
    pub stage: &'a str,
    /// Keptn service (names the chart).
    pub service: &'a str,
    /// Public host names and the gateway.
    pub ingress: &'a Ingress,
}

impl Target<'_> {
    fn namespace(&self) -> String {
        format!("{}-{}", self.project, self.stage)
    }

    /// The cluster-local host of a Kubernetes service.
    fn local_host(&self, name: &str) -> String {
        format!("{name}.{}.svc.cluster.local", self.namespace())
    }
}

/// A parsed rendered manifest: its Kubernetes objects, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    objects: Vec<Mapping>,
}

impl Manifest {
    /// Parses a multi-document manifest; see the module doc for what is rejected.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut objects = Vec::new();
        for (index, deserializer) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let document = index + 1;
            let value = <Value as serde::Deserialize>::deserialize(deserializer)
                .map_err(|source| Error::ManifestSyntax { document, source })?;
            let object = match value {
                Value::Null => continue,
                Value::Mapping(object) => object,
                _ => {
                    return Err(Error::InvalidManifest {
                        document,
                        reason: "not a mapping".to_owned(),
                    });
                }
            };
            for field in ["kind", "apiVersion"] {
                if !object.get(field).is_some_and(Value::is_string) {
                    return Err(Error::InvalidManifest {
                        document,
                        reason: format!("'{field}' is missing or not a string"),
                    });
                }
            }
            if !object
                .get("metadata")
                .and_then(|metadata| metadata.get("name"))
                .is_some_and(Value::is_string)
            {
                return Err(Error::InvalidManifest {
                    document,
                    reason: "'metadata.name' is missing or not a string".to_owned(),
                });
            }
            objects.push(object);
        }
        Ok(Self { objects })
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Mapping> + 'a {
        self.objects
            .iter()
            .filter(move |object| str_at(object, &["kind"]) == Some(kind))
    }

    /// The Services, in order.
    fn services(&self) -> impl Iterator<Item = &Mapping> {
        self.of_kind("Service")
    }

    /// The Deployments, in order.
    fn deployments(&self) -> impl Iterator<Item = &Mapping> {
        self.of_kind("Deployment")
    }

    fn skipped(&self) -> Vec<String> {
        self.objects
            .iter()
            .filter(|object| {
                !matches!(
                    str_at(object, &["kind"]),
                    Some("Service") | Some("Deployment")
                )
            })
            .map(|object| format!("{}/{}", kind_of(object), name_of(object)))
            .collect()
    }

    /// The port for the service's local URI, as helm-service chose it: the lowest TCP port of
    /// the first Service (a port without `protocol` is TCP, Kubernetes' default), else the
    /// lowest port of any protocol. `None` without a Service or without ports.
    pub fn lowest_port(&self) -> Option<u64> {
        let service = self.services().next()?;
        let ports = value_at(service, &["spec", "ports"])?.as_sequence()?;
        let port_of = |port: &Value| port.get("port").and_then(Value::as_u64);
        let tcp = ports
            .iter()
            .filter(|port| {
                port.get("protocol")
                    .and_then(Value::as_str)
                    .is_none_or(|protocol| protocol == "TCP")
            })
            .filter_map(port_of)
            .min();
        tcp.or_else(|| ports.iter().filter_map(port_of).min())
    }
}

/// The generated chart for `duplicate` (blue/green): per Service `<svc>-canary` (selects the
/// user chart's pods) and `<svc>-primary` (selector `app`/`app.kubernetes.io/name` suffixed
/// `-primary`) with a DestinationRule each, and a VirtualService `<svc>` with canary weight 0
/// and primary 100; per Deployment a copy `<name>-primary` with the same labels suffixed in
/// its selector and pod template, and `keptn_deployment=canary` replaced by
/// `keptn_deployment=primary` in every string.
pub fn duplicate_chart(manifest: &Manifest, target: &Target<'_>) -> Result<GeneratedChart, Error> {
    if manifest.services().next().is_none() {
        return Err(Error::Unsupported {
            service: target.service.to_owned(),
            reason: "the user chart renders no Service to route traffic to".to_owned(),
        });
    }
    if manifest.deployments().next().is_none() {
        return Err(Error::Unsupported {
            service: target.service.to_owned(),
            reason: "the user chart renders no Deployment to copy as primary".to_owned(),
        });
    }
    let mut templates = Vec::new();
    for service in manifest.services() {
        let name = name_of(service);
        let canary_name = format!("{name}{CANARY}");
        let primary_name = format!("{name}{PRIMARY}");

        let mut canary = service.clone();
        set_name(&mut canary, &canary_name);
        reset_service(&mut canary);
        templates.push(file(
            format!("templates/{canary_name}-service.yaml"),
            Value::Mapping(canary),
        )?);
        let canary_host = target.local_host(&canary_name);
        templates.push(file(
            format!("templates/{canary_name}{DESTINATION_RULE_SUFFIX}"),
            destination_rule(&canary_name, &canary_host),
        )?);

        let mut primary = service.clone();
        set_name(&mut primary, &primary_name);
        suffix_labels(mapping_at(&mut primary, &["spec", "selector"]));
        reset_service(&mut primary);
        templates.push(file(
            format!("templates/{primary_name}-service.yaml"),
            Value::Mapping(primary),
        )?);
        let primary_host = target.local_host(&primary_name);
        templates.push(file(
            format!("templates/{primary_name}{DESTINATION_RULE_SUFFIX}"),
            destination_rule(&primary_name, &primary_host),
        )?);

        let routes = vec![
            route(&canary_host, Some(0)),
            route(&primary_host, Some(100)),
        ];
        templates.push(file(
            format!("templates/{name}{VIRTUAL_SERVICE_SUFFIX}"),
            virtual_service(name, target, routes),
        )?);
    }
    for deployment in manifest.deployments() {
        let primary_name = format!("{}{PRIMARY}", name_of(deployment));
        let mut primary = deployment.clone();
        set_name(&mut primary, &primary_name);
        suffix_labels(mapping_at(
            &mut primary,
            &["spec", "selector", "matchLabels"],
        ));
        suffix_labels(mapping_at(
            &mut primary,
            &["spec", "template", "metadata", "labels"],
        ));
        for field in ["namespace", "resourceVersion"] {
            if let Some(metadata) = mapping_at(&mut primary, &["metadata"]) {
                metadata.remove(field);
            }
        }
        primary.remove("status");
        let primary = replace_strings(
            Value::Mapping(primary),
            "keptn_deployment=canary",
            "keptn_deployment=primary",
        );
        templates.push(file(
            format!("templates/{primary_name}-deployment.yaml"),
            primary,
        )?);
    }
    Ok(GeneratedChart {
        name: format!("{}-generated", target.service),
        strategy: ChartStrategy::Duplicate,
        templates,
        skipped: manifest.skipped(),
    })
}

/// The generated chart for `direct`: per Service a VirtualService `<svc>` (public host and
/// `<svc>`, gateway and `mesh`) routing to `<svc>.<namespace>.svc.cluster.local` without
/// weights, and a DestinationRule for that host. No Service gives a chart without templates
/// (helm-service then skipped the generated release).
pub fn direct_chart(manifest: &Manifest, target: &Target<'_>) -> Result<GeneratedChart, Error> {
    let mut templates = Vec::new();
    for service in manifest.services() {
        let name = name_of(service);
        let host = target.local_host(name);
        templates.push(file(
            format!("templates/{name}{VIRTUAL_SERVICE_SUFFIX}"),
            virtual_service(name, target, vec![route(&host, None)]),
        )?);
        templates.push(file(
            format!("templates/{name}{DESTINATION_RULE_SUFFIX}"),
            destination_rule(name, &host),
        )?);
    }
    Ok(GeneratedChart {
        name: format!("{}-generated", target.service),
        strategy: ChartStrategy::Direct,
        templates,
        skipped: manifest.skipped(),
    })
}

/// Sets the weights of a VirtualService (one YAML document) as helm-service's
/// `UpdateWeights`: destinations whose host starts with `<name>-canary` get `canary_percent`,
/// those starting with `<name>-primary` the rest. Every destination host must start with
/// the VirtualService's name, and there must be at least one canary and one primary
/// destination. Returns the VirtualService with sorted keys.
pub fn update_weights(virtual_service: &str, canary_percent: u8) -> Result<String, Error> {
    if canary_percent > 100 {
        return Err(Error::InvalidWeight {
            percent: canary_percent,
        });
    }
    let invalid = |name: &str, reason: String| Error::VirtualService {
        name: name.to_owned(),
        reason,
    };
    let mut value: Value = serde_yaml::from_str(virtual_service)
        .map_err(|source| invalid("", format!("not valid yaml: {source}")))?;
    let Value::Mapping(object) = &mut value else {
        return Err(invalid("", "not a mapping".to_owned()));
    };
    if str_at(object, &["kind"]) != Some("VirtualService") {
        return Err(invalid("", "kind is not VirtualService".to_owned()));
    }
    let name = str_at(object, &["metadata", "name"])
        .ok_or_else(|| invalid("", "metadata.name is missing".to_owned()))?
        .to_owned();
    let canary_prefix = format!("{name}{CANARY}");
    let primary_prefix = format!("{name}{PRIMARY}");
    let (mut n_canary, mut n_primary) = (0, 0);
    let http = mapping_at(object, &["spec"])
        .and_then(|spec| spec.get_mut("http"))
        .and_then(Value::as_sequence_mut)
        .ok_or_else(|| invalid(&name, "spec.http is missing".to_owned()))?;
    for http_route in http {
        let Some(routes) = http_route.get_mut("route").and_then(Value::as_sequence_mut) else {
            continue;
        };
        for destination in routes {
            let host = destination
                .get("destination")
                .and_then(|destination| destination.get("host"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if !host.starts_with(&name) {
                return Err(invalid(
                    &name,
                    format!("destination host '{host}' does not start with '{name}'"),
                ));
            }
            let weight = if host.starts_with(&canary_prefix) {
                n_canary += 1;
                canary_percent
            } else if host.starts_with(&primary_prefix) {
                n_primary += 1;
                100 - canary_percent
            } else {
                continue;
            };
            if let Value::Mapping(destination) = destination {
                destination.insert("weight".into(), Value::from(weight));
            }
        }
    }
    if n_canary == 0 || n_primary == 0 {
        return Err(invalid(
            &name,
            format!("it needs a '{canary_prefix}' and a '{primary_prefix}' destination"),
        ));
    }
    to_yaml(value)
}

/// Adds `increment` to `spec.replicas` of every Deployment in a template (one or more YAML
/// documents). A Deployment without `replicas` counts as 1 (Kubernetes' default). `None` when
/// the template holds no Deployment. Documents are printed with sorted keys, each after `---`.
pub fn scale_deployments(template: &str, increment: i64) -> Result<Option<String>, Error> {
    let manifest = Manifest::parse(template)?;
    if manifest.deployments().next().is_none() {
        return Ok(None);
    }
    let mut res = String::new();
    for mut object in manifest.objects {
        if str_at(&object, &["kind"]) == Some("Deployment") {
            let name = name_of(&object).to_owned();
            let replicas = value_at(&object, &["spec", "replicas"]);
            let current = match replicas {
                None => 1,
                Some(value) => value.as_i64().ok_or_else(|| Error::Scaling {
                    name: name.clone(),
                    reason: format!("spec.replicas is not an integer: {value:?}"),
                })?,
            };
            let scaled = current.saturating_add(increment);
            if scaled < 0 {
                return Err(Error::Scaling {
                    name,
                    reason: format!("{current} replicas + {increment} is below 0"),
                });
            }
            let spec = mapping_at(&mut object, &["spec"]).ok_or_else(|| Error::Scaling {
                name: name.clone(),
                reason: "spec is missing".to_owned(),
            })?;
            spec.insert("replicas".into(), Value::from(scaled));
        }
        res.push_str("---\n");
        res.push_str(&to_yaml(Value::Mapping(object))?);
    }
    Ok(Some(res))
}

/// A DestinationRule named `name` for `host`.
fn destination_rule(name: &str, host: &str) -> Value {
    let mut metadata = Mapping::new();
    metadata.insert("name".into(), name.into());
    let mut spec = Mapping::new();
    spec.insert("host".into(), host.into());
    object("DestinationRule", metadata, spec)
}

/// One HTTP route destination.
fn route(host: &str, weight: Option<u8>) -> Value {
    let mut destination = Mapping::new();
    destination.insert("host".into(), host.into());
    let mut res = Mapping::new();
    res.insert("destination".into(), Value::Mapping(destination));
    if let Some(weight) = weight {
        res.insert("weight".into(), Value::from(weight));
    }
    Value::Mapping(res)
}

/// A VirtualService `name` for the public host and `name`, bound to the gateway and `mesh`.
fn virtual_service(name: &str, target: &Target<'_>, routes: Vec<Value>) -> Value {
    let mut metadata = Mapping::new();
    metadata.insert("name".into(), name.into());
    let public_host = target
        .ingress
        .public_host(target.project, target.stage, name);
    let mut http_route = Mapping::new();
    http_route.insert("route".into(), Value::Sequence(routes));
    let mut spec = Mapping::new();
    spec.insert(
        "gateways".into(),
        Value::Sequence(vec![target.ingress.gateway().into(), "mesh".into()]),
    );
    spec.insert(
        "hosts".into(),
        Value::Sequence(vec![public_host.into(), name.into()]),
    );
    spec.insert(
        "http".into(),
        Value::Sequence(vec![Value::Mapping(http_route)]),
    );
    object("VirtualService", metadata, spec)
}

fn object(kind: &str, metadata: Mapping, spec: Mapping) -> Value {
    let mut res = Mapping::new();
    res.insert("apiVersion".into(), ISTIO_API_VERSION.into());
    res.insert("kind".into(), kind.into());
    res.insert("metadata".into(), Value::Mapping(metadata));
    res.insert("spec".into(), Value::Mapping(spec));
    Value::Mapping(res)
}

/// helm-service's `resetService`: drops what the cluster assigns.
fn reset_service(service: &mut Mapping) {
    if let Some(metadata) = mapping_at(service, &["metadata"]) {
        metadata.remove("namespace");
        metadata.remove("resourceVersion");
    }
    if let Some(spec) = mapping_at(service, &["spec"]) {
        for field in ["clusterIP", "clusterIPs", "loadBalancerIP", "externalIPs"] {
            spec.remove(field);
        }
        if let Some(Value::Sequence(ports)) = spec.get_mut("ports") {
            for port in ports {
                if let Value::Mapping(port) = port {
                    port.remove("nodePort");
                }
            }
        }
    }
    service.remove("status");
}

fn suffix_labels(labels: Option<&mut Mapping>) {
    let Some(labels) = labels else { return };
    for key in SUFFIXED_LABELS {
        if let Some(Value::String(value)) = labels.get_mut(key) {
            value.push_str(PRIMARY);
        }
    }
}

fn set_name(object: &mut Mapping, name: &str) {
    if let Some(metadata) = mapping_at(object, &["metadata"]) {
        metadata.insert("name".into(), name.into());
    }
}

fn replace_strings(value: Value, from: &str, to: &str) -> Value {
    match value {
        Value::String(text) => Value::String(text.replace(from, to)),
        Value::Sequence(items) => Value::Sequence(
            items
                .into_iter()
                .map(|item| replace_strings(item, from, to))
                .collect(),
        ),
        Value::Mapping(mapping) => Value::Mapping(
            mapping
                .into_iter()
                .map(|(key, item)| (key, replace_strings(item, from, to)))
                .collect(),
        ),
        other => other,
    }
}

fn value_at<'a>(object: &'a Mapping, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut res = object.get(*first)?;
    for key in rest {
        res = res.get(*key)?;
    }
    Some(res)
}

fn str_at<'a>(object: &'a Mapping, path: &[&str]) -> Option<&'a str> {
    value_at(object, path).and_then(Value::as_str)
}

fn mapping_at<'a>(object: &'a mut Mapping, path: &[&str]) -> Option<&'a mut Mapping> {
    let mut res = object;
    for key in path {
        res = res.get_mut(*key)?.as_mapping_mut()?;
    }
    Some(res)
}

fn kind_of(object: &Mapping) -> &str {
    str_at(object, &["kind"]).unwrap_or_default()
}

/// The name (checked by [`Manifest::parse`]).
fn name_of(object: &Mapping) -> &str {
    str_at(object, &["metadata", "name"]).unwrap_or_default()
}

fn file(path: String, value: Value) -> Result<ChartFile, Error> {
    Ok(ChartFile {
        content: to_yaml(value)?,
        path,
    })
}

/// YAML with keys sorted at every level.
fn to_yaml(value: Value) -> Result<String, Error> {
    serde_yaml::to_string(&sorted(value)).map_err(|source| Error::Yaml {
        what: "a generated object",
        source,
    })
}

fn sorted(value: Value) -> Value {
    match value {
        Value::Mapping(mapping) => {
            let mut entries: Vec<(Value, Value)> = mapping
                .into_iter()
                .map(|(key, item)| (key, sorted(item)))
                .collect();
            entries.sort_by_key(|(key, _)| key_text(key));
            Value::Mapping(entries.into_iter().collect())
        }
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(sorted).collect()),
        Value::Tagged(tagged) => {
            let tagged = *tagged;
            Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
                tag: tagged.tag,
                value: sorted(tagged.value),
            }))
        }
        other => other,
    }
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(text) => text.clone(),
        other => serde_yaml::to_string(other).unwrap_or_default(),
    }
}
