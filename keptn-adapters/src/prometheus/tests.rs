//! Hermetic tests: a fake Prometheus query API on 127.0.0.1:0.
//!
//! The fake answers by the query text, so each sli.yaml query says what it wants back:
//! `[sleep MS] vector V | samples N | empty | scalar V | matrix | warn | error CODE | http CODE
//! | garbage`; any other query gets a vector with the single value 1.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keptn_core::Severity;
use keptn_core::event::Timestamp;
use keptn_core::ports::{AdapterError, AdapterErrorKind, Scope, SliProvider, SliRequest};
use keptn_slo::SliValue;
use serde_json::json;

use super::{Config, Error, Prometheus, SliConfig};

/// The evaluation end used by most tests: 2023-11-14T22:13:20.123Z.
const END: Timestamp = Timestamp(1_700_000_000_123);

/// A query the fake received.
#[derive(Debug, Clone)]
struct Seen {
    params: HashMap<String, String>,
}

#[derive(Debug, Default)]
struct FakeState {
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Decrements the in-flight count when a request ends, even when the client gave up.
struct InFlight(Arc<FakeState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Fake {
    addr: SocketAddr,
    state: Arc<FakeState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Fake {
    async fn start() -> Fake {
        let state = Arc::new(FakeState::default());
        let app = Router::new()
            .route("/api/v1/query", get(answer))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fake prometheus serves until aborted");
        });
        Fake {
            addr,
            state,
            server,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("not poisoned").clone()
    }

    fn seen_queries(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .map(|seen| seen.params.get("query").cloned().unwrap_or_default())
            .collect()
    }

    fn prometheus(
        &self,
        timeout_seconds: Option<f64>,
        max_concurrency: Option<usize>,
    ) -> Prometheus {
        let config = Config {
            url: self.url(),
            timeout_seconds,
            max_concurrency,
        };
        Prometheus::new(config.validate().expect("the test config is valid"))
            .expect("the http client builds")
    }
}

async fn answer(
    State(state): State<Arc<FakeState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(Arc::clone(&state));
    state.seen.lock().expect("not poisoned").push(Seen {
        params: params.clone(),
    });
    let query = params.get("query").cloned().unwrap_or_default();
    let mut words: Vec<&str> = query.split_whitespace().collect();
    if words.first() == Some(&"sleep") {
        let millis: u64 = words.get(1).and_then(|ms| ms.parse().ok()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(millis)).await;
        words.drain(..2.min(words.len()));
    }
    let time: f64 = params
        .get("time")
        .and_then(|time| time.parse().ok())
        .unwrap_or(0.0);
    let sample = |value: &str, idx: usize| json!({"metric": {"__name__": "x", "instance": format!("i{idx}")}, "value": [time, value]});
    let success = |result_type: &str, result: serde_json::Value| json!({"status": "success", "data": {"resultType": result_type, "result": result}});
    let arg = words.get(1).copied().unwrap_or("1");
    let (status, body) = match words.first().copied() {
        Some("vector") => (200, success("vector", json!([sample(arg, 0)])).to_string()),
        Some("samples") => {
            let n_samples: usize = arg.parse().unwrap_or(2);
            let samples: Vec<_> = (0..n_samples).map(|idx| sample("1", idx)).collect();
            (200, success("vector", json!(samples)).to_string())
        }
        Some("empty") => (200, success("vector", json!([])).to_string()),
        Some("scalar") => (200, success("scalar", json!([time, arg])).to_string()),
        Some("matrix") => (
            200,
            success("matrix", json!([{"metric": {}, "values": [[time, "1"]]}])).to_string(),
        ),
        Some("warn") => {
            let mut body = success("vector", json!([sample("7", 0)]));
            body["warnings"] = json!(["query touched too many series"]);
            (200, body.to_string())
        }
        Some("error") => (
            arg.parse().unwrap_or(400),
            json!({"status": "error", "errorType": "bad_data", "error": "parse error at char 6: unclosed left parenthesis"}).to_string(),
        ),
        Some("http") => (arg.parse().unwrap_or(503), "upstream connect error".to_owned()),
        Some("garbage") => (200, "<html>not prometheus</html>".to_owned()),
        _ => (200, success("vector", json!([sample("1", 0)])).to_string()),
    };
    (
        StatusCode::from_u16(status).expect("the fake uses valid statuses"),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn request(indicators: &[&str]) -> SliRequest {
    SliRequest {
        scope: Scope {
            project: "sockshop".into(),
            stage: "staging".into(),
            service: "carts".into(),
        },
        indicators: indicators.iter().map(|name| (*name).to_owned()).collect(),
        start: Timestamp(END.0 - 300_000),
        end: END,
        custom_filters: BTreeMap::new(),
        deployment: "canary".into(),
        labels: BTreeMap::new(),
    }
}

fn sli(indicators: &[(&str, &str)]) -> SliConfig {
    SliConfig::from_indicators(indicators.iter().copied())
}

/// Fetches `request` from a fresh fake with the given indicators, and returns the values
/// and the fake (to look at what it received).
async fn check(indicators: &[(&str, &str)], request: &SliRequest) -> (Vec<SliValue>, Fake) {
    let fake = Fake::start().await;
    let res = fake
        .prometheus(None, None)
        .get_slis_for(&sli(indicators), request)
        .await
        .expect("a valid timeframe");
    (res, fake)
}

/// Fetches one indicator whose query is `query` and returns its value.
async fn check_one(query: &str) -> SliValue {
    let (mut res, _fake) = check(&[("sli", query)], &request(&["sli"])).await;
    assert_eq!(res.len(), 1);
    res.remove(0)
}

fn assert_failed(value: &SliValue, fragments: &[&str]) {
    assert!(!value.success, "expected a failure, got {value:?}");
    assert_eq!(value.value, 0.0);
    for fragment in fragments {
        assert!(
            value.message.contains(fragment),
            "message {:?} lacks {fragment:?}",
            value.message
        );
    }
}

// --- results -------------------------------------------------------------------------------

#[tokio::test]
async fn vector_with_one_sample_is_the_value() {
    let value = check_one("vector 0.25").await;
    assert_eq!(value, SliValue::new("sli", 0.25));
}

#[tokio::test]
async fn scalar_is_the_value() {
    let value = check_one("scalar 1351").await;
    assert_eq!(value, SliValue::new("sli", 1351.0));
}

#[tokio::test]
async fn empty_vector_is_no_data() {
    let value = check_one("empty").await;
    assert_failed(&value, &["no data", "'empty'", "no samples"]);
}

#[tokio::test]
async fn several_samples_name_the_count() {
    let value = check_one("samples 3").await;
    assert_failed(&value, &["returned 3 samples", "expected exactly one"]);
}

#[tokio::test]
async fn nan_and_infinity_are_failures() {
    assert_failed(
        &check_one("vector NaN").await,
        &["'NaN'", "not a finite number"],
    );
    assert_failed(
        &check_one("scalar +Inf").await,
        &["'+Inf'", "not a finite number"],
    );
    assert_failed(&check_one("vector -Inf").await, &["'-Inf'"]);
}

#[tokio::test]
async fn range_vector_is_unsupported() {
    assert_failed(&check_one("matrix").await, &["returned a matrix"]);
}

#[tokio::test]
async fn warnings_are_kept_in_the_message_of_a_success() {
    let value = check_one("warn").await;
    assert!(value.success);
    assert_eq!(value.value, 7.0);
    assert_eq!(
        value.message,
        "prometheus warning: query touched too many series"
    );
}

// --- http failures -------------------------------------------------------------------------

#[tokio::test]
async fn prometheus_error_json_is_the_reason() {
    let value = check_one("error 400").await;
    assert_failed(
        &value,
        &[
            "prometheus rejected query 'error 400'",
            "http 400, bad_data",
            "unclosed left parenthesis",
        ],
    );
    let value = check_one("error 422").await;
    assert_failed(&value, &["http 422, bad_data"]);
}

#[tokio::test]
async fn server_error_without_json_quotes_the_body() {
    let value = check_one("http 503").await;
    assert_failed(&value, &["http 503", "'upstream connect error'"]);
}

#[tokio::test]
async fn success_status_with_a_foreign_body_is_a_failure() {
    let value = check_one("garbage").await;
    assert_failed(
        &value,
        &[
            "unexpected answer from prometheus",
            "not the query api's json",
        ],
    );
}

#[tokio::test]
async fn connection_refused_fails_every_sli_as_data() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port is free");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    drop(listener);
    let prometheus = Prometheus::new(
        Config::new(format!("http://{addr}"))
            .validate()
            .expect("valid"),
    )
    .expect("the http client builds");
    let res = prometheus
        .get_slis_for(&sli(&[("a", "up"), ("b", "up")]), &request(&["a", "b"]))
        .await
        .expect("an unreachable server is data, not an error");
    assert_eq!(res.len(), 2);
    eprintln!("connection refused: {}", res[0].message);
    for value in &res {
        assert_failed(
            value,
            &[&format!(
                "cannot query prometheus at 'http://{addr}/api/v1/query'"
            )],
        );
    }
}

#[tokio::test]
async fn a_slow_query_times_out_alone() {
    let fake = Fake::start().await;
    let prometheus = fake.prometheus(Some(0.3), None);
    let started = Instant::now();
    let res = prometheus
        .get_slis_for(
            &sli(&[("slow", "sleep 3000 vector 1"), ("fast", "vector 2")]),
            &request(&["slow", "fast"]),
        )
        .await
        .expect("a valid timeframe");
    let elapsed = started.elapsed();
    assert_failed(
        &res[0],
        &["query 'sleep 3000 vector 1' did not finish within 300ms"],
    );
    assert_eq!(res[1], SliValue::new("fast", 2.0));
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    // Prometheus is told the same limit, so it can stop evaluating.
    assert!(
        fake.seen()
            .iter()
            .all(|seen| seen.params.get("timeout").map(String::as_str) == Some("300ms"))
    );
}

// --- queries as sent ---------------------------------------------------------------------

#[tokio::test]
async fn queries_run_at_the_end_time() {
    let (res, fake) = check(&[("a", "up")], &request(&["a"])).await;
    assert!(res[0].success);
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].params["query"], "up");
    assert_eq!(seen[0].params["time"], "1700000000.123");
    assert_eq!(seen[0].params["timeout"], "30000ms");
}

#[tokio::test]
async fn every_placeholder_is_rendered() {
    let mut request = request(&["all"]);
    request.start = Timestamp(END.0 - 299_001);
    request
        .custom_filters
        .insert("handler".into(), "\"ItemsController.addToCart\"".into());
    request.labels.insert("owner".into(), "team-a".into());
    let query = "sum(rate(x{project=\"$PROJECT\",stage=\"$STAGE\",service=\"$SERVICE\",\
                 deployment=\"$DEPLOYMENT\",handler=\"$handler\",h2=\"$HANDLER\",\
                 owner=\"$LABEL.owner\",path=~\"/api.*$\"}[$DURATION_SECONDS]))";
    let (res, fake) = check(&[("all", query)], &request).await;
    assert!(res[0].success, "{res:?}");
    assert_eq!(
        fake.seen_queries(),
        [
            "sum(rate(x{project=\"sockshop\",stage=\"staging\",service=\"carts\",\
          deployment=\"canary\",handler=\"ItemsController.addToCart\",\
          h2=\"ItemsController.addToCart\",owner=\"team-a\",path=~\"/api.*$\"}[300s]))"
        ]
    );
}

#[tokio::test]
async fn duration_is_rounded_up_to_whole_seconds() {
    let mut request = request(&["d"]);
    request.start = Timestamp(END.0 - 60_000);
    let (_, fake) = check(&[("d", "$DURATION_SECONDS")], &request).await;
    request.start = Timestamp(END.0 - 60_001);
    let (_, fake_rounded) = check(&[("d", "$DURATION_SECONDS")], &request).await;
    assert_eq!(fake.seen_queries(), ["60s"]);
    assert_eq!(fake_rounded.seen_queries(), ["61s"]);
}

#[tokio::test]
async fn deployment_falls_back_to_the_label_then_primary() {
    let mut request = request(&["d"]);
    request.deployment = String::new();
    request.labels.insert("deployment".into(), "direct".into());
    let (_, from_label) = check(&[("d", "$DEPLOYMENT")], &request).await;
    request.labels.clear();
    let (_, fallback) = check(&[("d", "$DEPLOYMENT")], &request).await;
    assert_eq!(from_label.seen_queries(), ["direct"]);
    assert_eq!(fallback.seen_queries(), ["primary"]);
}

#[tokio::test]
async fn an_unknown_placeholder_is_that_slis_error_and_is_never_sent() {
    let (res, fake) = check(
        &[
            ("bad", "rate(x{pod=\"$POD_NAME\"}[5m])"),
            ("good", "vector 3"),
        ],
        &request(&["bad", "good"]),
    )
    .await;
    assert_failed(
        &res[0],
        &[
            "cannot render the query of indicator 'bad'",
            "unknown placeholder '$POD_NAME'",
        ],
    );
    assert_eq!(res[1], SliValue::new("good", 3.0));
    assert_eq!(fake.seen_queries(), ["vector 3"]);
}

#[tokio::test]
async fn an_indicator_missing_from_sli_yaml_fails_alone() {
    let (res, fake) = check(&[("known", "vector 4")], &request(&["unknown", "known"])).await;
    assert_failed(&res[0], &["indicator 'unknown' is not defined in sli.yaml"]);
    assert_eq!(&*res[0].metric, "unknown");
    assert_eq!(res[1], SliValue::new("known", 4.0));
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn an_end_before_the_start_fails_the_call() {
    let fake = Fake::start().await;
    let mut request = request(&["a"]);
    request.start = Timestamp(END.0 + 1);
    let res = fake
        .prometheus(None, None)
        .get_slis_for(&sli(&[("a", "up")]), &request)
        .await;
    let Err(error) = res else {
        panic!("expected an invalid timeframe, got {res:?}");
    };
    assert!(matches!(error, Error::InvalidTimeframe { .. }));
    assert_eq!(
        error.to_string(),
        "invalid timeframe: end 1700000000123 ms is before start 1700000000124 ms"
    );
    assert_eq!(AdapterError::from(error).kind, AdapterErrorKind::Invalid);
    assert!(fake.seen().is_empty());
}

// --- order and concurrency ---------------------------------------------------------------

#[tokio::test]
async fn values_come_back_in_request_order() {
    // The first query finishes last.
    let indicators = [
        ("a", "sleep 300 vector 1"),
        ("b", "sleep 150 vector 2"),
        ("c", "vector 3"),
        ("d", "empty"),
    ];
    let (res, _fake) = check(&indicators, &request(&["c", "a", "d", "b", "a"])).await;
    let names: Vec<_> = res.iter().map(|value| &*value.metric).collect();
    assert_eq!(names, ["c", "a", "d", "b", "a"]);
    let values: Vec<_> = res.iter().map(|value| value.value).collect();
    assert_eq!(values, [3.0, 1.0, 0.0, 2.0, 1.0]);
    assert!(!res[2].success);
}

#[tokio::test]
async fn ten_slow_slis_run_concurrently() {
    let fake = Fake::start().await;
    let names: Vec<String> = (0..10).map(|idx| format!("sli{idx}")).collect();
    let queries: Vec<String> = (0..10)
        .map(|idx| format!("sleep 200 vector {idx}"))
        .collect();
    let sli = SliConfig::from_indicators(names.iter().cloned().zip(queries.iter().cloned()));
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let prometheus = fake.prometheus(None, None);
    let started = Instant::now();
    let res = prometheus
        .get_slis_for(&sli, &request(&name_refs))
        .await
        .expect("a valid timeframe");
    let elapsed = started.elapsed();
    assert!(res.iter().all(|value| value.success), "{res:?}");
    assert_eq!(res[9], SliValue::new("sli9", 9.0));
    // One by one this takes 2 s; with the default of 10 at once, one round of 200 ms.
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    assert!(fake.state.max_in_flight.load(Ordering::SeqCst) > 1);
    eprintln!(
        "measure (fake, 200 ms per query): 10 SLIs in {elapsed:?}, {:.2}x the slowest query",
        elapsed.as_secs_f64() / 0.2
    );
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let fake = Fake::start().await;
    let names: Vec<String> = (0..9).map(|idx| format!("sli{idx}")).collect();
    let sli = SliConfig::from_indicators(
        names
            .iter()
            .map(|name| (name.clone(), "sleep 100 vector 1".to_owned())),
    );
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let res = fake
        .prometheus(None, Some(3))
        .get_slis_for(&sli, &request(&name_refs))
        .await
        .expect("a valid timeframe");
    assert!(res.iter().all(|value| value.success));
    let max_in_flight = fake.state.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&max_in_flight),
        "max in flight {max_in_flight}"
    );
}

// --- the trait and the sli.yaml sources ---------------------------------------------------

#[tokio::test]
async fn the_trait_uses_the_projects_sli_then_the_default() {
    let fake = Fake::start().await;
    let prometheus = fake
        .prometheus(None, None)
        .with_sli(sli(&[("rt", "vector 1")]));
    let provider: &dyn SliProvider = &prometheus;
    let res = provider
        .get_slis(&request(&["rt"]))
        .await
        .expect("a valid request");
    assert_eq!(res, [SliValue::new("rt", 1.0)]);
    prometheus.set_project_sli("sockshop", sli(&[("rt", "vector 2")]));
    let res = provider.get_slis(&request(&["rt"])).await.expect("valid");
    assert_eq!(res, [SliValue::new("rt", 2.0)]);
    let mut other_project = request(&["rt"]);
    other_project.scope.project = "other".into();
    let res = provider.get_slis(&other_project).await.expect("valid");
    assert_eq!(res, [SliValue::new("rt", 1.0)]);
    prometheus.remove_project_sli("sockshop");
    let res = provider.get_slis(&request(&["rt"])).await.expect("valid");
    assert_eq!(res, [SliValue::new("rt", 1.0)]);
}

#[tokio::test]
async fn the_trait_without_any_sli_fails_every_indicator() {
    let fake = Fake::start().await;
    let prometheus = fake.prometheus(None, None);
    let res = SliProvider::get_slis(&prometheus, &request(&["rt", "throughput"]))
        .await
        .expect("missing indicators are data");
    assert_eq!(res.len(), 2);
    assert_failed(
        &res[1],
        &["indicator 'throughput' is not defined: no sli.yaml for project 'sockshop'"],
    );
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn the_trait_reports_an_invalid_timeframe_as_invalid() {
    let fake = Fake::start().await;
    let prometheus = fake.prometheus(None, None).with_sli(sli(&[("a", "up")]));
    let mut request = request(&["a"]);
    request.end = Timestamp(0);
    let res = SliProvider::get_slis(&prometheus, &request).await;
    let Err(error) = res else {
        panic!("expected an error, got {res:?}");
    };
    assert_eq!(error.kind, AdapterErrorKind::Invalid);
}

#[tokio::test]
async fn get_slis_with_reads_the_text() {
    let fake = Fake::start().await;
    let prometheus = fake.prometheus(None, None);
    let res = prometheus
        .get_slis_with(
            "spec_version: '1.0'\nindicators:\n  rt: vector 12.5\n",
            &request(&["rt"]),
        )
        .await
        .expect("a valid sli.yaml");
    assert_eq!(res, [SliValue::new("rt", 12.5)]);
    let res = prometheus
        .get_slis_with("indicators: [rt]\n", &request(&["rt"]))
        .await;
    let Err(Error::InvalidSli { diagnostics }) = res else {
        panic!("expected an invalid sli.yaml, got {res:?}");
    };
    assert_eq!(diagnostics[0].severity, Severity::Error);
    assert_eq!(fake.seen().len(), 1);
}

// --- sli.yaml ------------------------------------------------------------------------------

fn parse_err(source: &str) -> Vec<String> {
    match SliConfig::parse(source) {
        Ok(parsed) => panic!("expected errors, got {parsed:?}"),
        Err(Error::InvalidSli { diagnostics }) => {
            diagnostics.iter().map(ToString::to_string).collect()
        }
        Err(other) => panic!("expected InvalidSli, got {other:?}"),
    }
}

#[test]
fn sli_yaml_from_keptns_examples_parses() {
    let source = "---
spec_version: '1.0'
indicators:
  throughput: \"sum(rate(http_requests_total{job='$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT'}[$DURATION_SECONDS]))\"
  response_time_p95: histogram_quantile(0.95, sum by(le) (rate(http_response_time_milliseconds_bucket{handler='ItemsController.addToCart',job='$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT'}[$DURATION_SECONDS])))
";
    let (sli, warnings) = SliConfig::parse(source).expect("Keptn's example is valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(sli.indicators().len(), 2);
    assert_eq!(
        sli.query("throughput"),
        Some(
            "sum(rate(http_requests_total{job='$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT'}[$DURATION_SECONDS]))"
        )
    );
    assert!(
        sli.query("response_time_p95")
            .is_some_and(|query| query.starts_with("histogram_quantile(0.95"))
    );
}

#[test]
fn sli_yaml_warnings_are_located() {
    let source = "spec_version: 2.0\nindicator:\n  x: up\nindicators:\n  rt: up\n";
    let (sli, warnings) = SliConfig::parse(source).expect("warnings only");
    assert_eq!(sli.query("rt"), Some("up"));
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "1:15: warning: spec_version '2.0' is not '1.0'; reading it as 1.0 (at spec_version)",
            "2:1: warning: unknown key 'indicator' in sli.yaml (expected 'spec_version' and 'indicators') (at indicator)",
        ]
    );
    let (_, warnings) = SliConfig::parse("indicators: {}\n").expect("warnings only");
    let messages: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "'indicators' is empty: no SLI can be retrieved",
            "missing spec_version (expected '1.0')",
        ]
    );
}

#[test]
fn sli_yaml_errors_are_all_reported_and_located() {
    assert_eq!(
        parse_err("spec_version: '1.0'\nindicators:\n  rt: 5\n  tp: ''\n  ok: up\n  map: {a: b}\n"),
        [
            "3:7: error: the query of indicator 'rt' must be a string, found a number (at indicators.rt)",
            "4:7: error: the query of indicator 'tp' is empty (at indicators.tp)",
            "6:8: error: the query of indicator 'map' must be a string, found a mapping (at indicators.map)",
        ]
    );
    assert_eq!(
        parse_err("spec_version: '1.0'\n"),
        ["1:1: error: missing 'indicators' (a mapping of SLI name to query) (at <root>)"]
    );
    assert_eq!(
        parse_err("- a\n- b\n"),
        ["1:1: error: an sli.yaml must be a mapping with 'indicators', found a list (at <root>)"]
    );
    let syntax = parse_err("indicators:\n  rt: [up\n");
    assert_eq!(syntax.len(), 1);
    assert!(syntax[0].contains("error: not valid yaml"), "{syntax:?}");
}

#[test]
fn sli_yaml_keys_written_empty_and_keys_that_are_not_strings() {
    let (sli, warnings) = SliConfig::parse("spec_version: '1.0'\nindicators:\n")
        .expect("an empty indicators key is a warning");
    assert!(sli.indicators().is_empty());
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["2:11: warning: 'indicators' is empty: no SLI can be retrieved (at indicators)"]
    );
    let (_, warnings) = SliConfig::parse("spec_version:\nindicators: {rt: up}\n")
        .expect("an empty spec_version is a warning");
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "1:13: warning: spec_version must be a string like '1.0', found nothing (at spec_version)"
        ]
    );
    // Numbers are SLI names; a top-level key must be a string; tags on unknown keys are fine.
    assert_eq!(
        parse_err(
            "1: x\nindicators:\n  rt: up\n  2: ''\nextra: !tag {a: !b c}\nspec_version: '1.0'\n"
        ),
        [
            "1:1: error: top-level keys must be strings, found '1' (at <root>)",
            "4:6: error: the query of indicator '2' is empty (at indicators.2)",
            "5:1: warning: unknown key 'extra' in sli.yaml (expected 'spec_version' and 'indicators') (at extra)",
        ]
    );
}

#[test]
fn sli_yaml_levels_merge_like_keptn() {
    let project = sli(&[("rt", "project rt"), ("tp", "project tp")]);
    let service = sli(&[("rt", "service rt"), ("err", "service err")]);
    let merged = project.overridden_by(&service);
    assert_eq!(merged.query("rt"), Some("service rt"));
    assert_eq!(merged.query("tp"), Some("project tp"));
    assert_eq!(merged.query("err"), Some("service err"));
}

// --- config --------------------------------------------------------------------------------

#[test]
fn config_defaults() {
    let config = Config::new("http://127.0.0.1:9090/prom/")
        .validate()
        .expect("valid");
    assert_eq!(config.timeout(), super::DEFAULT_TIMEOUT);
    assert_eq!(config.max_concurrency(), super::DEFAULT_MAX_CONCURRENCY);
    assert_eq!(config.url().as_str(), "http://127.0.0.1:9090/prom/");
}

#[test]
fn config_reports_every_problem() {
    let config = Config {
        url: "ftp://example.org".into(),
        timeout_seconds: Some(0.0),
        max_concurrency: Some(0),
    };
    let Err(Error::Config { problems }) = config.validate() else {
        panic!("expected config problems");
    };
    assert_eq!(
        problems,
        [
            "url: 'ftp://example.org' must start with http://",
            "timeout_seconds: '0' must be a number greater than 0",
            "max_concurrency: '0' must be between 1 and 256",
        ]
    );
    let https = Config::new("https://prometheus.example.org").validate();
    assert!(
        matches!(&https, Err(Error::Config { problems }) if problems[0].contains("https is not supported")),
        "{https:?}"
    );
    let secret = Config::new("http://admin:hunter2@prometheus:9090").validate();
    let Err(secret) = secret else {
        panic!("credentials in the url are rejected");
    };
    assert!(!secret.to_string().contains("hunter2"), "{secret}");
    let garbage = Config::new("not a url").validate();
    assert!(
        matches!(&garbage, Err(Error::Config { problems }) if problems[0].starts_with("url: 'not a url' is not a valid url")),
        "{garbage:?}"
    );
}

#[test]
fn config_rejects_unknown_fields() {
    let config: Config = serde_yaml::from_str(
        "url: http://127.0.0.1:9090\ntimeout_seconds: 2.5\nmax_concurrency: 4\n",
    )
    .expect("valid config");
    let config = config.validate().expect("valid");
    assert_eq!(config.timeout(), Duration::from_millis(2500));
    assert_eq!(config.max_concurrency(), 4);
    let unknown = serde_yaml::from_str::<Config>("url: http://x\ntimeout: 3\n");
    let Err(error) = unknown else {
        panic!("expected an unknown-field error");
    };
    assert!(
        error.to_string().contains("unknown field `timeout`"),
        "{error}"
    );
}

#[test]
fn adapter_error_kinds() {
    let cases = [
        (
            Error::IndicatorNotDefined {
                indicator: "x".into(),
            },
            AdapterErrorKind::NotFound,
        ),
        (
            Error::Timeout {
                query: "up".into(),
                timeout: Duration::from_secs(1),
            },
            AdapterErrorKind::Timeout,
        ),
        (
            Error::InvalidSli {
                diagnostics: Vec::new(),
            },
            AdapterErrorKind::Invalid,
        ),
    ];
    for (error, kind) in cases {
        let message = error.to_string();
        let adapter_error = AdapterError::from(error);
        assert_eq!(adapter_error.kind, kind);
        assert_eq!(adapter_error.message, message);
    }
}
