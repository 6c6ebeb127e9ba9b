//! Redis and PostgreSQL agree: seat keys left wrong by a write that failed half-way are
//! repaired by the reconciliation (periodic, or right after the failed write).

use crate::helpers::{BookingApp, SeatEvents, assert_error, spawn_app_with, user};
use reqwest::StatusCode;
use servicekit::testing::eventually_within;
use std::time::Duration;

const SOON: Duration = Duration::from_secs(5);

/// Reconciles every recent trip every 200 ms.
async fn reconciling_often() -> BookingApp {
    spawn_app_with(|s| s.booking.reconcile_full_ms = 200).await
}

async fn seat_shows(app: &BookingApp, seat: i64, status: &str) {
    eventually_within(SOON, &format!("seat {seat} to show {status}"), || async {
        app.seat_map().await[&seat] == status
    })
    .await;
}

#[tokio::test]
async fn a_marker_left_by_a_release_that_failed_half_way_is_removed_and_announced() {
    let app = reconciling_often().await;
    let rahim = user();
    let booking = app.book(&rahim, &[4]).await;
    assert_eq!(app.seat_map().await[&4], "booked");
    let mut events = SeatEvents::open(&app, app.trip).await;
    // The cancel committed in PostgreSQL, and the marker's release never happened.
    let id: uuid::Uuid = booking["booking_id"].as_str().unwrap().parse().unwrap();
    let db = app.db().await;
    db.execute(
        "UPDATE bookings SET status = 'cancelled', updated_at = now() WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE booking_seats SET live = false WHERE booking_id = $1",
        &[&id],
    )
    .await
    .unwrap();
    events.seat(4, "available", SOON).await;
    assert_eq!(app.seat_map().await[&4], "available");
    let karim = user();
    app.hold(&karim, &[4]).await;
    // The owner's seat set no longer counts the seat: four more fit.
    app.hold(&rahim, &[5, 6, 7, 8]).await;
}

#[tokio::test]
async fn a_live_booking_whose_marker_is_gone_gets_it_back() {
    let app = reconciling_often().await;
    let rahim = user();
    app.book(&rahim, &[3]).await;
    // The marker alone is lost (the sentinel of a full rebuild stays).
    let mut redis = app.redis().await;
    let key = format!("{}seat:{{{}}}:3", app.env.redis.key_prefix, app.trip);
    let removed: i64 = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    seat_shows(&app, 3, "booked").await;
    let res = app.select(&user(), app.trip, &[3]).await;
    assert_error(res, StatusCode::CONFLICT, "seat_unavailable").await;
    let res = app.select(&rahim, app.trip, &[4, 5, 6, 7]).await;
    assert_error(res, StatusCode::CONFLICT, "seat_limit_reached").await;
}

#[tokio::test]
async fn a_confirm_whose_marker_write_finds_another_hold_has_its_trip_reconciled_at_once() {
    // No periodic pass during the test: only the trip marked by the confirm is reconciled.
    let app = spawn_app_with(|s| s.booking.reconcile_full_ms = 3_600_000).await;
    let rahim = user();
    let hold = app.hold(&rahim, &[2]).await;
    // Redis let the seat go to someone else meanwhile (a hold that lapsed, say).
    let mut redis = app.redis().await;
    let key = format!("{}seat:{{{}}}:2", app.env.redis.key_prefix, app.trip);
    let intruder = format!("h:{}:{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    redis::cmd("SET")
        .arg(&key)
        .arg(&intruder)
        .query_async::<()>(&mut redis)
        .await
        .unwrap();
    assert_eq!(app.seat_map().await[&2], "held");
    assert_eq!(
        app.confirm(&rahim, &hold).await.status(),
        StatusCode::CREATED
    );
    seat_shows(&app, 2, "booked").await;
    let value: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        value.starts_with("b:") && value.ends_with(&rahim.id.to_string()),
        "{value}"
    );
}
