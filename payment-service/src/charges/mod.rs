//! The charge worker: `booking.confirmed` creates the booking's payment and charges its
//! token; `payment.retry_requested` (sent by the retry endpoint through the outbox) charges
//! the new token of a failed payment. Exactly once in effect:
//!
//! 1. transaction A records the attempt, keyed by the event id, before the gateway is called;
//! 2. the gateway is called with the event id as idempotency key;
//! 3. transaction B records the answer, the processed event and the outcome event
//!    (`payment.succeeded` / `payment.failed`), then the message is acked.
//!
//! A crash between 2 and 3 redelivers the message; the open attempt is resumed with the
//! same key and the gateway answers with the charge it already made. A gateway that is
//! unavailable is retried the same way until the queue's delivery limit parks the message
//! (the payment then stays pending; replaying the parked message is safe).

mod batch;

pub(crate) use batch::charge_all;

use crate::gateway::{ChargeRequest, GatewayError, INVALID_TOKEN, masked};
use crate::store::{self, ChargeResult, PENDING, Payment};
use crate::worker::Worker;
use serde::{Deserialize, Serialize};
use servicekit::amqp::Envelope;
use servicekit::consumer::{HandleError, Meta, Subscription, decode, first_delivery};
use servicekit::events::{self, BookingConfirmed, PaymentOutcome};
use servicekit::outbox;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Name under which applied events are recorded in `processed_events`.
pub const CONSUMER: &str = "payment.charges";
/// Queue name before the broker's prefix.
pub const QUEUE: &str = "payment.booking-confirmed";
/// Deliveries before a message is parked: generous, as a gateway outage is retried.
pub const DELIVERY_LIMIT: u32 = 10;
/// Failure of a payment whose booking closed before it could be charged.
pub const BOOKING_CLOSED: &str = "booking_closed";

/// `payment.retry_requested`: this service's command to itself to charge a failed payment
/// again with the token the retry endpoint stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RetryRequested {
    pub booking_id: Uuid,
    pub payment_id: Uuid,
}

/// What this consumer reads: its queue, bindings and limits.
pub const SUBSCRIPTION: Subscription = Subscription::new(
    QUEUE,
    &[events::BOOKING_CONFIRMED, events::PAYMENT_RETRY_REQUESTED],
)
.delivery_limit(DELIVERY_LIMIT)
.prefetch(BATCH * BATCHES * 2)
.batched(BATCH)
.concurrent_batches(BATCHES);

/// The most charges opened and answered in one transaction each ([`charge_all`]).
const BATCH: u16 = 16;
/// Batches at once: a slow gateway answer holds its own batch, not the queue.
const BATCHES: u16 = 4;

enum Command {
    Confirmed(BookingConfirmed),
    Retry(RetryRequested),
}

impl Command {
    fn booking_id(&self) -> Uuid {
        match self {
            Self::Confirmed(b) => b.booking_id,
            Self::Retry(r) => r.booking_id,
        }
    }
}

fn parse(event: &Envelope) -> Result<Option<Command>, HandleError> {
    Ok(match event.kind.as_str() {
        events::BOOKING_CONFIRMED => Some(Command::Confirmed(decode(event)?)),
        events::PAYMENT_RETRY_REQUESTED => Some(Command::Retry(decode(event)?)),
        _ => None,
    })
}

/// A charge to make: the payment as locked in transaction A and the attempt's number.
struct Due {
    payment: Payment,
    attempt: i32,
}

enum Plan {
    Skip(&'static str),
    Charge(Box<Due>),
}

#[tracing::instrument(skip_all, fields(event_id = %event.event_id, kind = %event.kind))]
pub(crate) async fn charge(
    worker: &Worker,
    event: &Envelope,
    meta: &Meta,
) -> Result<&'static str, HandleError> {
    let Some(command) = parse(event)? else {
        return Ok("ignored");
    };
    let due = match begin(worker, event, &command).await? {
        Plan::Charge(due) => due,
        Plan::Skip(label) => {
            if label == "duplicate" {
                worker
                    .metrics
                    .charges
                    .with_label_values(&["duplicate"])
                    .inc();
            }
            return Ok(label);
        }
    };
    let (result, elapsed) = call_gateway(worker, event, &due).await?;
    finish(worker, event, meta, &due, &result, elapsed).await
}

/// Charges `due` at the gateway under `event`'s id as the idempotency key; an unavailable
/// gateway is retried (the attempt stays open and is resumed with the same key).
async fn call_gateway(
    worker: &Worker,
    event: &Envelope,
    due: &Due,
) -> Result<(ChargeResult, Duration), HandleError> {
    let payment = &due.payment;
    let started = Instant::now();
    let answer = worker
        .gateway
        .charge(ChargeRequest {
            amount: payment.amount,
            currency: payment.currency.clone(),
            token: payment.token.clone(),
            idempotency_key: event.event_id.to_string(),
            description: format!("RailRush booking {}", payment.booking_id),
        })
        .await;
    let elapsed = started.elapsed();
    worker
        .metrics
        .gateway_seconds
        .with_label_values(&["charge"])
        .observe(elapsed.as_secs_f64());
    let result = match answer {
        Ok(charge) => ChargeResult::Succeeded {
            charge_id: charge.charge_id,
        },
        Err(GatewayError::Declined { code }) => ChargeResult::Failed { code },
        Err(GatewayError::Unavailable(reason)) => {
            worker
                .metrics
                .charges
                .with_label_values(&["unavailable"])
                .inc();
            return Err(HandleError::Retry(anyhow::anyhow!(
                "charging booking {}: the gateway is unavailable: {reason}",
                payment.booking_id
            )));
        }
    };
    tracing::info!(
        booking_id = %payment.booking_id,
        attempt = due.attempt,
        token = %masked(&payment.token),
        ?result,
        "charge answered"
    );
    Ok((result, elapsed))
}

/// Transaction A: creates the payment (first `booking.confirmed`), decides whether this
/// event charges, and records the attempt before any money moves.
async fn begin(worker: &Worker, event: &Envelope, command: &Command) -> Result<Plan, HandleError> {
    let mut client = worker.client().await?;
    let tx = client.transaction().await?;
    let key = event.event_id.to_string();
    let confirmed = match command {
        Command::Confirmed(booking) => Some(booking),
        Command::Retry(_) => None,
    };
    let state = store::charge_state(
        &tx,
        (CONSUMER, event.event_id),
        confirmed,
        command.booking_id(),
        &key,
    )
    .await?;
    if state.processed {
        return Ok(Plan::Skip("duplicate"));
    }
    let Some(payment) = state.payment else {
        return Err(HandleError::Reject(anyhow::anyhow!(
            "a retry for booking {} which has no payment",
            command.booking_id()
        )));
    };
    if let Some(attempt) = state.attempt {
        if attempt.outcome.is_some() {
            return skip(tx, event, "duplicate").await;
        }
        // Redelivered after a crash or a gateway outage: resume with the same key.
        tx.commit().await?;
        tracing::info!(attempt = attempt.attempt, "resuming an open charge attempt");
        return Ok(Plan::Charge(Box::new(Due {
            payment,
            attempt: attempt.attempt,
        })));
    }
    let first_of_booking = confirmed.is_some();
    if payment.status != PENDING || (first_of_booking && payment.attempts > 0) || state.open_attempt
    {
        // Another event charges (or charged) this payment.
        return skip(tx, event, "duplicate").await;
    }
    if payment.closed_at.is_some() {
        store::fail_without_charge(&tx, payment.payment_id, BOOKING_CLOSED).await?;
        return skip(tx, event, "skipped").await;
    }
    let attempt = store::open_attempt(&tx, payment.payment_id, &key).await?;
    tx.commit().await?;
    Ok(Plan::Charge(Box::new(Due { payment, attempt })))
}

/// Records the event as applied without charging.
async fn skip(
    tx: deadpool_postgres::Transaction<'_>,
    event: &Envelope,
    label: &'static str,
) -> Result<Plan, HandleError> {
    first_delivery(&tx, CONSUMER, event.event_id).await?;
    tx.commit().await?;
    Ok(Plan::Skip(label))
}

/// The outcome event of `due`'s answered charge, and the label its charge is counted under.
fn outcome_event(
    due: &Due,
    result: &ChargeResult,
) -> Result<(Envelope, &'static str), HandleError> {
    let payment = &due.payment;
    let (kind, failure, label) = match result {
        ChargeResult::Succeeded { .. } => (events::PAYMENT_SUCCEEDED, None, "succeeded"),
        ChargeResult::Failed { code } => {
            let label = if code == INVALID_TOKEN {
                INVALID_TOKEN
            } else {
                "declined"
            };
            (events::PAYMENT_FAILED, Some(code.clone()), label)
        }
    };
    let outcome = PaymentOutcome {
        payment_id: payment.payment_id,
        booking_id: payment.booking_id,
        user_id: payment.user_id,
        amount: payment.amount,
        currency: payment.currency.clone(),
        attempts: due.attempt,
        failure,
        payment_due_at: payment.payment_due_at,
    };
    let envelope = Envelope::new(kind, &outcome).map_err(HandleError::retry)?;
    Ok((envelope, label))
}

/// Transaction B: the answer, the processed event and the outcome event, together.
async fn finish(
    worker: &Worker,
    event: &Envelope,
    meta: &Meta,
    due: &Due,
    result: &ChargeResult,
    elapsed: Duration,
) -> Result<&'static str, HandleError> {
    let payment = &due.payment;
    let gateway_ms = i32::try_from(elapsed.as_millis()).unwrap_or(i32::MAX);
    let (envelope, label) = outcome_event(due, result)?;
    let mut client = worker.client().await?;
    let tx = client.transaction().await?;
    // One flight: the delivery's record, the attempt's answer and the outcome event; a
    // duplicate rolls the rest back.
    let (first, closed, enqueued) = tokio::join!(
        biased;
        first_delivery(&tx, CONSUMER, event.event_id),
        store::close_attempt(&tx, payment.payment_id, due.attempt, result, gateway_ms),
        outbox::enqueue(&tx, &envelope, meta.request_id.as_deref()),
    );
    if !first? {
        // A concurrent delivery of the same event recorded this answer already.
        worker
            .metrics
            .charges
            .with_label_values(&["duplicate"])
            .inc();
        return Ok("duplicate");
    }
    closed?;
    enqueued?;
    tx.commit().await?;
    worker.relay.wake();
    worker.metrics.charges.with_label_values(&[label]).inc();
    Ok("applied")
}
