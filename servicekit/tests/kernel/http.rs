//! The HTTP side of the kernel: every failure in the error shape of `API.md`
//! (`{"error": {"code", "message", "details"}}`), whatever produced it (the JSON body, query
//! and path extractors, the router, the bearer-token extractor); request ids; and the
//! request metrics labelled by route pattern.

use crate::support::{self, Running, metric_in};
use actix_web::{HttpResponse, web};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use servicekit::auth::AuthUser;
use servicekit::http::JsonBody;
use servicekit::service::Kernel;
use servicekit::testing::{self, assert_error};
use uuid::Uuid;

#[derive(Serialize, Deserialize)]
struct Thing {
    name: String,
    seats: u32,
}

async fn create(JsonBody(thing): JsonBody<Thing>) -> HttpResponse {
    HttpResponse::Created().json(thing)
}

#[derive(Deserialize)]
struct Page {
    limit: u32,
}

async fn list(page: web::Query<Page>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "limit": page.limit }))
}

async fn one(id: web::Path<i64>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "id": id.into_inner() }))
}

async fn me(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "id": user.id }))
}

/// A service with a few routes and no store.
async fn start() -> Running {
    let mut kernel = Kernel::new(support::SERVICE, &support::http()).unwrap();
    kernel
        .verify_tokens(&testing::jwt_settings(false).unwrap())
        .unwrap();
    let app = kernel
        .serve(|cfg| {
            cfg.service(
                web::resource("/things")
                    .route(web::get().to(list))
                    .route(web::post().to(create)),
            )
            .route("/things/{id}", web::get().to(one))
            .route("/me", web::get().to(me));
        })
        .unwrap();
    Running::start(app)
}

impl Running {
    async fn post_json(&self, path: &str, body: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn get_with(&self, path: &str, authorization: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_answers_400_invalid_request() {
    let app = start().await;
    let res = app.post_json("/things", "{not json").await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    let ok = app
        .post_json("/things", r#"{"name": "a", "seats": 2}"#)
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn a_body_field_that_is_missing_or_of_the_wrong_type_is_named_in_the_details() {
    let app = start().await;
    let res = app
        .post_json("/things", r#"{"name": "a", "seats": "many"}"#)
        .await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["details"]["field"], "seats", "{body}");
    let res = app.post_json("/things", r#"{"seats": 2}"#).await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["details"]["field"], "name", "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_body_not_declared_as_json_answers_415_unsupported_media_type() {
    let app = start().await;
    let res = app
        .client
        .post(app.url("/things"))
        .header("content-type", "text/plain")
        .body(r#"{"name": "a", "seats": 2}"#)
        .send()
        .await
        .unwrap();
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_query_that_does_not_parse_answers_400_invalid_request() {
    let app = start().await;
    for query in ["?limit=many", "", "?limit=-1"] {
        let res = app.get(&format!("/things{query}")).await;
        let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("query"), "{query}: {message}");
    }
    assert_eq!(app.get("/things?limit=5").await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_path_parameter_that_does_not_parse_answers_400_invalid_request() {
    let app = start().await;
    let res = app.get("/things/seven").await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("path"), "{message}");
    assert_eq!(app.get("/things/7").await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_route_answers_a_json_404() {
    let app = start().await;
    for path in ["/nowhere", "/things/7/more", "/"] {
        let res = app.get(path).await;
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_method_the_route_does_not_take_answers_405_in_the_error_shape() {
    let app = start().await;
    let res = app.client.delete(app.url("/things")).send().await.unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    app.stop().await;
}

/// A token for `user` with `claims` changed, signed with `key` (a PEM private key file).
fn token_with(key: &std::path::Path, user: Uuid, change: impl FnOnce(&mut Value)) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "sub": user, "iss": "railrush-auth", "aud": "railrush", "exp": now + 900,
        "iat": now, "jti": Uuid::new_v4(), "role": "user"
    });
    change(&mut claims);
    let pem = std::fs::read(key).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_missing_or_invalid_bearer_token_answers_401_unauthorized() {
    let app = start().await;
    let keys = testing::keys().unwrap();
    let user = Uuid::new_v4();
    let res = app.get("/me").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let wrong = [
        "Bearer".to_owned(),
        "Bearer not.a.token".to_owned(),
        format!("Basic {}", testing::user_token(user).unwrap()),
        format!("Bearer {}", token_with(&keys.other_private, user, |_| {})),
        format!(
            "Bearer {}",
            token_with(&keys.private, user, |c| c["exp"] = json!(0))
        ),
        format!(
            "Bearer {}",
            token_with(&keys.private, user, |c| c["aud"] = json!("elsewhere"))
        ),
        format!(
            "Bearer {}",
            token_with(&keys.private, user, |c| c["iss"] = json!("someone"))
        ),
    ];
    for authorization in &wrong {
        let res = app.get_with("/me", authorization).await;
        let body = assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert!(
            !body.to_string().contains(&user.to_string()),
            "{authorization}: {body}"
        );
    }
    let token = testing::user_token(user).unwrap();
    let res = app.get_with("/me", &format!("bearer {token}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["id"], user.to_string());
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_the_request_id_kept_when_sane_and_made_otherwise() {
    let app = start().await;
    let id_of = |res: &reqwest::Response| {
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    for path in ["/things/1", "/nowhere", "/things/x"] {
        let res = app
            .client
            .get(app.url(path))
            .header("x-request-id", "abc-123.DEF_4")
            .send()
            .await
            .unwrap();
        assert_eq!(id_of(&res).as_deref(), Some("abc-123.DEF_4"), "{path}");
    }
    let res = app
        .client
        .get(app.url("/things/1"))
        .header("x-request-id", "spaces and {braces}")
        .send()
        .await
        .unwrap();
    let made = id_of(&res).unwrap();
    assert!(Uuid::parse_str(&made).is_ok(), "{made}");
    assert!(id_of(&app.get("/things/1").await).is_some());
    app.stop().await;
}

#[tokio::test]
async fn http_metrics_are_labelled_by_route_pattern_not_by_path() {
    let app = start().await;
    for path in [
        "/things/1",
        "/things/2",
        "/things/x",
        "/nowhere/1",
        "/nowhere/2",
    ] {
        app.get(path).await;
    }
    let text = testing::scrape(&app.client, &app.address).await;
    let requests = |labels: &[(&str, &str)]| metric_in(&text, "http_requests_total", labels);
    let pattern = ("route", "/things/{id}");
    assert_eq!(
        requests(&[pattern, ("method", "GET"), ("status", "200")]),
        2.0
    );
    assert_eq!(
        requests(&[pattern, ("method", "GET"), ("status", "400")]),
        1.0
    );
    assert_eq!(
        requests(&[("route", "unmatched"), ("method", "GET"), ("status", "404")]),
        2.0
    );
    assert_eq!(
        metric_in(
            &text,
            "http_request_duration_seconds_count",
            &[pattern, ("method", "GET")]
        ),
        3.0
    );
    assert!(
        requests(&[pattern, ("service", "kernel")]) > 0.0,
        "the service label is the kernel's name without -service"
    );
    for raw in ["/things/1", "/things/2", "/nowhere"] {
        assert!(
            !text.contains(&format!("route=\"{raw}")),
            "a raw path became a label: {raw}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_string_with_a_control_character_answers_400_naming_the_field() {
    let app = start().await;
    for (body, field) in [
        (r#"{"name": "a\u0000b", "seats": 2}"#, "name"),
        (r#"{"name": "bell\u0007", "seats": 2}"#, "name"),
        (r#"{"name": "back\b", "seats": 2}"#, "name"),
        (
            r#"{"name": "ok", "seats": 2, "extra": [{"x": "\u001f"}]}"#,
            "extra[0].x",
        ),
    ] {
        let res = app.post_json("/things", body).await;
        let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(body["error"]["details"]["field"], field, "{body}");
    }
    let fine = app
        .post_json("/things", r#"{"name": "a\tb\nc\r\\d\u00e9", "seats": 2}"#)
        .await;
    assert_eq!(fine.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn an_invented_method_is_counted_as_other_not_by_its_name() {
    let app = start().await;
    for method in ["FOO", "BAR", "TRACE"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = app
            .client
            .request(method, app.url("/things/1"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    let text = testing::scrape(&app.client, &app.address).await;
    assert!(!text.contains("method=\"FOO\""), "{text}");
    assert!(!text.contains("method=\"BAR\""), "{text}");
    let others = metric_in(
        &text,
        "http_requests_total",
        &[("route", "/things/{id}"), ("method", "other")],
    );
    assert_eq!(others, 3.0, "{text}");
    app.stop().await;
}
