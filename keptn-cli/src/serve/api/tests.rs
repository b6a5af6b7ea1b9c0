//! Every route of [`super::app`] in process, driven with `tower::ServiceExt::oneshot` on a fresh
//! in-memory control plane: authentication (one table over all routes), the success status and
//! the shape of the JSON body clients read, the main error statuses, and one flow from a new
//! project to a finished delivery through a manual approval, with an abort.
//! `keptn-cli/tests/it/serve.rs` keeps the real-socket tests of the binary.
//!
//! Known-wrong behaviour is asserted as it is, each with a `FIXME:` line.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use keptn_core::memory::{MemoryConfigRepo, MemoryStore};
use keptn_core::ports::EvaluationRecord;
use keptn_service::integrations::{Approval, Noop};
use keptn_service::{ControlPlane, Integration, Registration};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::{AppState, app};

const TOKEN: &str = "test-token-0123456789";

/// Two stages: `dev` runs deployment and test (answered by noop), `production` follows it with
/// a manual approval (answered by a person through the API) and a deployment.
const SHIPYARD: &str = "\
apiVersion: spec.keptn.sh/0.2.2
kind: Shipyard
metadata:
  name: shipyard-sockshop
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
            - name: test
    - name: production
      sequences:
        - name: delivery
          triggeredOn:
            - event: dev.delivery.finished
          tasks:
            - name: approval
              properties:
                pass: manual
                warning: manual
            - name: deployment
";

// ---------------------------------------------------------------------------------------------
// Harness: an app on a fresh control plane, one way to send a request, shapes of answers.

/// `app()` on a fresh in-memory control plane, with handles on what the tests look into.
struct Api {
    app: Router,
    control_plane: ControlPlane,
    config_repo: Arc<MemoryConfigRepo>,
}

/// What answers the tasks of [`SHIPYARD`]: noop for deployment, test, evaluation and release,
/// Keptn's approval-service for approvals.
fn integrations() -> Vec<Arc<dyn Integration>> {
    let registration = |name: &str, patterns: &[&str]| {
        Registration::for_events(name, patterns).expect("the test's patterns are valid")
    };
    vec![
        Arc::new(Noop::new(registration(
            "noop",
            &[
                "sh.keptn.event.deployment.triggered",
                "sh.keptn.event.test.triggered",
                "sh.keptn.event.evaluation.triggered",
                "sh.keptn.event.release.triggered",
            ],
        ))),
        Arc::new(Approval::new(registration(
            "approval-service",
            &["sh.keptn.event.approval.triggered"],
        ))),
    ]
}

/// The app with [`integrations`] subscribed.
async fn api() -> Api {
    api_with(integrations(), None).await
}

/// The app with no integration: every task trigger stays open.
async fn api_without_integrations() -> Api {
    api_with(Vec::new(), None).await
}

async fn api_with(
    integrations: Vec<Arc<dyn Integration>>,
    platform: Option<keptn_adapters::local::LocalPlatform>,
) -> Api {
    let config_repo = Arc::new(MemoryConfigRepo::new());
    let control_plane = ControlPlane::builder()
        .store(Arc::new(MemoryStore::new()))
        .config_repo(Arc::clone(&config_repo) as _)
        .integrations(integrations)
        .start()
        .await
        .expect("a control plane on memory storage starts");
    let app = app(AppState {
        token: Arc::new(TOKEN.to_owned()),
        control_plane: control_plane.clone(),
        platform,
    });
    Api {
        app,
        control_plane,
        config_repo,
    }
}

/// Sends `request` to `app`; returns the status, the headers and the body: its JSON, a body
/// that is not JSON as a JSON string, an empty body as `null`.
async fn send_request(app: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("the body is read");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (parts.status, parts.headers, body)
}

/// `method uri` with `x-token: token` (no header for `None`) and `body` as JSON (no body for
/// `null`).
async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("a valid method"))
        .uri(uri);
    if let Some(token) = token {
        request = request.header("x-token", token);
    }
    let body = if body.is_null() {
        Body::empty()
    } else {
        request = request.header(header::CONTENT_TYPE, "application/json");
        Body::from(body.to_string())
    };
    let request = request.body(body).expect("a valid request");
    let (status, _, body) = send_request(app, request).await;
    (status, body)
}

impl Api {
    /// [`send`] with the right token.
    async fn send(&self, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        send(&self.app, method, uri, Some(TOKEN), body).await
    }

    /// `GET uri` with the right token, which must answer 200; returns the body.
    async fn get(&self, uri: &str) -> Value {
        let (status, body) = self.send("GET", uri, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "GET {uri}: {body}");
        body
    }

    /// Creates project `name` with [`SHIPYARD`] and service `carts`.
    async fn create_sockshop(&self, name: &str) {
        let (status, body) = self
            .send("POST", "/api/v1/project", create_project(name, SHIPYARD))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self.create_service(name, "carts").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// `POST /api/v1/project/{project}/service` of `service`.
    async fn create_service(&self, project: &str, service: &str) -> (StatusCode, Value) {
        let uri = format!("/api/v1/project/{project}/service");
        self.send("POST", &uri, json!({"serviceName": service}))
            .await
    }

    /// Posts `event`, which must be accepted; returns its Keptn context.
    async fn post_event(&self, event: Value) -> String {
        let (status, body) = self.send("POST", "/api/v1/event", event.clone()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{event}: {body}");
        body["keptnContext"]
            .as_str()
            .expect("the answer names the Keptn context")
            .to_owned()
    }

    /// The types of the events of a Keptn context, oldest first.
    async fn event_types(&self, keptn_context: &str) -> Vec<String> {
        let events = self
            .get(&format!("/api/v1/event?keptnContext={keptn_context}"))
            .await;
        strings(&events["events"], "type")
    }

    /// Polls `GET /api/v1/sequence/{project}?{query}` until `done` holds for its sequences,
    /// failing after 10 s; returns them.
    async fn wait_for_sequences(
        &self,
        project: &str,
        query: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let uri = format!("/api/v1/sequence/{project}?{query}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let answer = self.get(&uri).await;
            let sequences = answer["sequences"]
                .as_array()
                .expect("`sequences` is an array")
                .clone();
            if done(&sequences) {
                return sequences;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting on GET {uri}: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The body of `POST /api/v1/project`.
fn create_project(name: &str, shipyard: &str) -> Value {
    json!({"name": name, "shipyard": base64(shipyard.as_bytes())})
}

/// A structured CloudEvent of `event_type` in `keptn_context` (generated when empty).
fn event(event_type: &str, keptn_context: &str, data: Value) -> Value {
    let mut event =
        json!({"specversion": "1.0", "source": "api-test", "type": event_type, "data": data});
    if !keptn_context.is_empty() {
        event["shkeptncontext"] = json!(keptn_context);
    }
    event
}

/// `<stage>.delivery.triggered` for sockshop/`service`.
fn delivery(stage: &str, service: &str, keptn_context: &str) -> Value {
    event(
        &format!("sh.keptn.event.{stage}.delivery.triggered"),
        keptn_context,
        json!({"project": "sockshop", "stage": stage, "service": service, "result": "pass"}),
    )
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unbase64(value: &Value) -> String {
    let text = value.as_str().expect("base64 content is a string");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("valid base64");
    String::from_utf8(bytes).expect("UTF-8 content")
}

/// `key` of every object of the array `values`.
fn strings(values: &Value, key: &str) -> Vec<String> {
    values
        .as_array()
        .expect("an array")
        .iter()
        .map(|value| value[key].as_str().unwrap_or("<not a string>").to_owned())
        .collect()
}

/// The shape of a JSON value, which is what clients depend on: every scalar replaced by its
/// type's name, arrays by the distinct shapes of their items in order.
fn shape(value: &Value) -> Value {
    match value {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
        Value::Array(items) => {
            let mut shapes: Vec<Value> = items.iter().map(shape).collect();
            shapes.dedup();
            Value::Array(shapes)
        }
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| (key.clone(), shape(value)))
                .collect(),
        ),
    }
}

/// Asserts the API's error answer: `status` and the body `{"code": status, "message": "..."}`
/// with a message that contains `message_part`.
fn check_error(answer: &(StatusCode, Value), status: StatusCode, message_part: &str) {
    let (actual_status, body) = answer;
    assert_eq!(*actual_status, status, "{body}");
    assert_eq!(
        shape(body),
        json!({"code": "number", "message": "string"}),
        "{body}"
    );
    assert_eq!(body["code"], status.as_u16(), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        !message.is_empty() && message.contains(message_part),
        "the message {message:?} contains {message_part:?}"
    );
}

/// Asserts what axum's extractors answer to a query or JSON body they cannot parse (a
/// missing field, a wrong type): `status` with a plain-text body.
// FIXME: these answers bypass `ApiError`: not `{"code", "message"}` as the module documents
// and the OpenAPI document promises, and 422 for a missing field where the handlers say 400.
fn check_rejection(answer: &(StatusCode, Value), status: StatusCode) {
    let (actual_status, body) = answer;
    assert_eq!(*actual_status, status, "{body}");
    assert!(body.is_string(), "a plain-text body: {body}");
}

// ---------------------------------------------------------------------------------------------
// Authentication: one table over every route.

/// One route of `app()`: the OpenAPI path it is documented under, a request to it, and what
/// that request answers with the right token on [`auth_api`].
struct Route {
    method: &'static str,
    documented: &'static str,
    uri: &'static str,
    body: Value,
    /// Needs no token.
    public: bool,
    authorized: StatusCode,
}

fn route(
    method: &'static str,
    documented: &'static str,
    uri: &'static str,
    body: Value,
    authorized: StatusCode,
) -> Route {
    Route {
        method,
        documented,
        uri,
        body,
        public: false,
        authorized,
    }
}

/// Every route, in an order whose requests succeed one after the other on [`auth_api`].
fn routes() -> Vec<Route> {
    let resources = || json!({"resources": [{"resourceURI": "auth.yaml", "resourceContent": base64(b"auth: true\n")}]});
    vec![
        Route {
            public: true,
            ..route("GET", "/health", "/health", Value::Null, StatusCode::OK)
        },
        Route {
            public: true,
            ..route(
                "GET",
                "/api/v1/openapi.json",
                "/api/v1/openapi.json",
                Value::Null,
                StatusCode::OK,
            )
        },
        route("GET", "/metrics", "/metrics", Value::Null, StatusCode::OK),
        route(
            "POST",
            "/api/v1/event",
            "/api/v1/event",
            delivery("dev", "carts", "auth"),
            StatusCode::ACCEPTED,
        ),
        route(
            "GET",
            "/api/v1/event",
            "/api/v1/event",
            Value::Null,
            StatusCode::OK,
        ),
        route(
            "GET",
            "/api/v1/event/triggered/{event_type}",
            "/api/v1/event/triggered/sh.keptn.event.deployment.triggered",
            Value::Null,
            StatusCode::OK,
        ),
        route(
            "POST",
            "/api/v1/project",
            "/api/v1/project",
            create_project("another", SHIPYARD),
            StatusCode::CREATED,
        ),
        route(
            "GET",
            "/api/v1/project",
            "/api/v1/project",
            Value::Null,
            StatusCode::OK,
        ),
        route(
            "GET",
            "/api/v1/project/{project}",
            "/api/v1/project/sockshop",
            Value::Null,
            StatusCode::OK,
        ),
        route(
            "DELETE",
            "/api/v1/project/{project}",
            "/api/v1/project/doomed",
            Value::Null,
            StatusCode::NO_CONTENT,
        ),
        route(
            "POST",
            "/api/v1/project/{project}/service",
            "/api/v1/project/sockshop/service",
            json!({"serviceName": "orders"}),
            StatusCode::CREATED,
        ),
        route(
            "POST",
            "/api/v1/project/{project}/resource",
            "/api/v1/project/sockshop/resource",
            resources(),
            StatusCode::CREATED,
        ),
        route(
            "GET",
            "/api/v1/project/{project}/resource/{uri}",
            "/api/v1/project/sockshop/resource/auth.yaml",
            Value::Null,
            StatusCode::OK,
        ),
        route(
            "POST",
            "/api/v1/project/{project}/stage/{stage}/resource",
            "/api/v1/project/sockshop/stage/dev/resource",
            resources(),
            StatusCode::CREATED,
        ),
        route(
            "GET",
            "/api/v1/project/{project}/stage/{stage}/resource/{uri}",
            "/api/v1/project/sockshop/stage/dev/resource/auth.yaml",
            Value::Null,
            StatusCode::OK,
        ),
        route(
            "POST",
            "/api/v1/project/{project}/stage/{stage}/service/{service}/resource",
            "/api/v1/project/sockshop/stage/dev/service/carts/resource",
            resources(),
            StatusCode::CREATED,
        ),
        route(
            "GET",
            "/api/v1/project/{project}/stage/{stage}/service/{service}/resource/{uri}",
            "/api/v1/project/sockshop/stage/dev/service/carts/resource/auth.yaml",
            Value::Null,
            StatusCode::OK,
        ),
        route(
            "POST",
            "/api/v1/project/{project}/stage/{stage}/service/{service}/evaluation",
            "/api/v1/project/sockshop/stage/dev/service/carts/evaluation",
            json!({"timeframe": "5m"}),
            StatusCode::ACCEPTED,
        ),
        route(
            "GET",
            "/api/v1/project/{project}/stage/{stage}/service/{service}/evaluation",
            "/api/v1/project/sockshop/stage/dev/service/carts/evaluation",
            Value::Null,
            StatusCode::OK,
        ),
        route(
            "GET",
            "/api/v1/approval/{project}/{stage}",
            "/api/v1/approval/sockshop/production",
            Value::Null,
            StatusCode::OK,
        ),
        // Nothing waits for approval yet: past the token check, the handler says so.
        route(
            "POST",
            "/api/v1/approval/{project}/{stage}",
            "/api/v1/approval/sockshop/staging",
            json!({"approve": true}),
            StatusCode::NOT_FOUND,
        ),
        route(
            "GET",
            "/api/v1/sequence/{project}",
            "/api/v1/sequence/sockshop",
            Value::Null,
            StatusCode::OK,
        ),
        route(
            "POST",
            "/api/v1/sequence/{project}/{keptn_context}/control",
            "/api/v1/sequence/sockshop/auth/control",
            json!({"state": "abort"}),
            StatusCode::OK,
        ),
        // No local platform in the uniform: past the token check, the handler says so.
        route(
            "GET",
            "/api/v1/platform",
            "/api/v1/platform",
            Value::Null,
            StatusCode::NOT_FOUND,
        ),
        route(
            "POST",
            "/api/v1/alertmanager",
            "/api/v1/alertmanager",
            json!({"version": "4", "status": "firing", "alerts": []}),
            StatusCode::OK,
        ),
    ]
}

/// An app with projects `sockshop` (service `carts`) and `doomed` (deleted by the table).
async fn auth_api() -> Api {
    let api = api().await;
    api.create_sockshop("sockshop").await;
    api.create_sockshop("doomed").await;
    api
}

/// Sends `route`'s request with `headers`.
async fn send_route(app: &Router, route: &Route, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(Method::from_bytes(route.method.as_bytes()).expect("a valid method"))
        .uri(route.uri)
        .header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = if route.body.is_null() {
        Body::empty()
    } else {
        Body::from(route.body.to_string())
    };
    let (status, _, body) = send_request(app, request.body(body).expect("a valid request")).await;
    (status, body)
}

#[tokio::test]
async fn the_route_table_has_every_route_of_the_openapi_document() {
    let document: Value =
        serde_json::from_str(include_str!("../openapi.json")).expect("the document is JSON");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .expect("operations")
                .keys()
                .map(|method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let tested: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|route| (route.method.to_owned(), route.documented.to_owned()))
        .collect();
    assert_eq!(tested, documented);
    assert_eq!(tested.len(), 25);
}

#[tokio::test]
async fn every_route_answers_with_the_x_token_or_a_bearer_token() {
    for credentials in [
        ("x-token", TOKEN.to_owned()),
        ("authorization", format!("Bearer {TOKEN}")),
    ] {
        let api = auth_api().await;
        for route in routes() {
            let (status, body) =
                send_route(&api.app, &route, &[(credentials.0, &credentials.1)]).await;
            let context = format!("{} {} with {}", route.method, route.uri, credentials.0);
            assert_eq!(status, route.authorized, "{context}: {body}");
            // An error status comes from the handler (axum's own 404 for an unknown path has
            // no body).
            if !status.is_success() {
                check_error(&(status, body), status, "");
            }
        }
    }
}

#[tokio::test]
async fn every_protected_route_is_401_without_a_valid_token_and_changes_nothing() {
    let wrong_same_length = "test-token-9876543210";
    assert_eq!(wrong_same_length.len(), TOKEN.len());
    let shorter = &TOKEN[..TOKEN.len() - 1];
    let longer = format!("{TOKEN}0");
    let bearer_wrong = format!("Bearer {wrong_same_length}");
    let bearer_lowercase = format!("bearer {TOKEN}");
    let basic = format!("Basic {}", base64(format!("keptn:{TOKEN}").as_bytes()));
    let bearer_right = format!("Bearer {TOKEN}");
    let bad_credentials: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("no token", vec![]),
        ("a wrong token", vec![("x-token", wrong_same_length)]),
        ("an empty token", vec![("x-token", "")]),
        (
            "the token without its last byte",
            vec![("x-token", shorter)],
        ),
        ("the token with a byte more", vec![("x-token", &longer)]),
        (
            "a wrong bearer token",
            vec![("authorization", &bearer_wrong)],
        ),
        ("an empty bearer token", vec![("authorization", "Bearer ")]),
        ("the token without a scheme", vec![("authorization", TOKEN)]),
        (
            "the token as basic credentials",
            vec![("authorization", &basic)],
        ),
        // FIXME: RFC 9110 §11.1 makes the scheme case-insensitive; `bearer <token>` is refused.
        (
            "a lowercase bearer scheme",
            vec![("authorization", &bearer_lowercase)],
        ),
        // A wrong x-token is not rescued by a right bearer token: x-token is looked at first.
        (
            "a wrong x-token and a right bearer token",
            vec![
                ("x-token", wrong_same_length),
                ("authorization", &bearer_right),
            ],
        ),
    ];
    let api = auth_api().await;
    let projects_before = api.get("/api/v1/project").await;
    for (what, headers) in &bad_credentials {
        for route in routes() {
            let answer = send_route(&api.app, &route, headers).await;
            let context = format!("{} {} with {what}", route.method, route.uri);
            if route.public {
                assert_eq!(answer.0, route.authorized, "{context}: {}", answer.1);
            } else {
                assert_eq!(
                    answer,
                    (
                        StatusCode::UNAUTHORIZED,
                        json!({"code": 401, "message": "missing or invalid x-token header"})
                    ),
                    "{context}"
                );
            }
        }
    }
    assert_eq!(api.get("/api/v1/project").await, projects_before);
    assert_eq!(api.get("/api/v1/event").await, json!({"events": []}));
}

// ---------------------------------------------------------------------------------------------
// /health, /api/v1/openapi.json, /metrics

#[tokio::test]
async fn health_is_public_and_ok() {
    let api = api().await;
    assert_eq!(
        send(&api.app, "GET", "/health", None, Value::Null).await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
}

#[tokio::test]
async fn openapi_document_is_public_json_of_openapi_3() {
    let api = api().await;
    let request = Request::get("/api/v1/openapi.json")
        .body(Body::empty())
        .expect("a valid request");
    let (status, headers, document) = send_request(&api.app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3.")),
        "{document}"
    );
    assert!(document["paths"]["/api/v1/event"]["post"].is_object());
}

#[tokio::test]
async fn metrics_are_prometheus_text_counting_received_events() {
    let api = api_without_integrations().await;
    api.post_event(event(
        "sh.keptn.event.deployment.finished",
        "metrics",
        json!({"project": "sockshop", "stage": "dev", "service": "carts"}),
    ))
    .await;
    let request = Request::get("/metrics")
        .header("x-token", TOKEN)
        .body(Body::empty())
        .expect("a valid request");
    let (status, headers, body) = send_request(&api.app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = body.as_str().expect("the metrics are text");
    for line in [
        "# TYPE keptn_events_received counter",
        "keptn_events_received_total{type=\"sh.keptn.event.deployment.finished\"} 1",
        "# TYPE keptn_sequences_finished counter",
        "# TYPE keptn_sequence_executions gauge",
        "# TYPE keptn_task_duration_seconds histogram",
    ] {
        assert!(
            text.lines().any(|actual| actual == line),
            "{line:?} in:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// /api/v1/event

#[tokio::test]
async fn posted_event_is_202_with_its_context_and_id_or_generated_ones() {
    let api = api_without_integrations().await;
    let mut given = delivery("dev", "carts", "ctx-given");
    given["id"] = json!("id-given");
    assert_eq!(
        api.send("POST", "/api/v1/event", given).await,
        (
            StatusCode::ACCEPTED,
            json!({"keptnContext": "ctx-given", "id": "id-given"})
        )
    );
    let (status, body) = api
        .send("POST", "/api/v1/event", delivery("dev", "carts", ""))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        shape(&body),
        json!({"keptnContext": "string", "id": "string"})
    );
    assert!(
        body["keptnContext"]
            .as_str()
            .is_some_and(|context| context.len() >= 32)
            && body["id"].as_str().is_some_and(|id| id.len() >= 32),
        "generated ids: {body}"
    );
}

#[tokio::test]
async fn an_event_posted_twice_is_202_twice_and_stored_once() {
    let api = api_without_integrations().await;
    let mut event = event(
        "sh.keptn.event.deployment.finished",
        "twice",
        json!({"project": "sockshop", "stage": "dev", "service": "carts"}),
    );
    event["id"] = json!("the-one");
    for _ in 0..2 {
        assert_eq!(
            api.send("POST", "/api/v1/event", event.clone()).await,
            (
                StatusCode::ACCEPTED,
                json!({"keptnContext": "twice", "id": "the-one"})
            )
        );
    }
    assert_eq!(
        api.event_types("twice").await,
        ["sh.keptn.event.deployment.finished"]
    );
}

#[tokio::test]
async fn binary_mode_event_takes_its_attributes_from_ce_headers() {
    let api = api_without_integrations().await;
    let request = Request::post("/api/v1/event")
        .header("x-token", TOKEN)
        .header("ce-specversion", "1.0")
        .header("ce-id", "binary-1")
        .header("ce-source", "binary-test")
        .header("ce-type", "sh.keptn.event.deployment.finished")
        .header("ce-shkeptncontext", "ctx-binary")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"project": "sockshop", "stage": "dev", "service": "carts"}).to_string(),
        ))
        .expect("a valid request");
    let (status, _, body) = send_request(&api.app, request).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::ACCEPTED,
            json!({"keptnContext": "ctx-binary", "id": "binary-1"})
        )
    );
    let stored = api.get("/api/v1/event?keptnContext=ctx-binary").await;
    let event = &stored["events"][0];
    assert_eq!(
        (&event["source"], &event["type"], &event["data"]["service"]),
        (
            &json!("binary-test"),
            &json!("sh.keptn.event.deployment.finished"),
            &json!("carts")
        )
    );
}

#[tokio::test]
async fn malformed_or_non_keptn_events_are_400_and_nothing_is_stored() {
    let api = api_without_integrations().await;
    let scoped = json!({"project": "sockshop", "stage": "dev", "service": "carts"});
    let structured = |text: String| {
        Request::post("/api/v1/event")
            .header("x-token", TOKEN)
            .header(header::CONTENT_TYPE, "application/cloudevents+json")
            .body(Body::from(text))
            .expect("a valid request")
    };
    let cases: Vec<(&str, Request<Body>)> = vec![
        (
            "invalid event: expected ident",
            structured("not json".to_owned()),
        ),
        (
            "an event must be a JSON object",
            structured("[]".to_owned()),
        ),
        (
            "event is not UTF-8 text",
            Request::post("/api/v1/event")
                .header("x-token", TOKEN)
                .body(Body::from(vec![0xff, 0xfe]))
                .expect("a valid request"),
        ),
        (
            "'type' is missing",
            structured(json!({"specversion": "1.0", "source": "t", "data": scoped}).to_string()),
        ),
        (
            "unknown event type 'com.example.thing'",
            structured(event("com.example.thing", "", scoped.clone()).to_string()),
        ),
        (
            "no 'project'",
            structured(
                event(
                    "sh.keptn.event.deployment.triggered",
                    "",
                    json!({"stage": "dev"}),
                )
                .to_string(),
            ),
        ),
        (
            "needs data.service",
            structured(
                event(
                    "sh.keptn.event.dev.delivery.triggered",
                    "",
                    json!({"project": "sockshop", "stage": "dev"}),
                )
                .to_string(),
            ),
        ),
        (
            "does not match the stage 'dev'",
            structured(
                event(
                    "sh.keptn.event.dev.delivery.triggered",
                    "",
                    json!({"project": "sockshop", "stage": "staging", "service": "carts"}),
                )
                .to_string(),
            ),
        ),
        (
            "invalid event type 'sh.keptn.event.dev.del.ivery.x.triggered'",
            structured(
                event(
                    "sh.keptn.event.dev.del.ivery.x.triggered",
                    "",
                    scoped.clone(),
                )
                .to_string(),
            ),
        ),
        (
            "event data is not JSON",
            Request::post("/api/v1/event")
                .header("x-token", TOKEN)
                .header("ce-specversion", "1.0")
                .header("ce-source", "t")
                .header("ce-type", "sh.keptn.event.deployment.finished")
                .body(Body::from("not json"))
                .expect("a valid request"),
        ),
    ];
    for (message_part, request) in cases {
        let (status, _, body) = send_request(&api.app, request).await;
        check_error(&(status, body), StatusCode::BAD_REQUEST, message_part);
    }
    assert_eq!(api.get("/api/v1/event").await, json!({"events": []}));
}

/// Asserts the ids of `GET /api/v1/event?{query}`, in the order answered.
async fn check_event_query(api: &Api, query: &str, expected_ids: &[&str]) {
    let answer = api.get(&format!("/api/v1/event?{query}")).await;
    assert_eq!(strings(&answer["events"], "id"), expected_ids, "?{query}");
}

#[tokio::test]
async fn event_history_is_filtered_by_context_type_project_stage_service_and_limit() {
    let api = api_without_integrations().await;
    for (id, event_type, keptn_context, project, stage, service) in [
        ("a", "deployment", "ctx-a", "sockshop", "dev", "carts"),
        ("b", "test", "ctx-b", "sockshop", "staging", "carts"),
        ("c", "deployment", "ctx-c", "other", "dev", "orders"),
    ] {
        let mut event = event(
            &format!("sh.keptn.event.{event_type}.finished"),
            keptn_context,
            json!({"project": project, "stage": stage, "service": service, "result": "pass"}),
        );
        event["id"] = json!(id);
        api.post_event(event).await;
    }
    check_event_query(&api, "", &["a", "b", "c"]).await;
    check_event_query(&api, "keptnContext=ctx-b", &["b"]).await;
    check_event_query(&api, "type=sh.keptn.event.deployment.finished", &["a", "c"]).await;
    check_event_query(&api, "project=sockshop", &["a", "b"]).await;
    check_event_query(&api, "stage=dev", &["a", "c"]).await;
    check_event_query(&api, "service=orders", &["c"]).await;
    check_event_query(&api, "project=sockshop&stage=dev&service=carts", &["a"]).await;
    check_event_query(&api, "project=nobody", &[]).await;
    // FIXME: the OpenAPI document says the history is oldest first; with `limit` it is newest
    // first (the store's contract), so a client paging with `limit` sees the order flip.
    check_event_query(&api, "limit=2", &["c", "b"]).await;

    let answer = api.get("/api/v1/event?keptnContext=ctx-a").await;
    assert_eq!(
        shape(&answer),
        json!({"events": [{
            "specversion": "string", "id": "string", "source": "string", "type": "string",
            "time": "string", "shkeptncontext": "string",
            "data": {"project": "string", "stage": "string", "service": "string", "result": "string"},
        }]})
    );
    check_rejection(
        &api.send("GET", "/api/v1/event?limit=many", Value::Null)
            .await,
        StatusCode::BAD_REQUEST,
    );
}

// ---------------------------------------------------------------------------------------------
// /api/v1/event/triggered/{type}

#[tokio::test]
async fn open_task_triggers_are_listed_until_a_finished_answers_them() {
    let api = api_without_integrations().await;
    api.create_sockshop("sockshop").await;
    api.post_event(delivery("dev", "carts", "polled")).await;
    let deployment = "/api/v1/event/triggered/sh.keptn.event.deployment.triggered";
    let open = api.get(&format!("{deployment}?project=sockshop")).await;
    assert_eq!(
        strings(&open["events"], "type"),
        ["sh.keptn.event.deployment.triggered"]
    );
    assert_eq!(
        shape(&open["events"][0]["data"]["project"]),
        json!("string"),
        "{open}"
    );
    for (query, n_open) in [
        ("", 1),
        ("?project=sockshop&stage=dev&service=carts", 1),
        ("?project=other", 0),
        ("?stage=production", 0),
        ("?service=orders", 0),
    ] {
        let answer = api.get(&format!("{deployment}{query}")).await;
        assert_eq!(
            answer["events"].as_array().map(Vec::len),
            Some(n_open),
            "{query}: {answer}"
        );
    }

    let mut finished = event(
        "sh.keptn.event.deployment.finished",
        "polled",
        json!({"project": "sockshop", "stage": "dev", "service": "carts", "status": "succeeded", "result": "pass"}),
    );
    finished["triggeredid"] = open["events"][0]["id"].clone();
    api.post_event(finished).await;
    assert_eq!(api.get(deployment).await, json!({"events": []}));
    let next = api
        .get("/api/v1/event/triggered/sh.keptn.event.test.triggered")
        .await;
    assert_eq!(strings(&next["events"], "shkeptncontext"), ["polled"]);
}

#[tokio::test]
async fn open_triggers_of_a_type_that_is_not_a_task_trigger_are_400() {
    let api = api_without_integrations().await;
    for event_type in [
        "sh.keptn.event.deployment.finished",
        "sh.keptn.event.dev.delivery.triggered",
        "com.example.thing",
    ] {
        check_error(
            &api.send(
                "GET",
                &format!("/api/v1/event/triggered/{event_type}"),
                Value::Null,
            )
            .await,
            StatusCode::BAD_REQUEST,
            "",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// /api/v1/project and /api/v1/project/{project}, /api/v1/project/{project}/service

#[tokio::test]
async fn created_project_is_listed_and_read_with_its_shipyard_and_services() {
    let api = api().await;
    assert_eq!(
        api.send(
            "POST",
            "/api/v1/project",
            create_project("sockshop", SHIPYARD)
        )
        .await,
        (StatusCode::CREATED, json!({"name": "sockshop"}))
    );
    assert_eq!(
        api.send(
            "POST",
            "/api/v1/project/sockshop/service",
            json!({"serviceName": "carts"})
        )
        .await,
        (StatusCode::CREATED, Value::Null)
    );
    let expected = json!({
        "projectName": "sockshop",
        "gitRemoteURL": null,
        "shipyard": SHIPYARD,
        "services": ["carts"],
    });
    assert_eq!(
        api.get("/api/v1/project").await,
        json!({"projects": [expected.clone()]})
    );
    assert_eq!(api.get("/api/v1/project/sockshop").await, expected);
    // The shipyard is the project's first resource.
    let shipyard = api
        .get("/api/v1/project/sockshop/resource/shipyard.yaml")
        .await;
    assert_eq!(unbase64(&shipyard["resourceContent"]), SHIPYARD);
}

#[tokio::test]
async fn project_creation_errors_are_400_or_409_and_create_nothing() {
    let api = api().await;
    api.create_sockshop("sockshop").await;
    let cases = [
        (
            create_project("sockshop", SHIPYARD),
            StatusCode::CONFLICT,
            "already exists",
        ),
        (
            create_project("Sock_Shop", SHIPYARD),
            StatusCode::BAD_REQUEST,
            "invalid project name",
        ),
        (
            json!({"name": "plain", "shipyard": "apiVersion: spec.keptn.sh/0.2.2"}),
            StatusCode::BAD_REQUEST,
            "shipyard is not base64",
        ),
        (
            json!({"name": "binary", "shipyard": base64(&[0xff, 0xfe])}),
            StatusCode::BAD_REQUEST,
            "not UTF-8",
        ),
        (
            create_project("invalid", "kind: Shipyard\nspec:\n  stages: 7\n"),
            StatusCode::BAD_REQUEST,
            "shipyard",
        ),
        (
            json!({"name": "tokened", "shipyard": base64(SHIPYARD.as_bytes()),
                "gitRemoteURL": "http://git.example.com/sockshop.git", "gitToken": "secret"}),
            StatusCode::BAD_REQUEST,
            "needs an https:// upstream",
        ),
    ];
    for (body, status, message_part) in cases {
        check_error(
            &api.send("POST", "/api/v1/project", body).await,
            status,
            message_part,
        );
    }
    check_rejection(
        &api.send("POST", "/api/v1/project", json!({"name": "no-shipyard"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    let projects = api.get("/api/v1/project").await;
    assert_eq!(strings(&projects["projects"], "projectName"), ["sockshop"]);
}

#[tokio::test]
async fn git_credentials_go_into_the_upstream_url_and_never_into_the_listing() {
    let api = api().await;
    let body = json!({
        "name": "sockshop",
        "shipyard": base64(SHIPYARD.as_bytes()),
        "gitRemoteURL": "https://git.example.com/sockshop.git",
        "gitUser": "bot@example",
        "gitToken": "s3cr:t/",
    });
    assert_eq!(
        api.send("POST", "/api/v1/project", body).await,
        (StatusCode::CREATED, json!({"name": "sockshop"}))
    );
    assert_eq!(
        api.config_repo.upstream("sockshop").as_deref(),
        Some("https://bot%40example:s3cr%3At%2F@git.example.com/sockshop.git")
    );
    let project = api.get("/api/v1/project/sockshop").await;
    assert_eq!(
        project["gitRemoteURL"],
        "https://git.example.com/sockshop.git"
    );
    assert!(!project.to_string().contains("s3cr"), "{project}");
}

#[tokio::test]
async fn a_missing_project_is_404_and_a_deleted_one_is_missing() {
    let api = api().await;
    api.create_sockshop("sockshop").await;
    assert_eq!(
        api.send("DELETE", "/api/v1/project/sockshop", Value::Null)
            .await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    for (method, uri) in [
        ("GET", "/api/v1/project/sockshop"),
        ("DELETE", "/api/v1/project/sockshop"),
    ] {
        check_error(
            &api.send(method, uri, Value::Null).await,
            StatusCode::NOT_FOUND,
            "project 'sockshop' does not exist",
        );
    }
    assert_eq!(api.get("/api/v1/project").await, json!({"projects": []}));
}

#[tokio::test]
async fn a_deleted_project_keeps_its_resources_and_its_shipyard_runs_on() {
    let api = api().await;
    api.create_sockshop("sockshop").await;
    let (status, _) = api
        .send("DELETE", "/api/v1/project/sockshop", Value::Null)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // FIXME: DELETE removes only the project record: its resources stay readable (while
    // writing them is 404) and its shipyard stays with the control plane, so a delivery
    // posted for the deleted project is accepted and runs.
    let shipyard = api
        .get("/api/v1/project/sockshop/resource/shipyard.yaml")
        .await;
    assert_eq!(unbase64(&shipyard["resourceContent"]), SHIPYARD);
    let upload = json!({"resources": [{"resourceURI": "slo.yaml", "resourceContent": "eA=="}]});
    check_error(
        &api.send("POST", &format!("{PROJECT}/resource"), upload)
            .await,
        StatusCode::NOT_FOUND,
        "project 'sockshop' does not exist",
    );
    let keptn_context = api
        .post_event(delivery("dev", "carts", "after-delete"))
        .await;
    let sequences = api
        .wait_for_sequences(
            "sockshop",
            &format!("keptnContext={keptn_context}&stage=dev"),
            |sequences| {
                sequences
                    .iter()
                    .any(|sequence| sequence["state"] == "finished")
            },
        )
        .await;
    assert_eq!(sequences[0]["result"], "pass");
}

#[tokio::test]
async fn services_are_created_once_with_a_valid_name_in_an_existing_project() {
    let api = api().await;
    api.create_sockshop("sockshop").await;
    assert_eq!(
        api.create_service("sockshop", "orders").await,
        (StatusCode::CREATED, Value::Null)
    );
    assert_eq!(
        api.create_service("sockshop", "orders").await,
        (StatusCode::CREATED, Value::Null)
    );
    check_error(
        &api.create_service("sockshop", "Orders!").await,
        StatusCode::BAD_REQUEST,
        "invalid service name 'Orders!'",
    );
    check_error(
        &api.create_service("nobody", "orders").await,
        StatusCode::NOT_FOUND,
        "project 'nobody' does not exist",
    );
    let project = api.get("/api/v1/project/sockshop").await;
    assert_eq!(project["services"], json!(["carts", "orders"]));
}

// ---------------------------------------------------------------------------------------------
// Resources: /api/v1/project/{project}[/stage/{stage}[/service/{service}]]/resource

/// Adds `uri` with `content` under `base` (a resource route without `/resource`); returns the
/// commit id.
async fn add_resource(api: &Api, base: &str, uri: &str, content: &str) -> String {
    let body =
        json!({"resources": [{"resourceURI": uri, "resourceContent": base64(content.as_bytes())}]});
    let (status, answer) = api.send("POST", &format!("{base}/resource"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(shape(&answer), json!({"commitID": "string"}));
    let commit = answer["commitID"].as_str().unwrap_or_default().to_owned();
    assert!(
        commit.len() == 40 && commit.bytes().all(|byte| byte.is_ascii_hexdigit()),
        "a 40-hex-digit commit id: {commit}"
    );
    commit
}

/// Asserts `GET {base}/resource/{uri}{query}` answers `content`.
async fn check_resource(api: &Api, base: &str, uri: &str, query: &str, content: &str) {
    let answer = api.get(&format!("{base}/resource/{uri}{query}")).await;
    assert_eq!(
        shape(&answer),
        json!({"resourceURI": "string", "resourceContent": "string"})
    );
    assert_eq!(answer["resourceURI"], uri);
    assert_eq!(
        unbase64(&answer["resourceContent"]),
        content,
        "{base} {uri}{query}"
    );
}

const PROJECT: &str = "/api/v1/project/sockshop";
const DEV: &str = "/api/v1/project/sockshop/stage/dev";
const DEV_CARTS: &str = "/api/v1/project/sockshop/stage/dev/service/carts";

#[tokio::test]
async fn resources_round_trip_as_base64_at_project_stage_and_service_level() {
    let api = api().await;
    api.create_sockshop("sockshop").await;
    for (base, content) in [
        (PROJECT, "level: project\n"),
        (DEV, "level: stage\n"),
        (DEV_CARTS, "level: service\n"),
    ] {
        // A leading slash is dropped.
        add_resource(&api, base, "/config/app.yaml", content).await;
        check_resource(&api, base, "config/app.yaml", "", content).await;
    }
    // Each level is separate: other stages see the project's file, other services nothing.
    check_resource(
        &api,
        "/api/v1/project/sockshop/stage/production",
        "config/app.yaml",
        "",
        "level: project\n",
    )
    .await;
    check_error(
        &api.send(
            "GET",
            "/api/v1/project/sockshop/stage/dev/service/orders/resource/config/app.yaml",
            Value::Null,
        )
        .await,
        StatusCode::NOT_FOUND,
        "orders/config/app.yaml",
    );
}

#[tokio::test]
async fn a_resource_read_with_commit_id_sees_that_commit() {
    let api = api().await;
    api.create_sockshop("sockshop").await;
    let first = add_resource(&api, DEV_CARTS, "slo.yaml", "version: 1\n").await;
    let second = add_resource(&api, DEV_CARTS, "slo.yaml", "version: 2\n").await;
    assert_ne!(first, second);
    check_resource(&api, DEV_CARTS, "slo.yaml", "", "version: 2\n").await;
    check_resource(
        &api,
        DEV_CARTS,
        "slo.yaml",
        &format!("?commitID={first}"),
        "version: 1\n",
    )
    .await;
    check_resource(
        &api,
        DEV_CARTS,
        "slo.yaml",
        &format!("?commitID={second}"),
        "version: 2\n",
    )
    .await;
    check_error(
        &api.send(
            "GET",
            &format!("{DEV_CARTS}/resource/slo.yaml?commitID={}", "0".repeat(40)),
            Value::Null,
        )
        .await,
        StatusCode::NOT_FOUND,
        "is not in project 'sockshop'",
    );
}

#[tokio::test]
async fn resource_errors_are_400_for_bad_paths_and_content_and_404_for_missing_ones() {
    let api = api().await;
    api.create_sockshop("sockshop").await;
    let upload = |uri: &str, content: &str| json!({"resources": [{"resourceURI": uri, "resourceContent": content}]});
    let cases = [
        (
            "POST",
            format!("{PROJECT}/resource"),
            upload("../../etc/passwd", "eA=="),
            StatusCode::BAD_REQUEST,
            "invalid path",
        ),
        (
            "POST",
            format!("{DEV}/resource"),
            upload("a/../../b", "eA=="),
            StatusCode::BAD_REQUEST,
            "invalid path",
        ),
        (
            "POST",
            format!("{DEV_CARTS}/resource"),
            upload("../orders/slo.yaml", "eA=="),
            StatusCode::BAD_REQUEST,
            "invalid path",
        ),
        (
            "POST",
            format!("{DEV_CARTS}/resource"),
            upload("slo.yaml", "not base64!"),
            StatusCode::BAD_REQUEST,
            "resourceContent of 'slo.yaml' is not base64",
        ),
        (
            "POST",
            "/api/v1/project/nobody/resource".to_owned(),
            upload("slo.yaml", "eA=="),
            StatusCode::NOT_FOUND,
            "project 'nobody' does not exist",
        ),
        (
            "GET",
            format!("{PROJECT}/resource/../shipyard.yaml"),
            Value::Null,
            StatusCode::BAD_REQUEST,
            "invalid path",
        ),
        (
            "GET",
            format!("{DEV_CARTS}/resource/%2E%2E/%2E%2E/shipyard.yaml"),
            Value::Null,
            StatusCode::BAD_REQUEST,
            "invalid path",
        ),
        (
            "GET",
            format!("{DEV}/resource/missing.yaml"),
            Value::Null,
            StatusCode::NOT_FOUND,
            "missing.yaml",
        ),
        (
            "GET",
            "/api/v1/project/nobody/resource/shipyard.yaml".to_owned(),
            Value::Null,
            StatusCode::NOT_FOUND,
            "nobody",
        ),
    ];
    for (method, uri, body, status, message_part) in cases {
        check_error(&api.send(method, &uri, body).await, status, message_part);
    }
    check_rejection(
        &api.send("POST", &format!("{PROJECT}/resource"), json!({"files": []}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
}

#[tokio::test]
async fn resource_uploads_that_store_nothing_or_part_still_answer() {
    let api = api().await;
    api.create_sockshop("sockshop").await;
    // FIXME: an upload of no resources is a 201 with an empty commit id.
    assert_eq!(
        api.send(
            "POST",
            &format!("{PROJECT}/resource"),
            json!({"resources": []})
        )
        .await,
        (StatusCode::CREATED, json!({"commitID": ""}))
    );
    // FIXME: an upload whose second resource is bad is a 400, yet the first one was committed.
    let body = json!({"resources": [
        {"resourceURI": "first.yaml", "resourceContent": base64(b"first\n")},
        {"resourceURI": "second.yaml", "resourceContent": "not base64!"},
    ]});
    check_error(
        &api.send("POST", &format!("{PROJECT}/resource"), body).await,
        StatusCode::BAD_REQUEST,
        "second.yaml",
    );
    check_resource(&api, PROJECT, "first.yaml", "", "first\n").await;
    // FIXME: a stage the shipyard does not have and a service the project does not have are
    // written to (Keptn's resource-service answered 404).
    add_resource(
        &api,
        "/api/v1/project/sockshop/stage/nostage/service/noservice",
        "x.yaml",
        "x\n",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// /api/v1/project/{project}/stage/{stage}/service/{service}/evaluation

const EVALUATION: &str = "/api/v1/project/sockshop/stage/dev/service/carts/evaluation";

#[tokio::test]
async fn evaluation_trigger_starts_the_stage_evaluation_sequence() {
    let api = api().await;
    api.create_sockshop("sockshop").await;
    let (status, body) = api
        .send(
            "POST",
            EVALUATION,
            json!({"timeframe": "5m", "labels": {"run": "7"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(shape(&body), json!({"keptnContext": "string"}));
    let keptn_context = body["keptnContext"].as_str().unwrap_or_default();
    let events = api
        .get(&format!(
            "/api/v1/event?keptnContext={keptn_context}&type=sh.keptn.event.dev.evaluation.triggered"
        ))
        .await;
    let data = &events["events"][0]["data"];
    assert_eq!(
        (&data["evaluation"], &data["labels"], &data["service"]),
        (
            &json!({"timeframe": "5m"}),
            &json!({"run": "7"}),
            &json!("carts")
        ),
        "{events}"
    );
    let sequences = api
        .wait_for_sequences(
            "sockshop",
            &format!("keptnContext={keptn_context}"),
            |sequences| {
                sequences
                    .first()
                    .is_some_and(|sequence| sequence["state"] == "finished")
            },
        )
        .await;
    assert_eq!(
        (&sequences[0]["name"], &sequences[0]["result"]),
        (&json!("evaluation"), &json!("pass"))
    );
}

#[tokio::test]
async fn evaluation_trigger_errors_are_404_for_a_missing_project_and_400_for_a_bad_request() {
    let api = api().await;
    api.create_sockshop("sockshop").await;
    check_error(
        &api.send(
            "POST",
            "/api/v1/project/nobody/stage/dev/service/carts/evaluation",
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "project 'nobody' does not exist",
    );
    check_error(
        &api.send(
            "POST",
            EVALUATION,
            json!({"timeframe": "5m", "start": "2024-01-01T00:00:00Z", "end": "2024-01-01T00:05:00Z"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "either timeframe or start and end",
    );
    check_error(
        &api.send(
            "POST",
            "/api/v1/project/sockshop/stage/a.b/service/carts/evaluation",
            json!({}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "",
    );
    assert_eq!(api.get("/api/v1/event").await, json!({"events": []}));
}

#[tokio::test]
async fn evaluations_are_listed_newest_first_with_id_time_invalidated_and_data() {
    let api = api().await;
    for (event_id, time, result) in [("older", 1_000, "fail"), ("newer", 2_000, "pass")] {
        let record = EvaluationRecord {
            event_id: event_id.to_owned(),
            project: "sockshop".to_owned(),
            stage: "dev".to_owned(),
            service: "carts".to_owned(),
            time: keptn_core::event::Timestamp(time),
            data: json!({"result": result, "evaluation": {"score": 50.0}}),
            invalidated: false,
        };
        api.control_plane
            .store()
            .record_evaluation(&record)
            .await
            .expect("recorded");
    }
    let answer = api.get(EVALUATION).await;
    assert_eq!(
        shape(&answer),
        json!({"evaluations": [{
            "id": "string", "time": "string", "invalidated": "bool",
            "data": {"result": "string", "evaluation": {"score": "number"}},
        }]})
    );
    assert_eq!(strings(&answer["evaluations"], "id"), ["newer", "older"]);
    assert_eq!(answer["evaluations"][0]["time"], "1970-01-01T00:00:02.000Z");
    let limited = api.get(&format!("{EVALUATION}?limit=1")).await;
    assert_eq!(strings(&limited["evaluations"], "id"), ["newer"]);
    let other_service = api
        .get("/api/v1/project/sockshop/stage/dev/service/orders/evaluation")
        .await;
    assert_eq!(other_service, json!({"evaluations": []}));
}

#[tokio::test]
async fn reads_about_a_missing_project_are_200_and_empty() {
    let api = api().await;
    // FIXME: these reads answer 200 with nothing for a project that does not exist, where
    // GET /api/v1/project/{project} and the writes answer 404.
    for (uri, empty) in [
        (
            "/api/v1/project/nobody/stage/dev/service/carts/evaluation",
            json!({"evaluations": []}),
        ),
        ("/api/v1/sequence/nobody", json!({"sequences": []})),
        ("/api/v1/approval/nobody/dev", json!({"approvals": []})),
    ] {
        assert_eq!(api.get(uri).await, empty, "{uri}");
    }
}

// ---------------------------------------------------------------------------------------------
// /api/v1/approval/{project}/{stage}, /api/v1/sequence/{project}, .../control

/// Triggers production deliveries of carts and orders and waits until both wait for approval;
/// returns their Keptn contexts.
async fn two_waiting_approvals(api: &Api) -> (String, String) {
    api.create_sockshop("sockshop").await;
    let (status, _) = api.create_service("sockshop", "orders").await;
    assert_eq!(status, StatusCode::CREATED);
    let carts = api
        .post_event(delivery("production", "carts", "ctx-carts"))
        .await;
    let orders = api
        .post_event(delivery("production", "orders", "ctx-orders"))
        .await;
    api.wait_for_sequences("sockshop", "state=waiting", |sequences| {
        sequences.len() == 2
    })
    .await;
    (carts, orders)
}

/// Asserts the (Keptn context, service) of the approvals `GET /api/v1/approval/sockshop/{query}`
/// lists, sorted.
async fn check_approvals(api: &Api, query: &str, expected: &[(&str, &str)]) {
    let answer = api.get(&format!("/api/v1/approval/sockshop/{query}")).await;
    let mut listed: Vec<(String, String)> = strings(&answer["approvals"], "keptnContext")
        .into_iter()
        .zip(strings(&answer["approvals"], "service"))
        .collect();
    listed.sort();
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(context, service)| ((*context).to_owned(), (*service).to_owned()))
        .collect();
    assert_eq!(listed, expected, "{query}");
}

#[tokio::test]
async fn several_waiting_approvals_are_409_until_narrowed_by_service_or_context() {
    let api = api().await;
    let (carts, orders) = two_waiting_approvals(&api).await;
    check_approvals(
        &api,
        "production",
        &[("ctx-carts", "carts"), ("ctx-orders", "orders")],
    )
    .await;
    check_approvals(
        &api,
        "production?service=orders",
        &[("ctx-orders", "orders")],
    )
    .await;
    check_approvals(
        &api,
        "production?keptnContext=ctx-carts",
        &[("ctx-carts", "carts")],
    )
    .await;
    check_approvals(&api, "dev", &[]).await;
    let answer = api.get("/api/v1/approval/sockshop/production").await;
    assert_eq!(
        shape(&answer),
        json!({"approvals": [{"keptnContext": "string", "service": "string", "triggeredId": "string"}]})
    );

    let approve = "/api/v1/approval/sockshop/production";
    check_error(
        &api.send("POST", approve, json!({"approve": true})).await,
        StatusCode::CONFLICT,
        "2 approvals wait in sockshop/production",
    );
    assert_eq!(
        api.send(
            "POST",
            approve,
            json!({"approve": true, "service": "carts"})
        )
        .await,
        (
            StatusCode::OK,
            json!({"keptnContext": carts, "approved": true})
        )
    );
    assert_eq!(
        api.send(
            "POST",
            approve,
            json!({"approve": false, "keptnContext": orders, "message": "not today"})
        )
        .await,
        (
            StatusCode::OK,
            json!({"keptnContext": orders, "approved": false})
        )
    );
    check_error(
        &api.send("POST", approve, json!({"approve": true})).await,
        StatusCode::NOT_FOUND,
        "no approval waits in sockshop/production",
    );
    check_rejection(
        &api.send("POST", approve, json!({"service": "carts"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    let finished = api
        .wait_for_sequences("sockshop", "state=finished", |sequences| {
            sequences.len() == 2
        })
        .await;
    let mut results: Vec<(String, String)> = strings(&Value::Array(finished.clone()), "service")
        .into_iter()
        .zip(strings(&Value::Array(finished), "result"))
        .collect();
    results.sort();
    assert_eq!(
        results,
        [
            ("carts".to_owned(), "pass".to_owned()),
            ("orders".to_owned(), "fail".to_owned())
        ]
    );
    let declined = api
        .get("/api/v1/event?keptnContext=ctx-orders&type=sh.keptn.event.approval.finished")
        .await;
    assert_eq!(declined["events"][0]["data"]["message"], "not today");
}

/// Asserts the (Keptn context, stage, state) of `GET /api/v1/sequence/sockshop?{query}`,
/// sorted.
async fn check_sequences(api: &Api, query: &str, expected: &[(&str, &str, &str)]) {
    let answer = api.get(&format!("/api/v1/sequence/sockshop?{query}")).await;
    let sequences = &answer["sequences"];
    let mut listed: Vec<(String, String, String)> = strings(sequences, "keptnContext")
        .into_iter()
        .zip(strings(sequences, "stage"))
        .zip(strings(sequences, "state"))
        .map(|((context, stage), state)| (context, stage, state))
        .collect();
    listed.sort();
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(context, stage, state)| {
            (
                (*context).to_owned(),
                (*stage).to_owned(),
                (*state).to_owned(),
            )
        })
        .collect();
    assert_eq!(listed, expected, "?{query}");
}

#[tokio::test]
async fn sequences_are_filtered_by_stage_service_state_and_context() {
    let api = api().await;
    api.create_sockshop("sockshop").await;
    let (status, _) = api.create_service("sockshop", "orders").await;
    assert_eq!(status, StatusCode::CREATED);
    api.post_event(delivery("dev", "carts", "ctx-carts")).await;
    api.post_event(delivery("dev", "orders", "ctx-orders"))
        .await;
    api.wait_for_sequences("sockshop", "state=waiting", |sequences| {
        sequences.len() == 2
    })
    .await;
    let all = [
        ("ctx-carts", "dev", "finished"),
        ("ctx-carts", "production", "waiting"),
        ("ctx-orders", "dev", "finished"),
        ("ctx-orders", "production", "waiting"),
    ];
    check_sequences(&api, "", &all).await;
    check_sequences(&api, "stage=dev", &[all[0], all[2]]).await;
    check_sequences(&api, "service=orders", &[all[2], all[3]]).await;
    check_sequences(&api, "state=waiting", &[all[1], all[3]]).await;
    check_sequences(&api, "keptnContext=ctx-carts", &[all[0], all[1]]).await;
    check_sequences(
        &api,
        "stage=production&service=carts&state=waiting",
        &[all[1]],
    )
    .await;
    check_sequences(&api, "state=paused", &[]).await;

    let answer = api
        .get("/api/v1/sequence/sockshop?keptnContext=ctx-carts&stage=production")
        .await;
    let waiting = &answer["sequences"][0];
    assert_eq!(
        shape(waiting),
        json!({
            "keptnContext": "string", "project": "string", "stage": "string", "service": "string",
            "name": "string", "state": "string", "result": "null", "currentTask": "string",
            "time": "string", "finishedTime": "null", "message": "null", "score": "null",
        })
    );
    assert_eq!(
        (&waiting["name"], &waiting["currentTask"]),
        (&json!("delivery"), &json!("approval"))
    );
    let answer = api
        .get("/api/v1/sequence/sockshop?keptnContext=ctx-carts&stage=dev")
        .await;
    let finished = &answer["sequences"][0];
    assert_eq!(
        (
            &finished["result"],
            shape(&finished["finishedTime"]),
            &finished["currentTask"]
        ),
        (&json!("pass"), json!("string"), &Value::Null)
    );
}

#[tokio::test]
async fn control_state_other_than_abort_pause_or_resume_is_400() {
    let api = api().await;
    check_error(
        &api.send(
            "POST",
            "/api/v1/sequence/sockshop/ctx/control",
            json!({"state": "stop"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "unknown sequence control state 'stop'",
    );
    check_rejection(
        &api.send("POST", "/api/v1/sequence/sockshop/ctx/control", json!({}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    // FIXME: a control of a Keptn context nobody runs is a 200, like one that took effect.
    assert_eq!(
        api.send(
            "POST",
            "/api/v1/sequence/sockshop/nobody-runs-this/control",
            json!({"state": "abort"})
        )
        .await,
        (StatusCode::OK, Value::Null)
    );
}

#[tokio::test]
async fn a_paused_sequence_triggers_its_next_task_only_after_resume() {
    let api = api_without_integrations().await;
    api.create_sockshop("sockshop").await;
    api.post_event(delivery("dev", "carts", "ctx-paused")).await;
    let open = api
        .get("/api/v1/event/triggered/sh.keptn.event.deployment.triggered")
        .await;
    let control = "/api/v1/sequence/sockshop/ctx-paused/control";
    assert_eq!(
        api.send("POST", control, json!({"state": "pause", "stage": "dev"}))
            .await,
        (StatusCode::OK, Value::Null)
    );
    let mut finished = event(
        "sh.keptn.event.deployment.finished",
        "ctx-paused",
        json!({"project": "sockshop", "stage": "dev", "service": "carts", "status": "succeeded", "result": "pass"}),
    );
    finished["triggeredid"] = open["events"][0]["id"].clone();
    api.post_event(finished).await;
    let test_triggered = "/api/v1/event/triggered/sh.keptn.event.test.triggered";
    assert_eq!(api.get(test_triggered).await, json!({"events": []}));
    assert_eq!(
        api.send("POST", control, json!({"state": "resume"})).await,
        (StatusCode::OK, Value::Null)
    );
    let next = api.get(test_triggered).await;
    assert_eq!(strings(&next["events"], "shkeptncontext"), ["ctx-paused"]);
}

// ---------------------------------------------------------------------------------------------
// /api/v1/platform

#[tokio::test]
async fn platform_is_404_without_the_local_platform() {
    let api = api().await;
    check_error(
        &api.send("GET", "/api/v1/platform", Value::Null).await,
        StatusCode::NOT_FOUND,
        "the local platform is not running",
    );
}

#[tokio::test]
async fn platform_shows_its_telemetry_and_services_when_running() {
    let state_dir = tempfile::tempdir().expect("a temporary directory");
    let config: keptn_adapters::local::Config = serde_json::from_value(json!({
        "state_dir": state_dir.path(),
        "router_base_port": 0,
        "telemetry_listen": "127.0.0.1:0",
    }))
    .expect("a valid platform config");
    let platform = keptn_adapters::local::LocalPlatform::new(config.validate().expect("valid"))
        .await
        .expect("the platform starts");
    let api = api_with(integrations(), Some(platform)).await;
    let answer = api.get("/api/v1/platform").await;
    assert_eq!(
        shape(&answer),
        json!({"telemetry": "string", "services": []})
    );
    assert!(
        answer["telemetry"]
            .as_str()
            .is_some_and(|url| url.starts_with("http://127.0.0.1:")),
        "{answer}"
    );
}

// ---------------------------------------------------------------------------------------------
// /api/v1/alertmanager

/// One Alertmanager alert for sockshop/production/carts.
fn alert(status: &str) -> Value {
    json!({
        "status": status,
        "labels": {"alertname": "response_time_p95", "project": "sockshop", "stage": "production", "service": "carts"},
        "annotations": {"summary": "response time degraded"},
        "startsAt": "2024-05-01T10:00:00Z",
        "endsAt": if status == "resolved" { "2024-05-01T10:05:00Z" } else { "0001-01-01T00:00:00Z" },
        "fingerprint": "c0ffee",
    })
}

fn notification(alerts: Vec<Value>) -> Value {
    json!({"version": "4", "status": "firing", "receiver": "keptn", "alerts": alerts})
}

#[tokio::test]
async fn firing_alert_triggers_a_remediation_once_and_its_resolution_closes_the_problem() {
    let api = api_without_integrations().await;
    let (status, firing) = api
        .send(
            "POST",
            "/api/v1/alertmanager",
            notification(vec![alert("firing")]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{firing}");
    assert_eq!(
        shape(&firing),
        json!({"results": [{"keptnContext": "string", "type": "string", "outcome": "string"}]})
    );
    let result = &firing["results"][0];
    assert_eq!(
        (&result["type"], &result["outcome"]),
        (
            &json!("sh.keptn.event.production.remediation.triggered"),
            &json!("accepted")
        )
    );
    let keptn_context = result["keptnContext"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Alertmanager sends the notification again: the same context, a duplicate.
    let (_, again) = api
        .send(
            "POST",
            "/api/v1/alertmanager",
            notification(vec![alert("firing")]),
        )
        .await;
    assert_eq!(
        again["results"],
        json!([{"keptnContext": keptn_context, "type": "sh.keptn.event.production.remediation.triggered", "outcome": "duplicate"}])
    );
    let (_, resolved) = api
        .send(
            "POST",
            "/api/v1/alertmanager",
            notification(vec![alert("resolved")]),
        )
        .await;
    assert_eq!(
        resolved["results"],
        json!([{"keptnContext": keptn_context, "type": "sh.keptn.events.problem", "outcome": "accepted"}])
    );
    // sockshop has no shipyard here: the control plane ends the remediation at once.
    let events = api
        .get(&format!("/api/v1/event?keptnContext={keptn_context}"))
        .await;
    assert_eq!(
        strings(&events["events"], "type"),
        [
            "sh.keptn.event.production.remediation.triggered",
            "sh.keptn.event.production.remediation.finished",
            "sh.keptn.events.problem"
        ]
    );
    assert_eq!(
        (
            &events["events"][0]["data"]["problem"]["State"],
            &events["events"][2]["data"]["problem"]["State"]
        ),
        (&json!("OPEN"), &json!("RESOLVED"))
    );
}

#[tokio::test]
async fn a_bad_alert_is_reported_in_its_result_and_the_others_still_count() {
    let api = api_without_integrations().await;
    let mut unlabelled = alert("firing");
    unlabelled["labels"]
        .as_object_mut()
        .expect("labels")
        .remove("project");
    let (status, answer) = api
        .send(
            "POST",
            "/api/v1/alertmanager",
            notification(vec![unlabelled, alert("firing")]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(shape(&answer["results"][0]), json!({"error": "string"}));
    assert!(
        answer["results"][0]["error"]
            .as_str()
            .is_some_and(|error| error.contains("no 'project' label")),
        "{answer}"
    );
    assert_eq!(answer["results"][1]["outcome"], "accepted");
}

#[tokio::test]
async fn an_unreadable_alertmanager_payload_is_400() {
    let api = api_without_integrations().await;
    for (body, message_part) in [
        ("not json", "not an Alertmanager notification"),
        (r#"{"version": "3", "alerts": []}"#, "version '3'"),
    ] {
        let request = Request::post("/api/v1/alertmanager")
            .header("x-token", TOKEN)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("a valid request");
        let (status, _, answer) = send_request(&api.app, request).await;
        check_error(&(status, answer), StatusCode::BAD_REQUEST, message_part);
    }
    assert_eq!(api.get("/api/v1/event").await, json!({"events": []}));
}

// ---------------------------------------------------------------------------------------------
// The flow: project, service, delivery, approval, abort.

#[tokio::test]
async fn a_delivery_runs_through_a_manual_approval_and_another_is_aborted() {
    let api = api().await;
    assert_eq!(
        api.send(
            "POST",
            "/api/v1/project",
            create_project("sockshop", SHIPYARD)
        )
        .await,
        (StatusCode::CREATED, json!({"name": "sockshop"}))
    );
    assert_eq!(
        api.send(
            "POST",
            "/api/v1/project/sockshop/service",
            json!({"serviceName": "carts"})
        )
        .await,
        (StatusCode::CREATED, Value::Null)
    );
    let mut trigger = delivery("dev", "carts", "");
    trigger["data"]["configurationChange"] =
        json!({"values": {"image": "docker.io/keptnexamples/carts:0.13.1"}});
    let keptn_context = api.post_event(trigger).await;
    let context_query = format!("keptnContext={keptn_context}");

    // dev runs on noop; production waits for a person.
    api.wait_for_sequences("sockshop", &context_query, |sequences| {
        sequences
            .iter()
            .any(|sequence| sequence["stage"] == "production" && sequence["state"] == "waiting")
    })
    .await;
    check_sequences(
        &api,
        &context_query,
        &[
            (&keptn_context, "dev", "finished"),
            (&keptn_context, "production", "waiting"),
        ],
    )
    .await;
    let approvals = api.get("/api/v1/approval/sockshop/production").await;
    let approval_triggered = api
        .get(&format!(
            "/api/v1/event?{context_query}&type=sh.keptn.event.approval.triggered"
        ))
        .await;
    assert_eq!(
        approvals,
        json!({"approvals": [{
            "keptnContext": keptn_context,
            "service": "carts",
            "triggeredId": approval_triggered["events"][0]["id"],
        }]})
    );
    assert_eq!(
        api.send(
            "POST",
            "/api/v1/approval/sockshop/production",
            json!({"approve": true})
        )
        .await,
        (
            StatusCode::OK,
            json!({"keptnContext": keptn_context, "approved": true})
        )
    );
    let sequences = api
        .wait_for_sequences("sockshop", &context_query, |sequences| {
            sequences.len() == 2
                && sequences
                    .iter()
                    .all(|sequence| sequence["state"] == "finished")
        })
        .await;
    assert_eq!(
        strings(&Value::Array(sequences), "result"),
        ["pass", "pass"]
    );

    // The history holds the chain, every task triggered once.
    let triggered: Vec<String> = api
        .event_types(&keptn_context)
        .await
        .into_iter()
        .filter(|event_type| event_type.ends_with(".triggered"))
        .collect();
    assert_eq!(
        triggered,
        [
            "sh.keptn.event.dev.delivery.triggered",
            "sh.keptn.event.deployment.triggered",
            "sh.keptn.event.test.triggered",
            "sh.keptn.event.production.delivery.triggered",
            "sh.keptn.event.approval.triggered",
            "sh.keptn.event.deployment.triggered",
        ]
    );
    let finished: Vec<String> = api
        .event_types(&keptn_context)
        .await
        .into_iter()
        .filter(|event_type| event_type.ends_with(".finished"))
        .collect();
    assert_eq!(
        finished,
        [
            "sh.keptn.event.deployment.finished",
            "sh.keptn.event.test.finished",
            "sh.keptn.event.dev.delivery.finished",
            "sh.keptn.event.approval.finished",
            "sh.keptn.event.deployment.finished",
            "sh.keptn.event.production.delivery.finished",
        ]
    );
    let metrics = api.send("GET", "/metrics", Value::Null).await.1;
    assert!(
        metrics
            .as_str()
            .is_some_and(|text| text.contains("keptn_sequences_finished_total{result=\"pass\"} 2")),
        "{metrics}"
    );

    // A second delivery straight into production waits, and is aborted there.
    let aborted = api.post_event(delivery("production", "carts", "")).await;
    let aborted_query = format!("keptnContext={aborted}");
    api.wait_for_sequences("sockshop", &aborted_query, |sequences| {
        sequences
            .first()
            .is_some_and(|sequence| sequence["state"] == "waiting")
    })
    .await;
    assert_eq!(
        api.send(
            "POST",
            &format!("/api/v1/sequence/sockshop/{aborted}/control"),
            json!({"state": "abort"})
        )
        .await,
        (StatusCode::OK, Value::Null)
    );
    let sequences = api
        .wait_for_sequences("sockshop", &aborted_query, |sequences| {
            sequences
                .first()
                .is_some_and(|sequence| sequence["state"] == "finished")
        })
        .await;
    // FIXME: an aborted sequence is listed as finished with result `pass`; only its message
    // (and the status `aborted` of its .finished event) tells it from a success.
    assert_eq!(
        (&sequences[0]["result"], &sequences[0]["message"]),
        (&json!("pass"), &json!("sequence aborted"))
    );
    let finished = api
        .get(&format!(
            "/api/v1/event?{aborted_query}&type=sh.keptn.event.production.delivery.finished"
        ))
        .await;
    assert_eq!(finished["events"][0]["data"]["status"], "aborted");
    assert_eq!(
        api.get("/api/v1/approval/sockshop/production").await,
        json!({"approvals": []})
    );
}
