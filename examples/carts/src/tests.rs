//! Router tests without a socket (`tower::ServiceExt::oneshot`).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{Carts, PROMOTION_DELAY_MS, app};

fn carts(version: &str) -> Carts {
    Carts::new(version).expect("the test version is valid")
}

/// Sends one request and returns the status and the body (JSON, or a JSON string for text).
async fn send(carts: &Carts, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let builder = Request::builder().method(method).uri(uri);
    let request = match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("the test request is well-formed");
    let response = app(carts.clone())
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body is readable");
    let text = String::from_utf8(bytes.to_vec()).expect("the body is UTF-8");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

async fn add_to_cart(carts: &Carts, customer: &str, item_id: &str) -> (StatusCode, Value) {
    let item = json!({ "itemId": item_id, "unitPrice": "99.99" });
    send(
        carts,
        "POST",
        &format!("/carts/{customer}/items"),
        Some(item),
    )
    .await
}

async fn timed_add_to_cart(carts: &Carts) -> Duration {
    let started = Instant::now();
    let (status, _) = add_to_cart(carts, "1", "sock").await;
    assert_eq!(status, StatusCode::CREATED);
    started.elapsed()
}

#[test]
fn versions() {
    assert_eq!(carts("0.9.1").delay(), Duration::ZERO);
    assert_eq!(carts("0.9.3").delay(), Duration::ZERO);
    assert_eq!(carts("0.9.2").delay(), Duration::from_secs(1));
    let error = Carts::new("0.9 .2").expect_err("whitespace is refused");
    assert_eq!(
        error.to_string(),
        "invalid version '0.9 .2': must be non-empty and without whitespace"
    );
    assert!(Carts::new("").is_err());
}

#[tokio::test]
async fn version_0_9_2_is_a_second_slower_than_0_9_3() {
    let slow = timed_add_to_cart(&carts("0.9.2")).await;
    let fast = timed_add_to_cart(&carts("0.9.3")).await;
    assert!(
        slow >= fast + Duration::from_secs(1),
        "0.9.2 took {slow:?}, 0.9.3 took {fast:?}"
    );
}

#[tokio::test]
async fn health_and_version() {
    let carts = carts("0.9.3");
    let (status, body) = send(&carts, "GET", "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "status": "ok", "version": "0.9.3" }));
    let (status, body) = send(&carts, "GET", "/version", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "version": "0.9.3" }));
}

#[tokio::test]
async fn items_are_added_and_listed() {
    let carts = carts("0.9.1");
    let (status, body) = add_to_cart(&carts, "1", "sock").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        body,
        json!({ "itemId": "sock", "quantity": 1, "unitPrice": 99.99 })
    );
    add_to_cart(&carts, "1", "sock").await;
    let item = json!({ "itemId": "shoe", "quantity": 2, "unitPrice": 5 });
    let (status, _) = send(&carts, "POST", "/carts/1/items", Some(item)).await;
    assert_eq!(status, StatusCode::CREATED);
    add_to_cart(&carts, "2", "hat").await;

    let (status, body) = send(&carts, "GET", "/carts/1/items", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!([
            { "itemId": "sock", "quantity": 2, "unitPrice": 99.99 },
            { "itemId": "shoe", "quantity": 2, "unitPrice": 5.0 },
        ])
    );
    let (_, body) = send(&carts, "GET", "/carts/3/items", None).await;
    assert_eq!(body, json!([]));
}

#[tokio::test]
async fn bad_items_are_refused() {
    let carts = carts("0.9.1");
    let item = json!({ "itemId": "sock", "unitPrice": "cheap" });
    let (status, body) = send(&carts, "POST", "/carts/1/items", Some(item)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({ "error": "unitPrice 'cheap' is not a number" })
    );
    let (status, _) = send(&carts, "POST", "/carts/1/items", Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn metrics_count_requests_per_handler() {
    let carts = carts("0.9.3");
    for _ in 0..3 {
        add_to_cart(&carts, "1", "sock").await;
    }
    for _ in 0..2 {
        send(&carts, "GET", "/carts/1/items", None).await;
    }
    send(&carts, "POST", "/carts/1/items", Some(json!({}))).await;
    let (status, Value::String(text)) = send(&carts, "GET", "/metrics", None).await else {
        panic!("/metrics answers text");
    };
    assert_eq!(status, StatusCode::OK);
    let add = r#"handler="ItemsController.addToCart",method="POST",status="201""#;
    let get = r#"handler="ItemsController.getItems",method="GET",status="200""#;
    let bad = r#"handler="ItemsController.addToCart",method="POST",status="400""#;
    for expected in [
        format!("http_requests_total{{{add}}} 3\n"),
        format!("http_requests_total{{{get}}} 2\n"),
        format!("http_requests_total{{{bad}}} 1\n"),
        format!("http_response_time_milliseconds_count{{{add}}} 3\n"),
        format!("http_response_time_milliseconds_count{{{get}}} 2\n"),
        format!("http_response_time_milliseconds_bucket{{le=\"5000.0\",{add}}} 3\n"),
        "# TYPE http_response_time_milliseconds histogram\n".to_owned(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    // Nothing below 1 ms: every /carts request does some work.
    assert!(
        text.contains(&format!(
            "http_response_time_milliseconds_bucket{{le=\"1.0\",{get}}} 0\n"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn slowdown_switch() {
    let carts = carts("0.9.3");
    let (status, body) = send(
        &carts,
        "POST",
        "/admin/slowdown",
        Some(json!({ "milliseconds": 300 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "milliseconds": 300 }));
    assert_eq!(carts.delay(), Duration::from_millis(300));
    let slowed = timed_add_to_cart(&carts).await;
    assert!(slowed >= Duration::from_millis(300), "took {slowed:?}");

    let (_, body) = send(&carts, "GET", "/admin/slowdown", None).await;
    assert_eq!(body, json!({ "milliseconds": 300 }));
    let (status, body) = send(&carts, "DELETE", "/admin/slowdown", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "milliseconds": 0 }));
    assert_eq!(carts.delay(), Duration::ZERO);

    let too_slow = json!({ "milliseconds": 70_000 });
    let (status, body) = send(&carts, "POST", "/admin/slowdown", Some(too_slow)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({ "error": "slowdown '70000' ms is above the limit of 60000 ms" })
    );
    assert_eq!(carts.delay(), Duration::ZERO);
}

#[tokio::test]
async fn promotion_feature_adds_a_slowdown() {
    let carts = carts("0.9.1");
    let on = json!({ "enabled": true });
    let (status, body) = send(&carts, "POST", "/admin/feature/promotion", Some(on)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "feature": "promotion", "enabled": true }));
    assert_eq!(carts.delay(), Duration::from_millis(PROMOTION_DELAY_MS));
    let off = json!({ "enabled": false });
    send(&carts, "POST", "/admin/feature/promotion", Some(off)).await;
    assert_eq!(carts.delay(), Duration::ZERO);

    let on = json!({ "enabled": true });
    let (status, body) = send(&carts, "POST", "/admin/feature/discounts", Some(on)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "error": "unknown feature 'discounts' (known: promotion)" })
    );
}
