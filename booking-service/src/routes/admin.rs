//! The railway's calls on bookings (role `admin`): cancel a whole trip, and watch the
//! cancellation's progress (`crate::trip_cancel`); the operator console's sales overview and
//! booking lookup (`crate::admin`).

use super::positive;
use crate::state::BookingState;
use crate::store::Lookup;
use crate::trip_cancel::store::{self, Progress};
use actix_web::{HttpResponse, web};
use anyhow::anyhow;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use servicekit::ApiError;
use servicekit::amqp::Envelope;
use servicekit::auth::AuthUser;
use servicekit::db::DbError;
use servicekit::events::{self, TripCancelled};
use servicekit::http::{Id, JsonBody, RequestId};
use servicekit::outbox;
use uuid::Uuid;

/// The longest reason, in characters.
const REASON_MAX: usize = 500;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CancelTripRequest {
    /// Why the railway cancels the trip; every passenger of the trip reads it.
    #[schema(
        min_length = 1,
        max_length = 500,
        example = "Flooding on the line near Feni"
    )]
    reason: String,
}

/// 202 while bookings are left to cancel, 200 once done.
fn answer(progress: &Progress) -> HttpResponse {
    if progress.done {
        HttpResponse::Ok().json(progress)
    } else {
        HttpResponse::Accepted().json(progress)
    }
}

/// `POST /admin/trips/{trip_id}/cancel`: cancels the trip (or answers the cancellation it
/// already has: the first reason stays). The job then cancels its bookings.
pub async fn cancel_trip(
    state: web::Data<BookingState>,
    caller: AuthUser,
    path: web::Path<String>,
    request_id: RequestId,
    JsonBody(body): JsonBody<CancelTripRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let trip_id = positive(Id::parse(&path, "trip_id")?, "trip_id")?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > REASON_MAX {
        return Err(ApiError::invalid_field(
            "reason",
            format!("give a reason of 1 to {REASON_MAX} characters"),
        ));
    }
    let mut db = state.db.get().await?;
    if let Some(existing) = store::progress(&db, trip_id).await? {
        return Ok(answer(&existing));
    }
    let trip = state.inventory.trip(trip_id).await?;
    let tx = db.transaction().await.map_err(DbError::from)?;
    let new = store::request(&tx, trip_id, reason, caller.id, trip.departs_at).await?;
    if new {
        // Search stops listing the trip (train-service), once: with the row, or not at all.
        let event = Envelope::new(
            events::TRIP_CANCELLED,
            &TripCancelled {
                trip_id,
                reason: reason.to_owned(),
                cancelled_at: Utc::now(),
            },
        )
        .map_err(anyhow::Error::from)?;
        outbox::enqueue(&tx, &event, Some(&request_id.0))
            .await
            .map_err(DbError::from)?;
    }
    tx.commit().await.map_err(DbError::from)?;
    state.trip_cancel.mark(trip_id);
    if new {
        state.relay.wake();
        state.trip_cancel.metrics.trips.inc();
        tracing::info!(trip = trip_id, admin = %caller.id, reason, "trip cancelled by the railway");
    }
    let progress = store::progress(&db, trip_id)
        .await?
        .ok_or_else(|| anyhow!("the cancellation just written is not there"))?;
    Ok(answer(&progress))
}

/// `GET /admin/trips/{trip_id}/cancellation`: the cancellation and its progress; 404 when the
/// trip was never cancelled.
pub async fn cancellation(
    state: web::Data<BookingState>,
    caller: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let trip_id = positive(Id::parse(&path, "trip_id")?, "trip_id")?;
    let progress = store::progress(&state.db.get().await?, trip_id)
        .await?
        .ok_or_else(|| ApiError::not_found("this trip was never cancelled"))?;
    Ok(HttpResponse::Ok().json(progress))
}

#[derive(Deserialize)]
pub struct SalesQuery {
    date: Option<String>,
}

/// `GET /admin/sales?date=YYYY-MM-DD`: the date's trips with live numbers
/// (`crate::admin::sales`).
pub async fn sales(
    state: web::Data<BookingState>,
    caller: AuthUser,
    query: web::Query<SalesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let date = servicekit::http::date_param(query.date.as_deref())?;
    let overview = crate::admin::sales::overview(&state, date).await?;
    Ok(HttpResponse::Ok().json(overview))
}

#[derive(Deserialize)]
pub struct LookupQuery {
    booking_id: Option<String>,
    ticket_code: Option<String>,
    user_id: Option<String>,
}

/// The longest ticket code accepted (codes are far shorter).
const TICKET_CODE_MAX: usize = 64;

fn uuid_param(raw: &str, field: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| ApiError::invalid_field(field, format!("{field} must be a UUID")))
}

/// Exactly one of the three parameters, parsed.
fn lookup_of(q: &LookupQuery) -> Result<Lookup, ApiError> {
    match (&q.booking_id, &q.ticket_code, &q.user_id) {
        (Some(id), None, None) => Ok(Lookup::Booking(uuid_param(id, "booking_id")?)),
        (None, None, Some(id)) => Ok(Lookup::User(uuid_param(id, "user_id")?)),
        (None, Some(code), None) => {
            let code = code.trim();
            if code.is_empty() || code.chars().count() > TICKET_CODE_MAX {
                return Err(ApiError::invalid_field(
                    "ticket_code",
                    format!("a ticket code has 1 to {TICKET_CODE_MAX} characters"),
                ));
            }
            Ok(Lookup::TicketCode(code.to_owned()))
        }
        _ => Err(ApiError::invalid_field(
            "booking_id",
            "give exactly one of booking_id, ticket_code or user_id",
        )),
    }
}

/// `GET /admin/bookings?booking_id=|ticket_code=|user_id=`: any passenger's bookings, newest
/// first, at most 50, with their history (`crate::admin::lookup`).
pub async fn bookings(
    state: web::Data<BookingState>,
    caller: AuthUser,
    query: web::Query<LookupQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let by = lookup_of(&query)?;
    let bookings = crate::admin::lookup::find(&state.db.get().await?, &by).await?;
    Ok(HttpResponse::Ok().json(json!({ "bookings": bookings })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(
        booking_id: Option<&str>,
        ticket_code: Option<&str>,
        user_id: Option<&str>,
    ) -> LookupQuery {
        LookupQuery {
            booking_id: booking_id.map(str::to_owned),
            ticket_code: ticket_code.map(str::to_owned),
            user_id: user_id.map(str::to_owned),
        }
    }

    #[test]
    fn a_lookup_takes_exactly_one_well_formed_parameter() {
        let id = Uuid::new_v4();
        let s = id.to_string();
        assert_eq!(
            lookup_of(&query(Some(&s), None, None)).unwrap(),
            Lookup::Booking(id)
        );
        assert_eq!(
            lookup_of(&query(None, None, Some(&s))).unwrap(),
            Lookup::User(id)
        );
        assert_eq!(
            lookup_of(&query(None, Some(" ABC123 "), None)).unwrap(),
            Lookup::TicketCode("ABC123".into())
        );
        for bad in [
            query(None, None, None),
            query(Some(&s), Some("ABC"), None),
            query(Some(&s), None, Some(&s)),
            query(Some("nope"), None, None),
            query(None, None, Some("12")),
            query(None, Some("  "), None),
            query(None, Some(&"x".repeat(65)), None),
        ] {
            assert!(lookup_of(&bad).is_err());
        }
    }
}
