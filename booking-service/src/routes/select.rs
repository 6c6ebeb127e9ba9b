use super::positive;
use crate::holds::{self, HoldRecord};
use crate::seats::{self, SelectOutcome};
use crate::state::BookingState;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::auth::AuthUser;
use servicekit::http::JsonBody;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

#[derive(Deserialize)]
pub struct SelectRequest {
    trip_id: i64,
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

/// The hot path: token checked locally, seats checked against the cached inventory, then
/// one Redis round trip. No database call.
pub async fn select(
    state: web::Data<BookingState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<SelectRequest>,
) -> Result<HttpResponse, ApiError> {
    let outcome = |o: &str| state.metrics.selects.with_label_values(&[o]).inc();
    if let Err(e) = validate(&body) {
        outcome("invalid");
        return Err(e);
    }
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
        return Err(ApiError::not_found("no such seat on this trip")
            .with_details(json!({ "seat_ids": unknown })));
    }
    if trip.departs_at <= Utc::now() {
        outcome("invalid");
        return Err(ApiError::conflict(
            "trip_departed",
            "this trip has already left",
        ));
    }
    let ttl = state.settings.hold_ttl_ms;
    let hold_id = Uuid::new_v4();
    let timer = state.metrics.hold_seconds.start_timer();
    let result = state
        .seats
        .select(
            body.trip_id,
            &body.seat_ids,
            caller.id,
            hold_id,
            ttl,
            state.settings.max_seats_per_user,
        )
        .await
        .inspect_err(|_| outcome("unavailable"))?;
    timer.observe_duration();
    match result {
        SelectOutcome::Taken(seat_ids) => {
            outcome("taken");
            Err(
                ApiError::conflict("seat_unavailable", "some of these seats are already taken")
                    .with_details(json!({ "seat_ids": seat_ids })),
            )
        }
        SelectOutcome::Limit => {
            outcome("limit");
            Err(ApiError::conflict(
                "seat_limit_reached",
                format!(
                    "a passenger may hold or own at most {} seats of a trip",
                    state.settings.max_seats_per_user
                ),
            ))
        }
        SelectOutcome::Held => {
            outcome("held");
            let record = HoldRecord {
                hold_id,
                trip_id: body.trip_id,
                seat_ids: body.seat_ids.clone(),
                expires_at: Utc::now()
                    + chrono::Duration::milliseconds(i64::try_from(ttl).unwrap_or(i64::MAX)),
                user_id: Some(caller.id),
            };
            if let Err(e) = holds::save(&state.seats, &record, ttl).await {
                // Without its record the hold cannot be confirmed: give the seats back.
                let value = seats::hold_value(hold_id, caller.id);
                let _ = state
                    .seats
                    .release(body.trip_id, &body.seat_ids, caller.id, &value)
                    .await;
                return Err(e);
            }
            state.live.publish(body.trip_id, &body.seat_ids, "held");
            announce_expiry(state.clone(), record.clone(), caller.id, ttl);
            Ok(HttpResponse::Created().json(record.public()))
        }
    }
}

/// Redis expires holds silently; tell the live maps when this one lapses unconfirmed.
fn announce_expiry(state: web::Data<BookingState>, hold: HoldRecord, user: Uuid, ttl_ms: u64) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(ttl_ms + 50)).await;
        let Ok(values) = state.seats.values(hold.trip_id, &hold.seat_ids).await else {
            return;
        };
        let value = seats::hold_value(hold.hold_id, user);
        let lapsed: Vec<i32> = hold
            .seat_ids
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(s, _)| *s)
            .collect();
        if !values.iter().any(|v| v.as_deref() == Some(value.as_str())) {
            state.live.publish(hold.trip_id, &lapsed, "available");
            if lapsed.len() == hold.seat_ids.len() {
                state.metrics.holds_expired.inc();
            }
        }
    });
}

/// `DELETE /holds/{hold_id}`: the owner gives the seats back.
pub async fn release(
    state: web::Data<BookingState>,
    caller: AuthUser,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let hold = holds::load_own(&state.seats, path.into_inner(), caller.id).await?;
    let value = seats::hold_value(hold.hold_id, caller.id);
    state
        .seats
        .release(hold.trip_id, &hold.seat_ids, caller.id, &value)
        .await?;
    holds::delete(&state.seats, hold.hold_id).await?;
    state
        .live
        .publish(hold.trip_id, &hold.seat_ids, "available");
    Ok(HttpResponse::NoContent().finish())
}
