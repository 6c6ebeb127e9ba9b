//! A stranger's wrong passwords, wrong codes and code requests must not lock the owner out
//! (docs/architecture.md, "Login throttling and lockout"): throttling is per (account, source
//! address), with a higher per-account back-off that spares addresses the owner logged in
//! from, and wrong codes are counted per issued code.

use crate::helpers::{Accounts, Registered, assert_error, spawn_app_with};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use servicekit::testing::TestApp;

const OWNER: &str = "198.51.100.10";
const STRANGER: &str = "203.0.113.66";

/// POSTs `body` to `path` as the gateway forwards a request from `address`.
async fn post_from(app: &TestApp, address: &str, path: &str, body: &Value) -> Response {
    app.client
        .post(app.url(path))
        .header("x-real-ip", address)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn login_from(app: &TestApp, address: &str, login: &str, password: &str) -> Response {
    post_from(
        app,
        address,
        "/api/auth/login",
        &json!({"login": login, "password": password}),
    )
    .await
}

async fn request_code_from(app: &TestApp, address: &str, user: &Registered) -> Response {
    post_from(
        app,
        address,
        "/api/auth/otp/request",
        &json!({"phone": user.phone}),
    )
    .await
}

async fn verify_from(app: &TestApp, address: &str, user: &Registered, code: &str) -> Response {
    post_from(
        app,
        address,
        "/api/auth/otp/verify",
        &json!({"phone": user.phone, "code": code}),
    )
    .await
}

#[tokio::test]
async fn a_strangers_wrong_passwords_hold_back_the_stranger_not_the_owner() {
    let app = spawn_app_with(|s| s.login.max_failures = 3).await;
    let user = app.register().await;
    for _ in 0..3 {
        let res = login_from(&app, STRANGER, &user.email, "nope-nope").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = login_from(&app, STRANGER, &user.email, &user.password).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

    // The owner, elsewhere, logs in at once, by e-mail or phone.
    let res = login_from(&app, OWNER, &user.email, &user.password).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = login_from(&app, OWNER, &user.phone, &user.password).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn many_addresses_meet_the_account_back_off_but_the_owners_known_address_does_not() {
    let app = spawn_app_with(|s| {
        s.login.max_failures = 10;
        s.login.account_max_failures = 4;
    })
    .await;
    let user = app.register().await;
    // The owner logged in from home before the attack.
    let res = login_from(&app, OWNER, &user.email, &user.password).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Four wrong passwords, each from another address, reach the account's cap.
    for i in 1..=4 {
        let res = login_from(&app, &format!("203.0.113.{i}"), &user.email, "nope-nope").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Now every address the account never logged in from waits, the right password too.
    let res = login_from(&app, "203.0.113.99", &user.email, &user.password).await;
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // The owner's usual address does not.
    let res = login_from(&app, OWNER, &user.email, &user.password).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_strangers_wrong_codes_cost_the_owner_one_code_not_the_way_in() {
    let app = spawn_app_with(|s| s.otp.per_minute = 5).await;
    let user = app.register().await;
    let first: Value = request_code_from(&app, OWNER, &user)
        .await
        .json()
        .await
        .unwrap();
    let first = first["dev_code"].as_str().unwrap().to_owned();
    let wrong = if first == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        let res = verify_from(&app, STRANGER, &user, wrong).await;
        assert_error(res, StatusCode::UNAUTHORIZED, "invalid_otp").await;
    }
    // That code is gone (429 even for the right code)...
    let res = verify_from(&app, OWNER, &user, &first).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // ... and a new one has its own count: the owner logs in with it.
    let res = request_code_from(&app, OWNER, &user).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let second: Value = res.json().await.unwrap();
    let res = verify_from(&app, OWNER, &user, second["dev_code"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_strangers_code_requests_do_not_use_up_the_owners() {
    let app = spawn_app_with(|s| {
        s.otp.per_minute = 1;
        s.otp.per_hour = 5;
        s.otp.per_phone_per_hour = 3;
    })
    .await;
    let user = app.register().await;
    // The stranger asks until refused, and keeps asking: refused asks are the stranger's.
    assert_eq!(
        request_code_from(&app, STRANGER, &user).await.status(),
        StatusCode::ACCEPTED
    );
    for _ in 0..5 {
        let res = request_code_from(&app, STRANGER, &user).await;
        assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    // The owner still gets a code, from their own address.
    let res = request_code_from(&app, OWNER, &user).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let code: Value = res.json().await.unwrap();
    let res = verify_from(&app, OWNER, &user, code["dev_code"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);

    // The phone's own hourly cap still bounds what all addresses together can send.
    assert_eq!(
        request_code_from(&app, "203.0.113.67", &user)
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let res = request_code_from(&app, "203.0.113.68", &user).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}
