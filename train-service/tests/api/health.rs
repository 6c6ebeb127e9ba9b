use crate::helpers::{assert_error, service_date, spawn_app};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn live_and_ready_are_200_when_every_dependency_answers() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health/live").await.status(), StatusCode::OK);
    assert_eq!(app.get_json("/health/ready").await, json!({"status": "ok"}));
}

#[tokio::test]
async fn database_gone_gives_503_unavailable_not_a_hang() {
    let app = spawn_app().await;
    app.env.drop_database().await.unwrap();
    let started = Instant::now();
    let path = format!(
        "/api/trains/search?from=DHK&to=CTG&date={}",
        service_date(1)
    );
    for path in [
        path.as_str(),
        "/api/trains/stations",
        "/api/trains/trips/1",
        "/internal/trips/1/inventory",
    ] {
        let body = assert_error(
            app.get(path).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        )
        .await;
        assert!(
            !body.to_string().to_lowercase().contains("postgres"),
            "no internals: {body}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    let body = assert_error(
        app.get("/health/ready").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    assert_eq!(body["error"]["details"]["failing"], json!(["postgres"]));
}

#[tokio::test]
async fn metrics_are_on_the_service_registry_by_route_pattern() {
    let app = spawn_app().await;
    app.get("/api/trains/trips/12345").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"railrush_http_requests_total{method="GET",route="/api/trains/trips/{trip_id}",status="404",service="train"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"railrush_pool_connections{pool="postgres""#));
}

#[tokio::test]
async fn a_stop_ends_the_server_and_joins_every_background_task() {
    let app = spawn_app().await;
    assert!(app.tasks().running() > 0, "the availability consumer runs");
    app.assert_stops_gracefully().await;
}
