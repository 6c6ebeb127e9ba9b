use crate::helpers::{Accounts, assert_error, spawn_app, spawn_unready_app_with};
use reqwest::StatusCode;
use serde_json::json;
use servicekit::testing;
use std::time::{Duration, Instant};

#[tokio::test]
async fn ready_is_200_when_every_dependency_answers() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health/live").await.status(), StatusCode::OK);
    // The broker connects in the background; give it a moment.
    testing::poll("readiness", || async {
        let res = app.get("/health/ready").await;
        if res.status() == StatusCode::OK {
            Ok(())
        } else {
            Err(res.text().await.unwrap())
        }
    })
    .await;
}

#[tokio::test]
async fn database_gone_gives_503_unavailable_not_a_hang() {
    let app = spawn_app().await;
    let user = app.register().await;
    app.env.drop_database().await.unwrap();
    let started = Instant::now();
    let res = app
        .post_json(
            "/api/auth/login",
            &json!({"login": user.email, "password": user.password}),
        )
        .await;
    let body = assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(
        !body.to_string().to_lowercase().contains("postgres"),
        "no internals: {body}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let res = app.get("/health/ready").await;
    let body = assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(body["error"]["details"]["failing"], json!(["postgres"]));
}

#[tokio::test]
async fn redis_unreachable_gives_503_on_otp_requests() {
    let app =
        spawn_unready_app_with(|s| s.redis.url = "redis://127.0.0.1:1".to_owned().into()).await;
    let res = app
        .post_json("/api/auth/otp/request", &json!({"phone": "+8801712345678"}))
        .await;
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let res = app.get("/health/ready").await;
    let body = assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let failing = body["error"]["details"]["failing"].as_array().unwrap();
    assert!(
        failing.contains(&json!("redis")) && !failing.contains(&json!("postgres")),
        "{body}"
    );
}

#[tokio::test]
async fn broker_unreachable_gives_503_on_otp_and_ready_degraded() {
    let app = spawn_unready_app_with(|s| {
        s.amqp.url = "amqp://guest:guest@127.0.0.1:1/%2f".to_owned().into()
    })
    .await;
    let user = app.register().await;
    let res = app
        .post_json("/api/auth/otp/request", &json!({"phone": user.phone}))
        .await;
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let res = app.get("/health/ready").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "degraded", "degraded": ["rabbitmq"]}),
        "register and login still work without the broker"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_request_ids_are_echoed() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/auth/me"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc-123");
    let made = app.get("/health/live").await;
    assert!(
        made.headers()
            .get("x-request-id")
            .is_some_and(|v| v.len() >= 32)
    );
    let text = app.metrics().await;
    assert!(
        text.contains(r#"railrush_http_requests_total{method="GET",route="/api/auth/me",status="401",service="auth"} 1"#),
        "{text}"
    );
    assert!(text.contains("railrush_http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"railrush_pool_connections{pool="postgres""#));
}

#[tokio::test]
async fn logins_otps_and_hashing_are_counted() {
    let app = spawn_app().await;
    let user = app.register().await;
    app.login(&user.email, &user.password).await;
    let wrong = app
        .post_json(
            "/api/auth/login",
            &json!({"login": user.email, "password": "not the password"}),
        )
        .await;
    assert_eq!(wrong.status(), reqwest::StatusCode::UNAUTHORIZED);
    let issued = app
        .post_json("/api/auth/otp/request", &json!({"phone": user.phone}))
        .await;
    assert_eq!(issued.status(), reqwest::StatusCode::ACCEPTED);
    let bad = app
        .post_json(
            "/api/auth/otp/verify",
            &json!({"phone": user.phone, "code": "000000"}),
        )
        .await;
    assert_eq!(bad.status(), reqwest::StatusCode::UNAUTHORIZED);
    let text = app.metrics().await;
    for line in [
        r#"railrush_auth_logins_total{method="password",outcome="success",service="auth"} 1"#,
        r#"railrush_auth_logins_total{method="password",outcome="failure",service="auth"} 1"#,
        r#"railrush_auth_logins_total{method="otp",outcome="failure",service="auth"} 1"#,
        r#"railrush_auth_otps_total{outcome="issued",service="auth"} 1"#,
        r#"railrush_auth_otps_total{outcome="failed",service="auth"} 1"#,
        // register, the good and the wrong password: three argon2id runs.
        r#"railrush_auth_hash_seconds_count{service="auth"} 3"#,
        r#"railrush_auth_hashing_queue{service="auth"} 0"#,
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

#[tokio::test]
async fn a_stop_ends_the_server_and_joins_every_background_task() {
    let app = spawn_app().await;
    assert!(app.tasks().running() > 0, "the outbox relay runs");
    app.assert_stops_gracefully().await;
}
