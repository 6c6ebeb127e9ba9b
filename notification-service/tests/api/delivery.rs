use crate::helpers::{
    NotificationApp, TestChannel, eventually, otp_requested, paid, registered, registered_user,
    spawn_app, spawn_app_with,
};
use servicekit::events;
use std::sync::atomic::Ordering;
use uuid::Uuid;

async fn wait_parked(app: &NotificationApp, queue: &str, n: u32) {
    let parked = app.queue(&format!("{queue}.parked"));
    eventually(&format!("{n} message(s) in {parked}"), || async {
        app.queue_depth(&parked).await == n
    })
    .await;
}

#[tokio::test]
async fn a_channel_failing_twice_delivers_the_message_once_after_retries() {
    let app = spawn_app_with(TestChannel::failing_first(2), |_| {}).await;
    let user = registered(Uuid::new_v4());
    app.publish(events::OTP_REQUESTED, &otp_requested(&user, "900111"))
        .await;
    let inbox = app.wait_inbox(user.user_id, 1).await;
    assert!(inbox[0]["body"].as_str().unwrap().contains("900111"));
    assert_eq!(app.channel.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(app.channel.delivered().len(), 1);
    for (outcome, n) in [("retried", 2.0), ("delivered", 1.0)] {
        let labels = [("channel", "sms"), ("via", "test"), ("outcome", outcome)];
        assert_eq!(
            app.metric("railrush_notification_deliveries_total", &labels)
                .await,
            n,
            "{outcome}"
        );
    }
    assert_eq!(
        app.queue_depth(&app.queue("notification.otp.parked")).await,
        0
    );
}

#[tokio::test]
async fn a_message_that_never_gets_through_is_parked_and_the_queue_drains() {
    let app = spawn_app().await;
    let stuck = registered_user(&app).await;
    let fine = registered_user(&app).await;
    *app.channel.fail_to.lock().unwrap() = Some((stuck.email.clone(), false));

    app.publish(events::BOOKING_PAID, &paid(stuck.user_id, "RR-STUCK"))
        .await;
    wait_parked(&app, "notification.tickets", 1).await;
    let attempts = app.channel.attempts.load(Ordering::SeqCst);
    let limit = app.settings.delivery.delivery_limit as usize;
    assert!(
        (limit..=limit + 1).contains(&attempts),
        "tried up to the delivery limit ({limit}), then parked: {attempts} attempts"
    );
    assert!(app.inbox(stuck.user_id).await.is_empty());
    eventually("the parked gauge", || async {
        app.metric(
            "railrush_consumer_parked_messages",
            &[("queue", &app.queue("notification.tickets"))],
        )
        .await
            == 1.0
    })
    .await;

    app.publish(events::BOOKING_PAID, &paid(fine.user_id, "RR-FINE"))
        .await;
    let inbox = app.wait_inbox(fine.user_id, 1).await;
    assert!(inbox[0]["body"].as_str().unwrap().contains("RR-FINE"));
    assert_eq!(app.queue_depth(&app.queue("notification.tickets")).await, 0);
}

#[tokio::test]
async fn a_permanent_delivery_failure_parks_the_message_at_once() {
    let app = spawn_app().await;
    let user = registered_user(&app).await;
    *app.channel.fail_to.lock().unwrap() = Some((user.email.clone(), true));
    app.publish(
        events::BOOKING_EXPIRED,
        &crate::helpers::released(user.user_id, false),
    )
    .await;
    wait_parked(&app, "notification.bookings", 1).await;
    assert_eq!(app.channel.attempts.load(Ordering::SeqCst), 1);
    assert_eq!(
        app.metric(
            "railrush_notification_deliveries_total",
            &[("channel", "email"), ("via", "test"), ("outcome", "failed")],
        )
        .await,
        1.0
    );
    assert!(app.inbox(user.user_id).await.is_empty());
}

#[tokio::test]
async fn malformed_events_are_parked_at_once_and_never_delivered() {
    let app = spawn_app().await;
    app.publish(
        events::BOOKING_PAID,
        &serde_json::json!({"booking_id": "nope"}),
    )
    .await;
    wait_parked(&app, "notification.tickets", 1).await;
    app.publish_raw(events::BOOKING_CANCELLED, b"this is not json")
        .await;
    wait_parked(&app, "notification.bookings", 1).await;
    assert_eq!(app.channel.attempts.load(Ordering::SeqCst), 0);
    assert_eq!(
        app.events("notification.tickets", "rejected").await,
        1.0,
        "rejected once, not retried"
    );
}
