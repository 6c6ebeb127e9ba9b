//! `trip_cancellations` in PostgreSQL, and the per-trip lock that keeps a confirmation and
//! a cancellation of the same trip apart: the cancellation takes it exclusively while it
//! writes its row, each confirm takes it shared and then looks for the row. A confirm that
//! began before the cancellation committed therefore commits first (and its booking is
//! live when the job looks), and one that began after sees the row and is refused: no
//! booking of a cancelled trip can appear after the job found none left.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use servicekit::db::{DbError, Prepared};
use std::collections::HashSet;
use tokio_postgres::Row;
use uuid::Uuid;

const LOCK: &str = "hashtextextended('trip-cancel:' || $1::bigint::text, 0)";

/// The answer of both admin routes: the request and how far the job got.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub trip_id: i64,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
    /// The admin who asked.
    pub requested_by: Uuid,
    /// The trip's bookings to cancel: `cancelled` + `left`.
    pub bookings_total: i64,
    /// Bookings this cancellation cancelled so far.
    pub cancelled: i64,
    /// Bookings still confirmed or paid.
    pub left: i64,
    /// Cancelled bookings that had been paid: each one's refund is asked of payment-service.
    pub refunds_requested: i64,
    /// The bookings this cancellation ended whose refund payment-service reports done
    /// (`payment.refunded`, `crate::refunds`); not the refunds of passengers' own earlier
    /// cancellations.
    pub refunds_completed: i64,
    /// Every booking is cancelled and the trip's holds are freed.
    pub done: bool,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Writes the cancellation of `trip` unless it exists; returns whether it is new. Takes the
/// trip's lock exclusively until `tx` ends (it waits for confirmations in flight).
pub async fn request(
    tx: &impl GenericClient,
    trip: i64,
    reason: &str,
    by: Uuid,
    departs_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    tx.execute_prepared(&format!("SELECT pg_advisory_xact_lock({LOCK})"), &[&trip])
        .await?;
    let n = tx
        .execute_prepared(
            "INSERT INTO trip_cancellations (trip_id, reason, requested_by, departs_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (trip_id) DO NOTHING",
            &[&trip, &reason, &by, &departs_at],
        )
        .await?;
    Ok(n == 1)
}

/// The statement confirm runs first in its transaction (`crate::store::ConfirmGuard`): the
/// trip's lock, shared, until the transaction ends. Its next statement's snapshot is taken
/// after the lock is held, so it sees a cancellation that committed meanwhile.
pub fn confirm_lock_sql() -> String {
    format!("SELECT pg_advisory_xact_lock_shared({LOCK})")
}

/// [`confirm_lock_sql`] for a batch of confirmations: the lock of each trip in `$1`
/// (`bigint[]`), shared, in the order of the trips.
pub fn confirm_locks_sql() -> String {
    let lock = LOCK.replace("$1", "t");
    format!(
        "SELECT count(pg_advisory_xact_lock_shared({lock})) \
         FROM (SELECT DISTINCT t FROM unnest($1::bigint[]) AS t ORDER BY t) trips"
    )
}

fn progress_of(row: &Row) -> Progress {
    let cancelled: i64 = row.get(4);
    let left: i64 = row.get(7);
    let finished_at: Option<DateTime<Utc>> = row.get(6);
    Progress {
        trip_id: row.get(0),
        reason: row.get(1),
        requested_at: row.get(2),
        requested_by: row.get(3),
        bookings_total: cancelled + left,
        cancelled,
        left,
        refunds_requested: row.get(5),
        refunds_completed: row.get(8),
        done: finished_at.is_some(),
        finished_at,
    }
}

const PROGRESS: &str = "SELECT c.trip_id, c.reason, c.requested_at, c.requested_by, c.cancelled, \
            c.refunds_requested, c.finished_at, \
            (SELECT count(DISTINCT s.booking_id) FROM booking_seats s \
             WHERE s.trip_id = c.trip_id AND s.live), \
            (SELECT count(*) FROM bookings b WHERE b.trip_id = c.trip_id \
             AND b.refunded_at IS NOT NULL AND b.cancelled_by_trip) \
     FROM trip_cancellations c";

/// The cancellation of `trip` and its progress; `None` when the trip was never cancelled.
pub async fn progress(db: &impl GenericClient, trip: i64) -> Result<Option<Progress>, DbError> {
    let sql = format!("{PROGRESS} WHERE c.trip_id = $1");
    let row = db.query_opt(&sql, &[&trip]).await?;
    Ok(row.as_ref().map(progress_of))
}

/// The cancellations among `trips`, with their progress (the admin sales overview).
pub async fn progress_of_trips(
    db: &impl GenericClient,
    trips: &[i64],
) -> Result<Vec<Progress>, DbError> {
    let sql = format!("{PROGRESS} WHERE c.trip_id = ANY($1)");
    let rows = db.query(&sql, &[&trips]).await?;
    Ok(rows.iter().map(progress_of).collect())
}

/// The cancelled trips select must refuse: those not departed an hour ago (select refuses
/// departed trips by itself).
pub async fn not_departed(db: &impl GenericClient) -> Result<HashSet<i64>, DbError> {
    let rows = db
        .query_prepared(
            "SELECT trip_id FROM trip_cancellations WHERE departs_at > now() - interval '1 hour'",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A cancellation the job has not finished.
pub struct Pending {
    pub trip_id: i64,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
}

pub async fn unfinished(db: &impl GenericClient) -> Result<Vec<Pending>, DbError> {
    let rows = db
        .query_prepared(
            "SELECT trip_id, reason, requested_at FROM trip_cancellations \
             WHERE finished_at IS NULL ORDER BY requested_at LIMIT 50",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Pending {
            trip_id: r.get(0),
            reason: r.get(1),
            requested_at: r.get(2),
        })
        .collect())
}

/// A live booking of a cancelled trip, locked for cancelling.
pub struct LiveBooking {
    pub id: Uuid,
    pub user_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub seat_ids: Vec<i32>,
}

/// Up to `limit` live bookings of `trip`, locked until `tx` ends; rows another transaction
/// holds (a payment being applied, a passenger cancelling, another replica's batch) are
/// skipped and taken in a later round.
pub async fn live_batch(
    tx: &impl GenericClient,
    trip: i64,
    limit: i64,
) -> Result<Vec<LiveBooking>, DbError> {
    let rows = tx
        .query_prepared(
            "SELECT b.id, b.user_id, b.amount, b.currency, \
                    array(SELECT s.seat_id FROM booking_seats s WHERE s.booking_id = b.id ORDER BY s.seat_id) \
             FROM bookings b \
             WHERE b.id IN (SELECT booking_id FROM booking_seats WHERE trip_id = $1 AND live) \
               AND b.trip_id = $1 AND b.status IN ('confirmed', 'paid') \
             ORDER BY b.id LIMIT $2 FOR UPDATE OF b SKIP LOCKED",
            &[&trip, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| LiveBooking {
            id: r.get(0),
            user_id: r.get(1),
            amount: r.get(2),
            currency: r.get(3),
            seat_ids: r.get(4),
        })
        .collect())
}

/// Counts a batch into the cancellation's progress (in the batch's transaction).
pub async fn count(
    tx: &impl GenericClient,
    trip: i64,
    cancelled: i64,
    refunds: i64,
) -> Result<(), DbError> {
    tx.execute_prepared(
        "UPDATE trip_cancellations SET cancelled = cancelled + $2, \
         refunds_requested = refunds_requested + $3 WHERE trip_id = $1",
        &[&trip, &cancelled, &refunds],
    )
    .await?;
    Ok(())
}

/// Marks the cancellation of `trip` finished if no booking of the trip is live; returns
/// whether it did.
pub async fn finish(db: &impl GenericClient, trip: i64) -> Result<bool, DbError> {
    let n = db
        .execute_prepared(
            "UPDATE trip_cancellations SET finished_at = now() \
             WHERE trip_id = $1 AND finished_at IS NULL \
               AND NOT EXISTS (SELECT 1 FROM booking_seats WHERE trip_id = $1 AND live)",
            &[&trip],
        )
        .await?;
    Ok(n == 1)
}
