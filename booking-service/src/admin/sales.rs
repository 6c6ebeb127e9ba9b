//! The sales overview (`GET /api/bookings/admin/sales?date=`): the trips of a service date
//! (train-service's `GET /internal/trips?date=`) with live numbers.
//!
//! - `sold`: seats of confirmed or paid bookings (PostgreSQL's live seats);
//! - `held`: seats held in Redis now (one MGET per trip);
//! - `free` = total − sold − held (never below 0);
//! - `boarded`: the trip's boardings; `sold_last_minute`: seats of the bookings confirmed in
//!   the last 60 seconds (whatever became of them since);
//! - `cancellation`: the railway's cancellation of the trip and its progress, or null;
//! - `waiting_room`: the room of the trip's sale while one exists in Redis, or null.

use crate::inventory::DayTrip;
use crate::queue::SaleState;
use crate::queue::sales;
use crate::seats;
use crate::state::BookingState;
use crate::trip_cancel::store::{self as cancellations, Progress};
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use servicekit::ApiError;
use servicekit::db::DbError;
use std::collections::HashMap;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SalesOverview {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub generated_at: DateTime<Utc>,
    pub trips: Vec<TripSales>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TripSales {
    pub trip_id: i64,
    pub train_number: String,
    pub train_name: String,
    pub from: String,
    pub to: String,
    pub departs_at: DateTime<Utc>,
    pub sales_open_at: DateTime<Utc>,
    pub sales_closed: bool,
    /// The sale's id: `sales_open_at` as `YYYYMMDDTHHMMSSZ`.
    #[schema(example = "20261210T020000Z")]
    pub sale_id: String,
    pub classes: Vec<ClassSales>,
    pub sold: i64,
    pub held: i64,
    pub free: i64,
    pub boarded: i64,
    /// Seats of the bookings confirmed in the last 60 seconds.
    pub sold_last_minute: i64,
    pub cancellation: Option<Progress>,
    pub waiting_room: Option<RoomSales>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClassSales {
    pub class: String,
    pub total: i64,
    pub sold: i64,
    pub held: i64,
    pub free: i64,
}

/// The waiting room of the trip's sale, as `GET /api/queue/sales/{sale_id}` tells it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RoomSales {
    #[schema(value_type = String, example = "open")]
    pub state: SaleState,
    pub waiting: i64,
    pub now_serving: i64,
    pub admitted_per_minute: i64,
}

/// What PostgreSQL says of the date's trips.
#[derive(Default)]
struct Counts {
    /// By trip and class.
    sold: HashMap<(i64, String), i64>,
    boarded: HashMap<i64, i64>,
    last_minute: HashMap<i64, i64>,
    cancellations: HashMap<i64, Progress>,
}

async fn counts(db: &impl GenericClient, trips: &[i64]) -> Result<Counts, DbError> {
    let mut counts = Counts::default();
    for r in db
        .query(
            "SELECT trip_id, class, count(*) FROM booking_seats \
             WHERE trip_id = ANY($1) AND live GROUP BY trip_id, class",
            &[&trips],
        )
        .await?
    {
        counts.sold.insert((r.get(0), r.get(1)), r.get(2));
    }
    for r in db
        .query(
            "SELECT trip_id, count(*) FROM boardings WHERE trip_id = ANY($1) GROUP BY trip_id",
            &[&trips],
        )
        .await?
    {
        counts.boarded.insert(r.get(0), r.get(1));
    }
    // A booking's updated_at is never before its created_at: the index on updated_at finds
    // the recent ones.
    for r in db
        .query(
            "SELECT b.trip_id, count(*) FROM bookings b \
             JOIN booking_seats s ON s.booking_id = b.id \
             WHERE b.updated_at > now() - interval '60 seconds' \
               AND b.created_at > now() - interval '60 seconds' \
               AND b.trip_id = ANY($1) \
             GROUP BY b.trip_id",
            &[&trips],
        )
        .await?
    {
        counts.last_minute.insert(r.get(0), r.get(1));
    }
    for progress in cancellations::progress_of_trips(db, trips).await? {
        counts.cancellations.insert(progress.trip_id, progress);
    }
    Ok(counts)
}

/// Seats held in Redis now, by class.
async fn held(state: &BookingState, trip_id: i64) -> Result<HashMap<String, i64>, ApiError> {
    let trip = state.inventory.trip(trip_id).await?;
    let ids: Vec<i32> = trip.seats.iter().map(|s| s.seat_id).collect();
    let values = state.seats.values(trip_id, &ids).await?;
    let mut held: HashMap<String, i64> = HashMap::new();
    for (seat, value) in trip.seats.iter().zip(values) {
        if seats::status_of(value.as_deref()) == "held" {
            *held.entry(seat.class.clone()).or_default() += 1;
        }
    }
    Ok(held)
}

/// The room of `sale_id` while Redis has one and the sale is known.
async fn room(state: &BookingState, sale_id: &str) -> Result<Option<RoomSales>, ApiError> {
    let queue = &state.queue;
    let Some(sale) = queue.sales.get(sale_id) else {
        return Ok(None);
    };
    let Some(kept) = queue.rooms.status(sale_id).await? else {
        return Ok(None);
    };
    let numbered = kept.assigned || !queue.is_active(sale_id);
    Ok(Some(RoomSales {
        state: queue.state(&sale, Utc::now(), numbered),
        waiting: if kept.ended { 0 } else { kept.waiting() },
        now_serving: kept.serving,
        admitted_per_minute: kept.admitted_per_minute,
    }))
}

/// The overview of `date`.
pub async fn overview(state: &BookingState, date: NaiveDate) -> Result<SalesOverview, ApiError> {
    let day = state.inventory.trips_on(date).await?;
    let ids: Vec<i64> = day.iter().map(|t| t.trip_id).collect();
    let mut counts = counts(&state.db.get().await?, &ids).await?;
    let mut rooms: HashMap<String, Option<RoomSales>> = HashMap::new();
    let mut trips = Vec::with_capacity(day.len());
    for trip in day {
        let sale_id = sales::sale_id(trip.sales_open_at);
        if !rooms.contains_key(&sale_id) {
            let r = room(state, &sale_id).await?;
            rooms.insert(sale_id.clone(), r);
        }
        let held = held(state, trip.trip_id).await?;
        let room = rooms.get(&sale_id).cloned().flatten();
        trips.push(trip_sales(trip, sale_id, &held, &mut counts, room));
    }
    Ok(SalesOverview {
        date,
        generated_at: Utc::now(),
        trips,
    })
}

fn trip_sales(
    trip: DayTrip,
    sale_id: String,
    held: &HashMap<String, i64>,
    counts: &mut Counts,
    waiting_room: Option<RoomSales>,
) -> TripSales {
    let classes: Vec<ClassSales> = trip
        .classes
        .iter()
        .map(|c| {
            let sold = counts
                .sold
                .get(&(trip.trip_id, c.class.clone()))
                .copied()
                .unwrap_or(0);
            let held = held.get(&c.class).copied().unwrap_or(0);
            ClassSales {
                class: c.class.clone(),
                total: c.seats_total,
                sold,
                held,
                free: (c.seats_total - sold - held).max(0),
            }
        })
        .collect();
    let sum = |f: fn(&ClassSales) -> i64| classes.iter().map(f).sum::<i64>();
    let (sold, held, free) = (sum(|c| c.sold), sum(|c| c.held), sum(|c| c.free));
    TripSales {
        trip_id: trip.trip_id,
        train_number: trip.train.number,
        train_name: trip.train.name,
        from: trip.from,
        to: trip.to,
        departs_at: trip.departs_at,
        sales_open_at: trip.sales_open_at,
        sales_closed: trip.sales_closed,
        sale_id,
        sold,
        held,
        free,
        classes,
        boarded: counts.boarded.get(&trip.trip_id).copied().unwrap_or(0),
        sold_last_minute: counts.last_minute.get(&trip.trip_id).copied().unwrap_or(0),
        cancellation: counts.cancellations.remove(&trip.trip_id),
        waiting_room,
    }
}
