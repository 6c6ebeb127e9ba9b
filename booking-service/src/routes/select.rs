use super::positive;
use crate::expiries;
use crate::holds::{self, HoldRecord};
use crate::inventory::InventoryError;
use crate::seats::{self, NewHold, SelectOutcome};
use crate::state::BookingState;
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::AuthUser;
use servicekit::cache::CacheError;
use servicekit::error::{Code, chain};
use servicekit::http::JsonBody;
use std::collections::HashSet;
use uuid::Uuid;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SelectRequest {
    #[schema(minimum = 1, example = 1)]
    trip_id: i64,
    /// 1 to 4 distinct seats.
    #[schema(min_items = 1, max_items = 4, example = json!([1, 2]))]
    seat_ids: Vec<i32>,
}

fn validate(body: &SelectRequest) -> Result<(), ApiError> {
    positive(body.trip_id, "trip_id")?;
    if body.seat_ids.is_empty() || body.seat_ids.len() > 4 {
        return Err(ApiError::invalid_field("seat_ids", "select 1 to 4 seats"));
    }
    if body.seat_ids.iter().any(|&s| s <= 0) {
        return Err(ApiError::invalid_field(
            "seat_ids",
            "seat ids are positive integers",
        ));
    }
    if body.seat_ids.iter().collect::<HashSet<_>>().len() != body.seat_ids.len() {
        return Err(ApiError::invalid_field(
            "seat_ids",
            "the seats must be distinct",
        ));
    }
    Ok(())
}

/// What can refuse a selection besides a malformed request.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("no such seat on this trip")]
    UnknownSeats(Vec<i32>),
    #[error("this trip has already left")]
    TripDeparted,
    #[error("the railway cancelled this trip")]
    TripCancelled,
    #[error("this trip's seats are not on sale yet")]
    SalesNotOpen(DateTime<Utc>),
    #[error("sales of this trip are closed")]
    SalesClosed,
    #[error("some of these seats are already taken")]
    SeatsTaken(Vec<i32>),
    #[error("a passenger may hold or own at most {0} seats of a trip")]
    SeatLimitReached(u32),
    #[error("the waiting room's pass is missing or not valid")]
    Pass(ApiError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Seats(#[from] CacheError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<SelectError> for ApiError {
    fn from(e: SelectError) -> Self {
        let message = e.to_string();
        match e {
            SelectError::UnknownSeats(seat_ids) => {
                ApiError::new(Code::NotFound, message).with_details(json!({ "seat_ids": seat_ids }))
            }
            SelectError::TripDeparted => ApiError::new(Code::TripDeparted, message),
            SelectError::TripCancelled => ApiError::new(Code::TripCancelled, message),
            SelectError::SalesNotOpen(opens_at) => ApiError::new(Code::SalesNotOpen, message)
                .with_details(json!({ "opens_at": opens_at })),
            SelectError::SalesClosed => ApiError::new(Code::SalesClosed, message),
            SelectError::SeatsTaken(seat_ids) => ApiError::new(Code::SeatUnavailable, message)
                .with_details(json!({ "seat_ids": seat_ids })),
            SelectError::SeatLimitReached(_) => ApiError::new(Code::SeatLimitReached, message),
            SelectError::Pass(e) => e,
            SelectError::Inventory(e) => e.into(),
            SelectError::Seats(e) => e.into(),
            SelectError::Unexpected(e) => ApiError::internal(e),
        }
    }
}

/// The hot path: token checked locally, seats and the sales opening checked against the
/// cached inventory, then one Redis round trip. No database call.
pub async fn select(
    state: web::Data<BookingState>,
    req: HttpRequest,
    caller: AuthUser,
    JsonBody(body): JsonBody<SelectRequest>,
) -> Result<HttpResponse, ApiError> {
    if let Err(e) = validate(&body) {
        state.metrics.selects.with_label_values(&["invalid"]).inc();
        return Err(e);
    }
    state.limit(caller.id, "select", state.user_limits.select_per_minute)?;
    let record = hold(&state, &req, caller.id, &body).await?;
    state.live.publish(body.trip_id, &body.seat_ids, "held");
    Ok(HttpResponse::Created().json(record.public()))
}

/// Holds the seats of `body` for `user`, counting the outcome.
async fn hold(
    state: &BookingState,
    req: &HttpRequest,
    user: Uuid,
    body: &SelectRequest,
) -> Result<HoldRecord, SelectError> {
    let outcome = |o: &str| state.metrics.selects.with_label_values(&[o]).inc();
    let trip = state
        .inventory
        .trip(body.trip_id)
        .await
        .inspect_err(|_| outcome("invalid"))?;
    let unknown: Vec<i32> = body
        .seat_ids
        .iter()
        .copied()
        .filter(|&s| trip.seat(s).is_none())
        .collect();
    if !unknown.is_empty() {
        outcome("invalid");
        return Err(SelectError::UnknownSeats(unknown));
    }
    // An in-memory set: no store round trip (confirm asks the database).
    if state.trip_cancel.is_cancelled(body.trip_id) {
        outcome("cancelled");
        return Err(SelectError::TripCancelled);
    }
    if trip.departs_at <= Utc::now() {
        outcome("invalid");
        return Err(SelectError::TripDeparted);
    }
    // The sales gate, before Redis: confirm needs a hold, so nothing sells earlier.
    if trip.sales_open_at > Utc::now() {
        outcome("not_open");
        return Err(SelectError::SalesNotOpen(trip.sales_open_at));
    }
    // The railway closed the sales (as of the cached inventory, like the opening).
    if trip.sales_closed {
        outcome("closed");
        return Err(SelectError::SalesClosed);
    }
    // The waiting room's gate: a local check of the pass, no store round trip.
    state
        .queue
        .require_pass(req, trip.sales_open_at, user, chrono::Duration::zero())
        .inspect_err(|_| outcome("no_pass"))
        .map_err(SelectError::Pass)?;
    let ttl = state.settings.hold_ttl_ms;
    let hold_id = holds::new_id(body.trip_id)
        .ok_or_else(|| anyhow::anyhow!("trip {} does not fit in a hold id", body.trip_id))?;
    let record = HoldRecord {
        hold_id,
        trip_id: body.trip_id,
        seat_ids: body.seat_ids.clone(),
        expires_at: Utc::now()
            + chrono::Duration::milliseconds(i64::try_from(ttl).unwrap_or(i64::MAX)),
        user_id: Some(user),
    };
    let body_json = serde_json::to_string(&record).context("encoding the hold record")?;
    let timer = state.metrics.hold_seconds.start_timer();
    let result = state
        .seats
        .select(&NewHold {
            trip: body.trip_id,
            seats: &body.seat_ids,
            user,
            hold: hold_id,
            ttl_ms: ttl,
            max_seats: state.settings.max_seats_per_user,
            record: &body_json,
        })
        .await
        .inspect_err(|_| outcome("unavailable"))?;
    timer.observe_duration();
    match result {
        SelectOutcome::Taken(seat_ids) => {
            outcome("taken");
            Err(SelectError::SeatsTaken(seat_ids))
        }
        SelectOutcome::Limit => {
            outcome("limit");
            Err(SelectError::SeatLimitReached(
                state.settings.max_seats_per_user,
            ))
        }
        SelectOutcome::Held { index } => {
            outcome("held");
            if index && let Err(e) = expiries::index(&state.seats, body.trip_id).await {
                tracing::warn!(error = %chain(&e), trip = body.trip_id, "trip not indexed for hold expiries; a later select retries");
            }
            Ok(record)
        }
    }
}

/// `DELETE /holds/{hold_id}`: the owner gives the seats back.
pub async fn release(
    state: web::Data<BookingState>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let hold = holds::load_own(&state.seats, path.into_inner(), caller.id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such hold"))?;
    let value = seats::hold_value(hold.hold_id, caller.id);
    let expiry = expiries::member(hold.hold_id, caller.id, &hold.seat_ids);
    state
        .seats
        .release(
            hold.trip_id,
            &hold.seat_ids,
            caller.id,
            &value,
            Some(&expiry),
        )
        .await?;
    holds::delete(&state.seats, hold.hold_id).await?;
    state
        .live
        .publish(hold.trip_id, &hold.seat_ids, "available");
    Ok(HttpResponse::NoContent().finish())
}
