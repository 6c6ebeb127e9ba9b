use crate::helpers::{assert_error, otp_requested, registered, spawn_app, token_for};
use reqwest::StatusCode;
use serde_json::Value;
use servicekit::events;
use uuid::Uuid;

#[tokio::test]
async fn limit_returns_the_newest_entries_and_bad_limits_are_400() {
    let app = spawn_app().await;
    let user = registered(Uuid::new_v4());
    for (i, code) in ["111111", "222222", "333333"].iter().enumerate() {
        app.publish(events::OTP_REQUESTED, &otp_requested(&user, code))
            .await;
        app.wait_inbox(user.user_id, i + 1).await;
    }
    let token = token_for(user.user_id);
    let res = app
        .with_token(&token)
        .get("/api/notifications?limit=2")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let list = body["notifications"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list[0]["body"].as_str().unwrap().contains("333333"));
    assert!(list[1]["body"].as_str().unwrap().contains("222222"));

    for bad in ["0", "201", "-1", "abc", "", "2.5"] {
        let res = app
            .with_token(&token)
            .get(&format!("/api/notifications?limit={bad}"))
            .await;
        let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(body["error"]["details"]["field"], "limit", "{bad}: {body}");
    }
    let res = app
        .with_token(&token)
        .get("/api/notifications?limit=200")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}
