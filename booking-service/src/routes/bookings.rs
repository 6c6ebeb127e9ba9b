use crate::lifecycle;
use crate::state::BookingState;
use crate::store;
use actix_web::{HttpResponse, web};
use serde_json::json;
use servicekit::ApiError;
use servicekit::amqp::Envelope;
use servicekit::auth::AuthUser;
use servicekit::events::{self, BookingReleased};
use servicekit::http::RequestId;
use servicekit::outbox;
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

pub async fn list(
    state: web::Data<BookingState>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let bookings = store::list_own(&state.db.get().await?, caller.id).await?;
    Ok(HttpResponse::Ok().json(json!({ "bookings": bookings })))
}

/// Cancels a confirmed or paid booking; its seats are free at once. A paid booking's
/// `booking.cancelled` carries `was_paid`, which the payment service refunds.
pub async fn cancel(
    state: web::Data<BookingState>,
    caller: AuthUser,
    request_id: RequestId,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut db = state.db.get().await?;
    let tx = db.transaction().await?;
    let existing = store::find_own(&tx, id, caller.id)
        .await?
        .ok_or_else(not_found)?;
    let Some(previous) = store::end(&tx, id, Some(caller.id), "cancelled").await? else {
        return Err(ApiError::conflict(
            "not_cancellable",
            format!("a {} booking cannot be cancelled", existing.status),
        ));
    };
    let seats = store::seats(&tx, id).await?;
    let event = Envelope::new(
        events::BOOKING_CANCELLED,
        &BookingReleased {
            booking_id: id,
            user_id: caller.id,
            trip_id: existing.trip_id,
            seats,
            amount: existing.amount,
            currency: existing.currency.clone(),
            was_paid: previous == "paid",
            trip: lifecycle::trip_summary(&state, existing.trip_id).await,
        },
    )
    .map_err(|e| ApiError::internal(&e))?;
    outbox::enqueue(&tx, &event, Some(&request_id.0)).await?;
    tx.commit().await?;
    state.relay.wake();

    lifecycle::free_seats(&state, id, caller.id, existing.trip_id, &existing.seat_ids).await;
    let booking = store::find_own(&db, id, caller.id)
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(booking))
}
