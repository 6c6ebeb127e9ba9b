//! The sales gate: selecting before a trip's `sales_open_at` is 409 `sales_not_open`, and an
//! admin's move of the opening is seen within the inventory's refresh (a 304 while nothing
//! changed); the selects that find a trip uncached share one fetch of its inventory.

use crate::helpers::{BookingApp, assert_error, move_opening, spawn_app, user};
use booking_service::inventory::REFRESH_AFTER;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::testing::eventually;
use std::time::{Duration, Instant};

#[tokio::test]
async fn selecting_before_the_opening_is_409_sales_not_open_and_holds_nothing() {
    let app = spawn_app().await;
    let opens = DateTime::from_timestamp(Utc::now().timestamp() + 3600, 0).unwrap();
    move_opening(&app, app.trip, opens).await;
    let res = app.select(&user(), app.trip, &[1, 2]).await;
    let err = assert_error(res, StatusCode::CONFLICT, "sales_not_open").await;
    let opens_at: DateTime<Utc> = err["error"]["details"]["opens_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(opens_at, opens);
    let map = app.seat_map().await;
    assert!(map.values().all(|s| s == "available"), "{map:?}");
    assert_eq!(
        app.metric("railrush_booking_selects_total", &[("outcome", "not_open")])
            .await,
        1.0
    );
}

#[tokio::test]
async fn after_the_opening_selecting_works_as_before() {
    let app = spawn_app().await;
    move_opening(&app, app.trip, Utc::now() - chrono::Duration::seconds(1)).await;
    let hold: Value = app.hold(&user(), &[1, 2]).await;
    assert_eq!(hold["seat_ids"], json!([1, 2]));
}

#[tokio::test]
async fn a_moved_opening_is_seen_within_the_refresh() {
    let app = spawn_app().await;
    app.hold(&user(), &[1]).await; // the inventory is cached now
    let moved = Instant::now();
    move_opening(&app, app.trip, Utc::now() + chrono::Duration::hours(1)).await;
    // Seat 1 is taken: 409 seat_unavailable until the gate sees the new opening. (A new
    // passenger each try: one passenger's selects are limited per minute.)
    eventually("the later opening applies", || async {
        let res = app.select(&user(), app.trip, &[1]).await;
        let body: Value = res.json().await.unwrap();
        body["error"]["code"] == "sales_not_open"
    })
    .await;
    let took = moved.elapsed();
    assert!(took < REFRESH_AFTER + Duration::from_secs(2), "{took:?}");

    move_opening(&app, app.trip, Utc::now() - chrono::Duration::seconds(1)).await;
    eventually("the earlier opening applies", || async {
        app.select(&user(), app.trip, &[2]).await.status() == StatusCode::CREATED
    })
    .await;
}

/// train-service's answers to inventory requests with `status`.
async fn inventory_answers(app: &BookingApp, status: &str) -> f64 {
    app.train
        .metric(
            "railrush_http_requests_total",
            &[
                ("route", "/internal/trips/{trip_id}/inventory"),
                ("method", "GET"),
                ("status", status),
            ],
        )
        .await
}

#[tokio::test]
async fn the_selects_that_find_a_trip_uncached_share_one_fetch_of_its_inventory() {
    let app = spawn_app().await;
    let fetches = || inventory_answers(&app, "200");
    let before = fetches().await;
    let selects = (1..=8).map(|seat| {
        let (app, passenger) = (&app, user());
        async move { app.select(&passenger, app.trip, &[seat]).await.status() }
    });
    let answers = futures_util::future::join_all(selects).await;
    assert!(
        answers.iter().all(|s| *s == StatusCode::CREATED),
        "{answers:?}"
    );
    assert_eq!(fetches().await - before, 1.0);
}

#[tokio::test]
async fn the_refresh_of_an_unchanged_trip_is_a_304_and_the_copy_keeps_serving() {
    let app = spawn_app().await;
    app.hold(&user(), &[1]).await; // the inventory is cached now
    let fetched = inventory_answers(&app, "200").await;
    tokio::time::sleep(REFRESH_AFTER).await;
    eventually("a refresh answered 304", || async {
        app.select(&user(), app.trip, &[1]).await; // 409: seat 1 is held
        inventory_answers(&app, "304").await >= 1.0
    })
    .await;
    assert_eq!(inventory_answers(&app, "200").await, fetched);
    let hold = app.hold(&user(), &[2]).await;
    assert_eq!(hold["seat_ids"], json!([2]));
}
