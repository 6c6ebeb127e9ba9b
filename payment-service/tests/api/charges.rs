use crate::helpers::{AMOUNT, attempts, listen, spawn_app, user};
use uuid::Uuid;

#[tokio::test]
async fn a_confirmed_booking_with_tok_visa_is_charged_and_announced_as_succeeded() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();

    app.confirm(booking, &alice, "tok_visa").await;

    let event = events.expect_event("payment.succeeded").await;
    let payload = &event["payload"];
    assert_eq!(payload["booking_id"], booking.to_string());
    assert_eq!(payload["user_id"], alice.id.to_string());
    assert_eq!(payload["amount"], AMOUNT);
    assert_eq!(payload["currency"], "BDT");
    assert_eq!(payload["attempts"], 1);
    assert!(payload["failure"].is_null());

    let payment = app.wait_status(booking, &alice, "succeeded").await;
    assert_eq!(payment["booking_id"], booking.to_string());
    assert_eq!(payment["amount"], AMOUNT);
    assert_eq!(payment["currency"], "BDT");
    assert_eq!(payment["attempts"], 1);
    assert_eq!(payment["payment_id"], payload["payment_id"]);
    assert!(payment.get("token").is_none(), "{payment}");

    let db = app.db().await;
    let rows = attempts(&db, booking).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, event_key(&db, booking).await);
    assert_eq!(rows[0].2.as_deref(), Some("succeeded"));
    let row = db
        .query_one(
            "SELECT charge_id, token FROM payments WHERE booking_id = $1",
            &[&booking],
        )
        .await
        .unwrap();
    assert!(row.get::<_, Option<String>>(0).is_some());
    assert_eq!(row.get::<_, String>(1), "tok_visa");
    assert_eq!(app.gateway.distinct_charges(), 1);
    assert_eq!(app.charges("succeeded").await, 1.0);
}

/// The idempotency key of the booking's only attempt.
async fn event_key(db: &tokio_postgres::Client, booking: Uuid) -> String {
    let row = db
        .query_one(
            "SELECT a.idempotency_key FROM payment_attempts a JOIN payments p USING (payment_id) \
             WHERE p.booking_id = $1",
            &[&booking],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn a_declined_card_fails_the_payment_with_card_declined() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();

    let confirmed = app.confirm(booking, &alice, "tok_chargeDeclined").await;

    let event = events.expect_event("payment.failed").await;
    assert_eq!(event["payload"]["booking_id"], booking.to_string());
    assert_eq!(event["payload"]["failure"], "card_declined");
    assert_eq!(event["payload"]["attempts"], 1);
    let payment = app.wait_status(booking, &alice, "failed").await;
    assert_eq!(payment["failure"], "card_declined");
    assert_eq!(payment["attempts"], 1);
    let rows = attempts(&app.db().await, booking).await;
    assert_eq!(
        rows,
        vec![(
            1,
            confirmed.event_id.to_string(),
            Some("card_declined".to_owned())
        )]
    );
    assert_eq!(app.gateway.distinct_charges(), 0);
}

#[tokio::test]
async fn an_unknown_token_fails_the_payment_with_invalid_token() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();

    app.confirm(booking, &alice, "tok_made_up").await;

    let event = events.expect_event("payment.failed").await;
    assert_eq!(event["payload"]["failure"], "invalid_token");
    let payment = app.wait_status(booking, &alice, "failed").await;
    assert_eq!(payment["failure"], "invalid_token");
    assert_eq!(app.charges("invalid_token").await, 1.0);
}
