//! Creating stations, trains (with coaches and seats) and trips (with fares). Each insert
//! returns `None` when the thing already exists, so callers answer 409 without parsing
//! errors. Run them in one transaction per created thing. Failures are [`DbError`].

use super::SERVICE_TIME_ZONE;
use crate::domain::SeatClass;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use servicekit::db::DbError;

pub struct NewCoach {
    pub code: String,
    pub class: SeatClass,
    pub seats: i32,
}

#[derive(Debug, Serialize)]
pub struct TrainSeat {
    pub seat_id: i32,
    pub label: String,
    #[serde(skip)]
    pub coach: String,
}

/// False when a station with this code exists.
pub async fn station(db: &impl GenericClient, code: &str, name: &str) -> Result<bool, DbError> {
    let n = db
        .execute(
            "INSERT INTO stations (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&code, &name],
        )
        .await?;
    Ok(n == 1)
}

/// The new train's id, or `None` when the number is taken.
pub async fn train(
    db: &impl GenericClient,
    number: &str,
    name: &str,
    coaches: &[NewCoach],
) -> Result<Option<i64>, DbError> {
    let Some(row) = db
        .query_opt(
            "INSERT INTO trains (number, name) VALUES ($1, $2) \
             ON CONFLICT (number) DO NOTHING RETURNING id",
            &[&number, &name],
        )
        .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.get(0);
    let codes: Vec<&str> = coaches.iter().map(|c| c.code.as_str()).collect();
    let classes: Vec<&str> = coaches.iter().map(|c| c.class.as_str()).collect();
    let seats: Vec<i32> = coaches.iter().map(|c| c.seats).collect();
    let mut first = Vec::with_capacity(coaches.len());
    let mut next = 1;
    for c in coaches {
        first.push(next);
        next += c.seats;
    }
    db.execute(
        "INSERT INTO coaches (train_id, code, class, position, seats, first_seat) \
         SELECT $1, code, class, position::int, seats, first_seat \
         FROM unnest($2::text[], $3::text[], $4::int[], $5::int[]) \
              WITH ORDINALITY AS c(code, class, seats, first_seat, position)",
        &[&id, &codes, &classes, &seats, &first],
    )
    .await?;
    materialise_seats(db, &[id]).await?;
    Ok(Some(id))
}

/// Creates the seat rows of the coaches of `train_ids` (idempotent).
pub async fn materialise_seats(db: &impl GenericClient, train_ids: &[i64]) -> Result<u64, DbError> {
    db.execute(
        "INSERT INTO seats (train_id, seat_id, coach_code, number, label) \
         SELECT c.train_id, c.first_seat + n - 1, c.code, n, c.code || '-' || n \
         FROM coaches c CROSS JOIN LATERAL generate_series(1, c.seats) AS n \
         WHERE c.train_id = ANY($1) ON CONFLICT DO NOTHING",
        &[&train_ids],
    )
    .await
    .map_err(DbError::from)
}

pub async fn train_seats(
    db: &impl GenericClient,
    train_id: i64,
) -> Result<Vec<TrainSeat>, DbError> {
    let rows = db
        .query(
            "SELECT seat_id, label, coach_code FROM seats WHERE train_id = $1 ORDER BY seat_id",
            &[&train_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TrainSeat {
            seat_id: r.get(0),
            label: r.get(1),
            coach: r.get(2),
        })
        .collect())
}

/// A train's id and the classes of its coaches.
pub async fn train_classes(
    db: &impl GenericClient,
    number: &str,
) -> Result<Option<(i64, Vec<String>)>, DbError> {
    let row = db
        .query_opt(
            "SELECT t.id, array_agg(DISTINCT c.class) FROM trains t \
             JOIN coaches c ON c.train_id = t.id WHERE t.number = $1 GROUP BY t.id",
            &[&number],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

pub struct NewTrip<'a> {
    pub train_id: i64,
    pub from: &'a str,
    pub to: &'a str,
    pub departs_at: DateTime<Utc>,
    pub arrives_at: DateTime<Utc>,
    /// `None`: the default rule (`default_sales_open_at`: 08:00 Asia/Dhaka, 10 days before
    /// the service date).
    pub sales_open_at: Option<DateTime<Utc>>,
    pub fares: &'a [(SeatClass, i64)],
}

/// The new trip's id, or `None` when the train already runs on that date.
pub async fn trip(db: &impl GenericClient, trip: &NewTrip<'_>) -> Result<Option<i64>, DbError> {
    let sql = format!(
        "INSERT INTO trips (train_id, from_station, to_station, service_date, departs_at, arrives_at, \
                            sales_open_at) \
         SELECT $1, $2, $3, d.date, $4, $5, coalesce($6, default_sales_open_at(d.date)) \
         FROM (SELECT ($4::timestamptz AT TIME ZONE '{SERVICE_TIME_ZONE}')::date AS date) d \
         ON CONFLICT (train_id, service_date) DO NOTHING RETURNING trip_id"
    );
    let Some(row) = db
        .query_opt(
            &sql,
            &[
                &trip.train_id,
                &trip.from,
                &trip.to,
                &trip.departs_at,
                &trip.arrives_at,
                &trip.sales_open_at,
            ],
        )
        .await?
    else {
        return Ok(None);
    };
    let trip_id: i64 = row.get(0);
    let classes: Vec<&str> = trip.fares.iter().map(|(c, _)| c.as_str()).collect();
    let fares: Vec<i64> = trip.fares.iter().map(|(_, f)| *f).collect();
    db.execute(
        "INSERT INTO trip_classes (trip_id, class, fare, seats_total) \
         SELECT $1, c.class, f.fare, sum(c.seats) FROM coaches c \
         JOIN unnest($3::text[], $4::bigint[]) AS f(class, fare) ON f.class = c.class \
         WHERE c.train_id = $2 GROUP BY c.class, f.fare",
        &[&trip_id, &trip.train_id, &classes, &fares],
    )
    .await?;
    Ok(Some(trip_id))
}

/// What moving a trip's opening did.
pub enum SalesMove {
    /// Moved; the trip's route, for the search cache.
    Moved(super::Route),
    /// The trip departs at or before that moment: nothing changed.
    AfterDeparture,
    NoSuchTrip,
}

/// Moves one trip's `sales_open_at` (only to a moment before its departure).
pub async fn sales_open_at(
    db: &impl GenericClient,
    trip_id: i64,
    at: DateTime<Utc>,
) -> Result<SalesMove, DbError> {
    let row = db
        .query_opt(
            "WITH t AS (SELECT trip_id, departs_at FROM trips WHERE trip_id = $1), \
                  moved AS (UPDATE trips SET sales_open_at = $2 \
                            FROM t WHERE trips.trip_id = t.trip_id AND $2 < t.departs_at \
                            RETURNING trips.from_station, trips.to_station, trips.service_date) \
             SELECT m.from_station, m.to_station, m.service_date \
             FROM t LEFT JOIN moved m ON true",
            &[&trip_id, &at],
        )
        .await?;
    Ok(match row {
        None => SalesMove::NoSuchTrip,
        Some(r) => match r.get::<_, Option<String>>(0) {
            Some(from) => SalesMove::Moved(super::Route {
                from,
                to: r.get(1),
                date: r.get(2),
            }),
            None => SalesMove::AfterDeparture,
        },
    })
}

/// Closes (or reopens) one trip's sales; the trip's route, or `None` for an unknown trip.
pub async fn sales_closed(
    db: &impl GenericClient,
    trip_id: i64,
    closed: bool,
) -> Result<Option<super::Route>, DbError> {
    let row = db
        .query_opt(
            "UPDATE trips SET sales_closed = $2 WHERE trip_id = $1 \
             RETURNING from_station, to_station, service_date",
            &[&trip_id, &closed],
        )
        .await?;
    Ok(row.map(|r| super::Route {
        from: r.get(0),
        to: r.get(1),
        date: r.get(2),
    }))
}
