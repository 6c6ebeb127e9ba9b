use crate::helpers::{assert_error, spawn_app, spawn_unready_app_with, user};
use reqwest::StatusCode;
use serde_json::json;
use servicekit::testing::eventually_within;
use std::time::{Duration, Instant};

#[tokio::test]
async fn redis_unreachable_makes_select_answer_503_within_a_second() {
    let app =
        spawn_unready_app_with(|s| s.redis.url = "redis://127.0.0.1:1".to_owned().into()).await;
    let started = Instant::now();
    let res = app.select(&user(), app.trip, &[1]).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let body = assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(
        !body.to_string().to_lowercase().contains("redis"),
        "no internals: {body}"
    );
}

#[tokio::test]
async fn booked_markers_come_back_after_redis_restarts_empty() {
    let app = spawn_app().await;
    let rahim = user();
    let hold = app.hold(&rahim, &[3]).await;
    assert_eq!(
        app.confirm(&rahim, &hold).await.status(),
        StatusCode::CREATED
    );
    app.wipe_redis().await;
    eventually_within(
        Duration::from_secs(5),
        "the markers to be rebuilt",
        || async { app.seat_map().await[&3] == "booked" },
    )
    .await;
    let res = app.select(&user(), app.trip, &[3]).await;
    assert_error(res, StatusCode::CONFLICT, "seat_unavailable").await;
    // The owner's seat still counts toward their limit after the rebuild.
    let res = app.select(&rahim, app.trip, &[4, 5, 6, 7]).await;
    assert_error(res, StatusCode::CONFLICT, "seat_limit_reached").await;
}

#[tokio::test]
async fn with_the_broker_down_confirms_still_work_and_the_outbox_keeps_the_event() {
    let app = spawn_unready_app_with(|s| {
        s.amqp.url = "amqp://guest:guest@127.0.0.1:1/%2f".to_owned().into()
    })
    .await;
    let rahim = user();
    let hold = app.hold(&rahim, &[2]).await;
    assert_eq!(
        app.confirm(&rahim, &hold).await.status(),
        StatusCode::CREATED
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let row = app
        .db()
        .await
        .query_one("SELECT count(*), count(sent_at) FROM outbox", &[])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1)),
        (1, 0),
        "held, not lost, not sent"
    );
    let ready = app.get("/health/ready").await;
    assert_eq!(
        ready.status(),
        StatusCode::OK,
        "the outbox absorbs the outage"
    );
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "degraded", "degraded": ["rabbitmq"]})
    );
}

#[tokio::test]
async fn a_stop_ends_the_server_and_joins_every_background_task() {
    let app = spawn_app().await;
    assert!(
        app.tasks().running() > 0,
        "the sweeper, consumer and relay run"
    );
    app.assert_stops_gracefully().await;
}
