//! The railway's view of a booking's payment (role `admin`):
//! `GET /api/payments/admin/bookings/{booking_id}/attempts`, every charge attempt and the
//! refund, oldest first.

use crate::state::PaymentState;
use crate::store;
use actix_web::{HttpResponse, web};
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::AuthUser;
use uuid::Uuid;

/// The attempts of the booking's payment; `[]` for a booking booking-service knows whose
/// payment the worker has not taken yet; 404 for a booking nobody knows.
#[tracing::instrument(skip_all, fields(admin = %caller.id, booking_id = %path))]
pub async fn attempts(
    state: web::Data<PaymentState>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let booking_id = path.into_inner();
    let db = state.db.get().await?;
    if let Some(payment) = store::find(&db, booking_id).await? {
        let attempts = store::history(&db, &payment).await?;
        return Ok(HttpResponse::Ok().json(json!({ "attempts": attempts })));
    }
    drop(db);
    match state.bookings.find(booking_id).await? {
        Some(_) => Ok(HttpResponse::Ok().json(json!({ "attempts": [] }))),
        None => Err(ApiError::not_found("no payment for this booking")),
    }
}
