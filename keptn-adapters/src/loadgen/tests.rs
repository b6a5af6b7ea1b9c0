//! Hermetic tests: a tiny axum server on 127.0.0.1:0 (fast, slow and failing endpoints), and
//! the sockshop carts service.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use keptn_core::event::Timestamp;
use keptn_core::ports::{AdapterError, AdapterErrorKind, Scope, TestRequest, TestRunner};
use serde_json::{Value, json};

use super::{Config, Error, LoadGen, Request, Run, Workload};

/// How long `/slow` takes.
const SLOW: Duration = Duration::from_millis(200);

/// Requests the test server received, per endpoint.
#[derive(Default)]
struct Counts {
    fast: AtomicU64,
    slow: AtomicU64,
    fail: AtomicU64,
    items: AtomicU64,
}

struct Server {
    url: String,
    counts: Arc<Counts>,
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port is free");
    let address = listener.local_addr().expect("the listener has an address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

async fn server() -> Server {
    let counts = Arc::new(Counts::default());
    let router = Router::new()
        .route(
            "/fast",
            get(|State(counts): State<Arc<Counts>>| async move {
                counts.fast.fetch_add(1, Ordering::Relaxed);
                "ok"
            }),
        )
        .route(
            "/slow",
            get(|State(counts): State<Arc<Counts>>| async move {
                counts.slow.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(SLOW).await;
                "ok"
            }),
        )
        .route(
            "/fail",
            get(|State(counts): State<Arc<Counts>>| async move {
                counts.fail.fetch_add(1, Ordering::Relaxed);
                (StatusCode::INTERNAL_SERVER_ERROR, "broken")
            }),
        )
        .route(
            "/items",
            post(
                |State(counts): State<Arc<Counts>>, axum::Json(item): axum::Json<Value>| async move {
                    counts.items.fetch_add(1, Ordering::Relaxed);
                    if item["itemId"] == "sock" {
                        StatusCode::CREATED
                    } else {
                        StatusCode::BAD_REQUEST
                    }
                },
            ),
        )
        .with_state(Arc::clone(&counts));
    Server {
        url: serve(router).await,
        counts,
    }
}

fn get_request(path: &str) -> Request {
    Request {
        path: path.to_owned(),
        ..Request::default()
    }
}

fn workload(teststrategy: &str, paths: &[&str]) -> Workload {
    Workload {
        teststrategy: teststrategy.to_owned(),
        think_time_ms: Some(0),
        requests: paths.iter().map(|path| get_request(path)).collect(),
        ..Workload::default()
    }
}

fn loadgen(workloads: Vec<Workload>) -> LoadGen {
    let config = Config {
        workloads,
        ..Config::default()
    };
    LoadGen::new(config.validate().expect("the test config is valid")).expect("the client builds")
}

/// Runs one workload against `url` and returns the run.
async fn check(workload: Workload, url: &str) -> Run {
    let teststrategy = workload.teststrategy.clone();
    loadgen(vec![workload])
        .run_strategy(&teststrategy, url)
        .await
        .expect("the run completes")
}

fn wall_clock() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    Timestamp(u64::try_from(since_epoch.as_millis()).expect("milliseconds fit u64"))
}

// Configuration.

#[test]
fn defaults_are_applied() {
    let config = Config {
        workloads: vec![
            workload("functional", &["/health"]),
            Workload {
                think_time_ms: None,
                ..workload("performance", &["/health"])
            },
        ],
        ..Config::default()
    };
    let valid = config.validate().expect("the config is valid");
    assert_eq!(valid.request_timeout(), Duration::from_secs(10));
    let performance = valid.workload("performance").expect("configured");
    assert_eq!(performance.virtual_users, 1);
    assert_eq!(performance.iterations, Some(1));
    assert_eq!(performance.duration, None);
    assert_eq!(performance.think_time, Duration::from_millis(250));
    assert_eq!(performance.accept_error_rate, 0.1);
    assert_eq!(performance.requests[0].method, super::Method::Get);
    // jmeter-service: functional accepts no error.
    let functional = valid.workload("functional").expect("configured");
    assert_eq!(functional.accept_error_rate, 0.0);
    assert_eq!(valid.workload("healthcheck"), None);
}

#[test]
fn every_config_problem_is_reported_with_its_path() {
    let config: Config = serde_json::from_value(json!({
        "request_timeout_ms": 0,
        "workloads": [
            {
                "teststrategy": "performance",
                "virtual_users": 0,
                "iterations": 0,
                "duration_seconds": -1.0,
                "think_time_ms": 700000,
                "requests": [{ "method": "FETCH", "path": "carts" }],
                "accept_error_rate": 1.5,
                "avg_rt_limit_ms": 0.0
            },
            { "teststrategy": "performance", "requests": [] },
            { "teststrategy": "", "requests": [{ "path": "/" }] }
        ]
    }))
    .expect("the config has the right shape");
    let Err(Error::Config { problems }) = config.validate() else {
        panic!("the config is invalid");
    };
    assert_eq!(
        problems,
        [
            "request_timeout_ms: must be between 1 and 600000, got '0'",
            "workloads[0].virtual_users: must be between 1 and 10000, got '0'",
            "workloads[0].iterations: must be at least 1, got '0'",
            "workloads[0].duration_seconds: must be above 0 and at most 86400, got '-1'",
            "workloads[0].think_time_ms: must be at most 600000, got '700000'",
            "workloads[0].requests[0].method: unknown method 'FETCH' (expected GET, POST, PUT, PATCH, DELETE or HEAD)",
            "workloads[0].requests[0].path: 'carts' must start with '/' and contain no whitespace",
            "workloads[0].accept_error_rate: must be between 0 and 1, got '1.5'",
            "workloads[0].avg_rt_limit_ms: must be above 0, got '0'",
            "workloads[1].teststrategy: 'performance' has a workload already at workloads[0]",
            "workloads[1].requests: must list at least one request",
            "workloads[2].teststrategy: must not be empty",
        ]
    );
}

#[test]
fn unknown_fields_are_refused() {
    let error = serde_json::from_value::<Config>(json!({
        "workloads": [{ "teststrategy": "performance", "vuser": 10, "requests": [] }]
    }))
    .expect_err("vuser is jmeter.conf.yaml's name, not ours");
    assert!(
        error.to_string().contains("unknown field `vuser`"),
        "{error}"
    );
}

// Runs.

#[tokio::test]
async fn counts_every_request() {
    let server = server().await;
    let run = check(
        Workload {
            virtual_users: Some(3),
            iterations: Some(4),
            requests: vec![
                get_request("/fast"),
                Request {
                    method: Some("post".to_owned()),
                    path: "/items".to_owned(),
                    body: Some(json!({ "itemId": "sock", "unitPrice": "99.99" })),
                },
            ],
            ..workload("performance", &[])
        },
        &server.url,
    )
    .await;
    let stats = run.stats.expect("the strategy ran");
    assert_eq!(stats.requests, 24);
    assert_eq!(stats.errors, 0, "{:?}", stats.first_error);
    assert_eq!(server.counts.fast.load(Ordering::Relaxed), 12);
    assert_eq!(server.counts.items.load(Ordering::Relaxed), 12);
    assert!(run.report.passed, "{}", run.report.message);
    assert!(run.failures.is_empty());
    assert!(stats.p50_ms <= stats.p90_ms && stats.p90_ms <= stats.p95_ms);
    assert!(stats.p95_ms <= stats.p99_ms && stats.p99_ms <= stats.max_ms);
    assert!(
        run.report
            .message
            .starts_with("performance: 24 requests by 3 virtual users in "),
        "{}",
        run.report.message
    );
    assert!(
        run.report.message.ends_with("; passed"),
        "{}",
        run.report.message
    );
}

#[tokio::test]
async fn error_rate_decides_by_the_accepted_rate() {
    let server = server().await;
    let half_failing = |accept_error_rate| Workload {
        iterations: Some(5),
        accept_error_rate: Some(accept_error_rate),
        ..workload("performance", &["/fast", "/fail"])
    };
    let run = check(half_failing(0.5), &server.url).await;
    let stats = run.stats.as_ref().expect("the strategy ran");
    assert_eq!((stats.requests, stats.errors), (10, 5));
    assert_eq!(stats.error_rate(), 0.5);
    assert_eq!(stats.first_error.as_deref(), Some("GET /fail answered 500"));
    assert!(run.report.passed, "5 of 10 is not above 50 %");

    let run = check(half_failing(0.1), &server.url).await;
    assert!(!run.report.passed);
    assert_eq!(
        run.failures,
        ["error rate 50.00 % is above the accepted 10.00 %"]
    );
    assert!(
        run.report
            .message
            .ends_with("; first failure: GET /fail answered 500; failed: error rate 50.00 % is above the accepted 10.00 %"),
        "{}",
        run.report.message
    );
    assert_eq!(server.counts.fail.load(Ordering::Relaxed), 10);
}

#[tokio::test]
async fn functional_accepts_no_error() {
    let server = server().await;
    let run = check(
        Workload {
            iterations: Some(3),
            accept_error_rate: Some(1.0),
            requests: vec![
                get_request("/fast"),
                get_request("/fast"),
                Request {
                    method: Some("POST".to_owned()),
                    path: "/items".to_owned(),
                    body: Some(json!({ "itemId": "hat" })),
                },
            ],
            ..workload("functional", &[])
        },
        &server.url,
    )
    .await;
    assert!(!run.report.passed);
    assert_eq!(
        run.failures,
        ["3 of 9 requests failed; a functional test accepts none"]
    );

    let run = check(workload("functional", &["/fast"]), &server.url).await;
    assert!(run.report.passed, "{}", run.report.message);
}

#[tokio::test]
async fn average_response_time_limit() {
    let server = server().await;
    let slow = |limit| Workload {
        iterations: Some(2),
        avg_rt_limit_ms: Some(limit),
        ..workload("performance", &["/slow"])
    };
    let run = check(slow(50.0), &server.url).await;
    assert!(!run.report.passed);
    let stats = run.stats.as_ref().expect("the strategy ran");
    assert!(stats.mean_ms >= 200.0, "{stats:?}");
    assert_eq!(run.failures.len(), 1);
    assert!(
        run.failures[0].starts_with("average response time ")
            && run.failures[0].ends_with(" ms is above the limit of 50 ms"),
        "{:?}",
        run.failures
    );

    let run = check(slow(60_000.0), &server.url).await;
    assert!(run.report.passed, "{}", run.report.message);
    assert_eq!(server.counts.slow.load(Ordering::Relaxed), 4);
}

#[tokio::test]
async fn timeframe_bounds_the_run() {
    let server = server().await;
    let before = wall_clock();
    let run = check(workload("performance", &["/slow"]), &server.url).await;
    let after = wall_clock();
    let report = run.report;
    assert!(before <= report.start, "{before:?} > {:?}", report.start);
    assert!(report.start < report.end, "{report:?}");
    assert!(report.end <= after, "{:?} > {after:?}", report.end);
    assert!(report.end.millis_since(report.start) >= 200, "{report:?}");
}

#[tokio::test]
async fn think_time_follows_each_request() {
    let server = server().await;
    let run = check(
        Workload {
            iterations: Some(3),
            think_time_ms: Some(100),
            ..workload("performance", &["/fast"])
        },
        &server.url,
    )
    .await;
    let stats = run.stats.expect("the strategy ran");
    assert_eq!(stats.requests, 3);
    assert!(stats.elapsed >= Duration::from_millis(300), "{stats:?}");
}

#[tokio::test]
async fn duration_bounds_the_run() {
    let server = server().await;
    let run = check(
        Workload {
            virtual_users: Some(2),
            duration_seconds: Some(0.3),
            think_time_ms: Some(10),
            ..workload("performance", &["/fast"])
        },
        &server.url,
    )
    .await;
    let stats = run.stats.expect("the strategy ran");
    assert!(stats.requests >= 2, "{stats:?}");
    assert!(stats.elapsed >= Duration::from_millis(300), "{stats:?}");
    assert!(
        stats.elapsed < Duration::from_secs(5),
        "it stopped: {stats:?}"
    );
    assert_eq!(server.counts.fast.load(Ordering::Relaxed), stats.requests);

    // Iterations end the run first when they are done before the time is up.
    let run = check(
        Workload {
            iterations: Some(2),
            duration_seconds: Some(60.0),
            ..workload("performance", &["/fast"])
        },
        &server.url,
    )
    .await;
    let stats = run.stats.expect("the strategy ran");
    assert_eq!(stats.requests, 2);
    assert!(stats.elapsed < Duration::from_secs(30), "{stats:?}");
}

#[tokio::test]
async fn failing_healthcheck_skips_the_strategy() {
    let server = server().await;
    let loadgen = loadgen(vec![
        workload("healthcheck", &["/fail"]),
        workload("performance", &["/fast"]),
    ]);
    let run = loadgen
        .run_strategy("performance", &server.url)
        .await
        .expect("the run completes");
    assert!(!run.report.passed);
    assert_eq!(run.stats, None);
    assert_eq!(run.healthcheck.as_ref().map(|stats| stats.errors), Some(1));
    assert!(
        run.report
            .message
            .starts_with("health check failed, performance not run: healthcheck: 1 requests"),
        "{}",
        run.report.message
    );
    assert_eq!(server.counts.fast.load(Ordering::Relaxed), 0);

    let loadgen = self::loadgen(vec![
        workload("healthcheck", &["/fast"]),
        workload("performance", &["/slow"]),
    ]);
    let run = loadgen
        .run_strategy("performance", &server.url)
        .await
        .expect("the run completes");
    assert!(run.report.passed, "{}", run.report.message);
    assert_eq!(run.healthcheck.map(|stats| stats.requests), Some(1));
    assert_eq!(run.stats.map(|stats| stats.requests), Some(1));
}

#[tokio::test]
async fn unreachable_target_counts_as_errors() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port is free");
    let address = listener.local_addr().expect("the listener has an address");
    drop(listener);
    let run = check(
        Workload {
            iterations: Some(2),
            ..workload("performance", &["/fast"])
        },
        &format!("http://{address}"),
    )
    .await;
    let stats = run.stats.expect("the strategy ran");
    assert_eq!((stats.requests, stats.errors), (2, 2));
    let first_error = stats.first_error.expect("a failure is reported");
    assert!(
        first_error.starts_with("GET /fast failed: "),
        "{first_error}"
    );
    assert!(!run.report.passed);
}

#[tokio::test]
async fn empty_strategy_passes_without_running() {
    let run = loadgen(vec![workload("performance", &["/fast"])])
        .run_strategy("", "http://127.0.0.1:9")
        .await
        .expect("nothing to run");
    assert!(run.report.passed);
    assert_eq!(run.report.message, "no test strategy: nothing to run");
    assert_eq!(run.stats, None);
}

fn test_request(strategy: &str, target: &str) -> TestRequest {
    TestRequest {
        scope: Scope {
            project: "sockshop".into(),
            stage: "dev".into(),
            service: "carts".into(),
        },
        strategy: strategy.into(),
        target: target.into(),
        git_commit_id: None,
    }
}

fn assert_kind(
    result: Result<impl std::fmt::Debug, AdapterError>,
    kind: AdapterErrorKind,
) -> String {
    let error = result.expect_err("the call fails");
    assert_eq!(error.kind, kind, "{error}");
    error.message
}

#[tokio::test]
async fn test_runner_errors() {
    let runner: Box<dyn TestRunner> = Box::new(loadgen(vec![
        workload("functional", &["/fast"]),
        workload("performance", &["/fast"]),
    ]));
    let message = assert_kind(
        runner
            .run(&test_request("real-user", "http://127.0.0.1:9"))
            .await,
        AdapterErrorKind::NotFound,
    );
    assert_eq!(
        message,
        "no workload for test strategy 'real-user' (configured: functional, performance)"
    );
    let message = assert_kind(
        runner
            .run(&test_request("performance", "ftp://127.0.0.1:9"))
            .await,
        AdapterErrorKind::Invalid,
    );
    assert_eq!(
        message,
        "invalid target url 'ftp://127.0.0.1:9/fast': only http:// is supported"
    );
    let message = assert_kind(
        runner.run(&test_request("performance", "carts:8080")).await,
        AdapterErrorKind::Invalid,
    );
    assert!(
        message.starts_with("invalid target url 'carts:8080/fast': "),
        "{message}"
    );

    let server = server().await;
    let report = runner
        .run(&test_request("functional", &format!("{}/", server.url)))
        .await
        .expect("the run completes");
    assert!(report.passed, "{}", report.message);
    assert_eq!(server.counts.fast.load(Ordering::Relaxed), 1);
}

/// The sockshop carts service: 0.9.3 meets a 500 ms average, the slow 0.9.2 does not.
#[tokio::test]
async fn carts_0_9_2_fails_the_response_time_limit() {
    let add_to_cart = Workload {
        iterations: Some(2),
        avg_rt_limit_ms: Some(500.0),
        requests: vec![Request {
            method: Some("POST".to_owned()),
            path: "/carts/1/items".to_owned(),
            body: Some(json!({ "itemId": "03fef6ac", "unitPrice": "99.99" })),
        }],
        ..workload("performance", &[])
    };
    for (version, passes) in [("0.9.3", true), ("0.9.2", false)] {
        let carts = keptn_example_carts::Carts::new(version).expect("a valid version");
        let url = serve(keptn_example_carts::app(carts.clone())).await;
        let run = check(add_to_cart.clone(), &url).await;
        assert_eq!(
            run.report.passed, passes,
            "{version}: {}",
            run.report.message
        );
        assert_eq!(run.stats.map(|stats| stats.errors), Some(0), "{version}");
        let metrics = carts.render_metrics();
        assert!(
            metrics.contains(
                r#"http_requests_total{handler="ItemsController.addToCart",method="POST",status="201"} 2"#
            ),
            "{metrics}"
        );
    }
}

/// Throughput of 8 virtual users against `/fast`, printed (run with `--nocapture`). It runs
/// for `KEPTN_LOADGEN_MEASURE_SECONDS` (default 0.5); the figure in the report was measured
/// with 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_of_eight_users() {
    let seconds = std::env::var("KEPTN_LOADGEN_MEASURE_SECONDS")
        .ok()
        .and_then(|text| text.parse::<f64>().ok())
        .unwrap_or(0.5);
    let server = server().await;
    let run = check(
        Workload {
            virtual_users: Some(8),
            duration_seconds: Some(seconds),
            ..workload("performance", &["/fast"])
        },
        &server.url,
    )
    .await;
    let stats = run.stats.expect("the strategy ran");
    assert_eq!(stats.errors, 0, "{:?}", stats.first_error);
    assert_eq!(server.counts.fast.load(Ordering::Relaxed), stats.requests);
    println!("{}", run.report.message);
}
