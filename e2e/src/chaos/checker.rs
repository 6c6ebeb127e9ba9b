//! The checker over a run's history and the platform's databases, in the spirit of Jepsen's
//! bank and set checkers. After the last fault of a round and the passengers stopped, it
//! waits for the saga to settle (within [`settle_limit`]) and then finds violations of:
//!
//! - every confirm answered 201 names a booking that ends `paid`, or `expired` with its seats
//!   free (declined, or not paid within the window), or `cancelled` by its passenger or by
//!   the railway (its trip cancelled);
//! - every trip cancellation asked for exists (none refused) and finishes;
//! - every confirm whose outcome is unknown is either a booking its passenger finds by
//!   sending the request again with the same `Idempotency-Key` (201, the same booking), or
//!   nothing at all; a refused confirm left no booking;
//! - no seat in two live bookings at any moment (the bookings' live intervals);
//! - the consistency check (`crate::consistency`): one succeeded charge and one ticket per
//!   paid booking, refunds for money kept by cancelled or expired bookings, no live booking
//!   of a cancelled trip, outboxes drained;
//! - no notification sent twice for one booking;
//! - every queue drained and nothing parked (the run publishes no poison).

use super::passengers::{Driver, Op, Outcome, confirm_body};
use super::platform::{Platform, Timings, db_settings};
use crate::consistency::{self, Databases};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long after the last fault the saga must have settled: every booking out of
/// `confirmed` (paid, or expired past its payment window), outboxes and queues drained.
pub fn settle_limit(t: &Timings) -> Duration {
    t.payment_window + Duration::from_secs(60)
}

#[derive(Debug, Default)]
pub struct Verdict {
    pub confirms_ok: usize,
    pub confirms_failed: usize,
    pub confirms_unknown: usize,
    /// Unknown confirms that turned out to be bookings (found with their key).
    pub unknown_found: usize,
    pub paid: usize,
    pub expired: usize,
    pub cancelled: usize,
    /// Seconds from the check's start until the saga had settled.
    pub settled_secs: f64,
    pub violations: Vec<String>,
}

/// Checks the platform and the operations of the history invoked from `since_ms` on.
pub async fn check(
    platform: &Platform,
    driver: &Driver,
    emails: &HashMap<usize, String>,
    since_ms: u64,
) -> anyhow::Result<Verdict> {
    let mut v = Verdict::default();
    let started = Instant::now();
    let booking_db =
        servicekit::db::connect(&db_settings(&platform.database_url("booking-service"))).await?;
    let limit = settle_limit(&platform.timings);
    loop {
        let pending: i64 = booking_db
            .query_one(
                "SELECT count(*) FROM bookings WHERE status = 'confirmed'",
                &[],
            )
            .await?
            .get(0);
        if pending == 0 {
            break;
        }
        if started.elapsed() > limit {
            v.violations.push(format!(
                "{pending} bookings still confirmed (unpaid) {} s after the last fault",
                limit.as_secs()
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let databases = Databases {
        booking: platform.database_url("booking-service"),
        payment: platform.database_url("payment-service"),
        notification: platform.database_url("notification-service"),
        outboxes: ["auth-service", "booking-service", "payment-service"]
            .iter()
            .map(|s| platform.database_url(s))
            .collect(),
    };
    let report = consistency::check(&databases, limit.saturating_sub(started.elapsed())).await?;
    v.violations.extend(report.problems);
    queues_drained(platform, limit.saturating_sub(started.elapsed()), &mut v).await?;
    v.settled_secs = started.elapsed().as_secs_f64();

    let bookings: HashMap<Uuid, (Uuid, String, i64)> = booking_db
        .query("SELECT id, hold_id, status, trip_id FROM bookings", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    let by_hold: HashMap<Uuid, Uuid> = bookings
        .iter()
        .map(|(id, (hold, _, _))| (*hold, *id))
        .collect();
    let ops = driver.history.ops();
    let cancelled_trips = trip_cancellations(&booking_db, &ops, limit, started, &mut v).await?;
    // A cancel has no key: one refused on a retry (409 not_cancellable) may have been
    // done by an earlier attempt whose answer was lost.
    let cancelled_by_passenger: HashSet<Uuid> = ops
        .iter()
        .filter(|o| o.kind == "cancel" && (o.outcome != Outcome::Fail || o.attempts > 1))
        .filter_map(|o| o.booking_id)
        .collect();
    for op in ops
        .iter()
        .filter(|o| o.kind == "confirm" && o.invoked_ms >= since_ms)
    {
        let hold = op.hold_id.unwrap_or_default();
        match op.outcome {
            Outcome::Ok => {
                v.confirms_ok += 1;
                let id = op.booking_id.unwrap_or_default();
                let trip = bookings.get(&id).map_or(0, |(_, _, trip)| *trip);
                match bookings.get(&id).map(|(_, s, _)| s.as_str()) {
                    None => v.violations.push(format!(
                        "confirm answered 201 for booking {id}, which does not exist"
                    )),
                    Some("paid") => v.paid += 1,
                    Some("expired") => v.expired += 1,
                    Some("cancelled")
                        if cancelled_by_passenger.contains(&id)
                            || cancelled_trips.contains(&trip) =>
                    {
                        v.cancelled += 1
                    }
                    Some(status) => v.violations.push(format!(
                        "booking {id} (answered 201) ended {status}{}",
                        if status == "cancelled" {
                            " though neither its passenger nor the railway cancelled it"
                        } else {
                            ""
                        }
                    )),
                }
            }
            Outcome::Fail => {
                v.confirms_failed += 1;
                if let Some(id) = by_hold.get(&hold) {
                    v.violations.push(format!(
                        "confirm of hold {hold} was refused ({}) but booking {id} exists",
                        op.answer
                    ));
                }
            }
            Outcome::Unknown => {
                v.confirms_unknown += 1;
                unknown_confirm(driver, emails, op, by_hold.get(&hold).copied(), &mut v).await;
            }
        }
    }
    seats_never_twice(&booking_db, &mut v).await?;
    notifications_once(&databases.notification, &mut v).await?;
    Ok(v)
}

/// The railway's trip cancellations: each one asked for must exist (unless refused, which
/// is itself a violation) and finish (every booking cancelled, holds freed) once the saga
/// settles; returns the cancelled trips. That none of their bookings stays live, and that
/// the paid ones were refunded, is the consistency check's.
async fn trip_cancellations(
    db: &tokio_postgres::Client,
    ops: &[Op],
    limit: Duration,
    started: Instant,
    v: &mut Verdict,
) -> anyhow::Result<HashSet<i64>> {
    for op in ops.iter().filter(|o| o.kind == "cancel_trip") {
        if op.outcome == Outcome::Fail {
            v.violations.push(format!(
                "the cancellation of trip {} was refused: {}",
                op.trip, op.answer
            ));
        }
    }
    loop {
        let rows = db
            .query(
                "SELECT trip_id, finished_at IS NOT NULL FROM trip_cancellations",
                &[],
            )
            .await?;
        let trips: HashSet<i64> = rows.iter().map(|r| r.get(0)).collect();
        let unfinished: Vec<i64> = rows
            .iter()
            .filter(|r| !r.get::<_, bool>(1))
            .map(|r| r.get(0))
            .collect();
        if unfinished.is_empty() || started.elapsed() > limit {
            for trip in unfinished {
                v.violations.push(format!(
                    "the cancellation of trip {trip} never finished ({} s after the last fault)",
                    limit.as_secs()
                ));
            }
            for op in ops.iter().filter(|o| o.kind == "cancel_trip") {
                if op.outcome == Outcome::Ok && !trips.contains(&op.trip) {
                    v.violations.push(format!(
                        "the cancellation of trip {} was answered {} but does not exist",
                        op.trip, op.answer
                    ));
                }
            }
            return Ok(trips);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Sends an unknown confirm again with its key, as its passenger would after the faults:
/// a booking that exists must come back (201, the same id); none may be invented.
async fn unknown_confirm(
    driver: &Driver,
    emails: &HashMap<usize, String>,
    op: &Op,
    existing: Option<Uuid>,
    v: &mut Verdict,
) {
    let (Some(key), Some(hold), Some(token), Some(email)) =
        (&op.key, op.hold_id, op.token, emails.get(&op.passenger))
    else {
        return;
    };
    let body = confirm_body(hold, &op.seats, token);
    // Past an abandoned claim's lease (30 s), the key answers.
    let deadline = Instant::now() + servicekit::idempotency::LEASE + Duration::from_secs(15);
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        let Some(who) = driver.login(op.passenger, email).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let res = driver.confirm_request(&who, key, &body).send().await;
        let Ok(res) = res else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let status = res.status();
        let answer: Value = res.json().await.unwrap_or(Value::Null);
        let code = answer["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        last = format!("{} {code}", status.as_u16());
        if code == "idempotency_key_in_use" || status.is_server_error() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let answered = answer["booking_id"]
            .as_str()
            .and_then(|b| b.parse::<Uuid>().ok());
        match (existing, status == StatusCode::CREATED, answered) {
            (Some(id), true, Some(got)) if got == id => v.unknown_found += 1,
            (None, true, Some(_)) => v.unknown_found += 1, // made now: a clean new attempt
            (None, false, _) => {}
            (Some(id), _, _) => v.violations.push(format!(
                "unknown confirm of hold {hold} is booking {id}, but its key answers {last}"
            )),
            (None, true, None) => v.violations.push(format!(
                "unknown confirm of hold {hold}: 201 without a booking"
            )),
        }
        return;
    }
    v.violations.push(format!(
        "unknown confirm of hold {hold}: its key still answers {last} after the lease"
    ));
}

/// No seat in two bookings whose live intervals ([created, ended) where a booking ends when
/// it expires or is cancelled) overlap.
async fn seats_never_twice(db: &tokio_postgres::Client, v: &mut Verdict) -> anyhow::Result<()> {
    let rows = db
        .query(
            "WITH live AS ( \
               SELECT s.trip_id, s.seat_id, b.id, tstzrange(b.created_at, \
                 CASE WHEN b.status IN ('expired', 'cancelled') THEN b.updated_at END) AS span \
               FROM booking_seats s JOIN bookings b ON b.id = s.booking_id) \
             SELECT a.trip_id, a.seat_id, a.id, b.id FROM live a JOIN live b \
               ON a.trip_id = b.trip_id AND a.seat_id = b.seat_id AND a.id < b.id \
             WHERE a.span && b.span",
            &[],
        )
        .await?;
    for r in rows {
        let (trip, seat, a, b): (i64, i32, Uuid, Uuid) = (r.get(0), r.get(1), r.get(2), r.get(3));
        v.violations.push(format!(
            "seat {seat} of trip {trip} was live in bookings {a} and {b} at once"
        ));
    }
    let held = db
        .query(
            "SELECT b.id, b.status, s.seat_id FROM bookings b JOIN booking_seats s ON s.booking_id = b.id \
             WHERE b.status IN ('expired', 'cancelled') AND s.live",
            &[],
        )
        .await?;
    for r in held {
        let (id, status, seat): (Uuid, String, i32) = (r.get(0), r.get(1), r.get(2));
        v.violations.push(format!(
            "booking {id} is {status} but still holds seat {seat}"
        ));
    }
    Ok(())
}

async fn notifications_once(url: &str, v: &mut Verdict) -> anyhow::Result<()> {
    let db = servicekit::db::connect(&db_settings(url)).await?;
    let rows = db
        .query(
            "SELECT booking_id, kind, count(*) FROM notifications WHERE booking_id IS NOT NULL \
             GROUP BY booking_id, kind HAVING count(*) > 1",
            &[],
        )
        .await?;
    for r in rows {
        let (booking, kind, n): (Uuid, String, i64) = (r.get(0), r.get(1), r.get(2));
        v.violations.push(format!(
            "notification {kind} of booking {booking} sent {n} times"
        ));
    }
    Ok(())
}

/// Every queue empty (within `wait`) and nothing parked.
async fn queues_drained(
    platform: &Platform,
    wait: Duration,
    v: &mut Verdict,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        let depths = tokio::task::block_in_place(|| platform.rabbitmq.queue_depths())?;
        let busy: Vec<String> = depths
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(q, n)| format!("{q}: {n}"))
            .collect();
        let parked = busy.iter().any(|q| q.contains(".parked"));
        if busy.is_empty() || parked || Instant::now() > deadline {
            for q in busy {
                v.violations.push(if q.contains(".parked") {
                    format!("parked messages in {q}")
                } else {
                    format!("queue not drained: {q}")
                });
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
