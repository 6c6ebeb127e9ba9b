//! Bookings in PostgreSQL. Every function returns [`DbError`]; callers name the conflicts
//! (unique violations) they expect.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use servicekit::db::{DbError, Prepared};
use servicekit::events::{BookedSeat, Passenger};
use std::collections::HashMap;
use std::sync::LazyLock;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};
use uuid::Uuid;

/// `Booking` of `docs/api.md`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Booking {
    pub booking_id: Uuid,
    pub trip_id: i64,
    pub seat_ids: Vec<i32>,
    pub passengers: Vec<Passenger>,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub payment_due_at: DateTime<Utc>,
    pub ticket_code: Option<String>,
    pub created_at: DateTime<Utc>,
    /// A paid booking's signed ticket, the text its QR code encodes (`crate::tickets`);
    /// absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_qr: Option<String>,
}

const SELECT: &str = "SELECT b.id, b.trip_id, \
       array(SELECT s.seat_id FROM booking_seats s WHERE s.booking_id = b.id ORDER BY s.seat_id), \
       b.passengers, b.status, b.amount, b.currency, b.payment_due_at, b.ticket_code, b.created_at, \
       CASE WHEN b.status = 'paid' THEN b.ticket_qr END \
     FROM bookings b";

fn booking(row: &Row) -> Result<Booking, DbError> {
    Ok(Booking {
        booking_id: row.get(0),
        trip_id: row.get(1),
        seat_ids: row.get(2),
        passengers: serde_json::from_value(row.get(3)).map_err(DbError::decode)?,
        status: row.get(4),
        amount: row.get(5),
        currency: row.get(6),
        payment_due_at: row.get(7),
        ticket_code: row.get(8),
        created_at: row.get(9),
        ticket_qr: row.get(10),
    })
}

/// The caller's booking; another user's is `None` (answered 404 like an unknown one).
pub async fn find_own(
    db: &impl GenericClient,
    id: Uuid,
    user: Uuid,
) -> Result<Option<Booking>, DbError> {
    let sql = format!("{SELECT} WHERE b.id = $1 AND b.user_id = $2");
    db.query_opt_prepared(&sql, &[&id, &user])
        .await?
        .as_ref()
        .map(booking)
        .transpose()
}

/// Any user's booking as other services see it (`/internal/bookings/{id}`).
pub async fn summary(
    db: &impl GenericClient,
    id: Uuid,
) -> Result<Option<servicekit::internal::BookingSummary>, DbError> {
    let row = db
        .query_opt_prepared(
            "SELECT id, user_id, status, amount, currency, payment_due_at, created_at \
             FROM bookings WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| servicekit::internal::BookingSummary {
        booking_id: r.get(0),
        user_id: r.get(1),
        status: r.get(2),
        amount: r.get(3),
        currency: r.get(4),
        payment_due_at: r.get(5),
        created_at: r.get(6),
    }))
}

pub async fn list_own(db: &impl GenericClient, user: Uuid) -> Result<Vec<Booking>, DbError> {
    let sql =
        format!("{SELECT} WHERE b.user_id = $1 ORDER BY b.created_at DESC, b.id DESC LIMIT 200");
    db.query_prepared(&sql, &[&user])
        .await?
        .iter()
        .map(booking)
        .collect()
}

/// Which bookings the admin lookup asks for (`GET /api/bookings/admin/bookings`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    Booking(Uuid),
    TicketCode(String),
    User(Uuid),
}

/// Any user's bookings matching `by`, newest first, at most `limit`.
pub async fn find_any(
    db: &impl GenericClient,
    by: &Lookup,
    limit: i64,
) -> Result<Vec<Booking>, DbError> {
    let order = "ORDER BY b.created_at DESC, b.id DESC LIMIT $2";
    let rows = match by {
        Lookup::Booking(id) => {
            let sql = format!("{SELECT} WHERE b.id = $1 {order}");
            db.query(&sql, &[id, &limit]).await?
        }
        Lookup::TicketCode(code) => {
            let sql = format!("{SELECT} WHERE b.ticket_code = $1 {order}");
            db.query(&sql, &[code, &limit]).await?
        }
        Lookup::User(user) => {
            let sql = format!("{SELECT} WHERE b.user_id = $1 {order}");
            db.query(&sql, &[user, &limit]).await?
        }
    };
    rows.iter().map(booking).collect()
}

pub struct NewBooking<'a> {
    pub id: Uuid,
    pub hold_id: Uuid,
    pub user_id: Uuid,
    pub trip_id: i64,
    pub seats: &'a [BookedSeat],
    pub passengers: &'a [Passenger],
    pub amount: i64,
    pub currency: &'a str,
    pub payment_due_at: DateTime<Utc>,
    /// Given by the service (to microseconds), so the answer is known before the insert.
    pub created_at: DateTime<Utc>,
}

impl NewBooking<'_> {
    /// The booking as [`find_own`] will read it once inserted.
    pub fn answer(&self) -> Booking {
        let mut seat_ids: Vec<i32> = self.seats.iter().map(|s| s.seat_id).collect();
        seat_ids.sort_unstable();
        Booking {
            booking_id: self.id,
            trip_id: self.trip_id,
            seat_ids,
            passengers: self.passengers.to_vec(),
            status: "confirmed".to_owned(),
            amount: self.amount,
            currency: self.currency.to_owned(),
            payment_due_at: self.payment_due_at,
            ticket_code: None,
            created_at: self.created_at,
            ticket_qr: None,
        }
    }
}

/// Inserts the booking and its seats in one statement. A seat already live in another
/// booking is a [`DbError::UniqueViolation`] of `booking_seats_live_key`; a hold already
/// confirmed, of `bookings_hold_key`.
pub async fn insert(db: &impl GenericClient, b: &NewBooking<'_>) -> Result<(), DbError> {
    let passengers = serde_json::to_value(b.passengers).unwrap_or_default();
    let ids: Vec<i32> = b.seats.iter().map(|s| s.seat_id).collect();
    let labels: Vec<&str> = b.seats.iter().map(|s| s.label.as_str()).collect();
    let coaches: Vec<&str> = b.seats.iter().map(|s| s.coach.as_str()).collect();
    let classes: Vec<&str> = b.seats.iter().map(|s| s.class.as_str()).collect();
    let fares: Vec<i64> = b.seats.iter().map(|s| s.fare).collect();
    db.execute_prepared(
        "WITH b AS ( \
           INSERT INTO bookings (id, hold_id, user_id, trip_id, status, passengers, amount, currency, \
                                 payment_due_at, created_at) \
           VALUES ($1, $2, $3, $4, 'confirmed', $5, $6, $7, $8, $9) RETURNING id) \
         INSERT INTO booking_seats (booking_id, trip_id, seat_id, label, coach, class, fare) \
         SELECT b.id, $4, u.* FROM b, \
           unnest($10::int[], $11::text[], $12::text[], $13::text[], $14::bigint[]) AS u",
        &[
            &b.id, &b.hold_id, &b.user_id, &b.trip_id, &passengers, &b.amount, &b.currency,
            &b.payment_due_at, &b.created_at, &ids, &labels, &coaches, &classes, &fares,
        ],
    )
    .await?;
    Ok(())
}

/// [`insert`] for many bookings in one statement: every booking, then every seat. Any
/// conflict refuses them all (the caller then writes each on its own).
pub async fn insert_all(db: &impl GenericClient, all: &[NewBooking<'_>]) -> Result<(), DbError> {
    let ids: Vec<Uuid> = all.iter().map(|b| b.id).collect();
    let holds: Vec<Uuid> = all.iter().map(|b| b.hold_id).collect();
    let users: Vec<Uuid> = all.iter().map(|b| b.user_id).collect();
    let trips: Vec<i64> = all.iter().map(|b| b.trip_id).collect();
    let passengers: Vec<serde_json::Value> = all
        .iter()
        .map(|b| serde_json::to_value(b.passengers).unwrap_or_default())
        .collect();
    let amounts: Vec<i64> = all.iter().map(|b| b.amount).collect();
    let currencies: Vec<&str> = all.iter().map(|b| b.currency).collect();
    let due: Vec<DateTime<Utc>> = all.iter().map(|b| b.payment_due_at).collect();
    let created: Vec<DateTime<Utc>> = all.iter().map(|b| b.created_at).collect();
    let seats = || all.iter().flat_map(|b| b.seats.iter().map(move |s| (b, s)));
    let seat_bookings: Vec<Uuid> = seats().map(|(b, _)| b.id).collect();
    let seat_trips: Vec<i64> = seats().map(|(b, _)| b.trip_id).collect();
    let seat_ids: Vec<i32> = seats().map(|(_, s)| s.seat_id).collect();
    let labels: Vec<&str> = seats().map(|(_, s)| s.label.as_str()).collect();
    let coaches: Vec<&str> = seats().map(|(_, s)| s.coach.as_str()).collect();
    let classes: Vec<&str> = seats().map(|(_, s)| s.class.as_str()).collect();
    let fares: Vec<i64> = seats().map(|(_, s)| s.fare).collect();
    db.execute_prepared(
        "WITH b AS ( \
           INSERT INTO bookings (id, hold_id, user_id, trip_id, status, passengers, amount, currency, \
                                 payment_due_at, created_at) \
           SELECT id, hold, usr, trip, 'confirmed', p, amount, currency, due, created \
           FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::jsonb[], $6::bigint[], \
                       $7::text[], $8::timestamptz[], $9::timestamptz[]) \
                AS x(id, hold, usr, trip, p, amount, currency, due, created)) \
         INSERT INTO booking_seats (booking_id, trip_id, seat_id, label, coach, class, fare) \
         SELECT * FROM unnest($10::uuid[], $11::bigint[], $12::int[], $13::text[], $14::text[], \
                              $15::text[], $16::bigint[])",
        &[
            &ids, &holds, &users, &trips, &passengers, &amounts, &currencies, &due, &created,
            &seat_bookings, &seat_trips, &seat_ids, &labels, &coaches, &classes, &fares,
        ],
    )
    .await?;
    Ok(())
}

/// The seats of a booking.
pub async fn seats(db: &impl GenericClient, booking: Uuid) -> Result<Vec<BookedSeat>, DbError> {
    let rows = db
        .query_prepared(
            "SELECT seat_id, label, coach, class, fare FROM booking_seats WHERE booking_id = $1 ORDER BY seat_id",
            &[&booking],
        )
        .await?;
    Ok(rows.iter().map(|r| seat(r, 0)).collect())
}

/// The seat in `row`'s columns from `first` on: seat_id, label, coach, class, fare.
fn seat(row: &Row, first: usize) -> BookedSeat {
    BookedSeat {
        seat_id: row.get(first),
        label: row.get(first + 1),
        coach: row.get(first + 2),
        class: row.get(first + 3),
        fare: row.get(first + 4),
    }
}

/// The seats of `bookings`, by booking (each in seat order).
pub async fn seats_of(
    db: &impl GenericClient,
    bookings: &[Uuid],
) -> Result<HashMap<Uuid, Vec<BookedSeat>>, DbError> {
    let rows = db
        .query_prepared(
            "SELECT booking_id, seat_id, label, coach, class, fare FROM booking_seats \
             WHERE booking_id = ANY($1) ORDER BY booking_id, seat_id",
            &[&bookings],
        )
        .await?;
    let mut seats: HashMap<Uuid, Vec<BookedSeat>> = HashMap::new();
    for r in &rows {
        seats.entry(r.get(0)).or_default().push(seat(r, 1));
    }
    Ok(seats)
}

/// Whether a booking of `status` is live (holds its seats): `confirmed` or `paid`.
pub fn is_live(status: &str) -> bool {
    matches!(status, "confirmed" | "paid")
}

/// Ends a live booking (`cancelled` or `expired`) and frees its seats; returns the previous
/// status, or `None` when it was not live (or not the caller's, with `user`). `by_trip`
/// marks a booking the railway's cancellation of its trip ended.
pub async fn end(
    db: &impl GenericClient,
    id: Uuid,
    user: Option<Uuid>,
    to: &str,
    by_trip: bool,
) -> Result<Option<String>, DbError> {
    let row = db
        .query_opt_prepared(
            "UPDATE bookings b SET status = $3, cancelled_by_trip = $4, updated_at = now() \
             FROM (SELECT id, status FROM bookings WHERE id = $1 FOR UPDATE) old \
             WHERE b.id = old.id AND ($2::uuid IS NULL OR b.user_id = $2) \
               AND old.status IN ('confirmed', 'paid') \
             RETURNING old.status",
            &[&id, &user, &to, &by_trip],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    db.execute_prepared(
        "UPDATE booking_seats SET live = false WHERE booking_id = $1",
        &[&id],
    )
    .await?;
    Ok(Some(row.get(0)))
}

/// Confirm's guard, in its transaction: the trip's cancellation lock (shared), then the
/// passenger's lock on the trip (serialising that passenger's confirmations of the trip for
/// the rest of the transaction), then one read of whether the trip is cancelled and how many
/// live seats the passenger owns on it. The read's snapshot is taken after both locks are
/// held, so it sees what the previous holder committed.
pub struct ConfirmGuard {
    trip_lock: Statement,
    user_lock: Statement,
    read: Statement,
}

/// What [`ConfirmGuard::check`] read.
pub struct Guarded {
    pub trip_cancelled: bool,
    pub live_seats: usize,
}

static TRIP_LOCK: LazyLock<String> = LazyLock::new(crate::trip_cancel::store::confirm_lock_sql);

impl ConfirmGuard {
    /// The guard's statements from the connection's cache (a round trip only the first time
    /// on a connection).
    pub async fn prepare(tx: &impl GenericClient) -> Result<Self, DbError> {
        let (trip_lock, user_lock, read) = tokio::try_join!(
            tx.prepare_cached(&TRIP_LOCK),
            tx.prepare_cached(
                "SELECT pg_advisory_xact_lock(hashtextextended($1::text || ':' || $2::text, 0))"
            ),
            tx.prepare_cached(
                // The count starts from the passenger's bookings (a few, by `bookings_user_idx`),
                // not from the trip's live seats: a plan cached while the tables were small
                // chose the seats, which grow with every sale of the trip.
                "SELECT EXISTS (SELECT 1 FROM trip_cancellations WHERE trip_id = $1), \
                   (SELECT count(*) FROM bookings b JOIN booking_seats s ON s.booking_id = b.id \
                    WHERE b.user_id = $2 AND b.trip_id = $1 AND s.live)"
            ),
        )?;
        Ok(Self {
            trip_lock,
            user_lock,
            read,
        })
    }

    /// Runs the guard. Its three statements are sent together when this future is first
    /// polled, in order, so statements the caller pipelines after it (polled after it, as in
    /// `tokio::join!(biased; guard.check(..), insert(..))`) run after the locks and the read:
    /// the caller checks [`Guarded`] before it commits and rolls back otherwise.
    pub async fn check(
        &self,
        tx: &impl GenericClient,
        user: Uuid,
        trip: i64,
    ) -> Result<Guarded, DbError> {
        let (user_text, trip_text) = (user.to_string(), trip.to_string());
        let trip_lock: [&(dyn ToSql + Sync); 1] = [&trip];
        let user_lock: [&(dyn ToSql + Sync); 2] = [&user_text, &trip_text];
        let read: [&(dyn ToSql + Sync); 2] = [&trip, &user];
        let (_, _, row) = tokio::try_join!(
            biased;
            tx.execute(&self.trip_lock, &trip_lock),
            tx.execute(&self.user_lock, &user_lock),
            tx.query_one(&self.read, &read),
        )?;
        Ok(Guarded {
            trip_cancelled: row.get(0),
            live_seats: usize::try_from(row.get::<_, i64>(1)).unwrap_or(usize::MAX),
        })
    }
}

/// [`ConfirmGuard`] for many confirmations in one transaction: every trip's cancellation
/// lock (shared), then every passenger's lock on their trip, taken in the order of the lock
/// keys (so two batches, on this replica or another, never wait for each other in a
/// circle; a single confirmation holds one passenger lock), then one read of every guard.
/// Each (passenger, trip) appears once in a batch.
pub struct BatchGuard {
    trip_locks: Statement,
    user_locks: Statement,
    read: Statement,
}

static TRIP_LOCKS: LazyLock<String> = LazyLock::new(crate::trip_cancel::store::confirm_locks_sql);

impl BatchGuard {
    /// The guard's statements from the connection's cache (a round trip only the first time
    /// on a connection).
    pub async fn prepare(tx: &impl GenericClient) -> Result<Self, DbError> {
        let (trip_locks, user_locks, read) = tokio::try_join!(
            tx.prepare_cached(&TRIP_LOCKS),
            tx.prepare_cached(
                // The key of ConfirmGuard's passenger lock, for each pair.
                "SELECT count(pg_advisory_xact_lock(k)) FROM ( \
                   SELECT DISTINCT hashtextextended(u || ':' || t, 0) AS k \
                   FROM unnest($1::text[], $2::text[]) AS x(u, t) ORDER BY k) keys"
            ),
            tx.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM trip_cancellations WHERE trip_id = x.t), \
                   (SELECT count(*) FROM bookings b JOIN booking_seats s ON s.booking_id = b.id \
                    WHERE b.user_id = x.u AND b.trip_id = x.t AND s.live) \
                 FROM unnest($1::bigint[], $2::uuid[]) WITH ORDINALITY AS x(t, u, i) ORDER BY x.i"
            ),
        )?;
        Ok(Self {
            trip_locks,
            user_locks,
            read,
        })
    }

    /// Runs the guard for each (passenger, trip) of `pairs`; the answers are in their order.
    /// Sent together when first polled, like [`ConfirmGuard::check`].
    pub async fn check(
        &self,
        tx: &impl GenericClient,
        pairs: &[(Uuid, i64)],
    ) -> Result<Vec<Guarded>, DbError> {
        let trips: Vec<i64> = pairs.iter().map(|&(_, t)| t).collect();
        let users: Vec<Uuid> = pairs.iter().map(|&(u, _)| u).collect();
        let user_texts: Vec<String> = users.iter().map(Uuid::to_string).collect();
        let trip_texts: Vec<String> = trips.iter().map(i64::to_string).collect();
        let trip_locks: [&(dyn ToSql + Sync); 1] = [&trips];
        let user_locks: [&(dyn ToSql + Sync); 2] = [&user_texts, &trip_texts];
        let read: [&(dyn ToSql + Sync); 2] = [&trips, &users];
        let (_, _, rows) = tokio::try_join!(
            biased;
            tx.execute(&self.trip_locks, &trip_locks),
            tx.execute(&self.user_locks, &user_locks),
            tx.query(&self.read, &read),
        )?;
        Ok(rows
            .iter()
            .map(|row| Guarded {
                trip_cancelled: row.get(0),
                live_seats: usize::try_from(row.get::<_, i64>(1)).unwrap_or(usize::MAX),
            })
            .collect())
    }
}

/// Every live (confirmed or paid) seat with its booking and owner, for rebuilding markers.
pub async fn live_seats(db: &impl GenericClient) -> Result<Vec<(i64, i32, Uuid, Uuid)>, DbError> {
    let rows = db
        .query_prepared(
            "SELECT s.trip_id, s.seat_id, b.id, b.user_id FROM booking_seats s \
             JOIN bookings b ON b.id = s.booking_id WHERE s.live ORDER BY s.trip_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect())
}
