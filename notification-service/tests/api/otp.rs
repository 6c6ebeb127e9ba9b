use crate::helpers::{otp_requested, registered, spawn_app};
use servicekit::events;
use uuid::Uuid;

#[tokio::test]
async fn an_otp_goes_by_sms_to_the_phone_and_shows_only_in_its_owners_inbox() {
    let app = spawn_app().await;
    // No user.registered needed: the OTP event carries the phone.
    let user = registered(Uuid::new_v4());
    let other = registered(Uuid::new_v4());
    app.publish(events::OTP_REQUESTED, &otp_requested(&user, "482913"))
        .await;

    let inbox = app.wait_inbox(user.user_id, 1).await;
    let otp = &inbox[0];
    assert_eq!(otp["kind"], "otp");
    assert_eq!(otp["channel"], "sms");
    assert_eq!(otp["to"], user.phone);
    let body = otp["body"].as_str().unwrap();
    assert!(body.contains("482913"), "{body}");
    assert!(body.contains("5 minutes"), "{body}");
    assert!(app.inbox(other.user_id).await.is_empty());

    let delivered = app.channel.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].to, user.phone);
}
