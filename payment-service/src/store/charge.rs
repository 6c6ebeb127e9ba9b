//! Transaction A of the charge worker (`crate::charges`) reads everything it decides on in
//! one flight: pipelined statements, sent together and run in order.

use super::{Attempt, LOCK_BY_BOOKING, PROCESSED, Payment, Result};
use deadpool_postgres::GenericClient;
use servicekit::events::BookingConfirmed;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// What transaction A found for an event, after taking the payment's row lock.
pub struct ChargeState {
    /// The event was applied already.
    pub processed: bool,
    /// The booking's payment, locked until the transaction ends.
    pub payment: Option<Payment>,
    /// The attempt opened under this event's key, if any.
    pub attempt: Option<Attempt>,
    /// Some attempt of the payment has no answer yet.
    pub open_attempt: bool,
}

const INSERT_PENDING: &str = "INSERT INTO payments (payment_id, booking_id, user_id, amount, \
     currency, status, token, payment_due_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) \
     ON CONFLICT (booking_id) DO NOTHING";
const WITH_KEY: &str = "SELECT a.attempt, a.idempotency_key, a.outcome FROM payment_attempts a \
     JOIN payments p ON p.payment_id = a.payment_id \
     WHERE p.booking_id = $1 AND a.idempotency_key = $2";
const OPEN: &str = "SELECT EXISTS (SELECT 1 FROM payment_attempts a \
     JOIN payments p ON p.payment_id = a.payment_id \
     WHERE p.booking_id = $1 AND a.outcome IS NULL)";

/// In one flight, in this order: whether `consumer` applied `event_id`; the pending payment
/// of `confirmed` created unless it exists; the payment of `booking_id` locked; the attempt
/// under `key` and whether any attempt is open (both read after the lock is held).
///
/// The statements are prepared (from the connection's cache) before the flight: one still
/// to be prepared would be sent after its preparation's answer, behind the others.
pub async fn charge_state(
    tx: &impl GenericClient,
    (consumer, event_id): (&str, Uuid),
    confirmed: Option<&BookingConfirmed>,
    booking_id: Uuid,
    key: &str,
) -> Result<ChargeState> {
    let (processed, insert, lock, with_key, open) = tokio::try_join!(
        tx.prepare_cached(PROCESSED),
        tx.prepare_cached(INSERT_PENDING),
        tx.prepare_cached(&LOCK_BY_BOOKING),
        tx.prepare_cached(WITH_KEY),
        tx.prepare_cached(OPEN),
    )?;
    let payment_id = Uuid::now_v7();
    let processed_params: [&(dyn ToSql + Sync); 2] = [&consumer, &event_id];
    let by_booking: [&(dyn ToSql + Sync); 1] = [&booking_id];
    let by_key: [&(dyn ToSql + Sync); 2] = [&booking_id, &key];
    let pending = async {
        match confirmed {
            Some(b) => tx
                .execute(
                    &insert,
                    &[
                        &payment_id,
                        &b.booking_id,
                        &b.user_id,
                        &b.amount,
                        &b.currency,
                        &b.payment_token,
                        &b.payment_due_at,
                    ],
                )
                .await
                .map(|_| ()),
            None => Ok(()),
        }
    };
    let (processed, (), payment, attempt, open) = tokio::try_join!(
        biased;
        tx.query_one(&processed, &processed_params),
        pending,
        tx.query_opt(&lock, &by_booking),
        tx.query_opt(&with_key, &by_key),
        tx.query_one(&open, &by_booking),
    )?;
    Ok(ChargeState {
        processed: processed.get(0),
        payment: payment.as_ref().map(Payment::from_row),
        attempt: attempt.map(|r| Attempt {
            attempt: r.get(0),
            idempotency_key: r.get(1),
            outcome: r.get(2),
        }),
        open_attempt: open.get(0),
    })
}
