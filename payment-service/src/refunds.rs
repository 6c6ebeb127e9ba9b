//! The refund worker: `booking.cancelled` and `booking.expired` close the booking's payment
//! (no retry can charge it any more); a cancelled paid booking (`was_paid`) and
//! `booking.refund_due` (money that arrived for a booking no longer payable) refund the
//! charge and announce `payment.refunded`.
//!
//! One refund per payment: the first event that asks claims it (`payments.refund_key`, its
//! id is the gateway's idempotency key), so a duplicate, a redelivery after a crash, or a
//! second event for the same booking never refunds twice. Events for bookings this service
//! has no payment for are ignored, except `booking.refund_due`, which is retried until the
//! payment is known.

use crate::gateway::{GatewayError, RefundRequest};
use crate::store::{self, Payment, SUCCEEDED};
use crate::worker::Worker;
use servicekit::amqp::Envelope;
use servicekit::consumer::{HandleError, Meta, Subscription, decode, first_delivery};
use servicekit::events::{self, BookingRefundDue, BookingReleased, PaymentRefunded};
use servicekit::outbox;
use std::time::Instant;
use uuid::Uuid;

/// Name under which applied events are recorded in `processed_events`.
pub const CONSUMER: &str = "payment.refunds";
/// Queue name before the broker's prefix.
pub const QUEUE: &str = "payment.refunds";
pub const DELIVERY_LIMIT: u32 = 10;

/// What this consumer reads: its queue, bindings and limits.
pub const SUBSCRIPTION: Subscription = Subscription::new(
    QUEUE,
    &[
        events::BOOKING_CANCELLED,
        events::BOOKING_EXPIRED,
        events::BOOKING_REFUND_DUE,
    ],
)
.delivery_limit(DELIVERY_LIMIT)
.prefetch(16);

/// A booking that can no longer be paid, and whether its money goes back.
struct Closing {
    booking_id: Uuid,
    wants_refund: bool,
    /// `booking.refund_due` names a payment that must exist (it may not be stored yet).
    payment_expected: bool,
}

fn parse(event: &Envelope) -> Result<Option<Closing>, HandleError> {
    Ok(match event.kind.as_str() {
        events::BOOKING_CANCELLED | events::BOOKING_EXPIRED => {
            let released: BookingReleased = decode(event)?;
            Some(Closing {
                booking_id: released.booking_id,
                wants_refund: event.kind == events::BOOKING_CANCELLED && released.was_paid,
                payment_expected: false,
            })
        }
        events::BOOKING_REFUND_DUE => {
            let due: BookingRefundDue = decode(event)?;
            Some(Closing {
                booking_id: due.booking_id,
                wants_refund: true,
                payment_expected: true,
            })
        }
        _ => None,
    })
}

enum Plan {
    Skip(&'static str),
    Refund(Box<Payment>, String),
}

#[tracing::instrument(skip_all, fields(event_id = %event.event_id, kind = %event.kind))]
pub(crate) async fn refund(
    worker: &Worker,
    event: &Envelope,
    meta: &Meta,
) -> Result<&'static str, HandleError> {
    let Some(closing) = parse(event)? else {
        return Ok("ignored");
    };
    let (payment, charge_id) = match begin(worker, event, &closing).await? {
        Plan::Refund(payment, charge_id) => (payment, charge_id),
        Plan::Skip(label) => {
            if label == "duplicate" && closing.wants_refund {
                worker
                    .metrics
                    .refunds
                    .with_label_values(&["duplicate"])
                    .inc();
            }
            return Ok(label);
        }
    };
    let started = Instant::now();
    let answer = worker
        .gateway
        .refund(RefundRequest {
            charge_id,
            amount: payment.amount,
            idempotency_key: event.event_id.to_string(),
        })
        .await;
    worker
        .metrics
        .gateway_seconds
        .with_label_values(&["refund"])
        .observe(started.elapsed().as_secs_f64());
    let refund = match answer {
        Ok(refund) => refund,
        Err(GatewayError::Unavailable(reason)) => {
            worker
                .metrics
                .refunds
                .with_label_values(&["unavailable"])
                .inc();
            return Err(HandleError::Retry(anyhow::anyhow!(
                "refunding booking {}: the gateway is unavailable: {reason}",
                payment.booking_id
            )));
        }
        Err(GatewayError::Declined { code }) => {
            worker
                .metrics
                .refunds
                .with_label_values(&["declined"])
                .inc();
            // Money the gateway will not return needs a person: park the event.
            return Err(HandleError::Reject(anyhow::anyhow!(
                "the gateway refused to refund booking {}: {code}",
                payment.booking_id
            )));
        }
    };
    let mut client = worker.client().await?;
    let tx = client.transaction().await?;
    if !first_delivery(&tx, CONSUMER, event.event_id).await? {
        return Ok("duplicate");
    }
    store::mark_refunded(&tx, payment.payment_id, &refund.refund_id).await?;
    let refunded = PaymentRefunded {
        payment_id: payment.payment_id,
        booking_id: payment.booking_id,
        user_id: payment.user_id,
        amount: payment.amount,
        currency: payment.currency.clone(),
    };
    let envelope =
        Envelope::new(events::PAYMENT_REFUNDED, &refunded).map_err(HandleError::retry)?;
    outbox::enqueue(&tx, &envelope, meta.request_id.as_deref()).await?;
    tx.commit().await?;
    worker.relay.wake();
    worker
        .metrics
        .refunds
        .with_label_values(&["refunded"])
        .inc();
    tracing::info!(booking_id = %payment.booking_id, "refunded");
    Ok("applied")
}

/// Closes the payment and decides (and claims) its refund, in one transaction.
async fn begin(worker: &Worker, event: &Envelope, closing: &Closing) -> Result<Plan, HandleError> {
    let mut client = worker.client().await?;
    let tx = client.transaction().await?;
    if store::is_processed(&tx, CONSUMER, event.event_id).await? {
        return Ok(Plan::Skip("duplicate"));
    }
    let Some(payment) = store::lock_by_booking(&tx, closing.booking_id).await? else {
        if closing.payment_expected {
            return Err(HandleError::Retry(anyhow::anyhow!(
                "a refund is due for booking {} whose payment is not known yet",
                closing.booking_id
            )));
        }
        return skip(tx, event, "ignored").await;
    };
    store::close(&tx, payment.payment_id).await?;
    if !(closing.wants_refund && payment.status == SUCCEEDED) {
        let label = if closing.wants_refund && payment.refund_key.is_some() {
            "duplicate"
        } else {
            "applied"
        };
        return skip(tx, event, label).await;
    }
    match payment.refund_key {
        None => store::claim_refund(&tx, payment.payment_id, event.event_id).await?,
        Some(owner) if owner == event.event_id => {}
        // Another event refunds this payment (and its redelivery finishes that refund).
        Some(_) => return skip(tx, event, "duplicate").await,
    }
    let Some(charge_id) = payment.charge_id.clone() else {
        return Err(HandleError::Reject(anyhow::anyhow!(
            "payment {} succeeded without a charge id",
            payment.payment_id
        )));
    };
    tx.commit().await?;
    Ok(Plan::Refund(Box::new(payment), charge_id))
}

async fn skip(
    tx: deadpool_postgres::Transaction<'_>,
    event: &Envelope,
    label: &'static str,
) -> Result<Plan, HandleError> {
    first_delivery(&tx, CONSUMER, event.event_id).await?;
    tx.commit().await?;
    Ok(Plan::Skip(label))
}
