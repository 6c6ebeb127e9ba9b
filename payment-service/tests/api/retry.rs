use crate::helpers::{
    PaymentApp, User, assert_error, attempts, confirmed, listen, spawn_app, user,
};
use chrono::{Duration as Span, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::events;
use uuid::Uuid;

/// A booking whose first charge was declined.
async fn declined_booking(app: &PaymentApp, alice: &User) -> Uuid {
    let booking = Uuid::new_v4();
    app.confirm(booking, alice, "tok_chargeDeclined").await;
    app.wait_status(booking, alice, "failed").await;
    booking
}

#[tokio::test]
async fn a_failed_payment_retried_with_tok_visa_succeeds_on_the_second_attempt() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = declined_booking(&app, &alice).await;
    events.expect_event("payment.failed").await;

    let res = app
        .retry(booking, &alice, &json!({"payment_token": "tok_visa"}), None)
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["booking_id"], booking.to_string());
    assert_eq!(body["status"], "pending");
    assert_eq!(body["attempts"], 1);

    let event = events.expect_event("payment.succeeded").await;
    assert_eq!(event["payload"]["attempts"], 2);
    let payment = app.wait_status(booking, &alice, "succeeded").await;
    assert_eq!(payment["attempts"], 2);
    assert!(payment["failure"].is_null());
    let rows = attempts(&app.db().await, booking).await;
    let outcomes: Vec<_> = rows.iter().map(|r| r.2.as_deref()).collect();
    assert_eq!(outcomes, vec![Some("card_declined"), Some("succeeded")]);
    assert_eq!(app.gateway.distinct_charges(), 1);

    // Succeeded: nothing left to retry.
    let res = app
        .retry(booking, &alice, &json!({"payment_token": "tok_visa"}), None)
        .await;
    assert_error(res, StatusCode::CONFLICT, "not_retryable").await;
}

#[tokio::test]
async fn a_retry_replays_its_answer_for_the_same_idempotency_key() {
    let app = spawn_app().await;
    let alice = user();
    let booking = declined_booking(&app, &alice).await;
    let body = json!({"payment_token": "tok_chargeDeclined"});

    let first = app.retry(booking, &alice, &body, Some("retry-1")).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    let again = app.retry(booking, &alice, &body, Some("retry-1")).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let other = app
        .retry(
            booking,
            &alice,
            &json!({"payment_token": "tok_visa"}),
            Some("retry-1"),
        )
        .await;
    assert_error(other, StatusCode::CONFLICT, "idempotency_key_reused").await;

    // The replay did not charge again: one more attempt only.
    let payment = app.wait_status(booking, &alice, "failed").await;
    assert_eq!(payment["attempts"], 2);
}

#[tokio::test]
async fn a_pending_or_overdue_payment_is_not_retryable() {
    let app = spawn_app().await;
    let alice = user();
    let overdue = Uuid::new_v4();
    app.publish(
        events::BOOKING_CONFIRMED,
        &confirmed(
            overdue,
            &alice,
            "tok_chargeDeclined",
            Utc::now() - Span::minutes(1),
        ),
    )
    .await;
    app.wait_status(overdue, &alice, "failed").await;

    let res = app
        .retry(overdue, &alice, &json!({"payment_token": "tok_visa"}), None)
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "not_retryable").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("due"));

    // Retried once: pending until the worker answers, so a second retry is refused.
    let booking = declined_booking(&app, &alice).await;
    app.db()
        .await
        .execute(
            "UPDATE payments SET status = 'pending' WHERE booking_id = $1",
            &[&booking],
        )
        .await
        .unwrap();
    let res = app
        .retry(booking, &alice, &json!({"payment_token": "tok_visa"}), None)
        .await;
    assert_error(res, StatusCode::CONFLICT, "not_retryable").await;
}

#[tokio::test]
async fn a_retry_right_after_a_cancel_is_refused_before_the_refund_closes_the_payment() {
    let app = spawn_app().await;
    let alice = user();
    let booking = declined_booking(&app, &alice).await;
    // Cancelled at booking-service; its booking.cancelled has not reached us yet.
    app.bookings.set_status(booking, "cancelled");

    let res = app
        .retry(booking, &alice, &json!({"payment_token": "tok_visa"}), None)
        .await;
    let body = assert_error(res, StatusCode::CONFLICT, "not_retryable").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled"),
        "{body}"
    );
    let payment = app.payment(booking, &alice).await;
    assert_eq!(payment["status"], "failed");
    assert_eq!(payment["attempts"], 1);
    assert_eq!(attempts(&app.db().await, booking).await.len(), 1);
    assert_eq!(app.gateway.distinct_charges(), 0);
}

#[tokio::test]
async fn a_retry_of_another_users_or_an_unknown_payment_is_404() {
    let app = spawn_app().await;
    let alice = user();
    let mallory = user();
    let booking = declined_booking(&app, &alice).await;

    let res = app
        .retry(
            booking,
            &mallory,
            &json!({"payment_token": "tok_visa"}),
            None,
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .retry(
            Uuid::new_v4(),
            &alice,
            &json!({"payment_token": "tok_visa"}),
            None,
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.payment(booking, &alice).await["status"], "failed");
}

#[tokio::test]
async fn a_retry_without_a_usable_token_is_400_naming_the_field() {
    let app = spawn_app().await;
    let alice = user();
    let booking = declined_booking(&app, &alice).await;

    for body in [
        json!({}),
        json!({"payment_token": ""}),
        json!({"payment_token": "   "}),
        json!({"payment_token": 42}),
        json!({"payment_token": "x".repeat(256)}),
    ] {
        let res = app.retry(booking, &alice, &body, None).await;
        let error = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(
            error["error"]["details"]["field"], "payment_token",
            "{body}"
        );
    }
    let res = app
        .client
        .post(app.url(&format!("/api/payments/{booking}/retry")))
        .bearer_auth(&alice.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(app.payment(booking, &alice).await["status"], "failed");
}

#[tokio::test]
async fn a_retry_that_arrives_after_the_booking_closed_fails_without_charging() {
    let app = spawn_app().await;
    let alice = user();
    let booking = declined_booking(&app, &alice).await;
    // The retry was accepted, then the booking expired before the worker took it.
    let row = app
        .db()
        .await
        .query_one(
            "UPDATE payments SET status = 'pending', token = 'tok_visa', closed_at = now() \
             WHERE booking_id = $1 RETURNING payment_id",
            &[&booking],
        )
        .await
        .unwrap();
    let payment_id: Uuid = row.get(0);
    app.publish(
        events::PAYMENT_RETRY_REQUESTED,
        &payment_service::charges::RetryRequested {
            booking_id: booking,
            payment_id,
        },
    )
    .await;

    let payment = app.wait_status(booking, &alice, "failed").await;
    assert_eq!(payment["failure"], "booking_closed");
    assert_eq!(payment["attempts"], 1);
    assert_eq!(attempts(&app.db().await, booking).await.len(), 1);
    assert_eq!(app.gateway.distinct_charges(), 0);
}
