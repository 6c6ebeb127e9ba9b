//! `GET /api/trains/trips/{trip_id}` (TripDetail), the internal
//! `GET /internal/trips/{trip_id}/inventory` that booking-service fetches once per trip, the
//! internal `GET /internal/sales` that booking-service's waiting room follows, and the
//! internal `GET /internal/trips?date=` that booking-service's sales overview reads.

use crate::catalogue::{TrainRef, Trip, TripSeat, trips};
use crate::domain::{self, SeatClass};
use crate::state::TrainState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use servicekit::ApiError;
use std::hash::{Hash, Hasher};

#[derive(Serialize)]
struct TripDetail {
    #[serde(flatten)]
    trip: Trip,
    coaches: Vec<Coach>,
}

#[derive(Serialize)]
struct Coach {
    code: String,
    class: SeatClass,
    seats: Vec<CoachSeat>,
}

#[derive(Serialize)]
struct CoachSeat {
    seat_id: i32,
    label: String,
    fare: i64,
}

#[derive(Serialize)]
struct Inventory {
    trip_id: i64,
    departs_at: DateTime<Utc>,
    arrives_at: DateTime<Utc>,
    sales_open_at: DateTime<Utc>,
    sales_closed: bool,
    from: String,
    to: String,
    train: TrainRef,
    currency: &'static str,
    seats: Vec<TripSeat>,
}

async fn load(state: &TrainState, raw_id: &str) -> Result<(Trip, Vec<TripSeat>), ApiError> {
    let trip_id = domain::trip_id(raw_id)?;
    let db = state.db.get().await?;
    let (trip, seats) = tokio::try_join!(trips::trip(&db, trip_id), trips::seats(&db, trip_id))?;
    let trip = trip.ok_or_else(|| ApiError::not_found("no such trip"))?;
    Ok((trip, seats))
}

#[tracing::instrument(skip(state))]
pub async fn detail(
    state: web::Data<TrainState>,
    trip_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (trip, seats) = load(&state, &trip_id).await?;
    let mut coaches: Vec<Coach> = Vec::new();
    for s in seats {
        let seat = CoachSeat {
            seat_id: s.seat_id,
            label: s.label,
            fare: s.fare,
        };
        match coaches.last_mut() {
            Some(c) if c.code == s.coach => c.seats.push(seat),
            _ => coaches.push(Coach {
                code: s.coach,
                class: s.class,
                seats: vec![seat],
            }),
        }
    }
    Ok(HttpResponse::Ok().json(TripDetail { trip, coaches }))
}

/// `GET /internal/trips/{trip_id}/inventory`, with an `ETag` over what the inventory holds
/// but its seat list ([`inventory_tag`]). A trip's seat list is fixed when its train is
/// created (no route edits coaches or seats), so a request whose `If-None-Match` names the
/// current tag is 304 after reading only the trip: booking-service's refresh every few
/// seconds of every trip on sale costs one short query, not the seat list's rows and JSON.
#[tracing::instrument(skip(state, req))]
pub async fn inventory(
    state: web::Data<TrainState>,
    trip_id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let known = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let (trip, seats) = match known {
        Some(known) => {
            let id = domain::trip_id(&trip_id)?;
            let db = state.db.get().await?;
            let trip = trips::trip(&db, id)
                .await?
                .ok_or_else(|| ApiError::not_found("no such trip"))?;
            let tag = inventory_tag(&trip);
            if known == tag {
                return Ok(HttpResponse::NotModified()
                    .insert_header((header::ETAG, tag))
                    .finish());
            }
            let seats = trips::seats(&db, id).await?;
            (trip, seats)
        }
        None => load(&state, &trip_id).await?,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, inventory_tag(&trip)))
        .json(Inventory {
            trip_id: trip.trip_id,
            departs_at: trip.departs_at,
            arrives_at: trip.arrives_at,
            sales_open_at: trip.sales_open_at,
            sales_closed: trip.sales_closed,
            from: trip.from,
            to: trip.to,
            train: trip.train,
            currency: "BDT",
            seats,
        }))
}

/// The inventory's entity tag: a hash of the trip's fields that the inventory carries, the
/// classes' fares and seat counts among them (not the seats sold), quoted.
fn inventory_tag(trip: &Trip) -> String {
    let mut h = std::hash::DefaultHasher::new();
    (
        trip.trip_id,
        &trip.train.number,
        &trip.train.name,
        &trip.from,
        &trip.to,
    )
        .hash(&mut h);
    (
        trip.departs_at,
        trip.arrives_at,
        trip.sales_open_at,
        trip.sales_closed,
    )
        .hash(&mut h);
    for c in &trip.classes {
        (c.class.to_string(), c.fare, c.seats_total).hash(&mut h);
    }
    format!("\"{:016x}\"", h.finish())
}

/// `GET /internal/sales`: the trips grouped by their `sales_open_at` (a sale), with seats in
/// all and sold, for every sale with a trip departing in the last day or later.
#[tracing::instrument(skip(state))]
pub async fn sales(state: web::Data<TrainState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.get().await?;
    let since = Utc::now() - chrono::Duration::days(1);
    let sales = trips::sales(&db, since).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "sales": sales })))
}

#[derive(Debug, serde::Deserialize)]
pub struct DayQuery {
    date: Option<String>,
}

/// `GET /internal/trips?date=YYYY-MM-DD`: every trip of that service date (the departure's
/// date in Asia/Dhaka) as `Trip`, seats per class included, by departure.
#[tracing::instrument(skip(state))]
pub async fn on_date(
    state: web::Data<TrainState>,
    query: web::Query<DayQuery>,
) -> Result<HttpResponse, ApiError> {
    let date = servicekit::http::date_param(query.date.as_deref())?;
    let db = state.db.get().await?;
    let trips = trips::on_date(&db, date).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "date": date, "trips": trips })))
}
