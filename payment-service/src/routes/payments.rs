//! `GET /api/payments/{booking_id}` (the caller's payment; an admin's: any booking's) and
//! `POST /api/payments/{booking_id}/retry` (charge a failed payment again with a new token,
//! before the booking's payment is due, while the booking is still `confirmed`).
//!
//! Both ask booking-service (`crate::bookings`) what this service cannot know yet: the
//! status answers `pending` for the caller's booking confirmed a moment ago whose
//! `booking.confirmed` has not arrived, and a retry is refused for a booking cancelled or
//! expired a moment ago whose event has not arrived.

use crate::bookings::BookingsUnavailable;
use crate::charges::RetryRequested;
use crate::state::PaymentState;
use crate::store::{self, FAILED, Payment};
use actix_web::{HttpResponse, web};
use anyhow::Context;
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::amqp::Envelope;
use servicekit::auth::{AuthUser, Role};
use servicekit::db::DbError;
use servicekit::error::Code;
use servicekit::events;
use servicekit::http::{JsonBody, RequestId};
use servicekit::internal::BookingSummary;
use servicekit::outbox;
use uuid::Uuid;

/// Longest payment token accepted.
pub const TOKEN_MAX_LEN: usize = 255;

fn not_found() -> ApiError {
    ApiError::not_found("no payment for this booking")
}

#[tracing::instrument(skip_all, fields(booking_id = %path))]
pub async fn get(
    state: web::Data<PaymentState>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let booking_id = path.into_inner();
    // An admin sees any booking's payment; everyone else only their own.
    let admin = caller.has_role(Role::Admin);
    let db = state.db.get().await?;
    let stored = if admin {
        store::find(&db, booking_id).await?
    } else {
        store::find_own(&db, booking_id, caller.id).await?
    };
    if let Some(payment) = stored {
        return Ok(HttpResponse::Ok().json(payment));
    }
    drop(db);
    // No row yet (or another user's): booking-service knows whether the caller has such a
    // booking; its payment is pending until the worker takes it.
    match state.bookings.find(booking_id).await? {
        Some(booking) if admin || booking.user_id == caller.id => {
            Ok(HttpResponse::Ok().json(NotYetTaken::from(booking)))
        }
        _ => Err(not_found()),
    }
}

/// The payment of a confirmed booking the worker has not taken yet: `pending`, no attempts,
/// no `payment_id` yet (the same fields as a stored payment's answer).
#[derive(serde::Serialize)]
struct NotYetTaken {
    payment_id: Option<Uuid>,
    booking_id: Uuid,
    status: &'static str,
    amount: i64,
    currency: String,
    attempts: i32,
    failure: Option<String>,
    payment_due_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<BookingSummary> for NotYetTaken {
    fn from(b: BookingSummary) -> Self {
        Self {
            payment_id: None,
            booking_id: b.booking_id,
            status: store::PENDING,
            amount: b.amount,
            currency: b.currency,
            attempts: 0,
            failure: None,
            payment_due_at: b.payment_due_at,
            updated_at: b.created_at,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RetryBody {
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]+$",
        example = "tok_visa"
    )]
    payment_token: String,
}

/// The token of a retry: 1 to 255 characters, no control characters.
fn payment_token(body: &RetryBody) -> Result<&str, ApiError> {
    let token = body.payment_token.as_str();
    if token.trim().is_empty() {
        return Err(ApiError::invalid_field(
            "payment_token",
            "payment_token must not be empty",
        ));
    }
    if token.chars().count() > TOKEN_MAX_LEN {
        return Err(ApiError::invalid_field(
            "payment_token",
            format!("payment_token must be at most {TOKEN_MAX_LEN} characters"),
        ));
    }
    if token.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "payment_token",
            "payment_token must not contain control characters",
        ));
    }
    Ok(token)
}

/// What can refuse a retry besides a malformed request.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no payment for this booking")]
    UnknownPayment,
    /// Why the payment cannot be retried.
    #[error("{0}")]
    NotRetryable(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Bookings(#[from] BookingsUnavailable),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RetryError> for ApiError {
    fn from(e: RetryError) -> Self {
        match e {
            RetryError::UnknownPayment => not_found(),
            RetryError::NotRetryable(reason) => ApiError::new(Code::NotRetryable, reason),
            RetryError::Db(e) => e.into(),
            RetryError::Bookings(e) => e.into(),
            RetryError::Unexpected(e) => ApiError::internal(e),
        }
    }
}

#[tracing::instrument(skip_all, fields(booking_id = %path))]
pub async fn retry(
    state: web::Data<PaymentState>,
    caller: AuthUser,
    request_id: RequestId,
    path: web::Path<Uuid>,
    body: JsonBody<RetryBody>,
) -> Result<HttpResponse, ApiError> {
    let token = payment_token(&body.0)?;
    let booking_id = path.into_inner();
    let payment = reopen(&state, caller.id, booking_id, token, &request_id).await?;
    Ok(HttpResponse::Accepted().json(json!({
        "booking_id": booking_id,
        "payment_id": payment.payment_id,
        "status": store::PENDING,
        "attempts": payment.attempts,
    })))
}

/// Sets the caller's failed payment of `booking_id` pending with `token` and asks the charge
/// worker to try again; returns the payment as it was.
async fn reopen(
    state: &PaymentState,
    user: Uuid,
    booking_id: Uuid,
    token: &str,
    request_id: &RequestId,
) -> Result<Payment, RetryError> {
    // Asked before the row lock is taken, so a slow booking-service holds no lock. A cancel
    // that lands after this answer is closed by the refund consumer, as before.
    let booking = state.bookings.find(booking_id).await?;
    let mut db = state.db.get().await.map_err(DbError::from)?;
    let tx = db.transaction().await.map_err(DbError::from)?;
    let payment = store::lock_own(&tx, booking_id, user)
        .await?
        .ok_or(RetryError::UnknownPayment)?;
    let refusal = if payment.status != FAILED {
        Some(format!("a {} payment cannot be retried", payment.status))
    } else if payment.closed_at.is_some() {
        Some("the booking can no longer be paid".to_owned())
    } else if chrono::Utc::now() >= payment.payment_due_at {
        Some("the payment was due before now".to_owned())
    } else {
        match booking {
            Some(b) if b.status == "confirmed" => None,
            Some(b) => Some(format!(
                "the booking is {}; it can no longer be paid",
                b.status
            )),
            None => Some("the booking can no longer be paid".to_owned()),
        }
    };
    if let Some(reason) = refusal {
        return Err(RetryError::NotRetryable(reason));
    }
    store::reopen(&tx, payment.payment_id, token).await?;
    let event = Envelope::new(
        events::PAYMENT_RETRY_REQUESTED,
        &RetryRequested {
            booking_id,
            payment_id: payment.payment_id,
        },
    )
    .context("encoding payment.retry_requested")?;
    outbox::enqueue(&tx, &event, Some(&request_id.0))
        .await
        .map_err(DbError::from)?;
    tx.commit().await.map_err(DbError::from)?;
    state.relay.wake();
    Ok(payment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(token: &str) -> RetryBody {
        RetryBody {
            payment_token: token.into(),
        }
    }

    #[test]
    fn retry_tokens_are_validated() {
        assert!(payment_token(&body("tok_visa")).is_ok());
        assert!(payment_token(&body(&"x".repeat(255))).is_ok());
        for bad in ["", "   ", "tok\n", &"x".repeat(256)] {
            let e = payment_token(&body(bad)).err();
            assert_eq!(e.map(|e| e.code()), Some(Code::InvalidRequest), "{bad:?}");
        }
    }
}
