//! The railway's calls on bookings (role `admin`): cancel a whole trip, and watch the
//! cancellation's progress (`crate::trip_cancel`).

use super::positive;
use crate::state::BookingState;
use crate::trip_cancel::store::{self, Progress};
use actix_web::{HttpResponse, web};
use anyhow::anyhow;
use serde::Deserialize;
use servicekit::ApiError;
use servicekit::auth::AuthUser;
use servicekit::db::DbError;
use servicekit::http::{Id, JsonBody};

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
    tx.commit().await.map_err(DbError::from)?;
    state.trip_cancel.mark(trip_id);
    if new {
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
