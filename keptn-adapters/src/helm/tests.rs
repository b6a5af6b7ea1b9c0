//! Hermetic tests of the Helm deployer: golden generation from recorded manifests, weights,
//! scaling, config, and the exact command lines against a recording stand-in for helm and
//! kubectl (shell scripts that log their argv and print a recorded manifest). With
//! `KEPTN_HELM=/path/to/helm`, the example chart and a generated chart are also rendered with
//! that real helm. `UPDATE_GOLDEN=1` rewrites the golden files instead of comparing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use keptn_core::memory::MemoryConfigRepo;
use keptn_core::ports::{
    ActionRunner, AdapterErrorKind, ConfigRepo, Deployer, DeploymentRequest, DeploymentStrategy,
    Scope, TrafficRouter,
};

use super::generate::{self, ChartStrategy, GeneratedChart, Manifest, Target};
use super::*;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/helm")
}

fn example_chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sockshop/helm/carts")
}

fn update_golden() -> bool {
    std::env::var("UPDATE_GOLDEN").is_ok_and(|value| value == "1")
}

/// Compares `actual` with the golden file, or rewrites it under `UPDATE_GOLDEN=1`.
fn check_golden(path: &Path, actual: &str) {
    if update_golden() {
        std::fs::write(path, actual).unwrap_or_else(|error| panic!("write {path:?}: {error}"));
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("read golden {path:?}: {error} (UPDATE_GOLDEN=1 makes it)"));
    assert_eq!(
        actual, expected,
        "golden file {path:?} differs; review and rerun with UPDATE_GOLDEN=1 if intended"
    );
}

fn scope() -> Scope {
    Scope {
        project: "sockshop".to_owned(),
        stage: "dev".to_owned(),
        service: "carts".to_owned(),
    }
}

fn target(ingress: &Ingress) -> Target<'_> {
    Target {
        project: "sockshop",
        stage: "dev",
        service: "carts",
        ingress,
    }
}

fn render_chart(chart: &GeneratedChart) -> String {
    let mut res = format!("# file: Chart.yaml\n{}", chart.chart_yaml());
    for template in &chart.templates {
        res.push_str(&format!("# file: {}\n{}", template.path, template.content));
    }
    for skipped in &chart.skipped {
        res.push_str(&format!("# skipped: {skipped}\n"));
    }
    res
}

fn yaml(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).unwrap_or_else(|error| panic!("yaml {text}: {error}"))
}

fn template<'a>(chart: &'a GeneratedChart, path: &str) -> &'a str {
    &chart
        .templates
        .iter()
        .find(|file| file.path == path)
        .unwrap_or_else(|| panic!("no template {path} in {:?}", chart.templates))
        .content
}

fn carts_chart(strategy: ChartStrategy) -> GeneratedChart {
    let text = std::fs::read_to_string(data_dir().join("carts-manifest.yaml")).unwrap();
    let manifest = Manifest::parse(&text).unwrap();
    let ingress = Ingress::default();
    match strategy {
        ChartStrategy::Duplicate => generate::duplicate_chart(&manifest, &target(&ingress)),
        ChartStrategy::Direct => generate::direct_chart(&manifest, &target(&ingress)),
    }
    .unwrap()
}

// ---------------------------------------------------------------- golden generation

/// Every `generate/<case>.manifest.yaml`: `duplicate-*` or `direct-*` (prefixed `err-` when
/// it must fail) against `<case>.expected.yaml`.
#[test]
fn golden_generation() {
    let dir = data_dir().join("generate");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".manifest.yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 7, "cases: {cases:?}");
    let ingress = Ingress::default();
    for path in cases {
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        let case = file_name.trim_end_matches(".manifest.yaml");
        let must_fail = case.starts_with("err-");
        let kind = case.trim_start_matches("err-");
        let text = std::fs::read_to_string(&path).unwrap();
        let res = Manifest::parse(&text).and_then(|manifest| {
            if kind.starts_with("duplicate-") {
                generate::duplicate_chart(&manifest, &target(&ingress))
            } else if kind.starts_with("direct-") {
                generate::direct_chart(&manifest, &target(&ingress))
            } else {
                panic!("case {case} must start with duplicate- or direct-")
            }
        });
        let rendered = match &res {
            Ok(chart) => render_chart(chart),
            Err(error) => match std::error::Error::source(error) {
                Some(source) => format!("# error: {error}: {source}\n"),
                None => format!("# error: {error}\n"),
            },
        };
        assert_eq!(res.is_err(), must_fail, "case {case}: {rendered}");
        check_golden(&dir.join(format!("{case}.expected.yaml")), &rendered);
    }
}

/// The blue/green chart of the example, checked field by field (not only against a golden).
#[test]
fn duplicate_chart_has_helm_service_names_labels_and_weights() {
    let chart = carts_chart(ChartStrategy::Duplicate);
    assert_eq!(chart.name, "carts-generated");
    let paths: Vec<&str> = chart
        .templates
        .iter()
        .map(|file| file.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "templates/carts-canary-service.yaml",
            "templates/carts-canary-istio-destinationrule.yaml",
            "templates/carts-primary-service.yaml",
            "templates/carts-primary-istio-destinationrule.yaml",
            "templates/carts-istio-virtualservice.yaml",
            "templates/carts-primary-deployment.yaml",
        ]
    );
    let canary = yaml(template(&chart, "templates/carts-canary-service.yaml"));
    assert_eq!(canary["metadata"]["name"], "carts-canary");
    assert_eq!(canary["spec"]["selector"]["app"], "carts");
    let primary = yaml(template(&chart, "templates/carts-primary-service.yaml"));
    assert_eq!(primary["spec"]["selector"]["app"], "carts-primary");
    let rule = yaml(template(
        &chart,
        "templates/carts-primary-istio-destinationrule.yaml",
    ));
    assert_eq!(
        rule["spec"]["host"],
        "carts-primary.sockshop-dev.svc.cluster.local"
    );
    let vs = yaml(template(
        &chart,
        "templates/carts-istio-virtualservice.yaml",
    ));
    assert_eq!(vs["metadata"]["name"], "carts");
    assert_eq!(
        vs["spec"]["gateways"],
        yaml("[public-gateway.istio-system, mesh]")
    );
    assert_eq!(
        vs["spec"]["hosts"],
        yaml("[carts.sockshop-dev.svc.cluster.local, carts]")
    );
    let route = &vs["spec"]["http"][0]["route"];
    assert_eq!(
        route[0]["destination"]["host"],
        "carts-canary.sockshop-dev.svc.cluster.local"
    );
    assert_eq!(route[0]["weight"], 0);
    assert_eq!(route[1]["weight"], 100);
    let deployment = yaml(template(&chart, "templates/carts-primary-deployment.yaml"));
    assert_eq!(deployment["metadata"]["name"], "carts-primary");
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"]["app"],
        "carts-primary"
    );
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["app"], "carts-primary");
    assert_eq!(labels["app.kubernetes.io/name"], "carts-primary");
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"];
    assert!(
        env.as_str().unwrap().ends_with("keptn_deployment=primary"),
        "{env:?}"
    );
    assert!(chart.skipped.is_empty());
    assert_eq!(
        GeneratedChart::strategy_of(&chart.chart_yaml()),
        Some(ChartStrategy::Duplicate)
    );
}

#[test]
fn direct_chart_routes_to_the_service_without_weights() {
    let chart = carts_chart(ChartStrategy::Direct);
    assert_eq!(chart.templates.len(), 2);
    let vs = yaml(template(
        &chart,
        "templates/carts-istio-virtualservice.yaml",
    ));
    let route = &vs["spec"]["http"][0]["route"];
    assert_eq!(
        route[0]["destination"]["host"],
        "carts.sockshop-dev.svc.cluster.local"
    );
    assert!(route[0].get("weight").is_none(), "{route:?}");
    assert_eq!(
        GeneratedChart::strategy_of(&chart.chart_yaml()),
        Some(ChartStrategy::Direct)
    );
}

#[test]
fn hostname_template_sets_the_public_host() {
    let mut config = Config::new("helm-work");
    config.hostname_template =
        Some("https://${SERVICE}-${STAGE}.${INGRESS_HOSTNAME_SUFFIX}/x".into());
    config.ingress_hostname_suffix = Some("127.0.0.1.nip.io".into());
    config.istio_gateway = Some("istio-system/my-gateway".into());
    let valid = config.validate().unwrap();
    let ingress = valid.ingress();
    assert_eq!(
        ingress.public_uri("sockshop", "dev", "carts"),
        "https://carts-dev.127.0.0.1.nip.io/x"
    );
    let text = std::fs::read_to_string(data_dir().join("carts-manifest.yaml")).unwrap();
    let chart = generate::direct_chart(&Manifest::parse(&text).unwrap(), &target(ingress)).unwrap();
    let vs = yaml(template(
        &chart,
        "templates/carts-istio-virtualservice.yaml",
    ));
    assert_eq!(
        vs["spec"]["hosts"],
        yaml("[carts-dev.127.0.0.1.nip.io, carts]")
    );
    assert_eq!(
        vs["spec"]["gateways"],
        yaml("[istio-system/my-gateway, mesh]")
    );
}

#[test]
fn lowest_port_prefers_tcp_ports_of_the_first_service() {
    let manifest = Manifest::parse(
        "kind: Service\napiVersion: v1\nmetadata: {name: a}\nspec:\n  ports:\n  - {port: 53, protocol: UDP}\n  - {port: 8080}\n  - {port: 443, protocol: TCP}\n---\nkind: Service\napiVersion: v1\nmetadata: {name: b}\nspec: {ports: [{port: 1}]}\n",
    )
    .unwrap();
    assert_eq!(manifest.lowest_port(), Some(443));
    let udp_only = Manifest::parse(
        "kind: Service\napiVersion: v1\nmetadata: {name: a}\nspec: {ports: [{port: 54, protocol: UDP}, {port: 53, protocol: UDP}]}\n",
    )
    .unwrap();
    assert_eq!(udp_only.lowest_port(), Some(53));
    let none = Manifest::parse("kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\n").unwrap();
    assert_eq!(none.lowest_port(), None);
}

// ---------------------------------------------------------------- weights and scaling

#[test]
fn weights_golden() {
    let chart = carts_chart(ChartStrategy::Duplicate);
    let vs = template(&chart, "templates/carts-istio-virtualservice.yaml");
    let mut rendered = String::new();
    for canary in [100, 37, 0] {
        let updated = generate::update_weights(vs, canary).unwrap();
        let value = yaml(&updated);
        let route = &value["spec"]["http"][0]["route"];
        assert_eq!(route[0]["weight"], u64::from(canary));
        assert_eq!(route[1]["weight"], u64::from(100 - canary));
        rendered.push_str(&format!("# canary {canary}\n{updated}"));
    }
    check_golden(&data_dir().join("weights-carts.expected.yaml"), &rendered);
}

#[test]
fn weights_are_rejected_when_they_cannot_apply() {
    let duplicate = carts_chart(ChartStrategy::Duplicate);
    let vs = template(&duplicate, "templates/carts-istio-virtualservice.yaml");
    let error = generate::update_weights(vs, 101).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid canary weight 101: must be between 0 and 100"
    );
    let direct = carts_chart(ChartStrategy::Direct);
    let vs = template(&direct, "templates/carts-istio-virtualservice.yaml");
    let error = generate::update_weights(vs, 50).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot update the weights of virtualservice 'carts': it needs a 'carts-canary' and a \
         'carts-primary' destination"
    );
    let foreign = "kind: VirtualService\nmetadata: {name: carts}\nspec:\n  http:\n  - route:\n    - destination: {host: orders-canary}\n";
    let error = generate::update_weights(foreign, 50).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot update the weights of virtualservice 'carts': destination host 'orders-canary' \
         does not start with 'carts'"
    );
    let mut direct = direct;
    assert!(matches!(
        direct.set_canary_weight(10),
        Err(Error::VirtualService { .. })
    ));
}

#[test]
fn scaling_adds_to_the_primary_replicas() {
    let mut chart = carts_chart(ChartStrategy::Duplicate);
    assert_eq!(chart.scale(2).unwrap(), 1);
    let deployment = yaml(template(&chart, "templates/carts-primary-deployment.yaml"));
    assert_eq!(deployment["spec"]["replicas"], 3);
    // Only the deployment changed.
    let fresh = carts_chart(ChartStrategy::Duplicate);
    for (scaled, original) in chart.templates.iter().zip(&fresh.templates) {
        assert_eq!(
            scaled.content == original.content,
            !scaled.path.ends_with("-deployment.yaml"),
            "{}",
            scaled.path
        );
    }
    let unset = "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: w}\nspec: {}\n";
    let scaled = generate::scale_deployments(unset, 1).unwrap().unwrap();
    assert_eq!(yaml(&scaled)["spec"]["replicas"], 2);
    let error = generate::scale_deployments(unset, -2).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot scale deployment 'w': 1 replicas + -2 is below 0"
    );
    let service = "kind: Service\napiVersion: v1\nmetadata: {name: s}\n";
    assert_eq!(generate::scale_deployments(service, 1).unwrap(), None);
    let mut direct = carts_chart(ChartStrategy::Direct);
    assert!(matches!(direct.scale(1), Err(Error::Scaling { .. })));
}

// ---------------------------------------------------------------- config and names

#[test]
fn config_defaults_and_every_problem_at_once() {
    let valid = Config::new("/var/lib/keptn/helm").validate().unwrap();
    assert_eq!(valid.timeout(), DEFAULT_TIMEOUT);
    assert_eq!(valid.ingress(), &Ingress::default());
    assert_eq!(
        valid.ingress().public_uri("sockshop", "dev", "carts"),
        "http://carts.sockshop-dev.svc.cluster.local:80"
    );
    let config: Config = serde_yaml::from_str(
        "work_dir: ''\ntimeout_seconds: 0\nkube_context: '-x'\nhostname_template: 'carts.${NOPE}'\ningress_port: 0\n",
    )
    .unwrap();
    let Err(Error::Config { problems }) = config.validate() else {
        panic!("invalid config accepted")
    };
    assert_eq!(
        problems,
        [
            "work_dir: must not be empty",
            "timeout_seconds: '0' must be between 1 and 3600",
            "kube_context: '-x' must not be empty or start with '-'",
            "hostname_template: 'carts.${NOPE}' must start with a protocol such as 'http://'",
            "hostname_template: unknown placeholder '${NOPE}' (known: INGRESS_PROTOCOL, SERVICE, \
             PROJECT, STAGE, INGRESS_HOSTNAME_SUFFIX, INGRESS_PORT)",
            "ingress_port: must not be 0",
        ]
    );
    let unknown = serde_yaml::from_str::<Config>("work_dir: x\nnamespace: y\n");
    assert!(unknown.is_err());
}

#[test]
fn release_names_are_shortened_like_helm_service() {
    assert_eq!(
        release_name("sockshop", "dev", "carts", false),
        "sockshop-dev-carts"
    );
    assert_eq!(
        release_name("sockshop", "dev", "carts", true),
        "sockshop-dev-carts-generated"
    );
    let project = "p".repeat(30);
    let stage = "production";
    assert_eq!(
        release_name(&project, stage, "carts", true),
        "production-carts-generated"
    );
    let service = "s".repeat(60);
    let res = release_name("a", "b", &service, true);
    assert_eq!(res, format!("{}-generated", "s".repeat(42)));
    assert!(res.len() < 53);
}

#[test]
fn go_durations_as_helm_expects() {
    use std::time::Duration;
    assert_eq!(client::go_duration(Duration::from_secs(180)), "3m0s");
    assert_eq!(client::go_duration(Duration::from_secs(45)), "45s");
    assert_eq!(client::go_duration(Duration::from_secs(3661)), "1h1m1s");
}

// ---------------------------------------------------------------- the example chart

/// Our example chart's templates give the recorded manifest (recorded with real helm v4.1.4
/// `helm template sockshop-dev-carts . --namespace sockshop-dev --set keptn.project=sockshop
/// --set keptn.stage=dev --set keptn.service=carts --set keptn.deployment=canary`). The chart
/// only uses plain value references, so substituting them is what helm does.
#[test]
fn example_chart_templates_give_the_recorded_manifest() {
    let chart = example_chart_dir();
    let values = yaml(&std::fs::read_to_string(chart.join("values.yaml")).unwrap());
    let image = values["image"].as_str().unwrap().to_owned();
    let replicas = values["replicaCount"].as_u64().unwrap().to_string();
    let substitutions = [
        ("{{ .Values.image }}", image.as_str()),
        ("{{ .Values.replicaCount }}", replicas.as_str()),
        ("{{ .Values.keptn.project }}", "sockshop"),
        ("{{ .Values.keptn.stage }}", "dev"),
        ("{{ .Values.keptn.service }}", "carts"),
        ("{{ .Values.keptn.deployment }}", "canary"),
    ];
    let mut rendered = Vec::new();
    for name in ["service.yaml", "deployment.yaml"] {
        let mut text = std::fs::read_to_string(chart.join("templates").join(name)).unwrap();
        for (from, to) in substitutions {
            text = text.replace(from, to);
        }
        assert!(!text.contains("{{"), "{name} uses more than plain values");
        rendered.push(yaml(&text));
    }
    let recorded = std::fs::read_to_string(data_dir().join("carts-manifest.yaml")).unwrap();
    let recorded: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&recorded)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .collect();
    assert_eq!(rendered, recorded);
    assert_eq!(
        values["image"], "docker.io/keptnexamples/carts:0.13.1",
        "values.yaml must name the image"
    );
    let deployment = &recorded[1];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/health");
}

/// The real helm named by `KEPTN_HELM`, if any. Helm is not a Debian package, so these
/// checks are opt-in (see the module doc).
fn real_helm() -> Option<PathBuf> {
    let Some(helm) = std::env::var_os("KEPTN_HELM") else {
        // scripts/test.sh provides helm (Debian does not package it); under CI a missing helm
        // is a failure, never a silent skip.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but KEPTN_HELM is not set: scripts/test.sh fetches helm and sets it"
        );
        println!("skipped: set KEPTN_HELM to a helm binary to render charts with real helm");
        return None;
    };
    let helm = PathBuf::from(helm);
    assert!(helm.is_file(), "KEPTN_HELM={helm:?} is not a file");
    Some(helm)
}

#[tokio::test]
async fn real_helm_renders_the_example_and_the_generated_chart() {
    let Some(helm_binary) = real_helm() else {
        return;
    };
    let stub = Stub::new(StubMode::Record).await;
    let mut config = Config::new(stub.work.clone());
    config.helm = helm_binary.clone();
    let helm = Helm::new(config.validate().unwrap(), stub.repo.clone());
    let rendered = helm.template(&scope(), "canary", None).await.unwrap();
    let recorded = std::fs::read_to_string(data_dir().join("carts-manifest.yaml")).unwrap();
    assert_eq!(rendered, recorded);

    // The generated chart renders with real helm to exactly its templates.
    let chart = carts_chart(ChartStrategy::Duplicate);
    let dir = stub.dir.path().join("generated");
    let root = client::write_chart(&dir, &chart.name, &chart.chart_yaml(), &chart.templates)
        .await
        .unwrap();
    let output = std::process::Command::new(&helm_binary)
        .args(["template", "sockshop-dev-carts-generated"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let mut ours: Vec<serde_yaml::Value> = chart
        .templates
        .iter()
        .map(|file| yaml(&file.content))
        .collect();
    let mut theirs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .collect();
    let key = |value: &serde_yaml::Value| serde_yaml::to_string(value).unwrap();
    ours.sort_by_key(key);
    theirs.sort_by_key(key);
    assert_eq!(ours, theirs);
    let lint = std::process::Command::new(&helm_binary)
        .arg("lint")
        .arg(&root)
        .output()
        .unwrap();
    assert!(lint.status.success(), "helm lint: {lint:?}");
    println!("real tool: {}", helm_binary.display());
}

// ---------------------------------------------------------------- the recording stand-in

/// Packs a chart directory with tar, as a user would (`tar czf carts.tgz -C helm carts`).
fn pack(dir: &Path) -> Vec<u8> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(out.path())
        .arg("-C")
        .arg(dir.parent().unwrap())
        .arg(dir.file_name().unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out.path()).unwrap()
}

/// The files of a `.tgz`, by path below its top directory.
fn unpack(archive: &[u8]) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let tgz = dir.path().join("a.tgz");
    std::fs::write(&tgz, archive).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let mut res = BTreeMap::new();
    let mut stack = vec![dir.path().to_owned()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path != tgz {
                let relative = path.strip_prefix(dir.path()).unwrap();
                let mut parts = relative.components();
                parts.next();
                res.insert(
                    parts.as_path().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&path).unwrap(),
                );
            }
        }
    }
    res
}

#[derive(Clone, Copy, PartialEq)]
enum StubMode {
    /// Log and succeed; `get manifest` and `template` print the recorded manifest.
    Record,
    /// `helm upgrade` fails with a message on stderr.
    FailUpgrade,
}

/// helm and kubectl stand-ins that log their argv, one line per call.
struct Stub {
    dir: tempfile::TempDir,
    log: PathBuf,
    work: PathBuf,
    repo: Arc<MemoryConfigRepo>,
    helm: Helm,
}

impl Stub {
    async fn new(mode: StubMode) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls.log");
        std::fs::write(&log, "").unwrap();
        let manifest = data_dir().join("carts-manifest.yaml");
        let fail = match mode {
            StubMode::Record => String::new(),
            StubMode::FailUpgrade => "if [ \"$1\" = upgrade ]; then echo 'Error: UPGRADE FAILED: \
                                      context deadline exceeded' >&2; exit 1; fi\n"
                .to_owned(),
        };
        let script = format!(
            "#!/bin/sh\n{{ printf '%s' \"${{0##*/}}\"; for arg in \"$@\"; do printf ' %s' \"$arg\"; done; printf '\\n'; }} >> '{}'\n{fail}case \"$1\" in\n  get|template) cat '{}' ;;\nesac\n",
            log.display(),
            manifest.display()
        );
        for name in ["helm", "kubectl"] {
            let path = dir.path().join(name);
            std::fs::write(&path, &script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let work = dir.path().join("work");
        let repo = Arc::new(MemoryConfigRepo::new());
        repo.write(
            "sockshop",
            Some("dev"),
            Some("carts"),
            "helm/carts.tgz",
            &pack(&example_chart_dir()),
        )
        .await
        .unwrap();
        let mut config = Config::new(work.clone());
        config.helm = dir.path().join("helm");
        config.kubectl = dir.path().join("kubectl");
        let helm = Helm::new(config.validate().unwrap(), repo.clone());
        Self {
            dir,
            log,
            work,
            repo,
            helm,
        }
    }

    /// Writes a file of the service `carts` in stage `dev`.
    async fn put(&self, path: &str, content: &[u8]) {
        self.repo
            .write("sockshop", Some("dev"), Some("carts"), path, content)
            .await
            .unwrap();
    }

    /// A file of the service `carts` in stage `dev`, `None` when it does not exist.
    async fn get(&self, path: &str) -> Option<Vec<u8>> {
        match self
            .repo
            .read("sockshop", Some("dev"), Some("carts"), path, None)
            .await
        {
            Ok(content) => Some(content),
            Err(error) if error.kind == AdapterErrorKind::NotFound => None,
            Err(error) => panic!("{error}"),
        }
    }

    /// The calls since the last take, with the work directory shown as `$WORK`.
    fn take_calls(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap();
        std::fs::write(&self.log, "").unwrap();
        text.replace(&self.work.display().to_string(), "$WORK")
    }

    fn check_calls(&self, golden: &str) {
        let calls = self.take_calls();
        check_golden(&data_dir().join("commands").join(golden), &calls);
    }

    async fn stored_generated(&self) -> BTreeMap<String, String> {
        unpack(
            &self
                .get("helm/carts-generated.tgz")
                .await
                .expect("generated chart stored"),
        )
    }

    /// Canary and primary weights of the stored VirtualService.
    async fn stored_weights(&self) -> (u64, u64) {
        let files = self.stored_generated().await;
        let vs = yaml(&files["templates/carts-istio-virtualservice.yaml"]);
        let route = &vs["spec"]["http"][0]["route"];
        (
            route[0]["weight"].as_u64().unwrap(),
            route[1]["weight"].as_u64().unwrap(),
        )
    }
}

fn request(strategy: DeploymentStrategy, image: Option<&str>) -> DeploymentRequest {
    let mut values = BTreeMap::new();
    if let Some(image) = image {
        values.insert("image".to_owned(), serde_json::Value::from(image));
    }
    DeploymentRequest {
        scope: scope(),
        strategy,
        values,
        // The stage's latest commit.
        git_commit_id: None,
    }
}

#[tokio::test]
async fn deploy_direct_commands_values_and_uris() {
    let stub = Stub::new(StubMode::Record).await;
    let deployed = stub
        .helm
        .deploy(&request(
            DeploymentStrategy::Direct,
            Some("docker.io/keptnexamples/carts:0.13.2"),
        ))
        .await
        .unwrap();
    assert_eq!(deployed.deployment_names, ["direct"]);
    assert_eq!(deployed.uris_local, ["http://carts.sockshop-dev:80"]);
    assert_eq!(
        deployed.uris_public,
        ["http://carts.sockshop-dev.svc.cluster.local:80"]
    );
    stub.check_calls("deploy-direct.txt");
    // The image went into the user chart's values, stored back in the config repo.
    let user = unpack(&stub.get("helm/carts.tgz").await.unwrap());
    let values = yaml(&user["values.yaml"]);
    assert_eq!(values["image"], "docker.io/keptnexamples/carts:0.13.2");
    assert_eq!(values["replicaCount"], 1);
    assert_eq!(
        user["templates/service.yaml"],
        std::fs::read_to_string(example_chart_dir().join("templates/service.yaml")).unwrap()
    );
    let generated = stub.stored_generated().await;
    assert_eq!(
        generated.keys().collect::<Vec<_>>(),
        [
            "Chart.yaml",
            "templates/carts-istio-destinationrule.yaml",
            "templates/carts-istio-virtualservice.yaml"
        ]
    );
    // Again: the generated chart is reused, not regenerated from the manifest.
    stub.helm
        .deploy(&request(DeploymentStrategy::Direct, None))
        .await
        .unwrap();
    stub.check_calls("deploy-direct-again.txt");
    // A direct service has no weights to set.
    let error = stub.helm.set_canary_weight(&scope(), 50).await.unwrap_err();
    assert_eq!(error.kind, AdapterErrorKind::Invalid, "{error}");
    assert_eq!(stub.take_calls(), "");
    // Release and rollback do nothing for direct.
    stub.helm
        .release(&scope(), DeploymentStrategy::Direct)
        .await
        .unwrap();
    stub.helm
        .rollback(&scope(), DeploymentStrategy::Direct)
        .await
        .unwrap();
    assert_eq!(stub.take_calls(), "");
}

#[tokio::test]
async fn blue_green_deploy_weights_release_rollback_and_scaling() {
    let stub = Stub::new(StubMode::Record).await;
    let first = stub
        .helm
        .deploy(&request(
            DeploymentStrategy::BlueGreen,
            Some("docker.io/keptnexamples/carts:0.13.2"),
        ))
        .await
        .unwrap();
    assert_eq!(first.deployment_names, ["canary"]);
    assert_eq!(first.uris_local, ["http://carts.sockshop-dev:80"]);
    stub.check_calls("deploy-blue-green-first.txt");
    assert_eq!(stub.stored_weights().await, (100, 0));
    let generated = stub.stored_generated().await;
    assert_eq!(generated.len(), 7, "{:?}", generated.keys());
    assert!(generated["Chart.yaml"].contains("deployment_strategy=duplicate"));

    stub.helm
        .deploy(&request(
            DeploymentStrategy::BlueGreen,
            Some("docker.io/keptnexamples/carts:0.13.3"),
        ))
        .await
        .unwrap();
    stub.check_calls("deploy-blue-green-second.txt");

    stub.helm.set_canary_weight(&scope(), 25).await.unwrap();
    stub.check_calls("set-canary-weight.txt");
    assert_eq!(stub.stored_weights().await, (25, 75));

    stub.helm
        .release(&scope(), DeploymentStrategy::BlueGreen)
        .await
        .unwrap();
    stub.check_calls("release.txt");
    assert_eq!(stub.stored_weights().await, (0, 100));

    stub.helm.set_canary_weight(&scope(), 100).await.unwrap();
    stub.take_calls();
    stub.helm
        .rollback(&scope(), DeploymentStrategy::BlueGreen)
        .await
        .unwrap();
    stub.check_calls("rollback.txt");
    assert_eq!(stub.stored_weights().await, (0, 100));

    let action = keptn_core::event::Action {
        action: Some("scaling".to_owned()),
        value: Some(serde_json::Value::from("2")),
        ..Default::default()
    };
    assert!(stub.helm.handles("scaling"));
    assert!(!stub.helm.handles("toggle-feature"));
    let message = stub.helm.execute(&action_request(action)).await.unwrap();
    assert_eq!(
        message,
        "scaled the primary of service 'carts' by 2 replicas (1 deployments)"
    );
    stub.check_calls("scaling.txt");
    let deployment =
        yaml(&stub.stored_generated().await["templates/carts-primary-deployment.yaml"]);
    assert_eq!(deployment["spec"]["replicas"], 3);

    let bad = keptn_core::event::Action {
        action: Some("scaling".to_owned()),
        value: Some(serde_json::Value::from(2)),
        ..Default::default()
    };
    let error = stub.helm.execute(&action_request(bad)).await.unwrap_err();
    assert_eq!(error.kind, AdapterErrorKind::Invalid);
    assert_eq!(
        error.message,
        "cannot scale deployment '-': the action value must be a string holding an integer, got 2"
    );
    assert_eq!(stub.take_calls(), "");
}

#[tokio::test]
async fn failing_helm_is_a_clear_error() {
    let stub = Stub::new(StubMode::FailUpgrade).await;
    let error = stub
        .helm
        .deploy(&request(DeploymentStrategy::Direct, None))
        .await
        .unwrap_err();
    assert_eq!(error.kind, AdapterErrorKind::Failed);
    let message = error
        .message
        .replace(&stub.dir.path().display().to_string(), "$DIR");
    assert_eq!(
        message,
        "'$DIR/helm upgrade --install sockshop-dev-carts $DIR/work/sockshop-dev-carts/user/chart.tgz \
         --namespace sockshop-dev --create-namespace --wait --timeout 3m0s --reset-values --set \
         keptn.project=sockshop --set keptn.stage=dev --set keptn.service=carts --set \
         keptn.deployment=direct' failed (exit status: 1): Error: UPGRADE FAILED: context \
         deadline exceeded"
    );
    // Nothing after the failed upgrade ran.
    assert_eq!(stub.take_calls().lines().count(), 1);
}

#[tokio::test]
async fn missing_pieces_are_clear_errors() {
    let stub = Stub::new(StubMode::Record).await;
    // Release before any blue/green deployment.
    let error = stub
        .helm
        .release(&scope(), DeploymentStrategy::BlueGreen)
        .await
        .unwrap_err();
    assert_eq!(error.kind, AdapterErrorKind::NotFound);
    assert!(error.message.contains("has no generated chart"), "{error}");
    // A service without a chart.
    let mut orders = request(DeploymentStrategy::Direct, None);
    orders.scope.service = "orders".to_owned();
    let error = stub.helm.deploy(&orders).await.unwrap_err();
    assert_eq!(error.kind, AdapterErrorKind::NotFound);
    assert_eq!(
        error.message,
        "cannot read 'helm/orders.tgz' in the config repo"
    );
    // The chart is read at the sequence's commit: at one the repository does not have, there
    // is none.
    let mut elsewhere = request(DeploymentStrategy::Direct, None);
    elsewhere.git_commit_id = Some("0123456789abcdef0123456789abcdef01234567".to_owned());
    let error = stub.helm.deploy(&elsewhere).await.unwrap_err();
    assert_eq!(error.kind, AdapterErrorKind::NotFound);
    assert_eq!(
        error.message,
        "cannot read 'helm/carts.tgz' in the config repo"
    );
    // A name that cannot be a namespace.
    let mut bad = request(DeploymentStrategy::Direct, None);
    bad.scope.stage = "Dev Stage".to_owned();
    let error = stub.helm.deploy(&bad).await.unwrap_err();
    assert_eq!(error.kind, AdapterErrorKind::Invalid);
    assert_eq!(
        error.message,
        "invalid stage name 'Dev Stage': only a-z, 0-9 and '-' are allowed"
    );
    // A chart that is not a .tgz.
    stub.put("helm/carts.tgz", b"not a chart").await;
    let error = stub
        .helm
        .deploy(&request(DeploymentStrategy::Direct, None))
        .await
        .unwrap_err();
    assert_eq!(error.kind, AdapterErrorKind::Invalid);
    assert!(
        error
            .message
            .starts_with("invalid chart 'helm/carts.tgz': not a .tgz archive"),
        "{error}"
    );
    assert_eq!(stub.take_calls(), "");
    // A values.yaml that links elsewhere is not written through.
    let evil = tempfile::tempdir().unwrap();
    let outside = evil.path().join("outside.yaml");
    std::fs::write(&outside, "untouched: true\n").unwrap();
    let chart = evil.path().join("carts");
    std::fs::create_dir(&chart).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: carts\nversion: 0.1.0\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, chart.join("values.yaml")).unwrap();
    stub.put("helm/carts.tgz", &pack(&chart)).await;
    let error = stub
        .helm
        .deploy(&request(DeploymentStrategy::Direct, Some("evil:1")))
        .await
        .unwrap_err();
    assert_eq!(
        error.message,
        "invalid chart 'helm/carts.tgz': values.yaml is not a regular file"
    );
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "untouched: true\n"
    );
    assert_eq!(stub.take_calls(), "");
    // No helm at all.
    let mut config = Config::new(stub.work.clone());
    config.helm = stub.dir.path().join("no-such-helm");
    stub.put("helm/carts.tgz", &pack(&example_chart_dir()))
        .await;
    let helm = Helm::new(config.validate().unwrap(), stub.repo.clone());
    let error = helm
        .deploy(&request(DeploymentStrategy::Direct, None))
        .await
        .unwrap_err();
    assert_eq!(error.kind, AdapterErrorKind::Unavailable);
    assert!(error.message.starts_with("cannot run '"), "{error}");
}

#[tokio::test]
async fn user_managed_takes_uris_from_endpoints_yaml() {
    let stub = Stub::new(StubMode::Record).await;
    let deployed = stub
        .helm
        .deploy(&request(DeploymentStrategy::UserManaged, None))
        .await
        .unwrap();
    assert_eq!(deployed.deployment_names, ["user_managed"]);
    assert!(deployed.uris_local.is_empty() && deployed.uris_public.is_empty());
    stub.put(
        "helm/endpoints.yaml",
        b"deploymentURIsLocal: [\"http://carts.sockshop-dev:8080\"]\ndeploymentURIsPublic: [\"https://carts.example.com\"]\n",
    )
    .await;
    let deployed = stub
        .helm
        .deploy(&request(DeploymentStrategy::UserManaged, None))
        .await
        .unwrap();
    assert_eq!(deployed.uris_local, ["http://carts.sockshop-dev:8080"]);
    assert_eq!(deployed.uris_public, ["https://carts.example.com"]);
    let calls = stub.take_calls();
    assert_eq!(calls.lines().count(), 2, "{calls}");
    assert!(
        calls.lines().all(
            |line| line.starts_with("helm upgrade --install sockshop-dev-carts ")
                && line.ends_with("keptn.deployment=user_managed")
        ),
        "{calls}"
    );
    assert!(stub.get("helm/carts-generated.tgz").await.is_none());
}

#[tokio::test]
async fn strategy_switch_regenerates_and_kube_context_is_passed() {
    let stub = Stub::new(StubMode::Record).await;
    let mut config = Config::new(stub.work.clone());
    config.helm = stub.dir.path().join("helm");
    config.kubectl = stub.dir.path().join("kubectl");
    config.kube_context = Some("kind-keptn".to_owned());
    config.timeout_seconds = 600;
    let helm = Helm::new(config.validate().unwrap(), stub.repo.clone());
    helm.deploy(&request(DeploymentStrategy::Direct, None))
        .await
        .unwrap();
    stub.take_calls();
    // A direct generated chart is replaced by a blue/green one on the first blue/green run.
    helm.deploy(&request(DeploymentStrategy::BlueGreen, None))
        .await
        .unwrap();
    let calls = stub.take_calls();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 5, "{calls}");
    assert!(
        lines[1].starts_with("helm get manifest sockshop-dev-carts "),
        "{calls}"
    );
    assert_eq!(
        lines[2],
        "kubectl label namespace sockshop-dev istio-injection=enabled --overwrite --context kind-keptn"
    );
    for line in lines.iter().filter(|line| line.starts_with("helm ")) {
        assert!(line.ends_with(" --kube-context kind-keptn"), "{line}");
    }
    assert!(lines[0].contains(" --timeout 10m0s "), "{calls}");
    assert_eq!(stub.stored_weights().await, (100, 0));
}

fn action_request(action: keptn_core::event::Action) -> keptn_core::ports::ActionRequest {
    keptn_core::ports::ActionRequest {
        scope: scope(),
        action,
        problem: keptn_core::event::Problem::default(),
    }
}
