use crate::helpers::{Accounts, assert_error, claims, spawn_app, spawn_app_with, unique_phone};
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::testing::WAIT;
use std::time::Duration;

#[tokio::test]
async fn otp_request_publishes_otp_requested_and_the_code_logs_in_once() {
    let app = spawn_app().await;
    let user = app.register().await;
    let mut listener = app.listen("otp.requested").await;

    let res = app
        .client
        .post(app.url("/api/auth/otp/request"))
        .header("x-request-id", "otp-trace-42")
        .json(&json!({"phone": user.phone}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expires_in"], 300);
    let code = body["dev_code"].as_str().unwrap().to_owned();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));

    let delivery = listener.next(WAIT).await.expect("otp.requested arrives");
    let event: Value = serde_json::from_slice(&delivery.data).unwrap();
    assert_eq!(event["type"], "otp.requested");
    assert_eq!(event["payload"]["phone"], user.phone);
    assert_eq!(event["payload"]["user_id"], user.id);
    assert_eq!(event["payload"]["code"], code);
    assert_eq!(
        delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.to_string()),
        event["event_id"].as_str().map(str::to_owned)
    );
    assert_eq!(delivery.properties.delivery_mode(), &Some(2));
    assert_eq!(delivery.routing_key.as_str(), "otp.requested");
    let headers = delivery.properties.headers().as_ref().expect("headers");
    assert_eq!(
        headers.inner().get("x-request-id"),
        Some(&lapin::types::AMQPValue::LongString("otp-trace-42".into())),
        "the request id travels with the message"
    );

    // Redis holds no plain code.
    let mut redis = app.redis().await;
    let stored: Option<String> = redis::cmd("GET")
        .arg(format!(
            "{}otp:{{{}}}:code",
            app.env.redis.key_prefix, user.phone
        ))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(stored.is_some_and(|s| !s.contains(&code)));

    let res = app
        .post_json(
            "/api/auth/otp/verify",
            &json!({"phone": user.phone, "code": code}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    let me = app
        .with_token(tokens["access_token"].as_str().unwrap())
        .get("/api/auth/me")
        .await;
    assert_eq!(me.status(), StatusCode::OK);

    let again = app
        .post_json(
            "/api/auth/otp/verify",
            &json!({"phone": user.phone, "code": code}),
        )
        .await;
    assert_error(again, StatusCode::UNAUTHORIZED, "invalid_otp").await;
}

#[tokio::test]
async fn unknown_phone_gets_the_same_202_no_code_and_no_event() {
    let app = spawn_app().await;
    let mut listener = app.listen("otp.requested").await;
    let phone = unique_phone();
    let res = app
        .post_json("/api/auth/otp/request", &json!({"phone": phone}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"expires_in": 300}));
    assert!(
        listener.next(Duration::from_millis(1500)).await.is_none(),
        "no event for an unknown phone"
    );
    let res = app
        .post_json(
            "/api/auth/otp/verify",
            &json!({"phone": phone, "code": "123456"}),
        )
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_otp").await;
}

#[tokio::test]
async fn five_wrong_codes_lock_the_phone_even_for_the_right_code() {
    let app = spawn_app().await;
    let user = app.register().await;
    let res = app
        .post_json("/api/auth/otp/request", &json!({"phone": user.phone}))
        .await;
    let code = res.json::<Value>().await.unwrap()["dev_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let res = app
            .post_json(
                "/api/auth/otp/verify",
                &json!({"phone": user.phone, "code": wrong}),
            )
            .await;
        assert_error(res, StatusCode::UNAUTHORIZED, "invalid_otp").await;
    }
    let res = app
        .post_json(
            "/api/auth/otp/verify",
            &json!({"phone": user.phone, "code": code}),
        )
        .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn code_requests_are_limited_per_phone() {
    let app = spawn_app().await;
    let user = app.register().await;
    let first = app
        .post_json("/api/auth/otp/request", &json!({"phone": user.phone}))
        .await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let second = app
        .post_json("/api/auth/otp/request", &json!({"phone": user.phone}))
        .await;
    let wait: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_error(second, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Unknown phones are limited identically.
    let phone = unique_phone();
    app.post_json("/api/auth/otp/request", &json!({"phone": phone}))
        .await;
    let res = app
        .post_json("/api/auth/otp/request", &json!({"phone": phone}))
        .await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn hourly_code_limit_applies_after_the_minute_limit_is_lifted() {
    let app = spawn_app_with(|s| {
        s.otp.per_minute = 100;
        s.otp.per_hour = 3;
    })
    .await;
    let phone = unique_phone();
    for _ in 0..3 {
        let res = app
            .post_json("/api/auth/otp/request", &json!({"phone": phone}))
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let res = app
        .post_json("/api/auth/otp/request", &json!({"phone": phone}))
        .await;
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 60 && wait <= 3600, "{wait}");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn the_dev_echo_is_off_unless_configured() {
    let app = spawn_app_with(|s| s.otp.dev_echo = false).await;
    let user = app.register().await;
    let res = app
        .post_json("/api/auth/otp/request", &json!({"phone": user.phone}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"expires_in": 300})
    );
    assert!(!auth_service::settings::Settings::default().otp.dev_echo);
}

#[tokio::test]
async fn malformed_codes_and_phones_are_400() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"phone": "+8801712345678", "code": "12345"}), "code"),
        (json!({"phone": "+8801712345678", "code": "abcdef"}), "code"),
        (json!({"phone": "12345", "code": "123456"}), "phone"),
    ] {
        let res = app.post_json("/api/auth/otp/verify", &body).await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(err["error"]["details"]["field"], field);
    }
}

#[tokio::test]
async fn a_successful_otp_login_verifies_the_phone_and_its_token_says_so() {
    let app = spawn_app().await;
    let user = app.register().await;
    // A wrong code verifies nothing.
    let res = app
        .post_json(
            "/api/auth/otp/verify",
            &json!({"phone": user.phone, "code": "000000"}),
        )
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_otp").await;
    let password = app.login(&user.email, &user.password).await;
    let token = password["access_token"].as_str().unwrap();
    let me = app.with_token(token).get_json("/api/auth/me").await;
    assert_eq!(me["user"]["phone_verified"], false);

    let res = app
        .post_json("/api/auth/otp/request", &json!({"phone": user.phone}))
        .await;
    let code = res.json::<Value>().await.unwrap()["dev_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post_json(
            "/api/auth/otp/verify",
            &json!({"phone": user.phone, "code": code}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["cache-control"],
        "no-store",
        "tokens are never cached"
    );
    let tokens: Value = res.json().await.unwrap();
    let otp_token = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims(otp_token)["phone_verified"], json!(true));
    assert_eq!(claims(otp_token)["nid_verified"], json!(false));
    // /me shows it for every token, and a password login now claims it too.
    for token in [token, otp_token] {
        let me = app.with_token(token).get_json("/api/auth/me").await;
        assert_eq!(me["user"]["phone_verified"], true);
        assert_eq!(me["user"]["nid_verified"], false);
    }
    let again = app.login(&user.email, &user.password).await;
    assert_eq!(
        claims(again["access_token"].as_str().unwrap())["phone_verified"],
        json!(true)
    );
}
