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

#[tokio::test]
async fn a_paid_booking_cannot_be_cancelled_after_its_trip_departed() {
    let app = spawn_app().await;
    let rahim = user();
    let booking = app.book(&rahim, &[6]).await;
    let id = uuid::Uuid::parse_str(booking["booking_id"].as_str().unwrap()).unwrap();
    // Paid, on the trip that has left (as it is once the departure time passed).
    let db = app.db().await;
    db.execute(
        "UPDATE bookings SET status = 'paid', ticket_code = 'RR-TEST-0000-0000-0000', \
         trip_id = $2 WHERE id = $1",
        &[&id, &app.departed_trip],
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE booking_seats SET trip_id = $2 WHERE booking_id = $1",
        &[&id, &app.departed_trip],
    )
    .await
    .unwrap();

    let res = app
        .with_token(&rahim.token)
        .post_json(&format!("/api/bookings/{id}/cancel"), &json!({}))
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "not_cancellable").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("departed"),
        "{body}"
    );
    let after = app
        .with_token(&rahim.token)
        .get_json(&format!("/api/bookings/{id}"))
        .await;
    assert_eq!(after["status"], "paid");
    assert_eq!(
        app.outbox_count("booking.cancelled").await,
        0,
        "no refund asked"
    );
}

#[tokio::test]
async fn the_internal_summary_tells_payment_service_any_booking_and_404_for_unknown_ones() {
    let app = spawn_app().await;
    let rahim = user();
    let booking = app.book(&rahim, &[7]).await;
    let id = booking["booking_id"].as_str().unwrap();

    let res = app.get(&format!("/internal/bookings/{id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let summary: servicekit::internal::BookingSummary = res.json().await.unwrap();
    assert_eq!(summary.booking_id.to_string(), id);
    assert_eq!(summary.user_id, rahim.id);
    assert_eq!(summary.status, "confirmed");
    assert_eq!(json!(summary.amount), booking["amount"]);
    assert_eq!(json!(summary.payment_due_at), booking["payment_due_at"]);

    let unknown = app
        .get(&format!("/internal/bookings/{}", uuid::Uuid::new_v4()))
        .await;
    assert_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
    let malformed = app.get("/internal/bookings/42").await;
    assert_error(malformed, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn an_ended_sessions_token_cannot_confirm_or_cancel_but_can_still_select() {
    use servicekit::auth::{JwtIssuer, Revocations, Roles, Verified};
    let app = spawn_app().await;
    let issuer =
        JwtIssuer::from_settings(&servicekit::testing::jwt_settings(true).unwrap()).unwrap();
    let id = uuid::Uuid::new_v4();
    let session = uuid::Uuid::new_v4();
    let rahim = servicekit::testing::User {
        id,
        token: issuer
            .issue_session(id, Roles::PASSENGER, Verified::default(), Some(session))
            .unwrap(),
    };
    let booking = app.book(&rahim, &[8]).await;
    let hold = app.hold(&rahim, &[9]).await;

    // auth-service ended the session (logout): its deny-list entry, under the shared prefix.
    let pool = servicekit::cache::pool(&app.env.redis).unwrap();
    Revocations::from_settings(pool, &app.settings.jwt, &app.env.redis)
        .revoke(session)
        .await
        .unwrap();

    let res = app.confirm(&rahim, &hold).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let cancel = format!(
        "/api/bookings/{}/cancel",
        booking["booking_id"].as_str().unwrap()
    );
    let res = app
        .with_token(&rahim.token)
        .post_json(&cancel, &json!({}))
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Selecting is not checked (the hot path makes no extra round trip): a hold at most.
    assert_eq!(
        app.select(&rahim, app.trip, &[10]).await.status(),
        StatusCode::CREATED
    );
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
