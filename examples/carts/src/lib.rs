//! The sockshop tutorial's carts service, by version: a small HTTP service to deploy, load-test
//! and evaluate with keptn-rs, behaving like the tutorial's `docker.io/keptnexamples/carts`
//! images.
//!
//! Versions `0.9.1` and `0.9.3` answer `/carts` requests in a few milliseconds; `0.9.2` (the
//! tutorial's slow build) adds one second to every `/carts` request. Any other non-empty version
//! behaves normally.
//!
//! Routes of [`app`]:
//!
//! - `GET /health`: `{"status": "ok", "version": ...}`.
//! - `GET /version`: `{"version": ...}`.
//! - `GET /carts/{customer}/items` (handler `ItemsController.getItems`): the customer's items.
//! - `POST /carts/{customer}/items` (handler `ItemsController.addToCart`): adds an item, JSON
//!   `{"itemId": "...", "quantity": 1, "unitPrice": "99.99"}` (`quantity` defaults to 1, the
//!   price may be a number or a numeric string, as the tutorial's JMeter plans send it); adding
//!   an item again raises its quantity. Answers 201 with the item.
//! - `GET /metrics`: Prometheus metrics, `http_response_time_milliseconds` (histogram) and
//!   `http_requests_total`, both labelled `handler`, `method` and `status`, for the `/carts`
//!   routes: what the tutorial's `sli.yaml` queries.
//! - `GET|POST|DELETE /admin/slowdown`: an extra delay for every `/carts` request, set with
//!   `{"milliseconds": N}` (at most [`MAX_SLOWDOWN_MS`]), removed with `DELETE`; for
//!   remediation demos.
//! - `POST /admin/feature/{name}` with `{"enabled": true|false}`: feature toggles. The only
//!   feature is `promotion`, which adds [`PROMOTION_DELAY_MS`] to every `/carts` request while
//!   on (the tutorial's feature-flag remediation demo).
//!
//! Invariant: state is in memory only and bounded ([`MAX_ITEMS_PER_CART`],
//! [`MAX_CUSTOMERS`]); a restart starts empty.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The version that adds [`SLOW_VERSION_DELAY`] to every `/carts` request.
pub const SLOW_VERSION: &str = "0.9.2";
/// What the slow version adds to every `/carts` request.
pub const SLOW_VERSION_DELAY: Duration = Duration::from_secs(1);
/// The largest runtime slowdown `POST /admin/slowdown` accepts.
pub const MAX_SLOWDOWN_MS: u64 = 60_000;
/// What the `promotion` feature adds to every `/carts` request while on.
pub const PROMOTION_DELAY_MS: u64 = 500;
/// Items kept per cart; adding a new item to a full cart drops the oldest.
pub const MAX_ITEMS_PER_CART: usize = 1_000;
/// Carts kept; a new customer beyond this gets an error (507) instead of a cart.
pub const MAX_CUSTOMERS: usize = 10_000;

/// Simulated work of `addToCart` (the real service wrote to MongoDB).
const ADD_TO_CART_WORK: Duration = Duration::from_millis(2);
/// Simulated work of `getItems`.
const GET_ITEMS_WORK: Duration = Duration::from_millis(1);

/// Bucket bounds of `http_response_time_milliseconds`, 1 ms to 5 s.
const BUCKETS_MS: [f64; 14] = [
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 1_500.0, 2_000.0, 2_500.0,
    5_000.0,
];

/// The handler label of `POST /carts/{customer}/items`.
pub const ADD_TO_CART: &str = "ItemsController.addToCart";
/// The handler label of `GET /carts/{customer}/items`.
pub const GET_ITEMS: &str = "ItemsController.getItems";

/// A version the service cannot run as.
#[derive(Debug, thiserror::Error)]
#[error("invalid version '{0}': must be non-empty and without whitespace")]
pub struct InvalidVersion(pub String);

/// One cart item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// The catalogue item.
    pub item_id: String,
    /// How many.
    pub quantity: u64,
    /// Price of one.
    pub unit_price: f64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewItem {
    item_id: String,
    #[serde(default)]
    quantity: Option<u64>,
    #[serde(default)]
    unit_price: Option<Value>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    handler: String,
    method: String,
    status: String,
}

fn response_time_histogram() -> Histogram {
    Histogram::new(BUCKETS_MS)
}

struct Metrics {
    registry: Registry,
    response_time: Family<RequestLabels, Histogram, fn() -> Histogram>,
    requests: Family<RequestLabels, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let response_time: Family<RequestLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(response_time_histogram);
        registry.register(
            "http_response_time_milliseconds",
            "Response time of HTTP requests, in milliseconds",
            response_time.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests", requests.clone());
        Self {
            registry,
            response_time,
            requests,
        }
    }

    fn observe(&self, handler: &str, method: &Method, status: StatusCode, elapsed: Duration) {
        let labels = RequestLabels {
            handler: handler.to_owned(),
            method: method.as_str().to_owned(),
            status: status.as_u16().to_string(),
        };
        self.response_time
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64() * 1_000.0);
        self.requests.get_or_create(&labels).inc();
    }
}

struct Inner {
    version: String,
    base_delay: Duration,
    slowdown_ms: AtomicU64,
    promotion: AtomicBool,
    carts: Mutex<HashMap<String, Vec<Item>>>,
    metrics: Metrics,
}

/// The service's state. Cheap to clone: clones share it.
#[derive(Clone)]
pub struct Carts {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Carts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Carts")
            .field("version", &self.inner.version)
            .finish_non_exhaustive()
    }
}

impl Carts {
    /// A service behaving like `version`.
    pub fn new(version: &str) -> Result<Self, InvalidVersion> {
        Self::with_latency(version, Duration::ZERO)
    }

    /// A service behaving like `version` whose `/carts` requests also take `latency` (the
    /// work a real service does; it makes relative response-time criteria meaningful, since a
    /// 2 ms answer varies by more than 10 % from run to run, a 100 ms one does not).
    pub fn with_latency(version: &str, latency: Duration) -> Result<Self, InvalidVersion> {
        if version.is_empty() || version.chars().any(char::is_whitespace) {
            return Err(InvalidVersion(version.to_owned()));
        }
        let version_delay = if version == SLOW_VERSION {
            SLOW_VERSION_DELAY
        } else {
            Duration::ZERO
        };
        let base_delay = version_delay + latency;
        Ok(Self {
            inner: Arc::new(Inner {
                version: version.to_owned(),
                base_delay,
                slowdown_ms: AtomicU64::new(0),
                promotion: AtomicBool::new(false),
                carts: Mutex::new(HashMap::new()),
                metrics: Metrics::new(),
            }),
        })
    }

    /// The version it behaves like.
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// What every `/carts` request waits now: the version's delay, the runtime slowdown and
    /// the features that are on.
    pub fn delay(&self) -> Duration {
        let mut extra_ms = self.inner.slowdown_ms.load(Ordering::Relaxed);
        if self.inner.promotion.load(Ordering::Relaxed) {
            extra_ms += PROMOTION_DELAY_MS;
        }
        self.inner.base_delay + Duration::from_millis(extra_ms)
    }

    fn carts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Item>>> {
        // A panic while holding the lock leaves whole items behind, so the data stays usable.
        self.inner
            .carts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Renders the metrics in the OpenMetrics text format.
    pub fn render_metrics(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.inner.metrics.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// The service's router.
pub fn app(carts: Carts) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .route("/carts/{customer}/items", get(get_items).post(add_to_cart))
        .route(
            "/admin/slowdown",
            get(get_slowdown).post(set_slowdown).delete(clear_slowdown),
        )
        .route("/admin/feature/{name}", post(set_feature))
        .with_state(carts)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn health(State(carts): State<Carts>) -> Response {
    axum::Json(json!({ "status": "ok", "version": carts.version() })).into_response()
}

async fn version(State(carts): State<Carts>) -> Response {
    axum::Json(json!({ "version": carts.version() })).into_response()
}

async fn metrics(State(carts): State<Carts>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        carts.render_metrics(),
    )
        .into_response()
}

/// Runs a `/carts` handler: waits the current delay, then `work`, and records the metrics.
async fn carts_request(
    carts: &Carts,
    handler: &str,
    method: Method,
    work: Duration,
    respond: impl FnOnce() -> (StatusCode, Value),
) -> Response {
    let started = Instant::now();
    tokio::time::sleep(carts.delay() + work).await;
    let (status, body) = respond();
    carts
        .inner
        .metrics
        .observe(handler, &method, status, started.elapsed());
    (status, axum::Json(body)).into_response()
}

async fn get_items(State(carts): State<Carts>, Path(customer): Path<String>) -> Response {
    let respond = || {
        let items = carts.carts().get(&customer).cloned().unwrap_or_default();
        (StatusCode::OK, json!(items))
    };
    carts_request(&carts, GET_ITEMS, Method::GET, GET_ITEMS_WORK, respond).await
}

fn parse_price(price: Option<&Value>) -> Result<f64, String> {
    match price {
        None => Ok(0.0),
        Some(Value::Number(number)) => number
            .as_f64()
            .ok_or_else(|| format!("unitPrice '{number}' is not a number")),
        Some(Value::String(text)) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|price| price.is_finite())
            .ok_or_else(|| format!("unitPrice '{text}' is not a number")),
        Some(other) => Err(format!("unitPrice '{other}' is not a number")),
    }
}

fn add_item(carts: &Carts, customer: String, body: &[u8]) -> (StatusCode, Value) {
    let new_item: NewItem = match serde_json::from_slice(body) {
        Ok(item) => item,
        Err(source) => {
            return (
                StatusCode::BAD_REQUEST,
                json!({ "error": format!("invalid item: {source}") }),
            );
        }
    };
    let unit_price = match parse_price(new_item.unit_price.as_ref()) {
        Ok(price) => price,
        Err(message) => return (StatusCode::BAD_REQUEST, json!({ "error": message })),
    };
    let quantity = new_item.quantity.unwrap_or(1);
    let mut all_carts = carts.carts();
    if !all_carts.contains_key(&customer) && all_carts.len() >= MAX_CUSTOMERS {
        return (
            StatusCode::INSUFFICIENT_STORAGE,
            json!({ "error": format!("no room for the cart of customer '{customer}'") }),
        );
    }
    let items = all_carts.entry(customer).or_default();
    if let Some(item) = items
        .iter_mut()
        .find(|item| item.item_id == new_item.item_id)
    {
        item.quantity = item.quantity.saturating_add(quantity);
        item.unit_price = unit_price;
        return (StatusCode::CREATED, json!(item));
    }
    if items.len() >= MAX_ITEMS_PER_CART {
        items.remove(0);
    }
    let item = Item {
        item_id: new_item.item_id,
        quantity,
        unit_price,
    };
    let res = json!(item);
    items.push(item);
    (StatusCode::CREATED, res)
}

async fn add_to_cart(
    State(carts): State<Carts>,
    Path(customer): Path<String>,
    body: Bytes,
) -> Response {
    let respond = || add_item(&carts, customer, &body);
    carts_request(&carts, ADD_TO_CART, Method::POST, ADD_TO_CART_WORK, respond).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Slowdown {
    milliseconds: u64,
}

fn slowdown_response(carts: &Carts) -> Response {
    let milliseconds = carts.inner.slowdown_ms.load(Ordering::Relaxed);
    axum::Json(json!({ "milliseconds": milliseconds })).into_response()
}

async fn get_slowdown(State(carts): State<Carts>) -> Response {
    slowdown_response(&carts)
}

async fn set_slowdown(State(carts): State<Carts>, body: Bytes) -> Response {
    let slowdown: Slowdown = match serde_json::from_slice(&body) {
        Ok(slowdown) => slowdown,
        Err(source) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid slowdown, expected {{\"milliseconds\": N}}: {source}"),
            );
        }
    };
    if slowdown.milliseconds > MAX_SLOWDOWN_MS {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "slowdown '{}' ms is above the limit of {MAX_SLOWDOWN_MS} ms",
                slowdown.milliseconds
            ),
        );
    }
    carts
        .inner
        .slowdown_ms
        .store(slowdown.milliseconds, Ordering::Relaxed);
    slowdown_response(&carts)
}

async fn clear_slowdown(State(carts): State<Carts>) -> Response {
    carts.inner.slowdown_ms.store(0, Ordering::Relaxed);
    slowdown_response(&carts)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Toggle {
    enabled: bool,
}

async fn set_feature(
    State(carts): State<Carts>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let flag = match name.as_str() {
        "promotion" => &carts.inner.promotion,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                format!("unknown feature '{name}' (known: promotion)"),
            );
        }
    };
    let toggle: Toggle = match serde_json::from_slice(&body) {
        Ok(toggle) => toggle,
        Err(source) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid toggle, expected {{\"enabled\": true|false}}: {source}"),
            );
        }
    };
    flag.store(toggle.enabled, Ordering::Relaxed);
    axum::Json(json!({ "feature": name, "enabled": toggle.enabled })).into_response()
}

#[cfg(test)]
mod tests;
