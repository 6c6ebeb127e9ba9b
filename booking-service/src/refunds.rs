//! Refunds from payment-service (queue `booking.refunds`, bound to `payment.refunded`): the
//! booking's `refunded_at` is set, once, so a trip cancellation's progress can count the
//! refunds that went through (`refunds_completed`) and the admin lookup can show them.
//!
//! Each event is applied once ([`first_delivery`] in the transaction that records it); a
//! second refund event of the same booking keeps the first time. `updated_at` stays: it
//! tells when the booking's status last changed (the reconciliation and the admin history
//! read it), and a refund changes no status.

use crate::state::BookingState;
use prometheus::{IntCounterVec, Opts, Registry};
use servicekit::amqp::Envelope;
use servicekit::consumer::{
    HandleError, Handler, Meta, Outcomes, Subscription, decode, first_delivery,
};
use servicekit::db::Prepared;
use servicekit::events::{self, PaymentRefunded};
use std::sync::Arc;

/// Name under which applied events are recorded in `processed_events`.
pub const CONSUMER: &str = "booking.refunds";
/// Queue name before the broker's prefix.
pub const QUEUE: &str = "booking.refunds";

/// What this consumer reads: its queue, bindings and limits.
pub const SUBSCRIPTION: Subscription = Subscription::new(QUEUE, &[events::PAYMENT_REFUNDED]);

/// The consumer of refunds.
pub struct Refunds {
    state: Arc<BookingState>,
    /// Refund events by outcome: recorded, already_recorded, duplicate, retried, rejected.
    outcomes: IntCounterVec,
}

impl Refunds {
    pub fn new(state: Arc<BookingState>, registry: &Registry) -> anyhow::Result<Self> {
        let outcomes = IntCounterVec::new(
            Opts::new(
                "booking_refunds_total",
                "payment.refunded events applied to bookings, by outcome",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(outcomes.clone()))?;
        Ok(Self { state, outcomes })
    }
}

impl Handler for Refunds {
    fn subscription(&self) -> Subscription {
        SUBSCRIPTION
    }

    fn outcomes(&self) -> Option<Outcomes> {
        Some(Outcomes::new(self.outcomes.clone()))
    }

    async fn handle(&self, event: Envelope, _meta: Meta) -> Result<&'static str, HandleError> {
        apply(&self.state, &event).await
    }
}

#[tracing::instrument(skip_all, fields(event_id = %event.event_id, kind = %event.kind))]
async fn apply(state: &BookingState, event: &Envelope) -> Result<&'static str, HandleError> {
    if event.kind != events::PAYMENT_REFUNDED {
        return Ok("ignored");
    }
    let refund: PaymentRefunded = decode(event)?;
    let id = refund.booking_id;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if !first_delivery(&tx, CONSUMER, event.event_id).await? {
        return Ok("duplicate");
    }
    let row = tx
        .query_opt_prepared(
            "UPDATE bookings SET refunded_at = COALESCE(refunded_at, now()) \
             WHERE id = $1 RETURNING refunded_at = now()",
            &[&id],
        )
        .await?;
    let Some(row) = row else {
        return Err(HandleError::Reject(anyhow::anyhow!(
            "refund of unknown booking {id}"
        )));
    };
    let label = if row.get::<_, bool>(0) {
        "recorded"
    } else {
        "already_recorded"
    };
    tx.commit().await?;
    tracing::info!(booking = %id, outcome = label, "refund recorded");
    Ok(label)
}
