//! Payment outcomes from payment-service (queue `booking.payment-results`):
//! `payment.succeeded` makes a confirmed booking `paid` with a fresh ticket code and its
//! signed ticket (`crate::tickets`), and publishes `booking.paid` (the e-ticket); money that
//! arrives for a booking that already expired or was cancelled is sent back with
//! `booking.refund_due`. `payment.failed` is recorded; the booking stays `confirmed` so the
//! passenger can retry until it is due.
//!
//! Each event is applied once: [`first_delivery`] runs in the transaction that changes the
//! booking and writes the outgoing event to the outbox.

use crate::lifecycle;
use crate::state::BookingState;
use crate::store;
use crate::tickets::Issue;
use chrono::{DateTime, SubsecRound, Utc};
use servicekit::amqp::Envelope;
use servicekit::consumer::{
    HandleError, Handler, Meta, Outcomes, Subscription, decode, first_deliveries, first_delivery,
};
use servicekit::db::Prepared;
use servicekit::events::{
    self, BookedSeat, BookingPaid, BookingRefundDue, Passenger, PaymentOutcome, TripSummary,
};
use servicekit::outbox;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// Name under which applied events are recorded in `processed_events`.
pub const CONSUMER: &str = "booking.payment-results";
/// Queue name before the broker's prefix.
pub const QUEUE: &str = "booking.payment-results";

/// What this consumer reads: its queue, bindings and limits.
pub const SUBSCRIPTION: Subscription =
    Subscription::new(QUEUE, &[events::PAYMENT_SUCCEEDED, events::PAYMENT_FAILED])
        .prefetch(BATCH * 2)
        .batched(BATCH);

/// The most payment outcomes applied in one transaction.
const BATCH: u16 = 32;

/// The consumer of payment outcomes.
pub struct PaymentResults(pub Arc<BookingState>);

impl Handler for PaymentResults {
    fn subscription(&self) -> Subscription {
        SUBSCRIPTION
    }

    fn outcomes(&self) -> Option<Outcomes> {
        Some(Outcomes::new(self.0.metrics.payments.clone()))
    }

    async fn handle(&self, event: Envelope, meta: Meta) -> Result<&'static str, HandleError> {
        apply(&self.0, &event, meta.request_id.as_deref()).await
    }

    /// The rush's common case, payments that succeeded for confirmed bookings, in one
    /// transaction ([`paid_together`]); any other batch one event at a time.
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    async fn handle_batch(
        &self,
        events: Vec<(Envelope, Meta)>,
    ) -> Vec<Result<&'static str, HandleError>> {
        if events.len() > 1 {
            match paid_together(&self.0, &events).await {
                Ok(Some(labels)) => return labels.into_iter().map(Ok).collect(),
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(%error, "payments not applied as one; applying each");
                }
            }
        }
        let mut results = Vec::with_capacity(events.len());
        for (event, meta) in &events {
            results.push(apply(&self.0, event, meta.request_id.as_deref()).await);
        }
        results
    }
}

/// Applies `events` in one transaction when each is the first delivery of a
/// `payment.succeeded` for a different booking that is still `confirmed`: every booking
/// `paid` with its ticket, as [`apply`] does one. `None` (nothing written) for any other
/// batch, which is then applied one event at a time.
async fn paid_together(
    state: &BookingState,
    events: &[(Envelope, Meta)],
) -> Result<Option<Vec<&'static str>>, HandleError> {
    let mut ids = Vec::with_capacity(events.len());
    for (event, _) in events {
        if event.kind != events::PAYMENT_SUCCEEDED {
            return Ok(None);
        }
        let Ok(outcome) = decode::<PaymentOutcome>(event) else {
            return Ok(None);
        };
        ids.push(outcome.booking_id);
    }
    let event_ids: Vec<Uuid> = events.iter().map(|(e, _)| e.event_id).collect();
    if ids.iter().collect::<HashSet<_>>().len() != ids.len()
        || event_ids.iter().collect::<HashSet<_>>().len() != ids.len()
    {
        return Ok(None);
    }
    let mut client = state.db.get().await?;
    // The trips' summaries (for the tickets), before the bookings' row locks.
    let trip_of: HashMap<Uuid, i64> = client
        .query_prepared(
            "SELECT id, trip_id FROM bookings WHERE id = ANY($1)",
            &[&ids],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if trip_of.len() != ids.len() {
        return Ok(None);
    }
    let mut summaries = HashMap::new();
    for trip_id in trip_of.values() {
        if !summaries.contains_key(trip_id) {
            let Ok(trip) = state.inventory.trip(*trip_id).await else {
                return Ok(None);
            };
            summaries.insert(*trip_id, trip.summary());
        }
    }

    let tx = client.transaction().await?;
    // One flight: the deliveries' records, the bookings' rows (locked, in id order) and
    // their seats.
    let by_ids: [&(dyn ToSql + Sync); 1] = [&ids];
    let (first, rows, seats) = tokio::join!(
        biased;
        first_deliveries(&tx, CONSUMER, &event_ids),
        tx.query_prepared(
            "SELECT status, user_id, passengers, amount, currency, id FROM bookings \
             WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            &by_ids,
        ),
        store::seats_of(&tx, &ids),
    );
    let (rows, mut seats) = (rows?, seats?);
    if first? != ids.len()
        || rows.len() != ids.len()
        || rows.iter().any(|r| r.get::<_, &str>(0) != "confirmed")
    {
        return Ok(None);
    }
    let rows: HashMap<Uuid, &Row> = rows.iter().map(|r| (r.get(5), r)).collect();
    let paid_at = chrono::Utc::now().trunc_subsecs(0);
    let (mut codes, mut qrs, mut outgoing) = (Vec::new(), Vec::new(), Vec::new());
    for ((_, meta), id) in events.iter().zip(&ids) {
        let (Some(row), Some(trip_id)) = (rows.get(id), trip_of.get(id)) else {
            return Ok(None);
        };
        let trip = summaries[trip_id].clone();
        let seats = seats.remove(id).unwrap_or_default();
        let (paid, qr) = ticket(state, row, *id, *trip_id, trip, seats, paid_at)?;
        let event = Envelope::new(events::BOOKING_PAID, &paid)
            .map_err(|e| HandleError::Reject(e.into()))?;
        codes.push(paid.ticket_code);
        qrs.push(qr);
        outgoing.push((event, meta.request_id.as_deref()));
    }
    // One flight: every booking paid and its event.
    let paid: [&(dyn ToSql + Sync); 4] = [&ids, &codes, &qrs, &paid_at];
    let (updated, enqueued) = tokio::join!(
        biased;
        tx.execute_prepared(
            "UPDATE bookings b SET status = 'paid', ticket_code = u.code, paid_at = $4, \
             ticket_qr = u.qr, payment_failure = NULL, updated_at = now() \
             FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(id, code, qr) WHERE b.id = u.id",
            &paid,
        ),
        outbox::enqueue_all(&tx, &outgoing),
    );
    enqueued?;
    if updated? != ids.len() as u64 {
        return Ok(None);
    }
    tx.commit().await?;
    state.relay.wake();
    tracing::info!(bookings = ids.len(), "payments applied as one");
    Ok(Some(vec!["paid"; ids.len()]))
}

#[tracing::instrument(skip_all, fields(event_id = %event.event_id, kind = %event.kind))]
async fn apply(
    state: &BookingState,
    event: &Envelope,
    request_id: Option<&str>,
) -> Result<&'static str, HandleError> {
    let succeeded = match event.kind.as_str() {
        events::PAYMENT_SUCCEEDED => true,
        events::PAYMENT_FAILED => false,
        _ => return Ok("ignored"),
    };
    let outcome: PaymentOutcome = decode(event)?;
    let id = outcome.booking_id;

    let mut client = state.db.get().await?;
    // The trip's summary (for the ticket) comes from the inventory cache or train-service;
    // fetch it before taking the booking's row lock.
    let trip_id: Option<i64> = client
        .query_opt_prepared("SELECT trip_id FROM bookings WHERE id = $1", &[&id])
        .await?
        .map(|r| r.get(0));
    let Some(trip_id) = trip_id else {
        return Err(HandleError::Reject(anyhow::anyhow!(
            "payment for unknown booking {id}"
        )));
    };
    let trip = if succeeded {
        Some(
            state
                .inventory
                .trip(trip_id)
                .await
                .map_err(|e| {
                    HandleError::retry(anyhow::anyhow!("trip {trip_id} unavailable: {e}"))
                })?
                .summary(),
        )
    } else {
        None
    };

    let tx = client.transaction().await?;
    // One flight: the delivery's record, the booking's row (locked) and its seats; a
    // duplicate rolls back what it read.
    let by_id: [&(dyn ToSql + Sync); 1] = [&id];
    let (first, row, seats) = tokio::join!(
        biased;
        first_delivery(&tx, CONSUMER, event.event_id),
        tx.query_one_prepared(
            "SELECT status, user_id, passengers, amount, currency FROM bookings WHERE id = $1 FOR UPDATE",
            &by_id,
        ),
        store::seats(&tx, id),
    );
    if !first? {
        return Ok("duplicate");
    }
    let row = row?;
    let status: String = row.get(0);
    let label = match (succeeded, status.as_str()) {
        (true, "confirmed") => {
            let trip =
                trip.ok_or_else(|| HandleError::retry(anyhow::anyhow!("no trip summary")))?;
            let paid_at = chrono::Utc::now().trunc_subsecs(0);
            let (paid, qr) = ticket(state, &row, id, trip_id, trip, seats?, paid_at)?;
            // One flight: the booking paid and its event.
            let params: [&(dyn ToSql + Sync); 4] = [&id, &paid.ticket_code, &paid_at, &qr];
            let (updated, enqueued) = tokio::join!(
                biased;
                tx.execute_prepared(
                    "UPDATE bookings SET status = 'paid', ticket_code = $2, paid_at = $3, \
                     ticket_qr = $4, payment_failure = NULL, updated_at = now() WHERE id = $1",
                    &params,
                ),
                enqueue(&tx, events::BOOKING_PAID, &paid, request_id),
            );
            updated?;
            enqueued?;
            "paid"
        }
        (true, "paid") => "already_paid",
        (true, _) => {
            // Expired or cancelled while the charge was in flight: the seats may be sold to
            // someone else by now, so the money goes back.
            let due = BookingRefundDue {
                booking_id: id,
                user_id: row.get(1),
                status: status.clone(),
            };
            enqueue(&tx, events::BOOKING_REFUND_DUE, &due, request_id).await?;
            "refund_due"
        }
        (false, "confirmed") => {
            tx.execute_prepared(
                "UPDATE bookings SET payment_failure = $2, updated_at = now() WHERE id = $1",
                &[&id, &outcome.failure],
            )
            .await?;
            "failed"
        }
        (false, _) => "failed_ignored",
    };
    tx.commit().await?;
    state.relay.wake();
    tracing::info!(booking = %id, outcome = label, "payment outcome applied");
    Ok(label)
}

/// The ticket of booking `id` paid at `paid_at`: its `booking.paid` event (with a fresh
/// ticket code) and its signed QR payload. `row` is the booking's `status, user_id,
/// passengers, amount, currency`.
fn ticket(
    state: &BookingState,
    row: &Row,
    id: Uuid,
    trip_id: i64,
    trip: TripSummary,
    seats: Vec<BookedSeat>,
    paid_at: DateTime<Utc>,
) -> Result<(BookingPaid, String), HandleError> {
    let passengers: Vec<Passenger> =
        serde_json::from_value(row.get(2)).map_err(|e| HandleError::Reject(e.into()))?;
    let code = lifecycle::ticket_code();
    let qr = state
        .tickets
        .issue(&Issue {
            booking_id: id,
            ticket_code: &code,
            trip_id,
            trip: &trip,
            seats: &seats,
            passengers: &passengers,
            issued_at: paid_at,
        })
        .map_err(HandleError::Reject)?;
    let paid = BookingPaid {
        booking_id: id,
        user_id: row.get(1),
        trip_id,
        trip,
        seats,
        passengers,
        amount: row.get(3),
        currency: row.get(4),
        ticket_code: code,
    };
    Ok((paid, qr))
}

async fn enqueue(
    tx: &deadpool_postgres::Transaction<'_>,
    kind: &str,
    payload: &impl serde::Serialize,
    request_id: Option<&str>,
) -> Result<(), HandleError> {
    let event = Envelope::new(kind, payload).map_err(|e| HandleError::Reject(e.into()))?;
    Ok(outbox::enqueue(tx, &event, request_id).await?)
}
