use crate::helpers::{assert_error, assert_invalid, spawn_app, token};
use reqwest::StatusCode;

#[tokio::test]
async fn malformed_bodies_get_4xx_in_the_error_shape() {
    let app = spawn_app().await;
    let admin = token("admin");
    for path in [
        "/api/trains/stations",
        "/api/trains/trains",
        "/api/trains/trips",
    ] {
        let send = |body: &'static str, ct: &'static str| {
            app.client
                .post(app.url(path))
                .bearer_auth(&admin)
                .header("content-type", ct)
                .body(body)
                .send()
        };
        for body in ["{not json", "[]", "", "null"] {
            let res = send(body, "application/json").await.unwrap();
            assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
        let res = send("code=DHK", "application/x-www-form-urlencoded")
            .await
            .unwrap();
        assert_error(
            res,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        let res = app
            .client
            .post(app.url(path))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(format!("{{\"name\": \"{}\"}}", "a".repeat(2 * 1024 * 1024)))
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    }
    let res = app
        .with_token(&admin)
        .post_json(
            "/api/trains/trains",
            &serde_json::json!({"number": 701, "name": "x", "coaches": []}),
        )
        .await;
    assert_invalid(res, "number").await;
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_json() {
    let app = spawn_app().await;
    assert_error(
        app.get("/api/trains/nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get("/api/trains/trips").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let res = app
        .client
        .delete(app.url("/api/trains/stations"))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let res = app
        .client
        .post(app.url("/api/trains/search"))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let res = app
        .client
        .delete(app.url("/api/trains/trips/1"))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}
