//! The HTTP API of `keptn serve` (axum): Keptn's event intake and the control-plane routes.
//!
//! Every route but `/health` requires the `x-token` header (compared in constant time). Errors
//! are one enum, [`ApiError`], with one `IntoResponse`: `{"code": N, "message": "..."}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use keptn_core::event::{EventType, KeptnEvent, SequenceEventKind};
use keptn_core::orchestrator::{Control, ControlAction, ExecutionStatus};
use keptn_core::ports::{AdapterError, AdapterErrorKind, EventFilter, ProjectRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use keptn_service::{ControlPlane, Received};

/// The largest request body accepted (Keptn's distributor allowed 64 KB; shipyards and
/// resources get more room).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The API token.
    pub token: Arc<String>,
    /// The control plane: intake, state, store, configuration repositories, metrics.
    pub control_plane: ControlPlane,
    /// The local platform, when the uniform runs it.
    pub platform: Option<keptn_adapters::local::LocalPlatform>,
}

/// The router; tests drive it with `oneshot`, `keptn serve` with a socket.
pub fn app(state: AppState) -> Router {
    let protected = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/event", post(post_event).get(get_events))
        .route(
            "/api/v1/event/triggered/{event_type}",
            get(open_triggered_events),
        )
        .route("/api/v1/project", post(create_project).get(list_projects))
        .route(
            "/api/v1/project/{project}",
            get(get_project).delete(delete_project),
        )
        .route("/api/v1/project/{project}/service", post(create_service))
        .route(
            "/api/v1/project/{project}/resource",
            post(add_project_resource),
        )
        .route(
            "/api/v1/project/{project}/resource/{*uri}",
            get(get_project_resource),
        )
        .route(
            "/api/v1/project/{project}/stage/{stage}/resource",
            post(add_stage_resource),
        )
        .route(
            "/api/v1/project/{project}/stage/{stage}/resource/{*uri}",
            get(get_stage_resource),
        )
        .route(
            "/api/v1/project/{project}/stage/{stage}/service/{service}/resource",
            post(add_service_resource),
        )
        .route(
            "/api/v1/project/{project}/stage/{stage}/service/{service}/resource/{*uri}",
            get(get_service_resource),
        )
        .route(
            "/api/v1/project/{project}/stage/{stage}/service/{service}/evaluation",
            post(trigger_evaluation).get(list_evaluations),
        )
        .route(
            "/api/v1/approval/{project}/{stage}",
            post(answer_approval).get(open_approvals),
        )
        .route("/api/v1/sequence/{project}", get(list_sequences))
        .route("/api/v1/platform", get(platform_status))
        .route("/api/v1/alertmanager", post(alertmanager))
        .route(
            "/api/v1/sequence/{project}/{keptn_context}/control",
            post(control_sequence),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/openapi.json", get(openapi))
        .merge(protected)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Every way a request can fail.
#[derive(Debug)]
pub enum ApiError {
    /// 401: no or wrong `x-token`.
    Unauthorized,
    /// 400: the request is malformed; nothing was stored.
    BadRequest(String),
    /// 404.
    NotFound(String),
    /// 409: the thing exists already.
    Conflict(String),
    /// 503: the orchestration loop is not running.
    Unavailable(String),
    /// 500.
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "missing or invalid x-token header".to_owned(),
            ),
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, message),
            ApiError::Conflict(message) => (StatusCode::CONFLICT, message),
            ApiError::Unavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, message),
            ApiError::Internal(message) => (StatusCode::INTERNAL_SERVER_ERROR, message),
        };
        (
            status,
            Json(json!({ "code": status.as_u16(), "message": message })),
        )
            .into_response()
    }
}

impl From<keptn_service::Error> for ApiError {
    fn from(err: keptn_service::Error) -> Self {
        match err {
            keptn_service::Error::Stopped => ApiError::Unavailable(err.to_string()),
            other => ApiError::Internal(error_text(&other)),
        }
    }
}

/// An error and its causes, joined with `": "`.
fn error_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<AdapterError> for ApiError {
    fn from(err: AdapterError) -> Self {
        match err.kind {
            AdapterErrorKind::NotFound => ApiError::NotFound(err.to_string()),
            AdapterErrorKind::Conflict => ApiError::Conflict(err.to_string()),
            AdapterErrorKind::Invalid => ApiError::BadRequest(err.to_string()),
            _ => ApiError::Internal(err.to_string()),
        }
    }
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // `x-token` as Keptn's API; `Authorization: Bearer` for senders that can only set that
    // header (Alertmanager's webhook `http_config.authorization`).
    let presented = request
        .headers()
        .get("x-token")
        .map(|value| value.as_bytes())
        .or_else(|| {
            request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        });
    let valid = presented.is_some_and(|presented| {
        presented.len() == state.token.len() && bool::from(presented.ct_eq(state.token.as_bytes()))
    });
    if valid {
        next.run(request).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

/// The OpenAPI document of this API.
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        super::metrics::render(state.control_plane.metrics()),
    )
        .into_response()
}

/// `POST /api/v1/event`: a Keptn CloudEvent in structured JSON (`application/cloudevents+json`
/// or `application/json`) or in HTTP binary mode (`ce-*` headers, data in the body).
async fn post_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let mut event = parse_event(&headers, &body)?;
    check_event(&event)?;
    keptn_service::normalise(&mut event, state.control_plane.now());
    let keptn_context = event.keptn_context.clone().unwrap_or_default();
    let id = event.id.clone();
    let received = state.control_plane.accept(event).await?;
    let status = match received {
        Received::Accepted | Received::Duplicate => StatusCode::ACCEPTED,
    };
    Ok((
        status,
        Json(json!({ "keptnContext": keptn_context, "id": id })),
    )
        .into_response())
}

fn parse_event(headers: &HeaderMap, body: &[u8]) -> Result<KeptnEvent, ApiError> {
    let header_text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(event_type) = header_text("ce-type") {
        // HTTP binary mode: attributes in headers, data in the body.
        let mut object = serde_json::Map::new();
        for (name, value) in headers {
            if let (Some(attribute), Ok(text)) = (name.as_str().strip_prefix("ce-"), value.to_str())
            {
                object.insert(attribute.to_owned(), Value::String(text.to_owned()));
            }
        }
        object.insert("type".to_owned(), Value::String(event_type.to_owned()));
        if !body.is_empty() {
            let data: Value = serde_json::from_slice(body)
                .map_err(|err| ApiError::BadRequest(format!("event data is not JSON: {err}")))?;
            object.insert("data".to_owned(), data);
        }
        return KeptnEvent::from_json_value(Value::Object(object))
            .map_err(|err| ApiError::BadRequest(err.to_string()));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("event is not UTF-8 text".to_owned()))?;
    KeptnEvent::from_json(text).map_err(|err| ApiError::BadRequest(err.to_string()))
}

/// Keptn events only: a `sh.keptn.` type, and a project for task and sequence events.
fn check_event(event: &KeptnEvent) -> Result<(), ApiError> {
    match &event.event_type {
        EventType::Other(other) if !other.starts_with("sh.keptn.") => {
            return Err(ApiError::BadRequest(format!(
                "unknown event type '{other}', expected sh.keptn.event.<task>.<kind> or sh.keptn.event.<stage>.<sequence>.<kind>"
            )));
        }
        EventType::Other(_) => {}
        EventType::Task { .. } | EventType::Sequence { .. } => {
            if event.data.project.as_deref().is_none_or(str::is_empty) {
                return Err(ApiError::BadRequest(
                    "event data has no 'project'".to_owned(),
                ));
            }
        }
    }
    if let EventType::Sequence {
        stage,
        kind: SequenceEventKind::Triggered,
        ..
    } = &event.event_type
    {
        if event.data.service.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::BadRequest(
                "a sequence trigger needs data.service".to_owned(),
            ));
        }
        if event
            .data
            .stage
            .as_deref()
            .is_some_and(|data_stage| data_stage != stage)
        {
            return Err(ApiError::BadRequest(format!(
                "data.stage '{}' does not match the stage '{stage}' of the event type",
                event.data.stage.as_deref().unwrap_or_default()
            )));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventQuery {
    keptn_context: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    project: Option<String>,
    stage: Option<String>,
    service: Option<String>,
    #[serde(default)]
    limit: usize,
}

/// Prometheus Alertmanager's webhook: each firing alert becomes a
/// `<stage>.remediation.triggered` (its id derives from the alert, so a re-sent notification is
/// a duplicate and starts nothing); each resolved alert closes its problem (recorded as Keptn's
/// `sh.keptn.events.problem` with `State: RESOLVED` in the same Keptn context). One bad alert
/// does not stop the others; the answer lists what happened to each, and is a 200 unless the
/// payload as a whole is unreadable (Alertmanager would retry it forever).
async fn alertmanager(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|err| ApiError::BadRequest(format!("the notification is not UTF-8: {err}")))?;
    let notices = keptn_core::alertmanager::notices(text)
        .map_err(|err| ApiError::BadRequest(format!("not an Alertmanager notification: {err}")))?;
    let mut results = Vec::new();
    for notice in notices {
        let notice = match notice {
            Ok(notice) => notice,
            Err(err) => {
                results.push(json!({ "error": err.to_string() }));
                continue;
            }
        };
        let keptn_context = notice.keptn_context().unwrap_or("").to_owned();
        let event = match notice {
            keptn_core::alertmanager::AlertNotice::Firing(event) => *event,
            keptn_core::alertmanager::AlertNotice::Resolved {
                keptn_context,
                project,
                stage,
                service,
                title,
                fingerprint,
                ends_at,
            } => {
                let mut data = keptn_core::event::EventData::scoped(&project, &stage, &service);
                data.fields.insert(
                    "problem".to_owned(),
                    json!({
                        "problemTitle": title,
                        "State": "RESOLVED",
                        "ProblemID": fingerprint,
                    }),
                );
                let mut event = KeptnEvent::new(
                    &format!("{keptn_context}-resolved"),
                    keptn_core::alertmanager::EVENT_SOURCE,
                    EventType::Other("sh.keptn.events.problem".to_owned()),
                    data,
                );
                event.keptn_context = Some(keptn_context);
                event.time = Some(ends_at);
                event
            }
        };
        let event_type = event.event_type.to_string();
        let outcome = match state.control_plane.accept(event).await {
            Ok(Received::Accepted) => "accepted",
            Ok(Received::Duplicate) => "duplicate",
            Err(err) => {
                results.push(json!({ "keptnContext": keptn_context, "error": error_text(&err) }));
                continue;
            }
        };
        results
            .push(json!({ "keptnContext": keptn_context, "type": event_type, "outcome": outcome }));
    }
    Ok(Json(json!({ "results": results })))
}

/// What the local platform runs and what gets the traffic.
async fn platform_status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match &state.platform {
        Some(platform) => Ok(Json(super::platform::status(platform).await)),
        None => Err(ApiError::NotFound(
            "the local platform is not running (no local-platform entry in the uniform)".to_owned(),
        )),
    }
}

async fn get_events(
    State(state): State<AppState>,
    Query(query): Query<EventQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = EventFilter {
        keptn_context: query.keptn_context,
        event_type: query.event_type,
        project: query.project,
        stage: query.stage,
        service: query.service,
        limit: query.limit,
    };
    let events = state.control_plane.store().events(&filter).await?;
    let events: Vec<Value> = events
        .iter()
        .map(|event| serde_json::from_str(&event.to_json()).expect("an event's JSON parses"))
        .collect();
    Ok(Json(json!({ "events": events })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateProject {
    name: String,
    /// The shipyard, base64-encoded as Keptn's API takes it.
    shipyard: String,
    #[serde(rename = "gitRemoteURL", alias = "gitRemoteUrl")]
    git_remote_url: Option<String>,
    /// User for an HTTPS upstream.
    #[serde(rename = "gitUser")]
    git_user: Option<String>,
    /// Token (password) for an HTTPS upstream.
    #[serde(rename = "gitToken")]
    git_token: Option<String>,
}

/// The upstream URL with HTTPS credentials in it, as git takes them.
fn upstream_url(url: &str, user: Option<&str>, token: Option<&str>) -> Result<String, ApiError> {
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        return Ok(url.to_owned());
    };
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(ApiError::BadRequest(format!(
            "a git token needs an https:// upstream, got '{url}'"
        )));
    };
    let user = user.filter(|user| !user.is_empty()).unwrap_or("keptn");
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (byte as char).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    Ok(format!("https://{}:{}@{rest}", encode(user), encode(token)))
}

async fn create_project(
    State(state): State<AppState>,
    Json(request): Json<CreateProject>,
) -> Result<Response, ApiError> {
    if !keptn_core::shipyard::is_valid_entity_name(&request.name) {
        return Err(ApiError::BadRequest(format!(
            "invalid project name '{}': lowercase letters, digits and '-', starting with a letter",
            request.name
        )));
    }
    let shipyard_bytes = base64::engine::general_purpose::STANDARD
        .decode(request.shipyard.trim())
        .map_err(|err| ApiError::BadRequest(format!("shipyard is not base64: {err}")))?;
    let shipyard_text = String::from_utf8(shipyard_bytes)
        .map_err(|_| ApiError::BadRequest("shipyard is not UTF-8 text".to_owned()))?;
    let parsed = keptn_core::shipyard::parse(&shipyard_text).map_err(|err| match &err {
        keptn_core::Error::InvalidShipyard { diagnostics } => ApiError::BadRequest(format!(
            "invalid shipyard:\n{}",
            diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    let record = ProjectRecord {
        name: request.name.clone(),
        shipyard: shipyard_text,
        git_remote_url: request.git_remote_url,
        services: Vec::new(),
    };
    state.control_plane.store().create_project(&record).await?;
    if let Some(url) = record
        .git_remote_url
        .as_deref()
        .filter(|url| !url.is_empty())
    {
        let with_credentials = upstream_url(
            url,
            request.git_user.as_deref(),
            request.git_token.as_deref(),
        );
        let upstream = match with_credentials {
            Ok(upstream) => state
                .control_plane
                .config_repo()
                .set_upstream(&request.name, &upstream)
                .await
                .map_err(ApiError::from),
            Err(err) => Err(err),
        };
        if let Err(err) = upstream {
            // A project whose upstream cannot be used is not created.
            let _ = state
                .control_plane
                .store()
                .delete_project(&request.name)
                .await;
            return Err(err);
        }
    }
    state
        .control_plane
        .config_repo()
        .write(
            &request.name,
            None,
            None,
            "shipyard.yaml",
            record.shipyard.as_bytes(),
        )
        .await?;
    state
        .control_plane
        .set_shipyard(&request.name, parsed.shipyard)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "name": request.name }))).into_response())
}

fn project_json(project: &ProjectRecord) -> Value {
    json!({
        "projectName": project.name,
        "gitRemoteURL": project.git_remote_url,
        "shipyard": project.shipyard,
        "services": project.services,
    })
}

async fn list_projects(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let projects = state.control_plane.store().projects().await?;
    Ok(Json(
        json!({ "projects": projects.iter().map(project_json).collect::<Vec<_>>() }),
    ))
}

async fn find_project(state: &AppState, name: &str) -> Result<ProjectRecord, ApiError> {
    state
        .control_plane
        .store()
        .projects()
        .await?
        .into_iter()
        .find(|project| project.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("project '{name}' does not exist")))
}

async fn get_project(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(project_json(&find_project(&state, &project).await?)))
}

async fn delete_project(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<StatusCode, ApiError> {
    find_project(&state, &project).await?;
    state.control_plane.store().delete_project(&project).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateService {
    service_name: String,
}

async fn create_service(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Json(request): Json<CreateService>,
) -> Result<StatusCode, ApiError> {
    if !keptn_core::shipyard::is_valid_entity_name(&request.service_name) {
        return Err(ApiError::BadRequest(format!(
            "invalid service name '{}'",
            request.service_name
        )));
    }
    find_project(&state, &project).await?;
    state
        .control_plane
        .store()
        .create_service(&project, &request.service_name)
        .await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SequenceQuery {
    stage: Option<String>,
    service: Option<String>,
    state: Option<String>,
    keptn_context: Option<String>,
}

/// `GET /api/v1/sequence/{project}`: every sequence run (one per stage), newest first, with its
/// state: `queued`, `started`, `waiting` (for approval), `finished` (with `result`) or
/// `triggered` (accepted, not yet taken up).
async fn list_sequences(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<SequenceQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = EventFilter {
        project: Some(project.clone()),
        keptn_context: query.keptn_context.clone(),
        stage: query.stage.clone(),
        service: query.service.clone(),
        ..EventFilter::default()
    };
    let events = state.control_plane.store().events(&filter).await?;
    // Keyed by (context, stage, sequence): the trigger, then the finish if any.
    let mut runs: BTreeMap<(String, String, String), (KeptnEvent, Option<KeptnEvent>)> =
        BTreeMap::new();
    // The latest evaluation score per (context, stage), shown with the sequence.
    let mut scores: BTreeMap<(String, String), Value> = BTreeMap::new();
    for event in events {
        if let EventType::Task { task, kind } = &event.event_type
            && task == "evaluation"
            && *kind == keptn_core::event::TaskEventKind::Finished
            && let Some(score) = event
                .data
                .fields
                .get("evaluation")
                .and_then(|evaluation| evaluation.get("score"))
        {
            scores.insert(
                (
                    event.keptn_context.clone().unwrap_or_default(),
                    event.data.stage.clone().unwrap_or_default(),
                ),
                score.clone(),
            );
            continue;
        }
        let EventType::Sequence {
            stage,
            sequence,
            kind,
        } = &event.event_type
        else {
            continue;
        };
        let key = (
            event.keptn_context.clone().unwrap_or_default(),
            stage.clone(),
            sequence.clone(),
        );
        match kind {
            SequenceEventKind::Triggered => {
                runs.entry(key).or_insert_with(|| (event.clone(), None));
            }
            SequenceEventKind::Finished => {
                if let Some(run) = runs.get_mut(&key) {
                    run.1 = Some(event.clone());
                }
            }
            _ => {}
        }
    }
    let orchestrator_state = state.control_plane.read_state().await;
    let mut sequences: Vec<Value> = runs
        .into_iter()
        .map(|((keptn_context, stage, sequence), (trigger, finished))| {
            let execution = orchestrator_state.executions.values().find(|execution| {
                execution.keptn_context == keptn_context
                    && execution.stage == stage
                    && execution.sequence.name == sequence
            });
            let (run_state, result, current_task) = match (&finished, execution) {
                (Some(finished), _) => (
                    "finished",
                    finished
                        .data
                        .result
                        .as_ref()
                        .map(|result| result.as_str().to_owned()),
                    None,
                ),
                (None, Some(execution)) => (
                    match execution.status {
                        ExecutionStatus::Queued => "queued",
                        ExecutionStatus::Active | ExecutionStatus::Resuming => "started",
                        ExecutionStatus::WaitingForApproval => "waiting",
                    },
                    None,
                    execution
                        .current_task
                        .as_ref()
                        .map(|task| task.name.clone()),
                ),
                (None, None) => ("triggered", None, None),
            };
            let score = scores
                .get(&(keptn_context.clone(), stage.clone()))
                .cloned()
                .unwrap_or(Value::Null);
            json!({
                "keptnContext": keptn_context,
                "project": project,
                "stage": stage,
                "score": score,
                "service": trigger.data.service,
                "name": sequence,
                "state": run_state,
                "result": result,
                "currentTask": current_task,
                "time": trigger.time,
                "finishedTime": finished.as_ref().and_then(|event| event.time.clone()),
                "message": finished.as_ref().and_then(|event| event.data.message.clone()),
            })
        })
        .filter(|sequence| {
            query
                .state
                .as_deref()
                .is_none_or(|wanted| sequence["state"] == wanted)
        })
        .collect();
    sequences.sort_by(|left, right| right["time"].as_str().cmp(&left["time"].as_str()));
    Ok(Json(json!({ "sequences": sequences })))
}

#[derive(Debug, Deserialize)]
struct ControlRequest {
    state: String,
    stage: Option<String>,
}

async fn control_sequence(
    State(state): State<AppState>,
    Path((project, keptn_context)): Path<(String, String)>,
    Json(request): Json<ControlRequest>,
) -> Result<StatusCode, ApiError> {
    let action = match request.state.as_str() {
        "abort" => ControlAction::Abort,
        "pause" => ControlAction::Pause,
        "resume" => ControlAction::Resume,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown sequence control state '{other}', expected abort, pause or resume"
            )));
        }
    };
    let control = Control {
        project,
        keptn_context,
        stage: request.stage,
        action,
    };
    state.control_plane.control(control).await?;
    Ok(StatusCode::OK)
}

/// One resource as Keptn's resource-service carries it.
#[derive(Debug, Deserialize)]
struct ResourceUpload {
    #[serde(rename = "resourceURI")]
    resource_uri: String,
    /// Base64 of the content.
    #[serde(rename = "resourceContent")]
    resource_content: String,
}

#[derive(Debug, Deserialize)]
struct ResourcesUpload {
    resources: Vec<ResourceUpload>,
}

async fn add_resources(
    state: &AppState,
    project: &str,
    stage: Option<&str>,
    service: Option<&str>,
    upload: ResourcesUpload,
) -> Result<Response, ApiError> {
    find_project(state, project).await?;
    let mut commit = String::new();
    for resource in upload.resources {
        let content = base64::engine::general_purpose::STANDARD
            .decode(resource.resource_content.trim())
            .map_err(|err| {
                ApiError::BadRequest(format!(
                    "resourceContent of '{}' is not base64: {err}",
                    resource.resource_uri
                ))
            })?;
        let uri = resource.resource_uri.trim_start_matches('/');
        commit = state
            .control_plane
            .config_repo()
            .write(project, stage, service, uri, &content)
            .await?;
    }
    Ok((StatusCode::CREATED, Json(json!({ "commitID": commit }))).into_response())
}

async fn get_resource(
    state: &AppState,
    project: &str,
    stage: Option<&str>,
    service: Option<&str>,
    uri: &str,
    commit: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let content = state
        .control_plane
        .config_repo()
        .read(project, stage, service, uri, commit)
        .await?;
    Ok(Json(json!({
        "resourceURI": uri,
        "resourceContent": base64::engine::general_purpose::STANDARD.encode(content),
    })))
}

#[derive(Debug, Deserialize)]
struct CommitQuery {
    #[serde(rename = "commitID")]
    commit_id: Option<String>,
}

async fn add_project_resource(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Json(upload): Json<ResourcesUpload>,
) -> Result<Response, ApiError> {
    add_resources(&state, &project, None, None, upload).await
}

async fn add_stage_resource(
    State(state): State<AppState>,
    Path((project, stage)): Path<(String, String)>,
    Json(upload): Json<ResourcesUpload>,
) -> Result<Response, ApiError> {
    add_resources(&state, &project, Some(&stage), None, upload).await
}

async fn add_service_resource(
    State(state): State<AppState>,
    Path((project, stage, service)): Path<(String, String, String)>,
    Json(upload): Json<ResourcesUpload>,
) -> Result<Response, ApiError> {
    add_resources(&state, &project, Some(&stage), Some(&service), upload).await
}

async fn get_project_resource(
    State(state): State<AppState>,
    Path((project, uri)): Path<(String, String)>,
    Query(query): Query<CommitQuery>,
) -> Result<Json<Value>, ApiError> {
    get_resource(
        &state,
        &project,
        None,
        None,
        &uri,
        query.commit_id.as_deref(),
    )
    .await
}

async fn get_stage_resource(
    State(state): State<AppState>,
    Path((project, stage, uri)): Path<(String, String, String)>,
    Query(query): Query<CommitQuery>,
) -> Result<Json<Value>, ApiError> {
    get_resource(
        &state,
        &project,
        Some(&stage),
        None,
        &uri,
        query.commit_id.as_deref(),
    )
    .await
}

async fn get_service_resource(
    State(state): State<AppState>,
    Path((project, stage, service, uri)): Path<(String, String, String, String)>,
    Query(query): Query<CommitQuery>,
) -> Result<Json<Value>, ApiError> {
    get_resource(
        &state,
        &project,
        Some(&stage),
        Some(&service),
        &uri,
        query.commit_id.as_deref(),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
struct EvaluationRequest {
    timeframe: Option<String>,
    start: Option<String>,
    end: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Triggers the built-in `evaluation` sequence of a stage, as Keptn's API does.
async fn trigger_evaluation(
    State(state): State<AppState>,
    Path((project, stage, service)): Path<(String, String, String)>,
    Json(request): Json<EvaluationRequest>,
) -> Result<Response, ApiError> {
    find_project(&state, &project).await?;
    if request.timeframe.is_some() && request.start.is_some() && request.end.is_some() {
        return Err(ApiError::BadRequest(
            "give either timeframe or start and end, not all three".to_owned(),
        ));
    }
    let event_type = EventType::sequence(&stage, "evaluation", SequenceEventKind::Triggered)
        .map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let mut data = keptn_core::event::EventData::scoped(&project, &stage, &service);
    data.labels = (!request.labels.is_empty()).then_some(request.labels);
    let mut evaluation = serde_json::Map::new();
    for (key, value) in [
        ("timeframe", request.timeframe),
        ("start", request.start),
        ("end", request.end),
    ] {
        if let Some(value) = value {
            evaluation.insert(key.to_owned(), Value::String(value));
        }
    }
    data.fields
        .insert("evaluation".to_owned(), Value::Object(evaluation));
    let mut event = KeptnEvent::new("", "keptn-api", event_type, data);
    keptn_service::normalise(&mut event, state.control_plane.now());
    let keptn_context = event.keptn_context.clone().unwrap_or_default();
    state.control_plane.accept(event).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "keptnContext": keptn_context })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct LimitQuery {
    #[serde(default)]
    limit: usize,
}

/// Evaluations of a project/stage/service, newest first.
async fn list_evaluations(
    State(state): State<AppState>,
    Path((project, stage, service)): Path<(String, String, String)>,
    Query(query): Query<LimitQuery>,
) -> Result<Json<Value>, ApiError> {
    let records = state
        .control_plane
        .store()
        .evaluations(&project, &stage, &service, query.limit)
        .await?;
    let evaluations: Vec<Value> = records
        .into_iter()
        .map(|record| {
            json!({
                "id": record.event_id,
                "time": keptn_core::event::format_rfc3339(record.time),
                "invalidated": record.invalidated,
                "data": record.data,
            })
        })
        .collect();
    Ok(Json(json!({ "evaluations": evaluations })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalQuery {
    service: Option<String>,
    keptn_context: Option<String>,
}

/// The approval tasks of a stage that wait for a person.
async fn waiting_approvals(
    state: &AppState,
    project: &str,
    stage: &str,
    query: &ApprovalQuery,
) -> Vec<(String, String, String)> {
    let orchestrator_state = state.control_plane.read_state().await;
    orchestrator_state
        .executions
        .values()
        .filter(|execution| {
            execution.project == project
                && execution.stage == stage
                && execution.status == ExecutionStatus::WaitingForApproval
                && query
                    .service
                    .as_deref()
                    .is_none_or(|service| service == execution.service)
                && query
                    .keptn_context
                    .as_deref()
                    .is_none_or(|context| context == execution.keptn_context)
        })
        .filter_map(|execution| {
            let task = execution.current_task.as_ref()?;
            Some((
                execution.keptn_context.clone(),
                execution.service.clone(),
                task.triggered_id.clone(),
            ))
        })
        .collect()
}

async fn open_approvals(
    State(state): State<AppState>,
    Path((project, stage)): Path<(String, String)>,
    Query(query): Query<ApprovalQuery>,
) -> Json<Value> {
    let approvals: Vec<Value> = waiting_approvals(&state, &project, &stage, &query)
        .await
        .into_iter()
        .map(|(keptn_context, service, triggered_id)| json!({"keptnContext": keptn_context, "service": service, "triggeredId": triggered_id}))
        .collect();
    Json(json!({ "approvals": approvals }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalAnswer {
    approve: bool,
    service: Option<String>,
    keptn_context: Option<String>,
    message: Option<String>,
}

/// Approves or declines the one approval of a stage that waits for a person (narrowed by
/// service and Keptn context when several wait).
async fn answer_approval(
    State(state): State<AppState>,
    Path((project, stage)): Path<(String, String)>,
    Json(answer): Json<ApprovalAnswer>,
) -> Result<Json<Value>, ApiError> {
    let query = ApprovalQuery {
        service: answer.service.clone(),
        keptn_context: answer.keptn_context.clone(),
    };
    let waiting = waiting_approvals(&state, &project, &stage, &query).await;
    let (keptn_context, _, triggered_id) = match waiting.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(ApiError::NotFound(format!(
                "no approval waits in {project}/{stage}"
            )));
        }
        several => {
            return Err(ApiError::Conflict(format!(
                "{} approvals wait in {project}/{stage}; name one with --service or --keptn-context",
                several.len()
            )));
        }
    };
    let filter = EventFilter {
        keptn_context: Some(keptn_context.clone()),
        event_type: Some("sh.keptn.event.approval.triggered".to_owned()),
        ..EventFilter::default()
    };
    let trigger = state
        .control_plane
        .store()
        .events(&filter)
        .await?
        .into_iter()
        .find(|event| event.id == triggered_id)
        .ok_or_else(|| {
            ApiError::Internal(format!(
                "the approval trigger {triggered_id} is not in the history"
            ))
        })?;
    let result = if answer.approve {
        keptn_core::event::TaskResult::Pass
    } else {
        keptn_core::event::TaskResult::Fail
    };
    let message = answer.message.unwrap_or_else(|| {
        if answer.approve {
            "approved".to_owned()
        } else {
            "declined".to_owned()
        }
    });
    let mut finished = keptn_core::answer::finished(
        &trigger,
        "keptn-cli",
        result,
        Some(message),
        state.control_plane.now(),
    )
    .ok_or_else(|| ApiError::Internal("the approval trigger is not a task event".to_owned()))?;
    // A person may answer again (approve after a decline was refused, say): each answer is
    // an event of its own.
    finished.id = String::new();
    state.control_plane.accept(finished).await?;
    Ok(Json(
        json!({ "keptnContext": keptn_context, "approved": answer.approve }),
    ))
}

#[derive(Debug, Deserialize)]
struct TriggeredQuery {
    project: Option<String>,
    stage: Option<String>,
    service: Option<String>,
}

/// `GET /api/v1/event/triggered/{type}`: the `.triggered` events of a type that no `.finished`
/// answered yet, oldest first, for integrations that poll instead of running in process
/// (Keptn's remote execution plane). Looks at the newest 1,000 of the type.
async fn open_triggered_events(
    State(state): State<AppState>,
    Path(event_type): Path<String>,
    Query(query): Query<TriggeredQuery>,
) -> Result<Json<Value>, ApiError> {
    let parsed =
        EventType::parse(&event_type).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let EventType::Task {
        task,
        kind: keptn_core::event::TaskEventKind::Triggered,
    } = &parsed
    else {
        return Err(ApiError::BadRequest(format!(
            "'{event_type}' is not a task's triggered type such as sh.keptn.event.deployment.triggered"
        )));
    };
    let filter = |event_type: String| EventFilter {
        event_type: Some(event_type),
        project: query.project.clone(),
        stage: query.stage.clone(),
        service: query.service.clone(),
        limit: 1000,
        ..EventFilter::default()
    };
    let triggered = state
        .control_plane
        .store()
        .events(&filter(event_type.clone()))
        .await?;
    let finished = state
        .control_plane
        .store()
        .events(&filter(format!("sh.keptn.event.{task}.finished")))
        .await?;
    let answered: std::collections::BTreeSet<&str> = finished
        .iter()
        .filter_map(|event| event.triggered_id.as_deref())
        .collect();
    let mut open: Vec<Value> = triggered
        .iter()
        .filter(|event| !answered.contains(event.id.as_str()))
        .map(|event| serde_json::from_str(&event.to_json()).expect("an event's JSON parses"))
        .collect();
    open.reverse();
    Ok(Json(json!({ "events": open })))
}

#[cfg(test)]
mod tests;
