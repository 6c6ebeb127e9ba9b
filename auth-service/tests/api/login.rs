use crate::helpers::{Accounts, assert_error, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn login_by_email_or_phone_returns_tokens_that_open_me() {
    let app = spawn_app().await;
    let user = app.register().await;
    for login in [user.email.to_uppercase(), user.phone.clone()] {
        let tokens = app.login(&login, &user.password).await;
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 900);
        assert!(
            tokens["refresh_token"]
                .as_str()
                .is_some_and(|t| t.len() >= 40)
        );
        let me = app
            .with_token(tokens["access_token"].as_str().unwrap())
            .get("/api/auth/me")
            .await;
        assert_eq!(me.status(), StatusCode::OK);
        let body: serde_json::Value = me.json().await.unwrap();
        assert_eq!(body["user"]["id"], user.id);
        assert_eq!(body["user"]["email"], user.email);
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_401() {
    let app = spawn_app().await;
    let user = app.register().await;
    let wrong = app
        .post_json(
            "/api/auth/login",
            &json!({"login": user.email, "password": "wrong-password"}),
        )
        .await;
    let wrong = assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let unknown = app
        .post_json(
            "/api/auth/login",
            &json!({"login": "nobody@example.com", "password": "wrong-password"}),
        )
        .await;
    let unknown = assert_error(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
    let malformed = app
        .post_json(
            "/api/auth/login",
            &json!({"login": "+12", "password": "wrong-password"}),
        )
        .await;
    assert_eq!(
        assert_error(malformed, StatusCode::UNAUTHORIZED, "invalid_credentials").await,
        wrong
    );
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_the_right_password_waits_too() {
    let app = spawn_app_with(|s| s.login.max_failures = 3).await;
    let user = app.register().await;
    for _ in 0..3 {
        let res = app
            .post_json(
                "/api/auth/login",
                &json!({"login": user.email, "password": "nope-nope"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app
        .post_json(
            "/api/auth/login",
            &json!({"login": user.email, "password": user.password}),
        )
        .await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 900, "{retry_after}");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // The count is per account: the phone login of the same account waits as well.
    let res = app
        .post_json(
            "/api/auth/login",
            &json!({"login": user.phone, "password": user.password}),
        )
        .await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Unknown accounts are throttled the same way, so throttling reveals nothing.
    for _ in 0..3 {
        app.post_json(
            "/api/auth/login",
            &json!({"login": "ghost@example.com", "password": "nope-nope"}),
        )
        .await;
    }
    let res = app
        .post_json(
            "/api/auth/login",
            &json!({"login": "ghost@example.com", "password": "nope-nope"}),
        )
        .await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn parallel_wrong_passwords_never_get_more_tries_than_the_cap() {
    let app = spawn_app_with(|s| s.login.max_failures = 10).await;
    let user = app.register().await;
    let wrong = json!({"login": user.email, "password": "nope-nope"});
    let attempts = (0..30).map(|_| app.post_json("/api/auth/login", &wrong));
    let answers = futures_util::future::join_all(attempts).await;
    let (mut unauthorized, mut throttled) = (0, 0);
    for res in answers {
        match res.status() {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
                throttled += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        unauthorized <= 10,
        "{unauthorized} wrong passwords were tried"
    );
    assert_eq!(unauthorized + throttled, 30);
    assert!(throttled >= 20, "{throttled}");
    // The right password waits too while the account cools down.
    let res = app
        .post_json(
            "/api/auth/login",
            &json!({"login": user.phone, "password": user.password}),
        )
        .await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn a_login_answer_carrying_tokens_is_never_stored_by_a_cache() {
    let app = spawn_app().await;
    let user = app.register().await;
    let res = app
        .post_json(
            "/api/auth/login",
            &json!({"login": user.email, "password": user.password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
}
