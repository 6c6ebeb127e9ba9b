use crate::helpers::{assert_error, spawn_app, spawn_app_with, user};
use futures_util::StreamExt;
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn the_events_stream_reports_holds_bookings_and_releases_live() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url(&format!("/api/bookings/trips/{}/events", app.trip)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut stream = res.bytes_stream();
    let mut seen = String::new();
    let mut read_until = async |needle: &str, seen: &mut String| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !seen.contains(needle) {
            let chunk = tokio::time::timeout_at(deadline, stream.next())
                .await
                .expect(needle)
                .unwrap()
                .unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    read_until(": connected", &mut seen).await;
    // The feed declares its exchange in the background; give it a moment before acting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rahim = user();
    let hold = app.hold(&rahim, &[6]).await;
    read_until(
        "event: seat\ndata: {\"seat_id\":6,\"status\":\"held\"}",
        &mut seen,
    )
    .await;
    assert_eq!(
        app.confirm(&rahim, &hold).await.status(),
        StatusCode::CREATED
    );
    read_until("{\"seat_id\":6,\"status\":\"booked\"}", &mut seen).await;
    let other = app.hold(&rahim, &[7]).await;
    let path = format!("/api/bookings/holds/{}", other["hold_id"].as_str().unwrap());
    app.with_token(&rahim.token).delete(&path).await;
    read_until("{\"seat_id\":7,\"status\":\"available\"}", &mut seen).await;
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
