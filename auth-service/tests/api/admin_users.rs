//! `GET /api/auth/admin/users?phone=|email=|user_id=`: an admin finds an account (with its
//! roles, as `GET /api/auth/me` shows it); nobody else may; one valid parameter exactly.

use crate::helpers::{Accounts, TestApp, assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;
use servicekit::testing::{keys, sign_token, user_token};
use uuid::Uuid;

fn admin_token() -> String {
    sign_token(Uuid::new_v4(), "admin", &keys().unwrap().private).unwrap()
}

async fn lookup(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.with_token(token)
        .get(&format!("/api/auth/admin/users?{query}"))
        .await
}

async fn found(app: &TestApp, query: &str) -> Vec<Value> {
    let res = lookup(app, &admin_token(), query).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    let body: Value = res.json().await.unwrap();
    body["users"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_admin_finds_an_account_by_phone_email_or_id_as_me_shows_it() {
    let app = spawn_app().await;
    let rahim = app.register().await;
    app.register().await; // someone else, never found by rahim's keys
    let tokens = app.login(&rahim.email, &rahim.password).await;
    let me: Value = app
        .with_token(tokens["access_token"].as_str().unwrap())
        .get_json("/api/auth/me")
        .await;
    let expected = vec![me["user"].clone()];
    assert_eq!(expected[0]["roles"], serde_json::json!(["passenger"]));

    let digits = rahim.phone.trim_start_matches('+');
    for query in [
        format!("phone=%2B{digits}"),
        // A `+` left unencoded arrives as a space; a phone without it is the same phone.
        format!("phone=+{digits}"),
        format!("phone={digits}"),
        format!("email={}", rahim.email.to_uppercase()),
        format!("user_id={}", rahim.id),
    ] {
        assert_eq!(found(&app, &query).await, expected, "{query}");
    }

    // Nobody has these: an empty list, not an error.
    for query in [
        "phone=%2B8801999999999".to_owned(),
        "email=nobody@example.com".to_owned(),
        format!("user_id={}", Uuid::new_v4()),
    ] {
        assert!(found(&app, &query).await.is_empty(), "{query}");
    }
}

#[tokio::test]
async fn the_user_lookup_is_refused_to_passengers_conductors_and_anonymous_callers() {
    let app = spawn_app().await;
    let rahim = app.register().await;
    let query = format!("user_id={}", rahim.id);
    let passenger = user_token(rahim.id.parse().unwrap()).unwrap();
    let conductor = sign_token(Uuid::new_v4(), "conductor", &keys().unwrap().private).unwrap();
    for token in [passenger, conductor] {
        let res = lookup(&app, &token, &query).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let res = app.get(&format!("/api/auth/admin/users?{query}")).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn the_user_lookup_needs_exactly_one_valid_parameter() {
    let app = spawn_app().await;
    let admin = admin_token();
    for (query, field) in [
        ("", None),
        ("phone=%2B8801712345678&email=a@example.com", None),
        ("phone=12", Some("phone")),
        ("email=not-an-address", Some("email")),
        ("user_id=42", Some("user_id")),
    ] {
        let res = lookup(&app, &admin, query).await;
        let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(
            body["error"]["details"]["field"].as_str(),
            field,
            "{query}: {body}"
        );
    }
}
