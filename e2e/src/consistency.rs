//! The consistency check across the services' databases, for after any test or load run:
//!
//! - no seat is in two live (confirmed or paid) bookings;
//! - every paid booking has exactly one succeeded payment and exactly one ticket notification;
//! - every paid-then-cancelled booking's payment was refunded, and no booking that ended
//!   unpaid (expired, or cancelled before payment) kept money: its payment is not `succeeded`;
//! - no booking of a trip the railway cancelled is still live;
//! - no outbox row stays unsent (after waiting up to `settle` for the relays to catch up).
//!
//! The databases are separate (one per service), so the cross-checks join in memory.

use servicekit::config::DatabaseSettings;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_postgres::Client;
use uuid::Uuid;

/// Connection URLs of the databases the check reads.
#[derive(Clone, Debug)]
pub struct Databases {
    pub booking: String,
    pub payment: String,
    pub notification: String,
    /// Every database with an outbox (auth, booking, payment, ...).
    pub outboxes: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub bookings: usize,
    pub paid: usize,
    pub problems: Vec<String>,
}

impl Report {
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "bookings: {}, paid: {}, problems: {}",
            self.bookings,
            self.paid,
            self.problems.len()
        )?;
        for p in self.problems.iter().take(50) {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// A URL with `sslmode=require` connects over verified TLS, trusting the CAs in the file
/// `PGSSLROOTCERT` names (as libpq does) or else the system's.
async fn connect(url: &str) -> anyhow::Result<Client> {
    let settings = DatabaseSettings {
        url: url.to_owned().into(),
        ca_file: std::env::var_os("PGSSLROOTCERT").map(Into::into),
        ..DatabaseSettings::default()
    };
    servicekit::db::connect(&settings).await
}

/// Unsent outbox rows of each database in `urls`, waiting up to `settle` for them to drain.
async fn unsent(urls: &[String], settle: Duration) -> anyhow::Result<Vec<(String, i64)>> {
    let mut clients = Vec::new();
    for url in urls {
        clients.push((url.clone(), connect(url).await?));
    }
    let deadline = Instant::now() + settle;
    loop {
        let mut left = Vec::new();
        for (url, c) in &clients {
            let n: i64 = c
                .query_one("SELECT count(*) FROM outbox WHERE sent_at IS NULL", &[])
                .await?
                .get(0);
            if n > 0 {
                left.push((redact(url), n));
            }
        }
        if left.is_empty() || Instant::now() >= deadline {
            return Ok(left);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The database name of a URL, for messages (never the credentials).
fn redact(url: &str) -> String {
    url.rsplit('/').next().unwrap_or("?").to_owned()
}

/// Runs every check. `settle` bounds the wait for in-flight events (outboxes draining,
/// consumers applying them) before a difference counts as a problem.
pub async fn check(db: &Databases, settle: Duration) -> anyhow::Result<Report> {
    let deadline = Instant::now() + settle;
    let mut report = Report::default();
    let left = unsent(&db.outboxes, settle).await?;
    for (name, n) in left {
        report
            .problems
            .push(format!("{n} outbox rows of {name} never sent"));
    }
    // The saga is asynchronous: keep looking until the cross-checks agree or time is up.
    loop {
        let mut attempt = cross_check(db).await?;
        if attempt.problems.is_empty() || Instant::now() >= deadline {
            attempt.problems.splice(0..0, report.problems);
            return Ok(attempt);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn cross_check(db: &Databases) -> anyhow::Result<Report> {
    let booking = connect(&db.booking).await?;
    let payment = connect(&db.payment).await?;
    let notification = connect(&db.notification).await?;
    let mut report = Report::default();

    for row in booking
        .query(
            "SELECT s.trip_id, s.seat_id, count(*) FROM booking_seats s JOIN bookings b ON b.id = s.booking_id \
             WHERE b.status IN ('confirmed', 'paid') GROUP BY s.trip_id, s.seat_id HAVING count(*) > 1",
            &[],
        )
        .await?
    {
        let (trip, seat, n): (i64, i32, i64) = (row.get(0), row.get(1), row.get(2));
        report
            .problems
            .push(format!("seat {seat} of trip {trip} is in {n} live bookings"));
    }
    for row in booking
        .query(
            "SELECT s.trip_id, s.seat_id FROM booking_seats s JOIN bookings b ON b.id = s.booking_id \
             WHERE s.live <> (b.status IN ('confirmed', 'paid'))",
            &[],
        )
        .await?
    {
        let (trip, seat): (i64, i32) = (row.get(0), row.get(1));
        report.problems.push(format!(
            "seat {seat} of trip {trip}: its live flag disagrees with its booking's status"
        ));
    }

    for row in booking
        .query(
            "SELECT b.trip_id, count(*) FROM bookings b JOIN trip_cancellations c ON c.trip_id = b.trip_id \
             WHERE b.status IN ('confirmed', 'paid') GROUP BY b.trip_id",
            &[],
        )
        .await?
    {
        let (trip, n): (i64, i64) = (row.get(0), row.get(1));
        report.problems.push(format!(
            "trip {trip} is cancelled but {n} of its bookings are still live"
        ));
    }

    let statuses: HashMap<Uuid, String> = booking
        .query("SELECT id, status FROM bookings", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    report.bookings = statuses.len();
    let payments: HashMap<Uuid, String> = payment
        .query("SELECT booking_id, status FROM payments", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut tickets: HashMap<Uuid, i64> = HashMap::new();
    for r in notification
        .query(
            "SELECT booking_id, count(*) FROM notifications WHERE kind = 'ticket' AND booking_id IS NOT NULL GROUP BY booking_id",
            &[],
        )
        .await?
    {
        tickets.insert(r.get(0), r.get(1));
    }
    for (id, status) in &statuses {
        let paid_money = payments.get(id).map(String::as_str);
        match status.as_str() {
            "paid" => {
                report.paid += 1;
                if paid_money != Some("succeeded") {
                    report.problems.push(format!(
                        "paid booking {id} has payment {paid_money:?}, not one succeeded"
                    ));
                }
                match tickets.get(id).copied().unwrap_or(0) {
                    1 => {}
                    n => report
                        .problems
                        .push(format!("paid booking {id} has {n} ticket notifications")),
                }
            }
            "expired" | "cancelled" => {
                if paid_money == Some("succeeded") {
                    report.problems.push(format!(
                        "{status} booking {id} kept its money (payment succeeded, never refunded)"
                    ));
                }
                // A cancelled booking may have been paid (one ticket) first; an expired one
                // never was.
                let allowed = if status == "expired" { 0 } else { 1 };
                let n = tickets.get(id).copied().unwrap_or(0);
                if n > allowed {
                    report.problems.push(format!(
                        "{status} booking {id} got {n} ticket notifications"
                    ));
                }
            }
            _ => {}
        }
    }
    for id in payments.keys() {
        if !statuses.contains_key(id) {
            report.problems.push(format!(
                "payment for booking {id}, which booking-service does not know"
            ));
        }
    }
    Ok(report)
}
