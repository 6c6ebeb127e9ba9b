//! The railway cancels a trip: admin only, idempotent, every live booking cancelled once
//! (a paid one announced for its refund), seats and holds freed, nothing sold afterwards.

use crate::helpers::{BookingApp, User, assert_error, spawn_app, spawn_app_with, user};
use crate::saga::outcome;
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::testing::{TestApp, keys, poll, sign_token};
use std::collections::HashMap;
use uuid::Uuid;

fn an_admin() -> User {
    let id = Uuid::new_v4();
    User {
        id,
        token: sign_token(id, "admin", &keys().unwrap().private).unwrap(),
    }
}

fn cancel_path(trip: i64) -> String {
    format!("/api/bookings/admin/trips/{trip}/cancel")
}

fn progress_path(trip: i64) -> String {
    format!("/api/bookings/admin/trips/{trip}/cancellation")
}

async fn cancel_trip(app: &BookingApp, who: &User, reason: &str) -> reqwest::Response {
    app.with_token(&who.token)
        .post_json(&cancel_path(app.trip), &json!({ "reason": reason }))
        .await
}

/// The cancellation's progress, polled until it is done.
async fn done(app: &BookingApp, admin: &User) -> Value {
    let path = progress_path(app.trip);
    poll("the trip cancellation to finish", || async {
        let progress = app.with_token(&admin.token).get_json(&path).await;
        if progress["done"] == true {
            Ok(progress)
        } else {
            Err(progress)
        }
    })
    .await
}

/// The payloads of the outbox's rows of `kind`.
async fn outbox_payloads(app: &BookingApp, kind: &str) -> Vec<Value> {
    let rows = app
        .db()
        .await
        .query("SELECT payload FROM outbox WHERE kind = $1", &[&kind])
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// `booking.cancelled` rows in the outbox, by booking id.
async fn cancelled_events(app: &BookingApp) -> HashMap<String, Vec<Value>> {
    let mut events: HashMap<String, Vec<Value>> = HashMap::new();
    for payload in outbox_payloads(app, "booking.cancelled").await {
        let id = payload["booking_id"].as_str().unwrap().to_owned();
        events.entry(id).or_default().push(payload);
    }
    events
}

/// Books `seats` for a new passenger and has the booking paid (payment-service's event).
async fn paid_booking(app: &BookingApp, seats: &[i32]) -> (User, Value) {
    let passenger = user();
    let booking = app.book(&passenger, seats).await;
    app.publish(
        "payment.succeeded",
        &outcome(&booking, passenger.id, None, 1),
    )
    .await;
    app.booking_until(&passenger, &booking["booking_id"], |b| {
        b["status"] == "paid"
    })
    .await;
    (passenger, booking)
}

#[tokio::test]
async fn cancelling_a_trip_is_for_admins_only_and_names_unknown_trips() {
    let app = spawn_app().await;
    let passenger = user();
    let body = json!({ "reason": "Flooding" });
    for res in [
        app.with_token(&passenger.token)
            .post_json(&cancel_path(app.trip), &body)
            .await,
        app.with_token(&passenger.token)
            .get(&progress_path(app.trip))
            .await,
    ] {
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_error(
        app.post_json(&cancel_path(app.trip), &body).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let admin = an_admin();
    let never = app
        .with_token(&admin.token)
        .get(&progress_path(app.trip))
        .await;
    assert_error(never, StatusCode::NOT_FOUND, "not_found").await;
    let unknown = app
        .with_token(&admin.token)
        .post_json(&cancel_path(987_654), &body)
        .await;
    assert_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
    for reason in [json!("   "), json!("x".repeat(501))] {
        let res = app
            .with_token(&admin.token)
            .post_json(&cancel_path(app.trip), &json!({ "reason": reason }))
            .await;
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let zero = app
        .with_token(&admin.token)
        .post_json(&cancel_path(0), &body)
        .await;
    assert_error(zero, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Nothing of the refused calls was written, and selling goes on.
    let never = app
        .with_token(&admin.token)
        .get(&progress_path(app.trip))
        .await;
    assert_error(never, StatusCode::NOT_FOUND, "not_found").await;
    app.hold(&passenger, &[1]).await;
}

#[tokio::test]
async fn a_cancelled_trip_has_every_live_booking_cancelled_once_its_seats_freed_and_nothing_sold_after()
 {
    let app = spawn_app_with(|s| s.booking.trip_cancel_interval_ms = 100).await;
    app.payments_ready().await;
    let rahim = user();
    let confirmed = app.book(&rahim, &[1, 2]).await;
    let (karim, paid) = paid_booking(&app, &[3]).await;
    // Cancelled by its owner before: not the railway's to cancel again.
    let selim = user();
    let own = app.book(&selim, &[4]).await;
    let own_cancel = format!(
        "/api/bookings/{}/cancel",
        own["booking_id"].as_str().unwrap()
    );
    let res = app
        .with_token(&selim.token)
        .post_json(&own_cancel, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // A hold taken before the cancellation: it can never be confirmed.
    let nadia = user();
    let hold = app.hold(&nadia, &[5, 6]).await;

    let admin = an_admin();
    let res = cancel_trip(&app, &admin, "Flooding on the line near Feni").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["trip_id"], app.trip);
    assert_eq!(first["reason"], "Flooding on the line near Feni");
    assert_eq!(first["requested_by"], json!(admin.id));
    assert_eq!(first["done"], false);

    // A retry (another admin, another reason) answers the same cancellation.
    let res = cancel_trip(&app, &an_admin(), "Retry").await;
    assert!(
        matches!(res.status(), StatusCode::OK | StatusCode::ACCEPTED),
        "{}",
        res.status()
    );
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["reason"], first["reason"]);
    assert_eq!(again["requested_at"], first["requested_at"]);
    assert_eq!(again["requested_by"], first["requested_by"]);
    // One `trip.cancelled` for search (train-service), written with the first request only.
    let trip_events = outbox_payloads(&app, "trip.cancelled").await;
    assert_eq!(trip_events.len(), 1);
    assert_eq!(trip_events[0]["trip_id"], app.trip);
    assert_eq!(trip_events[0]["reason"], "Flooding on the line near Feni");

    let progress = done(&app, &admin).await;
    assert_eq!(progress["bookings_total"], 2);
    assert_eq!(progress["cancelled"], 2);
    assert_eq!(progress["left"], 0);
    assert_eq!(progress["refunds_requested"], 1);
    for (who, booking) in [(&rahim, &confirmed), (&karim, &paid)] {
        let now = app
            .booking_until(who, &booking["booking_id"], |_| true)
            .await;
        assert_eq!(now["status"], "cancelled");
    }

    // One booking.cancelled per booking: the owner's, and the railway's two with the reason.
    let events = cancelled_events(&app).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events.values().all(|e| e.len() == 1), "{events:?}");
    let railway = |b: &Value| events[b["booking_id"].as_str().unwrap()][0].clone();
    let (c, p) = (railway(&confirmed), railway(&paid));
    assert_eq!(c["was_paid"], false);
    assert_eq!(p["was_paid"], true);
    for e in [&c, &p] {
        assert_eq!(e["reason"], "Flooding on the line near Feni");
        assert_eq!(e["trip"]["to"], "CTG");
    }
    assert_eq!(c["seats"].as_array().unwrap().len(), 2);
    assert!(railway(&own).get("reason").is_none());

    // Seats and the hold freed; nothing is sold any more.
    let map = app.seat_map().await;
    for seat in 1..=6 {
        assert_eq!(map[&seat], "available", "seat {seat}: {map:?}");
    }
    assert_error(
        app.select(&user(), app.trip, &[7]).await,
        StatusCode::CONFLICT,
        "trip_cancelled",
    )
    .await;
    assert_error(
        app.confirm(&nadia, &hold).await,
        StatusCode::CONFLICT,
        "trip_cancelled",
    )
    .await;
    let owner_again = app
        .with_token(&rahim.token)
        .post_json(
            &format!(
                "/api/bookings/{}/cancel",
                confirmed["booking_id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_error(owner_again, StatusCode::CONFLICT, "not_cancellable").await;
    assert_eq!(cancelled_events(&app).await.len(), 3);

    let was = |status: &'static str| [("was", status)];
    let metric = "railrush_booking_trip_cancellation_bookings_total";
    assert_eq!(app.metric(metric, &was("paid")).await, 1.0);
    assert_eq!(app.metric(metric, &was("confirmed")).await, 1.0);
    assert_eq!(
        app.metric("railrush_booking_trips_cancelled_total", &[])
            .await,
        1.0
    );

    // Done: a retry answers 200 with the same counts.
    let res = cancel_trip(&app, &admin, "Flooding").await;
    assert_eq!(res.status(), StatusCode::OK);
    let last: Value = res.json().await.unwrap();
    assert_eq!(last["cancelled"], 2);
    assert_eq!(last["done"], true);
}

#[tokio::test]
async fn confirm_is_refused_by_the_database_before_this_replica_knows_of_the_cancellation() {
    let app = spawn_app().await;
    let rahim = user();
    let hold = app.hold(&rahim, &[2]).await;
    // Another replica's cancellation: the row is there, this replica's set does not know.
    app.db()
        .await
        .execute(
            "INSERT INTO trip_cancellations (trip_id, reason, requested_by, departs_at) \
             VALUES ($1, 'Signal failure', $2, now() + interval '1 day')",
            &[&app.trip, &Uuid::new_v4()],
        )
        .await
        .unwrap();
    assert_error(
        app.confirm(&rahim, &hold).await,
        StatusCode::CONFLICT,
        "trip_cancelled",
    )
    .await;
    assert_eq!(app.outbox_count("booking.confirmed").await, 0);
    assert_eq!(
        app.metric(
            "railrush_booking_confirms_total",
            &[("outcome", "cancelled")]
        )
        .await,
        1.0
    );
}

#[tokio::test]
async fn two_replicas_cancelling_a_trip_together_cancel_each_booking_once() {
    let app = spawn_app_with(|s| s.booking.trip_cancel_interval_ms = 20).await;
    let mut settings = app.settings.clone();
    settings.http.port = 0;
    let twin = TestApp::spawn(app.env.clone(), booking_service::startup::build(settings)).await;
    let mut bookings = Vec::new();
    for seat in 1..=8 {
        let passenger = user();
        let booking = app.book(&passenger, &[seat]).await;
        bookings.push((passenger, booking));
    }
    let admin = an_admin();
    let res = cancel_trip(&app, &admin, "Derailment ahead").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let progress = done(&app, &admin).await;
    assert_eq!(progress["cancelled"], 8);
    for (passenger, booking) in &bookings {
        let now = app
            .booking_until(passenger, &booking["booking_id"], |_| true)
            .await;
        assert_eq!(now["status"], "cancelled");
    }
    let events = cancelled_events(&app).await;
    assert_eq!(events.len(), 8);
    assert!(events.values().all(|e| e.len() == 1));
    // The twin learnt of the cancellation from the database: it sells nothing either.
    let res = twin
        .with_token(&user().token)
        .post_json(
            "/api/bookings/seats/select",
            &json!({ "trip_id": app.trip, "seat_ids": [9] }),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "trip_cancelled").await;
}
