use crate::helpers::{
    AMOUNT, PaymentApp, User, assert_error, listen, refund_due, released, spawn_app, user,
};
use reqwest::StatusCode;
use serde_json::json;
use servicekit::amqp::Envelope;
use servicekit::events;
use servicekit::testing::Listener;
use std::time::Duration;
use uuid::Uuid;

/// A booking paid with tok_visa, its payment.succeeded consumed from `events`.
async fn paid_booking(app: &PaymentApp, alice: &User, events: &mut Listener) -> Uuid {
    let booking = Uuid::new_v4();
    app.confirm(booking, alice, "tok_visa").await;
    events.expect_event("payment.succeeded").await;
    app.wait_status(booking, alice, "succeeded").await;
    booking
}

#[tokio::test]
async fn cancelling_a_paid_booking_refunds_it_once_even_when_the_event_repeats() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = paid_booking(&app, &alice, &mut events).await;

    let cancelled =
        Envelope::new(events::BOOKING_CANCELLED, &released(booking, &alice, true)).unwrap();
    app.publish_envelope(&cancelled).await;
    app.publish_envelope(&cancelled).await;

    let event = events.expect_event("payment.refunded").await;
    assert_eq!(event["payload"]["booking_id"], booking.to_string());
    assert_eq!(event["payload"]["user_id"], alice.id.to_string());
    assert_eq!(event["payload"]["amount"], AMOUNT);
    assert_eq!(event["payload"]["currency"], "BDT");
    let payment = app.wait_status(booking, &alice, "refunded").await;
    assert_eq!(payment["attempts"], 1);

    // A refund_due for the same booking (another event id) does not refund again either.
    app.publish(events::BOOKING_REFUND_DUE, &refund_due(booking, &alice))
        .await;
    assert!(
        events
            .next_event("payment.refunded", Duration::from_secs(2))
            .await
            .is_none(),
        "refunded twice"
    );
    assert_eq!(app.gateway.distinct_refunds(), 1);
    let row = app
        .db()
        .await
        .query_one(
            "SELECT refund_id, closed_at IS NOT NULL FROM payments WHERE booking_id = $1",
            &[&booking],
        )
        .await
        .unwrap();
    assert!(row.get::<_, Option<String>>(0).is_some());
    assert!(row.get::<_, bool>(1));
}

#[tokio::test]
async fn a_refund_due_refunds_a_succeeded_payment() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = paid_booking(&app, &alice, &mut events).await;

    app.publish(events::BOOKING_REFUND_DUE, &refund_due(booking, &alice))
        .await;

    let event = events.expect_event("payment.refunded").await;
    assert_eq!(event["payload"]["booking_id"], booking.to_string());
    app.wait_status(booking, &alice, "refunded").await;
    assert_eq!(app.gateway.distinct_refunds(), 1);
    assert_eq!(
        app.metric("railrush_payment_refunds_total", &[("outcome", "refunded")])
            .await,
        1.0
    );
}

#[tokio::test]
async fn a_refund_due_before_its_payment_is_known_waits_for_it() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();

    app.publish(events::BOOKING_REFUND_DUE, &refund_due(booking, &alice))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.confirm(booking, &alice, "tok_visa").await;

    events.expect_event("payment.succeeded").await;
    events.expect_event("payment.refunded").await;
    app.wait_status(booking, &alice, "refunded").await;
    assert_eq!(app.gateway.distinct_refunds(), 1);
}

#[tokio::test]
async fn an_expired_booking_closes_its_failed_payment_for_retries() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();
    app.confirm(booking, &alice, "tok_chargeDeclined").await;
    events.expect_event("payment.failed").await;
    app.wait_status(booking, &alice, "failed").await;

    app.publish(events::BOOKING_EXPIRED, &released(booking, &alice, false))
        .await;
    let db = app.db().await;
    crate::helpers::eventually("the payment to be closed", || async {
        db.query_one(
            "SELECT closed_at IS NOT NULL FROM payments WHERE booking_id = $1",
            &[&booking],
        )
        .await
        .unwrap()
        .get::<_, bool>(0)
    })
    .await;

    let res = app
        .retry(booking, &alice, &json!({"payment_token": "tok_visa"}), None)
        .await;
    assert_error(res, StatusCode::CONFLICT, "not_retryable").await;
    assert_eq!(app.payment(booking, &alice).await["status"], "failed");
    assert_eq!(app.gateway.distinct_refunds(), 0);
}

#[tokio::test]
async fn cancelling_an_unpaid_or_unknown_booking_refunds_nothing() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let paid = paid_booking(&app, &alice, &mut events).await;

    // was_paid false: the charge was in flight; booking-service sends refund_due later.
    app.publish(events::BOOKING_CANCELLED, &released(paid, &alice, false))
        .await;
    app.publish(
        events::BOOKING_CANCELLED,
        &released(Uuid::new_v4(), &alice, true),
    )
    .await;

    assert!(
        events
            .next_event("payment.refunded", Duration::from_secs(2))
            .await
            .is_none()
    );
    assert_eq!(app.payment(paid, &alice).await["status"], "succeeded");
    assert_eq!(app.gateway.distinct_refunds(), 0);
}
