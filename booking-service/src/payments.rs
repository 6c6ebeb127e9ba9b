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
use chrono::SubsecRound;
use servicekit::amqp::Envelope;
use servicekit::consumer::{
    HandleError, Handler, Meta, Outcomes, Subscription, decode, first_delivery,
};
use servicekit::db::Prepared;
use servicekit::events::{self, BookingPaid, BookingRefundDue, Passenger, PaymentOutcome};
use servicekit::outbox;
use std::sync::Arc;
use tokio_postgres::types::ToSql;

/// Name under which applied events are recorded in `processed_events`.
pub const CONSUMER: &str = "booking.payment-results";
/// Queue name before the broker's prefix.
pub const QUEUE: &str = "booking.payment-results";

/// What this consumer reads: its queue, bindings and limits.
pub const SUBSCRIPTION: Subscription =
    Subscription::new(QUEUE, &[events::PAYMENT_SUCCEEDED, events::PAYMENT_FAILED]);

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
            let code = lifecycle::ticket_code();
            let trip =
                trip.ok_or_else(|| HandleError::retry(anyhow::anyhow!("no trip summary")))?;
            let seats = seats?;
            let passengers: Vec<Passenger> =
                serde_json::from_value(row.get(2)).map_err(|e| HandleError::Reject(e.into()))?;
            let paid_at = chrono::Utc::now().trunc_subsecs(0);
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

async fn enqueue(
    tx: &deadpool_postgres::Transaction<'_>,
    kind: &str,
    payload: &impl serde::Serialize,
    request_id: Option<&str>,
) -> Result<(), HandleError> {
    let event = Envelope::new(kind, payload).map_err(|e| HandleError::Reject(e.into()))?;
    Ok(outbox::enqueue(tx, &event, request_id).await?)
}
