use crate::helpers::{SeatEvents, assert_error, spawn_app, spawn_app_with, user};
use reqwest::StatusCode;
use servicekit::testing::TestApp;
use std::time::{Duration, Instant};

/// How long a change may take to reach a viewer here.
const SOON: Duration = Duration::from_secs(5);

#[tokio::test]
async fn the_events_stream_reports_holds_bookings_and_releases_live() {
    let app = spawn_app().await;
    let mut events = SeatEvents::open(&app, app.trip).await;
    let rahim = user();
    let hold = app.hold(&rahim, &[6]).await;
    events
        .read_until("event: seat\ndata: {\"seat_id\":6,\"status\":\"held\"}")
        .await;
    assert_eq!(
        app.confirm(&rahim, &hold).await.status(),
        StatusCode::CREATED
    );
    events.seat(6, "booked", SOON).await;
    let other = app.hold(&rahim, &[7]).await;
    let path = format!("/api/bookings/holds/{}", other["hold_id"].as_str().unwrap());
    app.with_token(&rahim.token).delete(&path).await;
    events.seat(7, "available", SOON).await;
}

#[tokio::test]
async fn a_hold_that_lapses_across_a_restart_is_announced_by_the_next_app() {
    let ttl = Duration::from_secs(5);
    let app = spawn_app_with(|s| s.booking.hold_ttl_ms = ttl.as_millis() as u64).await;
    let held_at = Instant::now();
    app.hold(&user(), &[2, 3]).await;
    app.stop().await.unwrap();
    let next = TestApp::spawn(
        app.env.clone(),
        booking_service::startup::build(app.settings.clone()),
    )
    .await;
    let mut events = SeatEvents::open(&next, app.trip).await;
    assert!(
        held_at.elapsed() < ttl,
        "the hold lapsed before the viewer connected; nothing left to show"
    );
    events.seat(2, "available", ttl + SOON).await;
    events.seat(3, "available", SOON).await;
    assert_eq!(
        next.metric("railrush_booking_holds_expired_total", &[])
            .await,
        1.0
    );
}

#[tokio::test]
async fn a_released_or_confirmed_hold_is_not_announced_again_when_its_time_comes() {
    let app = spawn_app_with(|s| s.booking.hold_ttl_ms = 1_000).await;
    let mut events = SeatEvents::open(&app, app.trip).await;
    let rahim = user();
    let confirmed = app.hold(&rahim, &[4]).await;
    let released = app.hold(&rahim, &[5]).await;
    let lapsing = app.hold(&rahim, &[8]).await;
    assert_eq!(
        app.confirm(&rahim, &confirmed).await.status(),
        StatusCode::CREATED
    );
    let path = format!(
        "/api/bookings/holds/{}",
        released["hold_id"].as_str().unwrap()
    );
    app.with_token(&rahim.token).delete(&path).await;
    events.seat(8, "available", SOON).await;
    assert_eq!(lapsing["seat_ids"][0], 8);
    // Past every hold's time and a few sweeps more; then a fence: a change made after.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    app.hold(&user(), &[9]).await;
    events.seat(9, "held", SOON).await;
    assert!(
        !events
            .seen
            .contains("{\"seat_id\":4,\"status\":\"available\"}"),
        "{}",
        events.seen
    );
    assert_eq!(
        events
            .seen
            .matches("{\"seat_id\":5,\"status\":\"available\"}")
            .count(),
        1,
        "{}",
        events.seen
    );
    assert_eq!(
        app.metric("railrush_booking_holds_expired_total", &[])
            .await,
        1.0
    );
}

#[tokio::test]
async fn the_events_stream_of_an_unknown_trip_is_404() {
    let app = spawn_app().await;
    let res = app.get("/api/bookings/trips/424242/events").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_signed_trip_id_is_refused_by_name_on_seats_and_events() {
    let app = spawn_app().await;
    for path in [
        format!("/api/bookings/trips/+{}/events", app.trip),
        format!("/api/bookings/trips/%2B{}/events", app.trip),
        format!("/api/bookings/trips/+{}/seats", app.trip),
        format!("/api/bookings/trips/-{}/events", app.trip),
        format!("/api/bookings/trips/%20{}/events", app.trip),
    ] {
        let res = app.get(&path).await;
        let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(
            body["error"]["details"]["field"], "trip_id",
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn live_streams_past_the_cap_are_503_with_retry_after() {
    let app = spawn_app_with(|s| s.booking.max_live_listeners = 2).await;
    let path = format!("/api/bookings/trips/{}/events", app.trip);
    let mut open = Vec::new();
    for _ in 0..2 {
        let res = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        open.push(res);
    }
    let res = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(res.headers()["retry-after"], "5");
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    drop(open);
}
