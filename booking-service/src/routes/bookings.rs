use crate::inventory::InventoryError;
use crate::state::BookingState;
use crate::store::{self, Booking};
use crate::{cancel, lifecycle};
use actix_web::{HttpResponse, web};
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::AuthUser;
use servicekit::db::DbError;
use servicekit::error::Code;
use servicekit::http::RequestId;
use uuid::Uuid;

fn not_found() -> ApiError {
    ApiError::not_found("no such booking")
}

pub async fn get(
    state: web::Data<BookingState>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let booking = store::find_own(&state.db.get().await?, path.into_inner(), caller.id)
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(booking))
}

/// `GET /internal/bookings/{booking_id}` for payment-service: any user's booking, as a
/// `servicekit::internal::BookingSummary`; 404 when unknown. Not under `/api`: the gateway
/// does not route it.
pub async fn summary(
    state: web::Data<BookingState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let summary = store::summary(&state.db.get().await?, path.into_inner())
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(summary))
}

pub async fn list(
    state: web::Data<BookingState>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let bookings = store::list_own(&state.db.get().await?, caller.id).await?;
    Ok(HttpResponse::Ok().json(json!({ "bookings": bookings })))
}

/// What can refuse a cancellation.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("no such booking")]
    UnknownBooking,
    /// The booking's status when it could not be cancelled.
    #[error("a {0} booking cannot be cancelled")]
    NotCancellable(String),
    /// The trip left (at the time given): no cancellation, no refund.
    #[error("the trip departed at {0}; a booking cannot be cancelled after departure")]
    Departed(chrono::DateTime<chrono::Utc>),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<cancel::CancelFailure> for CancelError {
    fn from(e: cancel::CancelFailure) -> Self {
        match e {
            cancel::CancelFailure::Db(e) => Self::Db(e),
            e @ cancel::CancelFailure::Encoding(_) => Self::Unexpected(e.into()),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(e: CancelError) -> Self {
        match e {
            CancelError::UnknownBooking => not_found(),
            CancelError::NotCancellable(_) | CancelError::Departed(_) => {
                ApiError::new(Code::NotCancellable, e.to_string())
            }
            CancelError::Inventory(e) => e.into(),
            CancelError::Db(e) => e.into(),
            CancelError::Unexpected(e) => ApiError::internal(e),
        }
    }
}

/// Cancels a confirmed or paid booking whose trip has not departed; its seats are free at
/// once. A paid booking's `booking.cancelled` carries `was_paid`, which the payment service
/// refunds. After departure the answer is 409 `not_cancellable` (no refund for a journey
/// the train has already started); when train-service cannot tell the departure, 503.
pub async fn cancel(
    state: web::Data<BookingState>,
    caller: AuthUser,
    request_id: RequestId,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state.revocations.check(&caller).await?;
    let id = path.into_inner();
    let existing = end(&state, caller.id, id, &request_id).await?;
    lifecycle::free_seats(&state, id, caller.id, existing.trip_id, &existing.seat_ids).await;
    let booking = store::find_own(&state.db.get().await?, id, caller.id)
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(booking))
}

/// Cancels the caller's booking `id` with its `booking.cancelled` event; returns the booking
/// as it was.
async fn end(
    state: &BookingState,
    user: Uuid,
    id: Uuid,
    request_id: &RequestId,
) -> Result<Booking, CancelError> {
    let mut db = state.db.get().await.map_err(DbError::from)?;
    let tx = db.transaction().await.map_err(DbError::from)?;
    let existing = store::find_own(&tx, id, user)
        .await?
        .ok_or(CancelError::UnknownBooking)?;
    if !store::is_live(&existing.status) {
        return Err(CancelError::NotCancellable(existing.status));
    }
    // The departure does not change once a trip is sold, so the cached inventory tells it.
    let trip = state.inventory.trip(existing.trip_id).await?;
    if trip.departs_at <= chrono::Utc::now() {
        return Err(CancelError::Departed(trip.departs_at));
    }
    let target = cancel::Target {
        booking_id: id,
        user_id: user,
        trip_id: existing.trip_id,
        amount: existing.amount,
        currency: &existing.currency,
    };
    let why = cancel::Why {
        trip: Some(trip.summary()),
        reason: None,
        request_id: Some(&request_id.0),
    };
    if cancel::cancel(&tx, &target, Some(user), why)
        .await?
        .is_none()
    {
        return Err(CancelError::NotCancellable(existing.status));
    }
    tx.commit().await.map_err(DbError::from)?;
    state.relay.wake();
    Ok(existing)
}
