//! The railway's calls on payments: an admin reads any booking's payment and its attempts
//! (charges, then the refund); passengers and conductors are refused; the parked messages
//! of the charge and refund workers over HTTP.

use crate::helpers::{
    AMOUNT, PaymentApp, assert_error, confirmed, in_ten_minutes, listen, released, spawn_app,
    summary, user,
};
use payment_service::charges;
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::amqp::Envelope;
use servicekit::events;
use servicekit::testing::{keys, parked::check_parked_routes, sign_token};
use uuid::Uuid;

fn token(role: &str) -> String {
    sign_token(Uuid::new_v4(), role, &keys().unwrap().private).unwrap()
}

fn time(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap()
}

async fn attempts_of(app: &PaymentApp, token: &str, booking: Uuid) -> reqwest::Response {
    app.with_token(token)
        .get(&format!("/api/payments/admin/bookings/{booking}/attempts"))
        .await
}

#[tokio::test]
async fn an_admin_sees_every_attempt_of_a_booking_declined_retried_and_refunded() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let admin = token("admin");
    let booking = Uuid::new_v4();
    app.confirm(booking, &alice, "tok_chargeDeclined").await;
    app.wait_status(booking, &alice, "failed").await;
    let res = app
        .retry(booking, &alice, &json!({"payment_token": "tok_visa"}), None)
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    app.wait_status(booking, &alice, "succeeded").await;
    app.publish(events::BOOKING_CANCELLED, &released(booking, &alice, true))
        .await;
    events.expect_event("payment.refunded").await;
    let owner_view = app.wait_status(booking, &alice, "refunded").await;

    // The payment itself: the admin gets what its owner gets.
    let res = app
        .with_token(&admin)
        .get(&format!("/api/payments/{booking}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), owner_view);

    let res = attempts_of(&app, &admin, booking).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let attempts = body["attempts"].as_array().unwrap();
    let seen: Vec<(&str, &str, Option<&str>)> = attempts
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap(),
                a["status"].as_str().unwrap(),
                a["reason"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("charge", "failed", Some("card_declined")),
            ("charge", "succeeded", None),
            ("refund", "succeeded", None),
        ],
        "{body}"
    );
    for a in attempts {
        assert_eq!(a["amount"], AMOUNT);
        assert_eq!(a["currency"], "BDT");
        assert!(time(&a["created_at"]) <= time(&a["updated_at"]), "{a}");
        if a["status"] != "failed" {
            assert!(a.get("reason").is_none(), "{a}");
        }
    }
    // Oldest first.
    let times: Vec<_> = attempts.iter().map(|a| time(&a["created_at"])).collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted);
}

#[tokio::test]
async fn an_admin_sees_a_payment_not_taken_yet_and_gets_404_for_an_unknown_booking() {
    let app = spawn_app().await;
    let alice = user();
    let admin = token("admin");
    // Confirmed at booking-service; booking.confirmed has not reached the worker.
    let booking = Uuid::new_v4();
    app.bookings.insert(summary(&confirmed(
        booking,
        &alice,
        "tok_visa",
        in_ten_minutes(),
    )));

    let payment: Value = app
        .with_token(&admin)
        .get_json(&format!("/api/payments/{booking}"))
        .await;
    assert_eq!(payment["status"], "pending");
    assert!(payment["payment_id"].is_null());
    let res = attempts_of(&app, &admin, booking).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "attempts": [] })
    );

    let unknown = Uuid::new_v4();
    let res = app
        .with_token(&admin)
        .get(&format!("/api/payments/{unknown}"))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = attempts_of(&app, &admin, unknown).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .with_token(&admin)
        .get("/api/payments/admin/bookings/not-a-uuid/attempts")
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn the_attempts_are_refused_to_passengers_and_conductors_even_their_own() {
    let app = spawn_app().await;
    let alice = user();
    let booking = Uuid::new_v4();
    app.confirm(booking, &alice, "tok_visa").await;
    app.wait_status(booking, &alice, "succeeded").await;
    for caller in [alice.token.clone(), token("passenger"), token("conductor")] {
        let res = attempts_of(&app, &caller, booking).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Another passenger, or a conductor, still cannot read the payment itself.
    for caller in [token("passenger"), token("conductor")] {
        let res = app
            .with_token(&caller)
            .get(&format!("/api/payments/{booking}"))
            .await;
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    let res = app
        .get(&format!("/api/payments/admin/bookings/{booking}/attempts"))
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_poisoned_booking_confirmed_is_listed_replayed_and_dropped_over_http() {
    let app = spawn_app().await;
    // Not a booking.confirmed payload: the charge worker refuses it at once.
    let poison = Envelope::new(events::BOOKING_CONFIRMED, &json!({ "booking_id": 7 })).unwrap();
    check_parked_routes(&app, "/api/payments", charges::QUEUE, &poison).await;
}
