use crate::helpers::{BookingApp, assert_error, spawn_app, user};
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::testing::{WAIT, poll};

#[tokio::test]
async fn bookings_are_visible_to_their_owner_only_newest_first() {
    let app = spawn_app().await;
    let (rahim, karim) = (user(), user());
    let first = app.hold(&rahim, &[1]).await;
    let first: Value = app.confirm(&rahim, &first).await.json().await.unwrap();
    let second = app.hold(&rahim, &[2]).await;
    let second: Value = app.confirm(&rahim, &second).await.json().await.unwrap();

    let path = format!("/api/bookings/{}", first["booking_id"].as_str().unwrap());
    let mine = app.with_token(&rahim.token).get(&path).await;
    assert_eq!(mine.status(), StatusCode::OK);
    assert_eq!(mine.json::<Value>().await.unwrap(), first);
    assert_error(
        app.with_token(&karim.token).get(&path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let unknown = format!("/api/bookings/{}", uuid::Uuid::new_v4());
    assert_error(
        app.with_token(&rahim.token).get(&unknown).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.with_token(&rahim.token)
            .get("/api/bookings/not-a-uuid")
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;

    let list: Value = app.with_token(&rahim.token).get_json("/api/bookings").await;
    assert_eq!(list["bookings"], json!([second, first]));
    let theirs: Value = app.with_token(&karim.token).get_json("/api/bookings").await;
    assert_eq!(theirs, json!({"bookings": []}));
    let anonymous = app.get("/api/bookings").await;
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn cancelling_frees_the_seats_at_once_and_publishes_booking_cancelled() {
    let app = spawn_app().await;
    let mut events = app.listen("booking.cancelled").await;
    let rahim = user();
    let hold = app.hold(&rahim, &[4, 5]).await;
    let booking: Value = app.confirm(&rahim, &hold).await.json().await.unwrap();
    let path = format!(
        "/api/bookings/{}/cancel",
        booking["booking_id"].as_str().unwrap()
    );

    assert_error(
        app.with_token(&user().token)
            .post_json(&path, &json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app
        .with_token(&rahim.token)
        .post_json(&path, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cancelled: Value = res.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let map = app.seat_map().await;
    assert_eq!(
        (map[&4].as_str(), map[&5].as_str()),
        ("available", "available")
    );
    app.hold(&user(), &[4, 5]).await;

    let event = events
        .next_json(WAIT)
        .await
        .expect("booking.cancelled arrives");
    assert_eq!(event["payload"]["booking_id"], booking["booking_id"]);
    assert_eq!(event["payload"]["was_paid"], false);
    assert_eq!(event["payload"]["seats"].as_array().unwrap().len(), 2);

    let again = app
        .with_token(&rahim.token)
        .post_json(&path, &json!({}))
        .await;
    assert_error(again, StatusCode::CONFLICT, "not_cancellable").await;
}

async fn seats_available(app: &BookingApp) -> i64 {
    let trip = app
        .train
        .get_json(&format!("/api/trains/trips/{}", app.trip))
        .await;
    trip["classes"][0]["seats_available"].as_i64().unwrap()
}

async fn wait_for_availability(app: &BookingApp, want: i64) {
    poll("seats_available", || async {
        match seats_available(app).await {
            got if got == want => Ok(()),
            got => Err(format!("stuck at {got}, want {want}")),
        }
    })
    .await;
}

#[tokio::test]
async fn search_availability_drops_after_a_confirmation_and_returns_after_a_cancellation() {
    let app = spawn_app().await;
    let total = i64::from(app.seats);
    assert_eq!(seats_available(&app).await, total);
    let rahim = user();
    let hold = app.hold(&rahim, &[1, 2]).await;
    assert_eq!(seats_available(&app).await, total, "holds do not count");
    let booking: Value = app.confirm(&rahim, &hold).await.json().await.unwrap();
    wait_for_availability(&app, total - 2).await;
    let path = format!(
        "/api/bookings/{}/cancel",
        booking["booking_id"].as_str().unwrap()
    );
    assert_eq!(
        app.with_token(&rahim.token)
            .post_json(&path, &json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    wait_for_availability(&app, total).await;
}
