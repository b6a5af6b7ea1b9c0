//! Unit tests of the local platform: `local.yaml` validation, placeholders, image tags, the
//! weighted choice, the SLI computation, the metrics text, and the router in front of the
//! in-process carts example (no processes: the real-process tests are in tests/it/local.rs).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use keptn_core::event::Timestamp;
use keptn_core::ports::{AdapterError, AdapterErrorKind, Scope, SliProvider, SliRequest};
use keptn_example_carts::{Carts, app};

use super::client::http_client;
use super::router::{Record, Recorded};
use super::*;

// ---- local.yaml ----

/// Parses `text` and returns the spec or the list of problems.
fn check(text: &str) -> Result<Spec, Vec<String>> {
    match Spec::parse(text) {
        Ok(spec) => Ok(spec),
        Err(Error::Spec { problems }) => Err(problems),
        Err(other) => panic!("expected a spec error, got {other:?}"),
    }
}

fn problems(text: &str) -> Vec<String> {
    check(text).expect_err("the spec is invalid")
}

fn values() -> Values<'static> {
    Values {
        port: 4242,
        image: "docker.io/keptnexamples/carts:0.9.2",
        tag: "0.9.2",
        replicas: 3,
        service: "carts",
        stage: "staging",
        project: "sockshop",
        deployment: DeploymentKind::Canary,
    }
}

#[test]
fn full_spec_parses_with_every_field() {
    let spec = check(
        "command: keptn\n\
         args: [\"demo\", \"carts\", \"--listen\", \"127.0.0.1:{port}\", \"--version\", \"{tag}\"]\n\
         env: { CARTS_VERSION: \"{tag}\", WHO: \"{project}/{stage}/{service}/{deployment}/{replicas}/{image}\" }\n\
         health_path: /healthz\n\
         start_timeout_seconds: 20\n\
         replicas: 2\n",
    )
    .expect("valid");
    assert_eq!(spec.command, "keptn");
    assert_eq!(spec.health_path, "/healthz");
    assert_eq!(spec.start_timeout, Duration::from_secs(20));
    assert_eq!(spec.replicas, 2);
    let args: Vec<String> = spec.args.iter().map(|arg| arg.render(&values())).collect();
    assert_eq!(
        args,
        [
            "demo",
            "carts",
            "--listen",
            "127.0.0.1:4242",
            "--version",
            "0.9.2"
        ]
    );
    let env: BTreeMap<&str, String> = spec
        .env
        .iter()
        .map(|(name, value)| (name.as_str(), value.render(&values())))
        .collect();
    assert_eq!(env["CARTS_VERSION"], "0.9.2");
    assert_eq!(
        env["WHO"],
        "sockshop/staging/carts/canary/3/docker.io/keptnexamples/carts:0.9.2"
    );
}

#[test]
fn defaults_apply_when_fields_are_missing() {
    let spec = check("command: ./serve\nenv: { PORT: '{port}' }\n").expect("valid");
    assert_eq!(spec.health_path, DEFAULT_HEALTH_PATH);
    assert_eq!(spec.start_timeout, DEFAULT_START_TIMEOUT);
    assert_eq!(spec.replicas, 1);
    assert!(spec.args.is_empty());
}

#[test]
fn doubled_braces_are_literal() {
    let template = Template::parse("{{\"port\": {port}}}").expect("valid");
    assert_eq!(template.render(&values()), "{\"port\": 4242}");
}

#[test]
fn unknown_placeholder_is_named_with_its_location() {
    let found = problems("command: x\nargs: ['--listen', '127.0.0.1:{port}', '{version}']\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("args[2]: '{version}': unknown placeholder '{version}'"),
        "{found:?}"
    );
    assert!(
        found[0].contains("{tag}"),
        "lists the known ones: {found:?}"
    );
    let found = problems("command: x\nargs: ['{port}']\nenv: { V: '{tga}' }\n");
    assert!(
        found[0].starts_with("env.V: '{tga}': unknown placeholder '{tga}'"),
        "{found:?}"
    );
}

#[test]
fn unbalanced_braces_are_errors() {
    let found = problems("command: x\nargs: ['{port}', 'a{b', 'c}d']\n");
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains("args[1]") && found[0].contains("unclosed '{'"),
        "{found:?}"
    );
    assert!(
        found[1].contains("args[2]") && found[1].contains("unmatched '}'"),
        "{found:?}"
    );
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let found = problems(
        "command: ''\nargs: ['{port}', '{nope}']\nenv: { 'A=B': x }\nhealth_path: health\n\
         start_timeout_seconds: -1\nreplicas: 0\n",
    );
    let fields: Vec<&str> = found
        .iter()
        .map(|problem| problem.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        fields,
        [
            "command",
            "args[1]",
            "env",
            "health_path",
            "start_timeout_seconds",
            "replicas"
        ],
        "{found:?}"
    );
    let found = problems("command: x\nreplicas: 65\nargs: ['{port}']\n");
    assert_eq!(found, ["replicas: '65' must be between 1 and 64"]);
}

#[test]
fn a_spec_without_port_is_refused() {
    let found = problems("command: x\nargs: ['--listen', '8080']\n");
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("no '{port}' placeholder"), "{found:?}");
}

#[test]
fn wrong_types_and_unknown_keys_are_located() {
    let found = problems("command: x\nargs: ['{port}']\nreplicas: two\n");
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("3:11: replicas: invalid type"),
        "{found:?}"
    );
    let found = problems("command: x\nargs: ['{port}']\nenv:\n  A: [1]\n");
    assert!(
        found[0].starts_with("4:6: env.A: invalid type: sequence"),
        "{found:?}"
    );
    let found = problems("command: x\nargs: ['{port}']\nhealthpath: /\n");
    assert!(
        found[0].starts_with("3:1: unknown field `healthpath`, expected one of"),
        "{found:?}"
    );
    let found = problems("args: ['{port}']\n");
    assert!(found[0].contains("missing field `command`"), "{found:?}");
    let found = problems("command: [x\n");
    assert!(
        found[0].contains(':'),
        "a syntax error is located: {found:?}"
    );
}

#[test]
fn image_tags() {
    let cases = [
        ("docker.io/keptnexamples/carts:0.9.2", "0.9.2"),
        ("a/b:1.2", "1.2"),
        ("carts", "latest"),
        ("host:5000/a/b", "latest"),
        ("host:5000/a/b:2.0", "2.0"),
        ("a/b:1.2@sha256:abcd", "1.2"),
        ("a/b@sha256:abcd", "sha256:abcd"),
        ("a/b:", "latest"),
    ];
    for (image, tag) in cases {
        assert_eq!(image_tag(image), tag, "image '{image}'");
    }
}

// ---- configuration ----

#[test]
fn config_defaults_and_problems() {
    let valid = Config::new("platform-state").validate().expect("valid");
    assert_eq!(valid.router_base_port(), DEFAULT_ROUTER_BASE_PORT);
    assert_eq!(valid.telemetry_listen(), DEFAULT_TELEMETRY_LISTEN);
    let bad = Config {
        search_path: vec![PathBuf::new()],
        max_records: Some(10),
        ..Config::new("")
    };
    match bad.validate() {
        Err(Error::Config { problems }) => assert_eq!(
            problems,
            [
                "state_dir: must not be empty",
                "search_path[0]: must not be empty",
                "max_records: '10' must be between 1000 and 50000000"
            ]
        ),
        other => panic!("expected config problems, got {other:?}"),
    }
    let parsed: Result<Config, _> = serde_yaml::from_str("state_dir: /x\nrouter_port: 1\n");
    assert!(parsed.is_err(), "unknown keys are refused");
}

// ---- weighted choice ----

#[test]
fn ten_percent_is_ten_of_every_hundred_requests() {
    for weight in [0u8, 1, 10, 33, 50, 90, 99, 100] {
        for block in 0..3u64 {
            let n_canary = (block * 100..(block + 1) * 100)
                .filter(|counter| goes_to_canary(*counter, weight))
                .count();
            assert_eq!(
                n_canary,
                usize::from(weight),
                "weight {weight}, block {block}"
            );
        }
    }
    // Spread evenly: at 10 %, one canary request in every 10.
    let positions: Vec<u64> = (0..100)
        .filter(|counter| goes_to_canary(*counter, 10))
        .collect();
    assert_eq!(positions, [9, 19, 29, 39, 49, 59, 69, 79, 89, 99]);
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn router_splits_by_weight_then_round_robin() {
    let router = router::Router::new(scope(), "http://127.0.0.1:1".into(), 1000);
    router.set_routes(router::Routes {
        stable: Some(Arc::new(router::Backends::new(
            DeploymentKind::Primary,
            "1",
            vec![addr(1), addr(2), addr(3)],
        ))),
        canary: Some(Arc::new(router::Backends::new(
            DeploymentKind::Canary,
            "2",
            vec![addr(4), addr(5)],
        ))),
        canary_weight: 10,
    });
    let mut per_port: BTreeMap<u16, usize> = BTreeMap::new();
    for _ in 0..100 {
        let (_, chosen) = router.choose().expect("a backend");
        *per_port.entry(chosen.port()).or_default() += 1;
    }
    assert_eq!(
        per_port,
        BTreeMap::from([(1, 30), (2, 30), (3, 30), (4, 5), (5, 5)])
    );
    // A weight towards a missing canary falls back to the primary; nothing at all is None.
    router.set_routes(router::Routes {
        stable: Some(Arc::new(router::Backends::new(
            DeploymentKind::Primary,
            "1",
            vec![addr(1)],
        ))),
        canary: None,
        canary_weight: 100,
    });
    assert_eq!(router.choose().map(|(_, chosen)| chosen), Some(addr(1)));
    router.set_routes(router::Routes::default());
    assert!(router.choose().is_none());
}

// ---- SLI computation ----

fn record(time_ms: u64, deployment: DeploymentKind, status: u16, duration_ms: f64) -> Record {
    Record {
        time_ms,
        deployment,
        version: Arc::from(match deployment {
            DeploymentKind::Canary => "0.9.2",
            _ => "0.9.1",
        }),
        status,
        duration_ms,
    }
}

fn names(indicators: &[&str]) -> Vec<String> {
    indicators.iter().map(|name| (*name).to_owned()).collect()
}

/// 100 canary requests of 1..=100 ms at t = 10_000..=10_099 ms (every 10th a 503), and 50
/// primary requests of 5 ms.
fn samples() -> Vec<Record> {
    let mut res = Vec::new();
    for request_idx in 0..100u64 {
        let status = if request_idx % 10 == 9 { 503 } else { 200 };
        res.push(record(
            10_000 + request_idx,
            DeploymentKind::Canary,
            status,
            (request_idx + 1) as f64,
        ));
    }
    for request_idx in 0..50u64 {
        res.push(record(
            10_000 + request_idx,
            DeploymentKind::Primary,
            200,
            5.0,
        ));
    }
    res
}

fn value_map(values: &[keptn_slo::SliValue]) -> BTreeMap<String, f64> {
    values
        .iter()
        .map(|value| {
            assert!(value.success, "{value:?}");
            (value.metric.to_string(), value.value)
        })
        .collect()
}

#[test]
fn sli_values_of_the_canary() {
    let window = Window {
        start_ms: 10_000,
        end_ms: 12_000,
        deployment: Some(DeploymentKind::Canary),
    };
    let values = compute(&samples(), window, &names(&SUPPORTED_INDICATORS));
    let by_name = value_map(&values);
    assert_eq!(by_name["request_count"], 100.0);
    assert_eq!(by_name["throughput"], 50.0, "100 requests in 2 s");
    assert_eq!(by_name["error_rate"], 10.0, "percent");
    assert_eq!(by_name["response_time_p50"], 50.0);
    assert_eq!(by_name["response_time_p90"], 90.0);
    assert_eq!(by_name["response_time_p95"], 95.0);
    assert_eq!(by_name["response_time_p99"], 99.0);
    assert_eq!(by_name["response_time_avg"], 50.5);
}

#[test]
fn sli_window_and_deployment_filters() {
    let all = Window {
        start_ms: 10_000,
        end_ms: 11_000,
        deployment: None,
    };
    let by_name = value_map(&compute(
        &samples(),
        all,
        &names(&["request_count", "response_time_p50"]),
    ));
    assert_eq!(by_name["request_count"], 150.0);
    assert_eq!(
        by_name["response_time_p50"], 25.0,
        "75th of 150 sorted: 50 × 5 ms, then 1.."
    );
    let primary = Window {
        deployment: Some(DeploymentKind::Primary),
        ..all
    };
    let by_name = value_map(&compute(
        &samples(),
        primary,
        &names(&["request_count", "error_rate"]),
    ));
    assert_eq!(by_name["request_count"], 50.0);
    assert_eq!(by_name["error_rate"], 0.0);
    // Both ends are inclusive: 10_090..=10_099 holds 10 canary requests, one a 503.
    let tail = Window {
        start_ms: 10_090,
        end_ms: 10_099,
        deployment: Some(DeploymentKind::Canary),
    };
    let by_name = value_map(&compute(
        &samples(),
        tail,
        &names(&["request_count", "error_rate", "response_time_p50"]),
    ));
    assert_eq!(by_name["request_count"], 10.0);
    assert_eq!(by_name["error_rate"], 10.0);
    assert_eq!(by_name["response_time_p50"], 95.0);
}

#[test]
fn sli_failures_are_values() {
    let window = Window {
        start_ms: 10_000,
        end_ms: 12_000,
        deployment: Some(DeploymentKind::Direct),
    };
    let values = compute(
        &samples(),
        window,
        &names(&["throughput", "response_time_p42"]),
    );
    assert!(!values[0].success);
    assert!(
        values[0]
            .message
            .starts_with("no requests in the window [10000, 12000] ms for deployment 'direct'"),
        "{values:?}"
    );
    assert!(!values[1].success);
    assert!(
        values[1]
            .message
            .contains("'response_time_p42' is not supported")
            && values[1].message.contains("response_time_p99"),
        "{values:?}"
    );
    let instant = Window {
        start_ms: 10_000,
        end_ms: 10_000,
        deployment: None,
    };
    let values = compute(
        &samples(),
        instant,
        &names(&["throughput", "request_count"]),
    );
    assert!(
        !values[0].success && values[0].message.contains("zero length"),
        "{values:?}"
    );
    assert_eq!(values[1].value, 2.0);
}

// ---- metrics text ----

#[test]
fn metrics_text_has_istio_names_and_cumulative_buckets() {
    let router = Arc::new(router::Router::new(
        scope(),
        "http://127.0.0.1:1".into(),
        1000,
    ));
    router.record(record(1, DeploymentKind::Canary, 200, 0.5));
    router.record(record(2, DeploymentKind::Canary, 200, 30.0));
    router.record(record(3, DeploymentKind::Canary, 200, 4_000_000.0));
    router.record(record(4, DeploymentKind::Primary, 500, 3.0));
    let text = telemetry::render(&[router]);
    let canary = "reporter=\"destination\",destination_service_name=\"carts\",destination_service_namespace=\"sockshop-staging\",destination_workload=\"carts-canary\",destination_version=\"0.9.2\",response_code=\"200\"";
    for line in [
        "# TYPE istio_requests_total counter".to_owned(),
        "# TYPE istio_request_duration_milliseconds histogram".to_owned(),
        format!("istio_requests_total{{{canary}}} 3"),
        format!("istio_request_duration_milliseconds_bucket{{{canary},le=\"1\"}} 1"),
        format!("istio_request_duration_milliseconds_bucket{{{canary},le=\"25\"}} 1"),
        format!("istio_request_duration_milliseconds_bucket{{{canary},le=\"50\"}} 2"),
        format!("istio_request_duration_milliseconds_bucket{{{canary},le=\"3600000\"}} 2"),
        format!("istio_request_duration_milliseconds_bucket{{{canary},le=\"+Inf\"}} 3"),
        format!("istio_request_duration_milliseconds_sum{{{canary}}} 4000030.5"),
        format!("istio_request_duration_milliseconds_count{{{canary}}} 3"),
        "istio_requests_total{reporter=\"destination\",destination_service_name=\"carts\",destination_service_namespace=\"sockshop-staging\",destination_workload=\"carts-primary\",destination_version=\"0.9.1\",response_code=\"500\"} 1".to_owned(),
    ] {
        assert!(text.lines().any(|have| have == line), "missing '{line}' in:\n{text}");
    }
    // 2 series × (1 counter + 20 buckets + sum + count) + 4 comment lines.
    assert_eq!(text.lines().count(), 2 * 23 + 4, "{text}");
}

#[test]
fn the_ring_drops_the_oldest_records_but_the_counters_keep_counting() {
    let mut recorded = Recorded::new(3);
    for time_ms in 0..5 {
        recorded.add(record(time_ms, DeploymentKind::Direct, 200, 1.0));
    }
    let times: Vec<u64> = recorded
        .records
        .iter()
        .map(|record| record.time_ms)
        .collect();
    assert_eq!(times, [2, 3, 4]);
    let total: u64 = recorded.series.values().map(|series| series.count).sum();
    assert_eq!(total, 5);
}

// ---- errors ----

#[test]
fn errors_map_to_adapter_error_kinds() {
    let cases: Vec<(Error, AdapterErrorKind)> = vec![
        (
            Error::Spec {
                problems: vec!["x".into()],
            },
            AdapterErrorKind::Invalid,
        ),
        (
            Error::ReadSpec {
                project: "p".into(),
                stage: "s".into(),
                service: "c".into(),
                source: AdapterError::new(AdapterErrorKind::NotFound, "no such file"),
            },
            AdapterErrorKind::NotFound,
        ),
        (
            Error::NotDeployed {
                project: "p".into(),
                stage: "s".into(),
                service: "c".into(),
            },
            AdapterErrorKind::NotFound,
        ),
        (Error::Weight { weight: 101 }, AdapterErrorKind::Invalid),
        (Error::NoFreePort { base: 1 }, AdapterErrorKind::Unavailable),
    ];
    for (error, kind) in cases {
        let message = error.to_string();
        let adapter = AdapterError::from(error);
        assert_eq!(adapter.kind, kind, "{message}");
        assert_eq!(adapter.message, message);
    }
}

// ---- the router in front of the in-process carts service ----

fn scope() -> Scope {
    Scope {
        project: "sockshop".into(),
        stage: "staging".into(),
        service: "carts".into(),
    }
}

/// Serves the carts example of `version` on a free loopback port.
async fn start_carts(version: &str) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let carts = Carts::new(version).expect("a valid version");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app(carts)).await;
    });
    (addr, server)
}

/// GETs `url`; returns the status and body.
async fn get(client: &client::HttpClient, url: &str) -> (u16, String) {
    let request = hyper::Request::get(url)
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    let response = client.request(request).await.expect("an answer");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn now() -> Timestamp {
    Timestamp(router::now_ms())
}

fn sli_request(
    indicators: &[&str],
    start: Timestamp,
    end: Timestamp,
    deployment: &str,
) -> SliRequest {
    SliRequest {
        scope: scope(),
        indicators: names(indicators),
        start,
        end,
        custom_filters: BTreeMap::new(),
        deployment: deployment.into(),
        labels: BTreeMap::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_canary_shows_in_slis_and_metrics() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let platform = LocalPlatform::new(Config::ephemeral(dir.path()).validate().expect("valid"))
        .await
        .expect("the platform starts");
    let client = http_client();

    // Before anything is deployed: a clear 502-free answer from the SLI provider.
    let start = now();
    let values = platform
        .sli_provider()
        .get_slis(&sli_request(&["throughput"], start, start, ""))
        .await
        .expect("a valid request");
    assert!(
        !values[0].success && values[0].message.contains("nothing was deployed"),
        "{values:?}"
    );

    let (fast, fast_server) = start_carts("0.9.1").await;
    let (slow, slow_server) = start_carts("0.9.2").await;
    let url = platform
        .register_backends(&scope(), DeploymentKind::Primary, "0.9.1", vec![fast], 0)
        .await
        .expect("a router");
    platform
        .register_backends(&scope(), DeploymentKind::Canary, "0.9.2", vec![slow], 50)
        .await
        .expect("the same router");

    let start = now();
    // 40 concurrent requests: 20 to each version (50 %), so the slow ones overlap.
    let mut requests = tokio::task::JoinSet::new();
    for customer_idx in 0..40 {
        let client = client.clone();
        let url = format!("{url}/carts/{customer_idx}/items?x=1");
        requests.spawn(async move { get(&client, &url).await });
    }
    while let Some(joined) = requests.join_next().await {
        let (status, _) = joined.expect("the request task ends");
        assert_eq!(status, 200);
    }
    let (status, body) = get(&client, &format!("{url}/version")).await;
    assert_eq!(status, 200);
    assert!(body.contains("0.9."), "{body}");
    let end = now();

    let sli = platform.sli_provider();
    let indicators = ["request_count", "response_time_p95", "error_rate"];
    let canary = value_map(
        &sli.get_slis(&sli_request(&indicators, start, end, "canary"))
            .await
            .expect("valid"),
    );
    let primary = value_map(
        &sli.get_slis(&sli_request(&indicators, start, end, "primary"))
            .await
            .expect("valid"),
    );
    let all = value_map(
        &sli.get_slis(&sli_request(&["request_count"], start, end, ""))
            .await
            .expect("valid"),
    );
    assert!(canary["response_time_p95"] >= 1000.0, "{canary:?}");
    assert!(
        primary["response_time_p95"] < 500.0,
        "0.9.1 is fast (bound loose for loaded machines): {primary:?}"
    );
    assert_eq!(canary["request_count"] + primary["request_count"], 41.0);
    assert!(
        (20.0..=21.0).contains(&canary["request_count"]),
        "{canary:?}"
    );
    assert_eq!(all["request_count"], 41.0);
    assert_eq!(canary["error_rate"], 0.0);

    let (status, metrics) = get(&client, &format!("{}/metrics", platform.telemetry_url())).await;
    assert_eq!(status, 200);
    let canary_count = metrics
        .lines()
        .find(|line| {
            line.starts_with("istio_requests_total{")
                && line.contains("destination_workload=\"carts-canary\"")
                && line.contains("destination_version=\"0.9.2\"")
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|count| count.parse::<f64>().ok());
    assert_eq!(canary_count, Some(canary["request_count"]), "{metrics}");
    let (status, _) = get(&client, &format!("{}/other", platform.telemetry_url())).await;
    assert_eq!(status, 404);

    // An unknown deployment and an inverted window.
    let values = sli
        .get_slis(&sli_request(&["throughput"], start, end, "blue"))
        .await
        .expect("valid");
    assert!(
        values[0].message.contains("unknown deployment 'blue'"),
        "{values:?}"
    );
    let error = sli
        .get_slis(&sli_request(&["throughput"], end, start, ""))
        .await
        .expect_err("an inverted window");
    assert_eq!(error.kind, AdapterErrorKind::Invalid);

    // A backend that went away: 502 with a clear body, recorded as such. (A port nobody
    // listens on: an aborted axum server keeps its open keep-alive connections serving.)
    slow_server.abort();
    let _ = slow_server.await;
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address")
    };
    let _ = slow;
    platform
        .register_backends(&scope(), DeploymentKind::Canary, "0.9.2", vec![gone], 100)
        .await
        .expect("the same router");
    let (status, body) = get(&client, &format!("{url}/carts/1/items")).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("replica") && body.contains("canary 0.9.2"),
        "{body}"
    );

    platform.shutdown().await;
    fast_server.abort();
    let error = tokio::time::timeout(
        Duration::from_secs(5),
        client.request(
            hyper::Request::get(format!("{url}/version"))
                .body(Full::new(Bytes::new()))
                .expect("a valid request"),
        ),
    )
    .await
    .expect("a refused connection is quick");
    assert!(error.is_err(), "the router stopped listening");
}

// ---- log tails ----

#[test]
fn log_tail_shows_the_last_twenty_lines_written_after_the_offset() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("replica.log");
    let text: String = (1..=30)
        .map(|line_idx| format!("line {line_idx}\n"))
        .collect();
    std::fs::write(&log, &text).expect("writable");
    let expected: Vec<String> = (11..=30)
        .map(|line_idx| format!("line {line_idx}"))
        .collect();
    assert_eq!(process::log_tail(&log, 0), expected.join("\n"));
    let offset = text.find("line 26").expect("present") as u64;
    assert_eq!(
        process::log_tail(&log, offset),
        "line 26\nline 27\nline 28\nline 29\nline 30"
    );
    assert_eq!(
        process::log_tail(&log, text.len() as u64),
        "(the log is empty)"
    );
    assert!(
        process::log_tail(&dir.path().join("missing.log"), 0).starts_with("(cannot read the log: ")
    );
}

#[test]
fn commands_resolve_through_the_search_path_first() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let program = dir.path().join("my-service");
    std::fs::write(&program, "#!/bin/sh\n").expect("writable");
    let not_executable = dir.path().join("plain-file");
    std::fs::write(&not_executable, "").expect("writable");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let search_path = vec![dir.path().to_path_buf()];
    assert_eq!(
        process::resolve_command("my-service", &search_path).expect("found"),
        program
    );
    assert_eq!(
        process::resolve_command(program.to_str().expect("utf-8"), &[]).expect("a path"),
        program
    );
    match process::resolve_command("plain-file", &search_path) {
        Err(Error::CommandNotFound { command, searched }) => {
            assert_eq!(command, "plain-file");
            assert_eq!(searched.first(), Some(&dir.path().to_path_buf()));
        }
        other => panic!("expected not found, got {other:?}"),
    }
}
