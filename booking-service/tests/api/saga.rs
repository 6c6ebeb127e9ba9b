//! booking-service's part of the saga: payment outcomes, the sweeper, refunds due. The tests
//! play payment-service by publishing its events to the test exchange.

use crate::helpers::{eventually, spawn_app, spawn_app_with, user};
use serde_json::{Value, json};
use servicekit::testing::{TestApp, WAIT, lock_waiters, poll, processed_transactions};
use std::time::Duration;
use uuid::Uuid;

pub fn outcome(booking: &Value, user: Uuid, failure: Option<&str>, attempts: i32) -> Value {
    json!({
        "payment_id": Uuid::new_v4(),
        "booking_id": booking["booking_id"],
        "user_id": user,
        "amount": booking["amount"],
        "currency": "BDT",
        "attempts": attempts,
        "failure": failure,
        "payment_due_at": booking["payment_due_at"],
    })
}

#[tokio::test]
async fn payment_succeeded_makes_the_booking_paid_with_a_ticket_and_publishes_booking_paid_once() {
    let app = spawn_app().await;
    app.payments_ready().await;
    let mut paid = app.listen("booking.paid").await;
    let rahim = user();
    let booking = app.book(&rahim, &[1, 2]).await;
    let event =
        servicekit::amqp::Envelope::new("payment.succeeded", &outcome(&booking, rahim.id, None, 1))
            .unwrap();
    app.publish_envelope(&event).await;
    app.publish_envelope(&event).await; // a duplicate delivery

    let done = app
        .booking_until(&rahim, &booking["booking_id"], |b| b["status"] == "paid")
        .await;
    let code = done["ticket_code"].as_str().unwrap();
    assert!(code.starts_with("RR-") && code.len() == 22, "{code}");

    let ticket = paid.next_json(WAIT).await.unwrap();
    let p = &ticket["payload"];
    assert_eq!(p["booking_id"], booking["booking_id"]);
    assert_eq!(p["ticket_code"], code);
    assert_eq!(p["user_id"], json!(rahim.id));
    assert_eq!(p["trip"]["from"], "DHK");
    assert_eq!(p["trip"]["to"], "CTG");
    assert!(!p["trip"]["train_name"].as_str().unwrap().is_empty());
    assert_eq!(p["passengers"][1]["name"], "Passenger 1");
    assert_eq!(p["seats"].as_array().unwrap().len(), 2);
    // The duplicate changed nothing: one ticket, and the code stayed.
    assert!(paid.next(Duration::from_millis(500)).await.is_none());
    assert_eq!(app.outbox_count("booking.paid").await, 1);
    let again = app
        .booking_until(&rahim, &booking["booking_id"], |_| true)
        .await;
    assert_eq!(again["ticket_code"], code);
}

#[tokio::test]
async fn a_failed_payment_leaves_the_booking_confirmed_until_a_retry_succeeds() {
    let app = spawn_app().await;
    app.payments_ready().await;
    let rahim = user();
    let booking = app.book(&rahim, &[3]).await;
    app.publish(
        "payment.failed",
        &outcome(&booking, rahim.id, Some("card_declined"), 1),
    )
    .await;
    let booking_id = Uuid::parse_str(booking["booking_id"].as_str().unwrap()).unwrap();
    let (status, failure) = poll("the failure to be recorded", || async {
        let row = app
            .db()
            .await
            .query_one(
                "SELECT status, payment_failure FROM bookings WHERE id = $1",
                &[&booking_id],
            )
            .await
            .unwrap();
        match row.get::<_, Option<String>>(1) {
            Some(failure) => Ok((row.get::<_, String>(0), failure)),
            None => Err("no failure yet"),
        }
    })
    .await;
    assert_eq!(status, "confirmed");
    assert_eq!(failure, "card_declined");
    assert_eq!(app.seat_map().await[&3], "booked");
    app.publish("payment.succeeded", &outcome(&booking, rahim.id, None, 2))
        .await;
    let done = app
        .booking_until(&rahim, &booking["booking_id"], |b| b["status"] == "paid")
        .await;
    assert!(done["ticket_code"].is_string());
}

#[tokio::test]
async fn unpaid_bookings_expire_at_their_due_time_and_their_seats_are_free_again() {
    let app = spawn_app_with(|s| {
        s.booking.payment_window_secs = 1;
        s.booking.sweep_interval_ms = 100;
    })
    .await;
    let mut expired = app.listen("booking.expired").await;
    let rahim = user();
    let booking = app.book(&rahim, &[4, 5]).await;
    assert_eq!(app.seat_map().await[&4], "booked");

    let done = app
        .booking_until(&rahim, &booking["booking_id"], |b| b["status"] == "expired")
        .await;
    assert!(done["ticket_code"].is_null());
    let event = expired.next_json(WAIT).await.unwrap();
    assert_eq!(event["payload"]["booking_id"], booking["booking_id"]);
    assert_eq!(event["payload"]["was_paid"], false);
    assert_eq!(event["payload"]["seats"].as_array().unwrap().len(), 2);
    assert_eq!(event["payload"]["trip"]["from"], "DHK");
    let map = app.seat_map().await;
    assert_eq!(
        (map[&4].as_str(), map[&5].as_str()),
        ("available", "available")
    );
    // Someone else can buy them now, and the first passenger's limit counts them no more.
    let karim = user();
    app.book(&karim, &[4, 5]).await;
    app.hold(&rahim, &[6, 7, 8, 9]).await;
}

#[tokio::test]
async fn money_arriving_after_expiry_is_sent_back_and_the_booking_stays_expired() {
    let app = spawn_app_with(|s| {
        s.booking.payment_window_secs = 1;
        s.booking.sweep_interval_ms = 100;
    })
    .await;
    app.payments_ready().await;
    let mut refunds = app.listen("booking.refund_due").await;
    let rahim = user();
    let booking = app.book(&rahim, &[6]).await;
    app.booking_until(&rahim, &booking["booking_id"], |b| b["status"] == "expired")
        .await;
    app.publish("payment.succeeded", &outcome(&booking, rahim.id, None, 1))
        .await;
    let event = refunds.next_json(WAIT).await.unwrap();
    assert_eq!(event["payload"]["booking_id"], booking["booking_id"]);
    assert_eq!(event["payload"]["status"], "expired");
    let after = app
        .booking_until(&rahim, &booking["booking_id"], |_| true)
        .await;
    assert_eq!(after["status"], "expired");
    assert!(after["ticket_code"].is_null());
    assert_eq!(app.outbox_count("booking.paid").await, 0);
}

#[tokio::test]
async fn two_replicas_sweeping_together_expire_each_booking_once() {
    let app = spawn_app_with(|s| {
        s.booking.payment_window_secs = 1;
        s.booking.sweep_interval_ms = 20;
    })
    .await;
    // A second replica on the same database and Redis namespace.
    let mut settings = app.settings.clone();
    settings.http.port = 0;
    let _twin = TestApp::spawn(app.env.clone(), booking_service::startup::build(settings)).await;
    let mut ids = Vec::new();
    for seat in 1..=8 {
        let passenger = user();
        let booking = app.book(&passenger, &[seat]).await;
        ids.push((passenger, booking["booking_id"].clone()));
    }
    for (passenger, id) in &ids {
        app.booking_until(passenger, id, |b| b["status"] == "expired")
            .await;
    }
    assert_eq!(app.outbox_count("booking.expired").await, 8);
}

#[tokio::test]
async fn cancelling_a_paid_booking_announces_it_for_a_refund() {
    let app = spawn_app().await;
    app.payments_ready().await;
    let mut cancelled = app.listen("booking.cancelled").await;
    let rahim = user();
    let booking = app.book(&rahim, &[7]).await;
    app.publish("payment.succeeded", &outcome(&booking, rahim.id, None, 1))
        .await;
    app.booking_until(&rahim, &booking["booking_id"], |b| b["status"] == "paid")
        .await;
    let path = format!(
        "/api/bookings/{}/cancel",
        booking["booking_id"].as_str().unwrap()
    );
    let res = app
        .with_token(&rahim.token)
        .post_json(&path, &json!({}))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let event = cancelled.next_json(WAIT).await.unwrap();
    assert_eq!(event["payload"]["was_paid"], true);
    assert_eq!(event["payload"]["trip"]["to"], "CTG");
    assert_eq!(app.seat_map().await[&7], "available");
}

#[tokio::test]
async fn a_malformed_payment_event_is_parked_and_later_ones_still_apply() {
    let app = spawn_app().await;
    app.payments_ready().await;
    let rahim = user();
    let booking = app.book(&rahim, &[8]).await;
    app.publish("payment.succeeded", &json!({"booking_id": "not a uuid"}))
        .await;
    app.publish("payment.succeeded", &outcome(&booking, rahim.id, None, 1))
        .await;
    app.booking_until(&rahim, &booking["booking_id"], |b| b["status"] == "paid")
        .await;
    let parked = format!("{}.parked", app.queue(booking_service::payments::QUEUE));
    eventually("a parked message", || async {
        app.queue_depth(&parked).await >= 1
    })
    .await;
}

#[tokio::test]
async fn payments_that_arrive_together_are_applied_in_one_transaction_with_a_ticket_each() {
    let app = spawn_app().await;
    app.payments_ready().await;
    let mut paid = app.listen("booking.paid").await;
    let mut bookings = Vec::new();
    for seat in 1..=6 {
        let passenger = user();
        let booking = app.book(&passenger, &[seat]).await;
        bookings.push((passenger, booking));
    }
    // The first payment waits on its booking's row lock, held here, while the other five
    // arrive: they make the consumer's next batch.
    let mut db = app.db().await;
    let lock = db.transaction().await.unwrap();
    let first: Uuid = bookings[0].1["booking_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    lock.execute("SELECT 1 FROM bookings WHERE id = $1 FOR UPDATE", &[&first])
        .await
        .unwrap();
    let (passenger, booking) = &bookings[0];
    app.publish(
        "payment.succeeded",
        &outcome(booking, passenger.id, None, 1),
    )
    .await;
    let watcher = app.db().await;
    lock_waiters(&watcher, 1).await;
    for (passenger, booking) in &bookings[1..] {
        app.publish(
            "payment.succeeded",
            &outcome(booking, passenger.id, None, 1),
        )
        .await;
    }
    // Every delivery is in the consumer's hands before the lock goes.
    let queue = app.queue(booking_service::payments::QUEUE);
    eventually("the five in the consumer's prefetch", || async {
        app.queue_depth(&queue).await == 0
    })
    .await;
    lock.rollback().await.unwrap();

    let mut codes = std::collections::HashSet::new();
    for (passenger, booking) in &bookings {
        let done = app
            .booking_until(passenger, &booking["booking_id"], |b| b["status"] == "paid")
            .await;
        assert!(codes.insert(done["ticket_code"].as_str().unwrap().to_owned()));
        assert!(done["ticket_qr"].as_str().is_some_and(|qr| !qr.is_empty()));
    }
    let mut announced = std::collections::HashMap::new();
    for _ in &bookings {
        let event = paid.next_json(WAIT).await.unwrap();
        let p = &event["payload"];
        assert_eq!(p["seats"].as_array().unwrap().len(), 1);
        assert_eq!(p["trip"]["to"], "CTG");
        announced.insert(p["booking_id"].clone(), p["ticket_code"].clone());
    }
    for (_, booking) in &bookings {
        let code = &announced[&booking["booking_id"]];
        assert!(codes.contains(code.as_str().unwrap()));
    }
    // The five after the first were recorded in one transaction (one start time).
    let recorded = processed_transactions(&watcher, booking_service::payments::CONSUMER).await;
    assert_eq!(recorded, (6, 2));
}
