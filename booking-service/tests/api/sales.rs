//! The sales gate: selecting before a trip's `sales_open_at` is 409 `sales_not_open`, and an
//! admin's move of the opening is seen within the inventory's refresh.

use crate::helpers::{BookingApp, assert_error, spawn_app, user};
use booking_service::inventory::REFRESH_AFTER;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use servicekit::testing::{eventually, keys, sign_token};
use std::time::{Duration, Instant};

/// Moves the trip's opening through train-service's admin call.
async fn move_opening(app: &BookingApp, trip: i64, at: DateTime<Utc>) {
    let admin = sign_token(uuid::Uuid::new_v4(), "admin", &keys().unwrap().private).unwrap();
    let res = app
        .train
        .request(
            Method::PUT,
            &format!("/api/trains/admin/trips/{trip}/sales"),
        )
        .bearer_auth(admin)
        .json(&json!({ "sales_open_at": at }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
}

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
    // Seat 1 is taken: 409 seat_unavailable until the gate sees the new opening.
    let late = user();
    eventually("the later opening applies", || async {
        let res = app.select(&late, app.trip, &[1]).await;
        let body: Value = res.json().await.unwrap();
        body["error"]["code"] == "sales_not_open"
    })
    .await;
    let took = moved.elapsed();
    assert!(took < REFRESH_AFTER + Duration::from_secs(2), "{took:?}");

    move_opening(&app, app.trip, Utc::now() - chrono::Duration::seconds(1)).await;
    eventually("the earlier opening applies", || async {
        app.select(&late, app.trip, &[2]).await.status() == StatusCode::CREATED
    })
    .await;
}
