use crate::helpers::{payment_failed, refunded, registered_user, released, spawn_app};
use serde_json::Value;
use servicekit::events;

fn body(n: &Value) -> &str {
    n["body"].as_str().unwrap()
}

#[tokio::test]
async fn booking_and_payment_news_arrive_by_e_mail_one_each_newest_first() {
    let app = spawn_app().await;
    let user = registered_user(&app).await;
    let expired = released(user.user_id, false);
    let cancelled = released(user.user_id, true);
    let failed = payment_failed(user.user_id);
    let refund = refunded(user.user_id);

    // One at a time, so that "newest first" has a defined answer.
    app.publish(events::BOOKING_EXPIRED, &expired).await;
    app.wait_inbox(user.user_id, 1).await;
    app.publish(events::BOOKING_CANCELLED, &cancelled).await;
    app.wait_inbox(user.user_id, 2).await;
    app.publish(events::PAYMENT_FAILED, &failed).await;
    app.wait_inbox(user.user_id, 3).await;
    app.publish(events::PAYMENT_REFUNDED, &refund).await;
    let inbox = app.wait_inbox(user.user_id, 4).await;

    let kinds: Vec<&str> = inbox.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "payment_refunded",
            "payment_failed",
            "booking_cancelled",
            "booking_expired"
        ]
    );
    for n in &inbox {
        assert_eq!(n["channel"], "email");
        assert_eq!(n["to"], user.email);
        assert!(!n["subject"].as_str().unwrap().is_empty());
    }
    let times: Vec<&str> = inbox
        .iter()
        .map(|n| n["created_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");

    let [refund_msg, failed_msg, cancelled_msg, expired_msg] =
        [&inbox[0], &inbox[1], &inbox[2], &inbox[3]];
    assert!(body(expired_msg).contains(&expired.booking_id.to_string()));
    assert!(body(expired_msg).contains("expired"));
    assert!(body(expired_msg).contains("701 Subarna Express"));
    assert!(!body(expired_msg).contains("refund"));
    assert!(body(cancelled_msg).contains("cancelled"));
    assert!(
        body(cancelled_msg).contains("refund of Tk 810.00"),
        "{}",
        body(cancelled_msg)
    );
    assert!(body(failed_msg).contains("the card was declined"));
    assert!(
        body(failed_msg).contains("Thu 19 Mar 2026, 16:40"),
        "retry deadline in Dhaka time: {}",
        body(failed_msg)
    );
    assert!(body(refund_msg).contains("Tk 810.00"));
    assert!(body(refund_msg).contains(&refund.booking_id.to_string()));
}

#[tokio::test]
async fn a_cancellation_of_an_unpaid_booking_mentions_no_refund() {
    let app = spawn_app().await;
    let user = registered_user(&app).await;
    app.publish(events::BOOKING_CANCELLED, &released(user.user_id, false))
        .await;
    let inbox = app.wait_inbox(user.user_id, 1).await;
    assert_eq!(inbox[0]["kind"], "booking_cancelled");
    assert!(!body(&inbox[0]).contains("refund"), "{}", body(&inbox[0]));
}
