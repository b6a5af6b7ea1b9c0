//! The router of one project/stage/service: a reverse proxy sending each request to the
//! primary or the canary by the canary weight, round-robin among that deployment's replicas,
//! and recording every proxied request.
//!
//! Requests and responses are buffered whole (no streaming, no upgrades or websockets).
//! Hop-by-hop headers are dropped; `Host` and every other header are forwarded unchanged.
//!
//! Memory: each router keeps the last `max_records` proxied requests as raw records (a ring,
//! about 40 bytes each: 40 MB at the default of one million), which the embedded SLI provider
//! reads, plus one cumulative histogram per deployment, version and status code for
//! `/metrics` (never dropped; its size grows with the number of versions, not of requests).
//! A request that finds no backend is answered 502 and not recorded.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderName};
use hyper::{Request, Response};
use keptn_core::ports::Scope;
use tokio::task::JoinHandle;

use super::client::{HttpClient, text_response};
use super::spec::DeploymentKind;

/// Istio's default request duration buckets, in milliseconds.
pub const DURATION_BUCKETS_MS: [f64; 19] = [
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// Headers that concern one connection only and are not forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// One proxied request.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// When the response was complete, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The deployment that answered.
    pub deployment: DeploymentKind,
    /// Its version tag.
    pub version: Arc<str>,
    /// The HTTP status sent to the client (502 when the replica could not be reached).
    pub status: u16,
    /// From the request's arrival at the router to the complete response, in milliseconds.
    pub duration_ms: f64,
}

/// The cumulative request metrics of one deployment, version and status code.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Series {
    /// Requests per bucket of [`DURATION_BUCKETS_MS`], not cumulative; the last entry is
    /// above the largest bound.
    pub(crate) bucket_hits: [u64; DURATION_BUCKETS_MS.len() + 1],
    pub(crate) count: u64,
    pub(crate) sum_ms: f64,
}

/// The key of a [`Series`]: deployment, version, status code.
pub(crate) type SeriesKey = (DeploymentKind, Arc<str>, u16);

/// What a router has recorded.
#[derive(Debug)]
pub(crate) struct Recorded {
    max_records: usize,
    pub(crate) records: VecDeque<Record>,
    pub(crate) series: BTreeMap<SeriesKey, Series>,
}

impl Recorded {
    pub(crate) fn new(max_records: usize) -> Self {
        Self {
            max_records,
            records: VecDeque::new(),
            series: BTreeMap::new(),
        }
    }

    /// Adds one request to the ring (dropping the oldest when full) and to its series.
    pub(crate) fn add(&mut self, record: Record) {
        let series = self
            .series
            .entry((
                record.deployment,
                Arc::clone(&record.version),
                record.status,
            ))
            .or_default();
        let bucket_idx = DURATION_BUCKETS_MS
            .iter()
            .position(|bound| record.duration_ms <= *bound)
            .unwrap_or(DURATION_BUCKETS_MS.len());
        series.bucket_hits[bucket_idx] += 1;
        series.count += 1;
        series.sum_ms += record.duration_ms;
        if self.records.len() >= self.max_records {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }
}

/// Whether request number `counter` (from 0) goes to the canary at `canary_percent`:
/// Bresenham's line over the request counter, so every run of 100 consecutive requests
/// sends exactly `canary_percent` of them to the canary, spread evenly.
pub fn goes_to_canary(counter: u64, canary_percent: u8) -> bool {
    let weight = u64::from(canary_percent.min(100));
    let position = counter % 100;
    (position + 1) * weight / 100 > position * weight / 100
}

/// The replicas of one deployment as the router sees them.
#[derive(Debug)]
pub(crate) struct Backends {
    pub(crate) kind: DeploymentKind,
    pub(crate) version: Arc<str>,
    pub(crate) addrs: Vec<SocketAddr>,
    next: AtomicUsize,
}

impl Backends {
    pub(crate) fn new(kind: DeploymentKind, version: &str, addrs: Vec<SocketAddr>) -> Self {
        Self {
            kind,
            version: Arc::from(version),
            addrs,
            next: AtomicUsize::new(0),
        }
    }

    fn pick(&self) -> Option<SocketAddr> {
        if self.addrs.is_empty() {
            return None;
        }
        let replica_idx = self.next.fetch_add(1, Ordering::Relaxed) % self.addrs.len();
        Some(self.addrs[replica_idx])
    }
}

/// Where a router sends traffic.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    /// The primary (blue/green) or the direct deployment.
    pub(crate) stable: Option<Arc<Backends>>,
    /// The canary (blue/green).
    pub(crate) canary: Option<Arc<Backends>>,
    /// Percent of the traffic for the canary.
    pub(crate) canary_weight: u8,
}

/// The router of one project/stage/service.
#[derive(Debug)]
pub(crate) struct Router {
    pub(crate) scope: Scope,
    pub(crate) url: String,
    routes: RwLock<Routes>,
    counter: AtomicU64,
    pub(crate) recorded: Mutex<Recorded>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Router {
    /// A router that is not listening yet (see [`Router::listen`]).
    pub(crate) fn new(scope: Scope, url: String, max_records: usize) -> Self {
        Self {
            scope,
            url,
            routes: RwLock::new(Routes::default()),
            counter: AtomicU64::new(0),
            recorded: Mutex::new(Recorded::new(max_records)),
            task: Mutex::new(None),
        }
    }

    /// Serves `listener` as this router until [`Router::stop`].
    pub(crate) fn listen(self: &Arc<Self>, listener: tokio::net::TcpListener, client: HttpClient) {
        let router = Arc::clone(self);
        let task = super::client::serve(listener, move |request| {
            let router = Arc::clone(&router);
            let client = client.clone();
            async move { router.proxy(&client, request).await }
        });
        if let Some(previous) = lock(&self.task).replace(task) {
            previous.abort();
        }
    }

    /// Stops listening and ends every open connection, without waiting.
    pub(crate) fn abort(&self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }

    /// Stops listening, ends every open connection and waits until the port is free.
    pub(crate) async fn stop(&self) {
        let task = lock(&self.task).take();
        if let Some(task) = task {
            task.abort();
            // The task ends as cancelled; its listener is closed once it is dropped.
            let _ = task.await;
        }
    }

    /// Replaces the routes.
    pub(crate) fn set_routes(&self, routes: Routes) {
        *self
            .routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = routes;
    }

    /// Changes the routes in place.
    #[cfg(test)]
    pub(crate) fn update_routes(&self, change: impl FnOnce(&mut Routes)) {
        change(
            &mut self
                .routes
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }

    /// The backend for the next request: primary or canary by weight (the other one when
    /// the chosen one has no replica), then round-robin.
    pub(crate) fn choose(&self) -> Option<(Arc<Backends>, SocketAddr)> {
        let routes = self
            .routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let counter = self.counter.fetch_add(1, Ordering::Relaxed);
        let usable = |backends: &Option<Arc<Backends>>| {
            backends
                .as_ref()
                .filter(|backends| !backends.addrs.is_empty())
                .cloned()
        };
        let (first, second) = if goes_to_canary(counter, routes.canary_weight) {
            (&routes.canary, &routes.stable)
        } else {
            (&routes.stable, &routes.canary)
        };
        let backends = usable(first).or_else(|| usable(second))?;
        let addr = backends.pick()?;
        Some((backends, addr))
    }

    /// Records a completed request.
    pub(crate) fn record(&self, record: Record) {
        lock(&self.recorded).add(record);
    }

    async fn proxy(
        &self,
        client: &HttpClient,
        request: Request<Incoming>,
    ) -> Response<Full<Bytes>> {
        let arrived = Instant::now();
        let Some((backends, addr)) = self.choose() else {
            return text_response(
                502,
                format!(
                    "keptn local router: no backend for service '{}' in stage '{}' of project '{}' (nothing deployed or running)\n",
                    self.scope.service, self.scope.stage, self.scope.project
                ),
            );
        };
        let (parts, body) = request.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => {
                return text_response(
                    400,
                    format!("keptn local router: cannot read the request body: {error}\n"),
                );
            }
        };
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", hyper::http::uri::PathAndQuery::as_str);
        let mut upstream = Request::new(Full::new(body));
        *upstream.method_mut() = parts.method;
        *upstream.headers_mut() = forwarded_headers(parts.headers);
        let response = match format!("http://{addr}{path_and_query}").parse() {
            Ok(uri) => {
                *upstream.uri_mut() = uri;
                forward(client, upstream).await
            }
            Err(error) => Err(format!(
                "invalid request target '{path_and_query}': {error}"
            )),
        };
        let response = response.unwrap_or_else(|problem| {
            text_response(
                502,
                format!(
                    "keptn local router: replica {addr} ({} {}) failed: {problem}\n",
                    backends.kind, backends.version
                ),
            )
        });
        self.record(Record {
            time_ms: now_ms(),
            deployment: backends.kind,
            version: Arc::clone(&backends.version),
            status: response.status().as_u16(),
            duration_ms: arrived.elapsed().as_secs_f64() * 1000.0,
        });
        response
    }
}

async fn forward(
    client: &HttpClient,
    upstream: Request<Full<Bytes>>,
) -> Result<Response<Full<Bytes>>, String> {
    let response =
        client.request(upstream).await.map_err(|error| {
            match std::error::Error::source(&error) {
                Some(source) => format!("{error}: {source}"),
                None => error.to_string(),
            }
        })?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|error| format!("cannot read the response body: {error}"))?
        .to_bytes();
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = parts.status;
    *res.headers_mut() = forwarded_headers(parts.headers);
    Ok(res)
}

/// `headers` without the hop-by-hop ones (and those the `Connection` header names).
fn forwarded_headers(mut headers: HeaderMap) -> HeaderMap {
    let named: Vec<HeaderName> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    crate::clock::now().0
}

/// Locks a mutex; no code panics while holding these, and a poisoned one still holds
/// consistent data (each update is a single assignment or push).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
