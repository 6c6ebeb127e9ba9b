//! The admin booking lookup (`GET /api/bookings/admin/bookings`): any user's bookings, newest
//! first, at most [`LIMIT`], each with its owner, its boarding and its history.
//!
//! The history is the booking's own steps (from its row: confirmed, paid, cancelled or
//! expired, refunded; and its boarding) and every event booking-service's outbox still holds
//! for it (`detail` says whether the relay sent it), oldest first. Sent events older than the
//! outbox's retention are gone; the steps stay.

use crate::store::{self, Booking, Lookup};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use servicekit::db::DbError;
use std::collections::HashMap;
use uuid::Uuid;

/// The most bookings one lookup answers.
pub const LIMIT: i64 = 50;

/// One step of a booking's history.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Step {
    pub at: DateTime<Utc>,
    /// The booking's own steps: `confirmed`, `paid`, `cancelled`, `expired`, `refunded`,
    /// `boarded`; or the type of an event the outbox holds for it (`booking.confirmed`,
    /// `booking.paid`, `booking.cancelled`, ...).
    #[schema(example = "booking.confirmed")]
    pub kind: String,
    /// For an outbox event `sent` or `unsent`; for a step, what it says.
    pub detail: String,
}

/// `Booking` of `docs/api.md` and what only the railway sees.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AdminBooking {
    #[serde(flatten)]
    pub booking: Booking,
    pub user_id: Uuid,
    pub updated_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    /// When payment-service reported the refund (`payment.refunded`).
    pub refunded_at: Option<DateTime<Utc>>,
    /// The last failed charge's reason while the booking awaits payment.
    pub payment_failure: Option<String>,
    pub boarded_at: Option<DateTime<Utc>>,
    pub boarded_by_device: Option<String>,
    /// Oldest first.
    pub history: Vec<Step>,
}

/// What the booking's row and boarding add to [`Booking`].
struct Extra {
    user_id: Uuid,
    updated_at: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
    refunded_at: Option<DateTime<Utc>>,
    payment_failure: Option<String>,
    boarded_at: Option<DateTime<Utc>>,
    device: Option<String>,
}

/// The bookings `by` names, newest first, with their history.
pub async fn find(db: &impl GenericClient, by: &Lookup) -> Result<Vec<AdminBooking>, DbError> {
    let bookings = store::find_any(db, by, LIMIT).await?;
    if bookings.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = bookings.iter().map(|b| b.booking_id).collect();
    let mut extras = extras(db, &ids).await?;
    let mut events = outbox_events(db, &ids).await?;
    Ok(bookings
        .into_iter()
        .filter_map(|booking| {
            let extra = extras.remove(&booking.booking_id)?;
            let events = events.remove(&booking.booking_id).unwrap_or_default();
            Some(admin_booking(booking, extra, events))
        })
        .collect())
}

async fn extras(db: &impl GenericClient, ids: &[Uuid]) -> Result<HashMap<Uuid, Extra>, DbError> {
    let rows = db
        .query(
            "SELECT b.id, b.user_id, b.updated_at, b.paid_at, b.refunded_at, b.payment_failure, \
                    d.boarded_at, d.device \
             FROM bookings b LEFT JOIN boardings d ON d.booking_id = b.id \
             WHERE b.id = ANY($1)",
            &[&ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let extra = Extra {
                user_id: r.get(1),
                updated_at: r.get(2),
                paid_at: r.get(3),
                refunded_at: r.get(4),
                payment_failure: r.get(5),
                boarded_at: r.get(6),
                device: r.get(7),
            };
            (r.get(0), extra)
        })
        .collect())
}

/// The outbox's events of each booking, in the order they were written.
async fn outbox_events(
    db: &impl GenericClient,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Step>>, DbError> {
    let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let rows = db
        .query(
            "SELECT payload->>'booking_id', kind, occurred_at, sent_at IS NOT NULL \
             FROM outbox WHERE payload->>'booking_id' = ANY($1) ORDER BY id",
            &[&keys],
        )
        .await?;
    let mut events: HashMap<Uuid, Vec<Step>> = HashMap::new();
    for r in &rows {
        let Some(id) = r
            .get::<_, Option<&str>>(0)
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            continue;
        };
        let sent: bool = r.get(3);
        events.entry(id).or_default().push(Step {
            at: r.get(2),
            kind: r.get(1),
            detail: if sent { "sent" } else { "unsent" }.to_owned(),
        });
    }
    Ok(events)
}

fn step(at: DateTime<Utc>, kind: &str, detail: String) -> Step {
    Step {
        at,
        kind: kind.to_owned(),
        detail,
    }
}

fn admin_booking(booking: Booking, extra: Extra, events: Vec<Step>) -> AdminBooking {
    let seats = booking.seat_ids.len();
    let mut own = vec![step(
        booking.created_at,
        "confirmed",
        format!(
            "{seats} seat(s) booked; payment due by {}",
            booking.payment_due_at.to_rfc3339()
        ),
    )];
    if let Some(at) = extra.paid_at {
        let code = booking.ticket_code.as_deref().unwrap_or("-");
        own.push(step(at, "paid", format!("ticket {code}")));
    }
    if matches!(booking.status.as_str(), "cancelled" | "expired") {
        let detail = format!("status {}", booking.status);
        own.push(step(extra.updated_at, &booking.status, detail));
    }
    if let Some(at) = extra.refunded_at {
        own.push(step(at, "refunded", "payment-service refunded it".into()));
    }
    if let Some(at) = extra.boarded_at {
        let device = extra.device.as_deref().unwrap_or("no device named");
        own.push(step(at, "boarded", format!("boarded ({device})")));
    }
    let history = merge(own, events);
    AdminBooking {
        booking,
        user_id: extra.user_id,
        updated_at: extra.updated_at,
        paid_at: extra.paid_at,
        refunded_at: extra.refunded_at,
        payment_failure: extra.payment_failure,
        boarded_at: extra.boarded_at,
        boarded_by_device: extra.device,
        history,
    }
}

/// The booking's own steps (in their order) and its events (in the outbox's order), merged
/// by time. An own step sorts at the time of the event written with it when the outbox
/// still holds that (`paid_at` is kept to the second; the events carry the service's
/// clock), right before it; the creation comes first of all, and an own step never sorts
/// before the one it follows.
fn merge(own: Vec<Step>, events: Vec<Step>) -> Vec<Step> {
    let written_with = |kind: &str| {
        let event = format!("booking.{kind}");
        events.iter().find(|e| e.kind == event).map(|e| e.at)
    };
    let mut keyed: Vec<(DateTime<Utc>, Step)> = Vec::with_capacity(own.len() + events.len());
    let mut last: Option<DateTime<Utc>> = None;
    for s in own {
        let at = written_with(&s.kind).unwrap_or(s.at);
        let key = match last {
            None => events
                .iter()
                .map(|e| e.at)
                .fold(at.min(s.at), DateTime::min),
            Some(last) => at.max(last),
        };
        last = Some(key);
        keyed.push((key, s));
    }
    keyed.extend(events.into_iter().map(|e| (e.at, e)));
    // Stable: at one key a booking's own step comes before an event.
    keyed.sort_by_key(|(key, _)| *key);
    keyed.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn kinds(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| s.kind.as_str()).collect()
    }

    #[test]
    fn the_history_starts_with_the_creation_and_keeps_each_sides_order() {
        let own = vec![
            step(at(10), "confirmed", String::new()),
            step(at(9), "paid", String::new()), // kept to the second: before its creation
            step(at(40), "cancelled", String::new()),
        ];
        let events = vec![
            step(at(9), "booking.confirmed", "sent".into()),
            step(at(20), "booking.paid", "sent".into()),
            step(at(40), "booking.cancelled", "unsent".into()),
        ];
        assert_eq!(
            kinds(&merge(own, events)),
            [
                "confirmed",
                "booking.confirmed",
                "paid",
                "booking.paid",
                "cancelled",
                "booking.cancelled"
            ]
        );
        // Sent events past the retention are gone: the own steps keep their order.
        let own = vec![
            step(at(10), "confirmed", String::new()),
            step(at(9), "paid", String::new()),
        ];
        assert_eq!(kinds(&merge(own, Vec::new())), ["confirmed", "paid"]);
    }
}
