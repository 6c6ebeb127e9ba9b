use crate::helpers::{
    attempts, confirmed, eventually, in_ten_minutes, listen, spawn_app, spawn_app_with, user,
};
use lapin::options::BasicGetOptions;
use payment_service::gateway::TestGateway;
use servicekit::amqp::Envelope;
use servicekit::events;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test]
async fn the_same_event_delivered_twice_charges_once_and_announces_once() {
    let app = spawn_app_with(TestGateway::new(Duration::from_millis(100), 0)).await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();
    let event = Envelope::new(
        events::BOOKING_CONFIRMED,
        &confirmed(booking, &alice, "tok_visa", in_ten_minutes()),
    )
    .unwrap();

    app.publish_envelope(&event).await;
    app.publish_envelope(&event).await;

    events.expect_event("payment.succeeded").await;
    assert!(
        events
            .next_event("payment.succeeded", Duration::from_secs(2))
            .await
            .is_none(),
        "a second outcome was announced"
    );
    assert_eq!(app.gateway.distinct_charges(), 1);
    let rows = attempts(&app.db().await, booking).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(app.payment(booking, &alice).await["attempts"], 1);
}

#[tokio::test]
async fn a_booking_confirmed_again_under_a_new_event_id_is_not_charged_again() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();

    app.confirm(booking, &alice, "tok_visa").await;
    events.expect_event("payment.succeeded").await;
    app.confirm(booking, &alice, "tok_visa").await;

    eventually("the second event to be processed", || async {
        app.charges("duplicate").await == 1.0
    })
    .await;
    assert!(
        events
            .next_event("payment.succeeded", Duration::from_millis(500))
            .await
            .is_none()
    );
    assert_eq!(app.gateway.distinct_charges(), 1);
    let db = app.db().await;
    let count: i64 = db
        .query_one(
            "SELECT count(*) FROM payments WHERE booking_id = $1",
            &[&booking],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    assert_eq!(attempts(&db, booking).await.len(), 1);
}

#[tokio::test]
async fn transient_gateway_faults_are_retried_and_charge_once() {
    let app = spawn_app_with(TestGateway::new(Duration::ZERO, 2)).await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();

    app.confirm(booking, &alice, "tok_visa").await;

    let event = events.expect_event("payment.succeeded").await;
    assert_eq!(event["payload"]["attempts"], 1);
    assert_eq!(app.gateway.distinct_charges(), 1);
    assert_eq!(app.gateway.calls(), 3);
    let payment = app.wait_status(booking, &alice, "succeeded").await;
    assert_eq!(payment["attempts"], 1);
    assert_eq!(attempts(&app.db().await, booking).await.len(), 1);
    assert_eq!(app.charges("unavailable").await, 2.0);
}

#[tokio::test]
async fn poison_messages_are_parked_while_good_ones_are_processed() {
    let app = spawn_app().await;
    let mut events = listen(&app.env).await;
    let alice = user();
    let booking = Uuid::new_v4();

    let poison = app
        .publish(
            events::BOOKING_CONFIRMED,
            &serde_json::json!({"booking_id": "not-a-uuid"}),
        )
        .await;
    app.publish_raw(events::BOOKING_CONFIRMED, b"definitely not json")
        .await;
    app.confirm(booking, &alice, "tok_visa").await;

    events.expect_event("payment.succeeded").await;
    app.wait_status(booking, &alice, "succeeded").await;

    let channel = app.broker.channel().await.unwrap();
    let parked_queue = format!("{}.parked", app.queue(payment_service::charges::QUEUE));
    let mut parked = Vec::new();
    let deadline = std::time::Instant::now() + servicekit::testing::WAIT;
    while parked.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "parked: {parked:?}");
        match channel
            .basic_get(
                parked_queue.as_str().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap()
        {
            Some(message) => parked.push(message.delivery.data.clone()),
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let as_text: Vec<String> = parked
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(
        as_text
            .iter()
            .any(|t| t.contains(&poison.event_id.to_string())),
        "{as_text:?}"
    );
    assert!(
        as_text.iter().any(|t| t == "definitely not json"),
        "{as_text:?}"
    );
    assert_eq!(app.gateway.distinct_charges(), 1);
}
