//! The railway's calls on notifications: an admin finds what was sent about a booking or to
//! a user; nobody else may; the parked messages of the consumers over HTTP.

use crate::helpers::{
    assert_error, otp_requested, paid, payment_failed, registered_user, spawn_app, token_for,
};
use notification_service::consumers;
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::amqp::Envelope;
use servicekit::events;
use servicekit::testing::{keys, parked::check_parked_routes, sign_token};
use uuid::Uuid;

fn token(role: &str) -> String {
    sign_token(Uuid::new_v4(), role, &keys().unwrap().private).unwrap()
}

async fn lookup(app: &crate::helpers::NotificationApp, query: &str) -> Vec<Value> {
    let res = app
        .with_token(&token("admin"))
        .get(&format!("/api/notifications/admin?{query}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    let body: Value = res.json().await.unwrap();
    body["notifications"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_admin_finds_a_bookings_and_a_users_notifications_newest_first() {
    let app = spawn_app().await;
    let user = registered_user(&app).await;
    let other = registered_user(&app).await;
    let ticket = paid(user.user_id, "RR-TICKET1");
    let failed = payment_failed(user.user_id);
    // One at a time, so that "newest first" has a defined answer.
    app.publish(events::OTP_REQUESTED, &otp_requested(&user, "123456"))
        .await;
    app.wait_inbox(user.user_id, 1).await;
    app.publish(events::BOOKING_PAID, &ticket).await;
    app.wait_inbox(user.user_id, 2).await;
    app.publish(events::PAYMENT_FAILED, &failed).await;
    app.publish(events::BOOKING_PAID, &paid(other.user_id, "RR-OTHER01"))
        .await;
    let inbox = app.wait_inbox(user.user_id, 3).await;
    app.wait_inbox(other.user_id, 1).await;

    // A user's: the inbox entries, each with whom it went to and its booking.
    let by_user = lookup(&app, &format!("user_id={}", user.user_id)).await;
    assert_eq!(by_user.len(), 3);
    let kinds: Vec<&str> = by_user
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["payment_failed", "ticket", "otp"]);
    for (found, own) in by_user.iter().zip(&inbox) {
        for field in [
            "id",
            "kind",
            "channel",
            "to",
            "subject",
            "body",
            "created_at",
        ] {
            assert_eq!(found[field], own[field], "{field}");
        }
        assert_eq!(found["user_id"], user.user_id.to_string());
    }
    assert_eq!(by_user[0]["booking_id"], failed.booking_id.to_string());
    assert_eq!(by_user[1]["booking_id"], ticket.booking_id.to_string());
    assert!(
        by_user[2]["booking_id"].is_null(),
        "an OTP is about no booking"
    );

    // A booking's: only that booking's.
    let by_booking = lookup(&app, &format!("booking_id={}", ticket.booking_id)).await;
    assert_eq!(by_booking.len(), 1);
    assert_eq!(by_booking[0]["kind"], "ticket");
    assert_eq!(by_booking[0]["id"], by_user[1]["id"]);
    assert!(
        by_booking[0]["body"]
            .as_str()
            .unwrap()
            .contains("RR-TICKET1")
    );

    // Nothing about an unknown booking or user; `limit` as the inbox has it.
    assert!(
        lookup(&app, &format!("booking_id={}", Uuid::new_v4()))
            .await
            .is_empty()
    );
    assert!(
        lookup(&app, &format!("user_id={}", Uuid::new_v4()))
            .await
            .is_empty()
    );
    let newest = lookup(&app, &format!("user_id={}&limit=1", user.user_id)).await;
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0]["id"], by_user[0]["id"]);
}

#[tokio::test]
async fn the_notification_lookup_is_refused_to_everyone_but_an_admin() {
    let app = spawn_app().await;
    let user = registered_user(&app).await;
    let query = format!("/api/notifications/admin?user_id={}", user.user_id);
    for caller in [
        token_for(user.user_id),
        token("passenger"),
        token("conductor"),
    ] {
        let res = app.with_token(&caller).get(&query).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_error(
        app.get(&query).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn the_notification_lookup_needs_exactly_one_uuid() {
    let app = spawn_app().await;
    let admin = token("admin");
    let id = Uuid::new_v4();
    for (query, field) in [
        (String::new(), None),
        (format!("booking_id={id}&user_id={id}"), None),
        ("booking_id=42".to_owned(), Some("booking_id")),
        ("user_id=x".to_owned(), Some("user_id")),
        (format!("user_id={id}&limit=0"), Some("limit")),
    ] {
        let res = app
            .with_token(&admin)
            .get(&format!("/api/notifications/admin?{query}"))
            .await;
        let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(body["error"]["details"]["field"].as_str(), field, "{query}");
    }
}

#[tokio::test]
async fn a_poisoned_user_registered_is_listed_replayed_and_dropped_over_http() {
    let app = spawn_app().await;
    // Not a user.registered payload: the contacts consumer refuses it at once.
    let poison = Envelope::new(events::USER_REGISTERED, &json!({ "user_id": 7 })).unwrap();
    check_parked_routes(&app, "/api/notifications", consumers::USERS, &poison).await;
}
