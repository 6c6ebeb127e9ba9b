//! The error shape on the wire, and the one log line per failing request.

use super::*;
use crate::http::normalize_errors;
use actix_web::middleware::from_fn;
use actix_web::test as actix_test;
use actix_web::{App, web};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tracing_subscriber::layer::SubscriberExt;

async fn body_of(e: &ApiError) -> (StatusCode, Option<String>, Value) {
    let res = e.error_response();
    let status = res.status();
    let retry_after = res
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = actix_web::body::to_bytes(res.into_body())
        .await
        .expect("body");
    (
        status,
        retry_after,
        serde_json::from_slice(&bytes).expect("JSON body"),
    )
}

#[actix_web::test]
async fn a_named_code_answers_with_its_status_code_message_and_details() {
    let e = ApiError::new(
        Code::SeatUnavailable,
        "some of these seats are already taken",
    )
    .with_details(json!({ "seat_ids": [3, 4] }));
    assert_eq!(e.code(), Code::SeatUnavailable);
    assert_eq!(e.status(), StatusCode::CONFLICT);
    let (status, retry_after, body) = body_of(&e).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(retry_after, None);
    assert_eq!(
        body,
        json!({"error": {
            "code": "seat_unavailable",
            "message": "some of these seats are already taken",
            "details": {"seat_ids": [3, 4]}
        }})
    );
}

#[actix_web::test]
async fn constructors_take_their_status_from_the_table() {
    for (e, status, code) in [
        (ApiError::invalid_request("bad"), 400, "invalid_request"),
        (ApiError::unauthorized("who"), 401, "unauthorized"),
        (ApiError::forbidden(), 403, "forbidden"),
        (ApiError::not_found("gone"), 404, "not_found"),
        (
            ApiError::new(Code::HoldExpired, "late"),
            409,
            "hold_expired",
        ),
        (
            ApiError::new(Code::PayloadTooLarge, "big"),
            413,
            "payload_too_large",
        ),
        (ApiError::internal(anyhow::anyhow!("x")), 500, "internal"),
        (
            ApiError::unavailable(anyhow::anyhow!("x")),
            503,
            "unavailable",
        ),
    ] {
        let (got, _, body) = body_of(&e).await;
        assert_eq!(got.as_u16(), status, "{e}");
        assert_eq!(body["error"]["code"], code, "{e}");
        assert!(body["error"].get("details").is_none(), "{body}");
    }
}

#[actix_web::test]
async fn an_invalid_field_is_named_in_details() {
    let (status, _, body) = body_of(&ApiError::invalid_field("seat_ids", "select 1 to 4")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": {"code": "invalid_request", "message": "select 1 to 4",
                         "details": {"field": "seat_ids"}}})
    );
}

#[actix_web::test]
async fn a_retry_after_is_a_header_and_a_detail_of_at_least_one_second() {
    let e = ApiError::new(Code::TooManyAttempts, "wait").with_retry_after(42);
    let (status, retry_after, body) = body_of(&e).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("42"));
    assert_eq!(body["error"]["details"], json!({ "retry_after": 42 }));

    let e = ApiError::new(Code::RateLimited, "wait").with_retry_after(0);
    let (_, retry_after, body) = body_of(&e).await;
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body["error"]["details"]["retry_after"], 1);
}

#[actix_web::test]
async fn a_5xx_body_is_opaque_and_the_cause_chain_stays_on_the_error() {
    let cause = anyhow::anyhow!("relation \"bookings\" does not exist")
        .context("SELECT b.id FROM bookings b");
    let e = ApiError::internal(cause);
    let (status, _, body) = body_of(&e).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"error": {"code": "internal", "message": "something went wrong on our side"}})
    );
    assert_eq!(
        format!("{:#}", e.cause().expect("cause")),
        "SELECT b.id FROM bookings b: relation \"bookings\" does not exist"
    );
    let source = std::error::Error::source(&e).expect("source");
    assert_eq!(source.to_string(), "SELECT b.id FROM bookings b");

    let e = ApiError::unavailable(std::io::Error::other("connection refused (os error 111)"));
    let (status, _, body) = body_of(&e).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!body.to_string().contains("refused"), "{body}");
}

#[test]
fn a_logged_error_shows_its_whole_chain() {
    let timeout = crate::cache::CacheError::Timeout(std::time::Duration::from_secs(1));
    assert_eq!(
        chain(&timeout).to_string(),
        "redis did not answer within 1s"
    );
    let e = crate::db::DbError::decode(std::io::Error::other("bad row"));
    assert_eq!(
        chain(&e).to_string(),
        "a stored row could not be read: bad row"
    );
}

#[test]
fn store_errors_convert_with_their_status() {
    use crate::cache::CacheError;
    let timeout = ApiError::from(CacheError::Timeout(std::time::Duration::from_secs(1)));
    assert_eq!(timeout.code(), Code::Unavailable);
    let bad_value = serde_json::from_str::<u8>("x").expect_err("not JSON");
    assert_eq!(
        ApiError::from(CacheError::from(bad_value)).code(),
        Code::Internal
    );
    let decode = crate::db::DbError::decode(anyhow::anyhow!("unknown class"));
    assert_eq!(ApiError::from(decode).code(), Code::Internal);
    assert_eq!(
        ApiError::from(anyhow::anyhow!("bug")).code(),
        Code::Internal
    );
}

/// Counts error-level events.
#[derive(Clone, Default)]
struct ErrorCount(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ErrorCount {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::ERROR {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn failing() -> Result<HttpResponse, ApiError> {
    Err(ApiError::internal(anyhow::anyhow!("boom")))
}

async fn refused() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(Code::NotRetryable, "no"))
}

async fn plain_500() -> HttpResponse {
    HttpResponse::InternalServerError().body("oops")
}

async fn needs_a_caller(_: crate::auth::AuthUser) -> HttpResponse {
    HttpResponse::NoContent().finish()
}

#[actix_web::test]
async fn a_failing_request_is_logged_once_at_error_level() {
    let count = ErrorCount::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(count.clone()));
    let app = actix_test::init_service(
        App::new()
            .route("/handler", web::get().to(failing))
            .route("/refused", web::get().to(refused))
            .route("/plain", web::get().to(plain_500))
            .route("/extractor", web::get().to(needs_a_caller))
            .wrap(from_fn(normalize_errors)),
    )
    .await;
    for (path, status, logged) in [
        ("/handler", 500, 1),
        ("/extractor", 500, 1),
        ("/plain", 500, 1),
        ("/refused", 409, 0),
    ] {
        let before = count.0.load(Ordering::SeqCst);
        let res =
            actix_test::call_service(&app, actix_test::TestRequest::get().uri(path).to_request())
                .await;
        assert_eq!(res.status().as_u16(), status, "{path}");
        let body: Value = actix_test::read_body_json(res).await;
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
        assert_eq!(
            count.0.load(Ordering::SeqCst) - before,
            logged,
            "error lines for {path}"
        );
    }
}
