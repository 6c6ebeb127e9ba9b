use crate::helpers::{
    assert_error, confirmed, in_ten_minutes, spawn_app, spawn_app_configured, summary, user,
};
use payment_service::gateway::TestGateway;
use reqwest::StatusCode;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test]
async fn a_payment_is_visible_to_its_owner_only() {
    let app = spawn_app().await;
    let alice = user();
    let mallory = user();
    let booking = Uuid::new_v4();
    app.confirm(booking, &alice, "tok_visa").await;
    app.wait_status(booking, &alice, "succeeded").await;

    let res = app
        .get_payment(&booking.to_string(), Some(&mallory.token))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_just_confirmed_booking_is_pending_before_the_worker_has_seen_it() {
    let app = spawn_app().await;
    let alice = user();
    let mallory = user();
    let booking = Uuid::new_v4();
    // Confirmed at booking-service; booking.confirmed has not reached the worker.
    let confirmed = confirmed(booking, &alice, "tok_visa", in_ten_minutes());
    app.bookings.insert(summary(&confirmed));

    let res = app
        .get_payment(&booking.to_string(), Some(&alice.token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let payment: serde_json::Value = res.json().await.unwrap();
    assert_eq!(payment["booking_id"], booking.to_string());
    assert_eq!(payment["status"], "pending");
    assert_eq!(payment["amount"], confirmed.amount);
    assert_eq!(payment["currency"], "BDT");
    assert_eq!(payment["attempts"], 0);
    assert!(payment["payment_id"].is_null());
    let res = app
        .get_payment(&booking.to_string(), Some(&mallory.token))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // Once the worker has it, the stored payment answers (booking-service is not asked).
    app.publish(servicekit::events::BOOKING_CONFIRMED, &confirmed)
        .await;
    app.wait_status(booking, &alice, "succeeded").await;
    let asked = app.bookings.asked();
    let payment = app.payment(booking, &alice).await;
    assert!(payment["payment_id"].is_string());
    assert_eq!(app.bookings.asked(), asked);
}

#[tokio::test]
async fn without_booking_service_an_unseen_booking_is_503_not_404() {
    let app = spawn_app_configured(TestGateway::new(Duration::ZERO, 0), |s| {
        s.booking_service.url = "http://127.0.0.1:9".into();
    })
    .await;
    let alice = user();
    let res = app
        .get_payment(&Uuid::new_v4().to_string(), Some(&alice.token))
        .await;
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}

#[tokio::test]
async fn an_unknown_booking_is_404_and_a_malformed_id_is_400() {
    let app = spawn_app().await;
    let alice = user();

    let res = app
        .get_payment(&Uuid::new_v4().to_string(), Some(&alice.token))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    let res = app.get_payment("not-a-uuid", Some(&alice.token)).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;

    let res = app
        .client
        .post(app.url("/api/payments/42/retry"))
        .bearer_auth(&alice.token)
        .json(&serde_json::json!({"payment_token": "tok_visa"}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn payments_need_a_valid_access_token() {
    let app = spawn_app().await;
    let booking = Uuid::new_v4().to_string();

    let res = app.get_payment(&booking, None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app.get_payment(&booking, Some("not.a.jwt")).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app
        .client
        .post(app.url(&format!("/api/payments/{booking}/retry")))
        .json(&serde_json::json!({"payment_token": "tok_visa"}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn health_and_metrics_are_served() {
    let app = spawn_app().await;
    let live = app.get("/health/live").await;
    assert_eq!(live.status(), StatusCode::OK);
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let text = app.metrics().await;
    for name in [
        "railrush_payment_charges_total",
        "railrush_payment_gateway_seconds",
        "railrush_payment_refunds_total",
        "railrush_payment_events_total",
        "railrush_outbox_backlog",
    ] {
        assert!(text.contains(&format!("# HELP {name}")), "{name} missing");
    }
    let res = app.get("/api/payments").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_stop_ends_the_server_and_joins_every_background_task() {
    let app = spawn_app().await;
    assert!(app.tasks().running() > 0, "the workers and the relay run");
    app.assert_stops_gracefully().await;
}
