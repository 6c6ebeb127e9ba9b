//! Charges in batches: the rush's common case, the first `booking.confirmed` of bookings
//! that have no payment yet, handled as a batch. Transaction A creates every payment with its
//! first attempt open (one statement), the gateway is called for each at once (each under its
//! event's id as the idempotency key), and transaction B records every answer, the processed
//! events and the outcome events. The guarantees are those of one event (`super`): a crash
//! or an unavailable gateway between A and B leaves the attempt open, and the redelivery
//! resumes it with the same key through the single-event path.
//!
//! Anything else (a retry request, a booking twice in the batch, a duplicate delivery, a
//! booking whose payment exists) rolls transaction A back and goes one event at a time.

use super::{CONSUMER, Due, charge, outcome_event};
use crate::store::{self, ChargeResult, FirstCharge, PENDING, Payment};
use crate::worker::Worker;
use futures_util::future::join_all;
use servicekit::amqp::Envelope;
use servicekit::consumer::{HandleError, Meta, decode, first_deliveries};
use servicekit::events::{self, BookingConfirmed};
use servicekit::outbox;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// Charges `events`: as one batch when they are all first charges of distinct bookings,
/// otherwise each on its own (all at once, as separate deliveries would be). One result per
/// event, in order.
pub(crate) async fn charge_all(
    worker: &Worker,
    events: &[(Envelope, Meta)],
) -> Vec<Result<&'static str, HandleError>> {
    if let Some(confirmed) = first_charges(events) {
        match open(worker, events, &confirmed).await {
            Ok(Some(due)) => return charge_opened(worker, events, due).await,
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(%error, "charges not opened as one; charging each");
            }
        }
    }
    join_all(
        events
            .iter()
            .map(|(event, meta)| charge(worker, event, meta)),
    )
    .await
}

/// The bookings of `events` when the batch can go as one: more than one event, every one a
/// `booking.confirmed` that parses, no booking or event twice.
fn first_charges(events: &[(Envelope, Meta)]) -> Option<Vec<BookingConfirmed>> {
    if events.len() < 2 {
        return None;
    }
    let mut confirmed = Vec::with_capacity(events.len());
    for (event, _) in events {
        if event.kind != events::BOOKING_CONFIRMED {
            return None;
        }
        confirmed.push(decode::<BookingConfirmed>(event).ok()?);
    }
    let bookings: HashSet<Uuid> = confirmed.iter().map(|b| b.booking_id).collect();
    let ids: HashSet<Uuid> = events.iter().map(|(e, _)| e.event_id).collect();
    (bookings.len() == events.len() && ids.len() == events.len()).then_some(confirmed)
}

/// Transaction A for the batch: every payment created with its first attempt open, or
/// `None` (rolled back) when any event was applied or any booking has a payment already.
async fn open(
    worker: &Worker,
    events: &[(Envelope, Meta)],
    confirmed: &[BookingConfirmed],
) -> Result<Option<Vec<Due>>, HandleError> {
    let charges: Vec<FirstCharge> = events
        .iter()
        .zip(confirmed)
        .map(|((event, _), booking)| FirstCharge {
            payment_id: Uuid::now_v7(),
            booking,
            key: event.event_id.to_string(),
        })
        .collect();
    let event_ids: Vec<Uuid> = events.iter().map(|(e, _)| e.event_id).collect();
    let mut client = worker.client().await?;
    let tx = client.transaction().await?;
    if !store::open_first_attempts(&tx, (CONSUMER, &event_ids), &charges).await? {
        return Ok(None);
    }
    tx.commit().await?;
    let now = chrono::Utc::now();
    Ok(Some(
        charges
            .into_iter()
            .map(|c| Due {
                payment: Payment {
                    payment_id: c.payment_id,
                    booking_id: c.booking.booking_id,
                    user_id: c.booking.user_id,
                    status: PENDING.to_owned(),
                    amount: c.booking.amount,
                    currency: c.booking.currency.clone(),
                    attempts: 1,
                    failure: None,
                    token: c.booking.payment_token.clone(),
                    charge_id: None,
                    refund_key: None,
                    payment_due_at: c.booking.payment_due_at,
                    closed_at: None,
                    updated_at: now,
                },
                attempt: 1,
            })
            .collect(),
    ))
}

/// After transaction A: the gateway called for each opened attempt at once, then transaction
/// B for every answer. An unavailable gateway retries its event (its attempt stays open).
async fn charge_opened(
    worker: &Worker,
    events: &[(Envelope, Meta)],
    due: Vec<Due>,
) -> Vec<Result<&'static str, HandleError>> {
    let calls = events
        .iter()
        .zip(&due)
        .map(|((event, _), due)| super::call_gateway(worker, event, due));
    let answers = join_all(calls).await;
    let answered: Vec<(usize, ChargeResult, Duration)> = answers
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.as_ref().ok().map(|(r, e)| (i, r.clone(), *e)))
        .collect();
    let mut results: Vec<Result<&'static str, HandleError>> =
        answers.into_iter().map(|a| a.map(|_| "applied")).collect();
    if answered.is_empty() {
        return results;
    }
    if let Err(error) = finish_all(worker, events, &due, &answered).await {
        tracing::debug!(%error, "answers not recorded as one; recording each");
        let each = answered.iter().map(|(i, result, elapsed)| {
            let (event, meta) = &events[*i];
            super::finish(worker, event, meta, &due[*i], result, *elapsed)
        });
        for ((i, _, _), recorded) in answered.iter().zip(join_all(each).await) {
            results[*i] = recorded;
        }
    }
    results
}

/// Transaction B for the answered charges (`answered` indexes `events` and `due`): the
/// processed events, every attempt and payment answered, every outcome event. Fails (rolled
/// back) when any of the events was applied meanwhile.
async fn finish_all(
    worker: &Worker,
    events: &[(Envelope, Meta)],
    due: &[Due],
    answered: &[(usize, ChargeResult, Duration)],
) -> Result<(), HandleError> {
    let mut outgoing = Vec::with_capacity(answered.len());
    let mut labels = Vec::with_capacity(answered.len());
    for (i, result, _) in answered {
        let (envelope, label) = outcome_event(&due[*i], result)?;
        outgoing.push((envelope, events[*i].1.request_id.as_deref()));
        labels.push(label);
    }
    let event_ids: Vec<Uuid> = answered
        .iter()
        .map(|(i, _, _)| events[*i].0.event_id)
        .collect();
    let closed: Vec<(Uuid, i32, &ChargeResult, i32)> = answered
        .iter()
        .map(|(i, result, elapsed)| {
            let ms = i32::try_from(elapsed.as_millis()).unwrap_or(i32::MAX);
            (due[*i].payment.payment_id, due[*i].attempt, result, ms)
        })
        .collect();
    let mut client = worker.client().await?;
    let tx = client.transaction().await?;
    let (first, closed, enqueued) = tokio::join!(
        biased;
        first_deliveries(&tx, CONSUMER, &event_ids),
        store::close_attempts(&tx, &closed),
        outbox::enqueue_all(&tx, &outgoing),
    );
    if first? != answered.len() {
        return Err(HandleError::retry(anyhow::anyhow!(
            "an event of the batch was applied meanwhile"
        )));
    }
    closed?;
    enqueued?;
    tx.commit().await?;
    worker.relay.wake();
    for label in labels {
        worker.metrics.charges.with_label_values(&[label]).inc();
    }
    tracing::info!(charges = answered.len(), "charges answered as one");
    Ok(())
}
