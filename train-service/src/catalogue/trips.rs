//! Reading stations, trips (with per-class availability) and a trip's seats. Every function
//! returns [`DbError`]; a row the code cannot read (an unknown class) is [`DbError::Decode`].

use super::{ClassAvailability, Route, Station, TrainRef, Trip, TripSeat};
use crate::domain::SeatClass;
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use servicekit::db::{DbError, Prepared};
use std::collections::HashMap;
use tokio_postgres::Row;

const TRIP_COLUMNS: &str = "SELECT t.trip_id, tr.number, tr.name, t.from_station, t.to_station, \
     t.departs_at, t.arrives_at, c.class, c.fare, c.seats_total, c.seats_sold, t.sales_open_at, t.sales_closed \
     FROM trips t JOIN trains tr ON tr.id = t.train_id \
     JOIN trip_classes c ON c.trip_id = t.trip_id";

pub async fn stations(db: &impl GenericClient) -> Result<Vec<Station>, DbError> {
    let rows = db
        .query("SELECT code, name FROM stations ORDER BY code", &[])
        .await?;
    Ok(rows
        .iter()
        .map(|r| Station {
            code: r.get(0),
            name: r.get(1),
        })
        .collect())
}

/// The codes among `codes` that are not stations.
pub async fn unknown_stations(
    db: &impl GenericClient,
    codes: &[&str],
) -> Result<Vec<String>, DbError> {
    let known: Vec<String> = db
        .query("SELECT code FROM stations WHERE code = ANY($1)", &[&codes])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(codes
        .iter()
        .filter(|c| !known.iter().any(|k| k == *c))
        .map(|c| (*c).to_owned())
        .collect())
}

/// Trips of `route` on its date that the railway has not cancelled, sorted by departure.
pub async fn search(db: &impl GenericClient, route: &Route) -> Result<Vec<Trip>, DbError> {
    let sql = format!(
        "{TRIP_COLUMNS} WHERE t.from_station = $1 AND t.to_station = $2 AND t.service_date = $3 \
         AND t.cancelled_at IS NULL ORDER BY t.departs_at, t.trip_id"
    );
    let rows = db
        .query(&sql, &[&route.from, &route.to, &route.date])
        .await?;
    group_trips(&rows)
}

/// Every trip of `date` (its service date, the departure's date in
/// [`super::SERVICE_TIME_ZONE`]), sorted by departure.
pub async fn on_date(db: &impl GenericClient, date: NaiveDate) -> Result<Vec<Trip>, DbError> {
    let sql = format!("{TRIP_COLUMNS} WHERE t.service_date = $1 ORDER BY t.departs_at, t.trip_id");
    let rows = db.query(&sql, &[&date]).await?;
    group_trips(&rows)
}

/// One trip; prepared once per connection (every refresh of booking-service's inventory
/// reads it).
pub async fn trip(db: &impl GenericClient, trip_id: i64) -> Result<Option<Trip>, DbError> {
    let sql = format!("{TRIP_COLUMNS} WHERE t.trip_id = $1");
    let rows = db.query_prepared(&sql, &[&trip_id]).await?;
    Ok(group_trips(&rows)?.into_iter().next())
}

/// Every seat of the trip in `seat_id` order (which is coach order).
pub async fn seats(db: &impl GenericClient, trip_id: i64) -> Result<Vec<TripSeat>, DbError> {
    let rows = db
        .query(
            "SELECT s.seat_id, s.label, s.coach_code, c.class, tc.fare \
             FROM trips t \
             JOIN seats s ON s.train_id = t.train_id \
             JOIN coaches c ON c.train_id = s.train_id AND c.code = s.coach_code \
             JOIN trip_classes tc ON tc.trip_id = t.trip_id AND tc.class = c.class \
             WHERE t.trip_id = $1 ORDER BY s.seat_id",
            &[&trip_id],
        )
        .await?;
    let seats = rows
        .iter()
        .map(|r| {
            Ok(TripSeat {
                seat_id: r.get(0),
                label: r.get(1),
                coach: r.get(2),
                class: class_of(r, 3)?,
                fare: r.get(4),
            })
        })
        .collect::<Result<_, DbError>>()?;
    Ok(seats)
}

/// The route (search key) of a trip, for cache invalidation.
pub async fn route_of(db: &impl GenericClient, trip_id: i64) -> Result<Option<Route>, DbError> {
    let row = db
        .query_opt_prepared(
            "SELECT from_station, to_station, service_date FROM trips WHERE trip_id = $1",
            &[&trip_id],
        )
        .await?;
    Ok(row.as_ref().map(route))
}

/// Marks `trip_id` cancelled at `at` unless it already is; its route when this changed it
/// (`None` for a trip already cancelled or unknown here).
pub async fn cancel(
    db: &impl GenericClient,
    trip_id: i64,
    at: DateTime<Utc>,
) -> Result<Option<Route>, DbError> {
    let row = db
        .query_opt_prepared(
            "UPDATE trips SET cancelled_at = $2 WHERE trip_id = $1 AND cancelled_at IS NULL \
             RETURNING from_station, to_station, service_date",
            &[&trip_id, &at],
        )
        .await?;
    Ok(row.as_ref().map(route))
}

/// A row that starts with `from_station, to_station, service_date`, as a route.
fn route(row: &Row) -> Route {
    Route {
        from: row.get(0),
        to: row.get(1),
        date: row.get::<_, NaiveDate>(2),
    }
}

/// The routes of `trip_ids` that exist, by trip.
pub async fn routes_of(
    db: &impl GenericClient,
    trip_ids: &[i64],
) -> Result<HashMap<i64, Route>, DbError> {
    let rows = db
        .query_prepared(
            "SELECT from_station, to_station, service_date, trip_id FROM trips WHERE trip_id = ANY($1)",
            &[&trip_ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, i64>(3), route(r)))
        .collect())
}

fn class_of(row: &Row, idx: usize) -> Result<SeatClass, DbError> {
    let raw: &str = row.get(idx);
    SeatClass::parse(raw)
        .ok_or_else(|| DbError::decode(format!("unknown class {raw:?} in the database")))
}

/// Rows ordered by trip (one per class) → trips, classes in search order.
fn group_trips(rows: &[Row]) -> Result<Vec<Trip>, DbError> {
    let mut trips: Vec<Trip> = Vec::new();
    for r in rows {
        let trip_id: i64 = r.get(0);
        let seats_total: i32 = r.get(9);
        let seats_sold: i32 = r.get(10);
        let class = ClassAvailability {
            class: class_of(r, 7)?,
            fare: r.get(8),
            seats_total,
            seats_available: (seats_total - seats_sold).max(0),
        };
        match trips.last_mut() {
            Some(t) if t.trip_id == trip_id => t.classes.push(class),
            _ => trips.push(Trip {
                trip_id,
                train: TrainRef {
                    number: r.get(1),
                    name: r.get(2),
                },
                from: r.get(3),
                to: r.get(4),
                departs_at: r.get(5),
                arrives_at: r.get(6),
                sales_open_at: r.get(11),
                sales_closed: r.get(12),
                classes: vec![class],
            }),
        }
    }
    for t in &mut trips {
        t.classes.sort_by_key(|c| c.class);
    }
    Ok(trips)
}

/// The trips that open for sale at one moment (a sale), with their seats in all and sold.
#[derive(Debug, serde::Serialize)]
pub struct SaleTrips {
    pub opens_at: chrono::DateTime<chrono::Utc>,
    pub trip_ids: Vec<i64>,
    pub seats_total: i64,
    pub seats_sold: i64,
    /// The last departure among the trips: the sale closes then.
    pub closes_at: chrono::DateTime<chrono::Utc>,
}

/// Every sale whose last trip departs after `since`, by opening.
pub async fn sales(
    db: &impl GenericClient,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<SaleTrips>, DbError> {
    let rows = db
        .query(
            "SELECT t.sales_open_at, array_agg(t.trip_id ORDER BY t.trip_id), \
                    sum(c.total)::bigint, sum(c.sold)::bigint, max(t.departs_at) \
             FROM trips t \
             JOIN (SELECT trip_id, sum(seats_total) AS total, sum(seats_sold) AS sold \
                   FROM trip_classes GROUP BY trip_id) c ON c.trip_id = t.trip_id \
             WHERE t.departs_at > $1 \
             GROUP BY t.sales_open_at \
             ORDER BY t.sales_open_at",
            &[&since],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| SaleTrips {
            opens_at: r.get(0),
            trip_ids: r.get(1),
            seats_total: r.get(2),
            seats_sold: r.get(3),
            closes_at: r.get(4),
        })
        .collect())
}
