use crate::helpers::{assert_error, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn ready_live_and_metrics_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health/live").await.status(), StatusCode::OK);
    assert_eq!(app.get("/health/ready").await.status(), StatusCode::OK);
    crate::helpers::eventually("the consumer metrics", || async {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.contains("railrush_consumer_parked_messages{")
            && text.contains("railrush_consumer_messages_total{")
    })
    .await;
    let res = app.get("/api/nothing-here").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn ready_is_503_naming_postgres_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.env.drop_database().await.unwrap();
    let res = app.get("/health/ready").await;
    let body = assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(body["error"]["details"]["failing"][0], "postgres", "{body}");
    let res = app
        .with_token(&crate::helpers::token_for(uuid::Uuid::new_v4()))
        .get("/api/notifications")
        .await;
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}

#[tokio::test]
async fn a_stop_ends_the_server_and_joins_every_background_task() {
    let app = spawn_app().await;
    assert!(app.tasks().running() > 0, "the consumers run");
    app.assert_stops_gracefully().await;
}
