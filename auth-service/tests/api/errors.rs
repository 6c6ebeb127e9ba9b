use crate::helpers::{assert_error, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn malformed_bodies_get_4xx_in_the_error_shape() {
    let app = spawn_app().await;
    let url = app.url("/api/auth/login");
    let send = |body: Vec<u8>, ct: &'static str| {
        app.client
            .post(&url)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_error(
        send(b"{not json".to_vec(), "application/json")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        send(b"[]".to_vec(), "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        send(b"".to_vec(), "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        send(b"login=a".to_vec(), "application/x-www-form-urlencoded")
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let huge = format!(
        "{{\"login\": \"{}\", \"password\": \"x\"}}",
        "a".repeat(2 * 1024 * 1024)
    );
    assert_error(
        send(huge.into_bytes(), "application/json").await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let wrong_type = serde_json::json!({"login": 5, "password": "x"}).to_string();
    let err = assert_error(
        send(wrong_type.into_bytes(), "application/json")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(err["error"]["details"]["field"], "login");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_json() {
    let app = spawn_app().await;
    let res = app.get("/api/auth/nope").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.get("/api/auth/login").await;
    assert!(res.status().is_client_error());
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{status} {body}");
}
