//! Transaction A of the charge worker (`crate::charges`) reads everything it decides on in
//! one flight: pipelined statements, sent together and run in order.

use super::{Attempt, LOCK_BY_BOOKING, PROCESSED, Payment, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use servicekit::db::Prepared;
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

/// A booking's first payment, to be created with its first attempt open (see
/// [`open_first_attempts`]).
pub struct FirstCharge<'a> {
    pub payment_id: Uuid,
    pub booking: &'a BookingConfirmed,
    /// The attempt's idempotency key (the event's id).
    pub key: String,
}

/// For the first `booking.confirmed` of bookings that have no payment yet: in one flight,
/// whether `consumer` applied any of `event_ids`, and each booking's pending payment created
/// with its first attempt open (one statement). `false` when any event was applied or any
/// booking had a payment already; the caller then rolls back.
pub async fn open_first_attempts(
    tx: &impl GenericClient,
    (consumer, event_ids): (&str, &[Uuid]),
    charges: &[FirstCharge<'_>],
) -> Result<bool> {
    let payment_ids: Vec<Uuid> = charges.iter().map(|c| c.payment_id).collect();
    let bookings: Vec<Uuid> = charges.iter().map(|c| c.booking.booking_id).collect();
    let users: Vec<Uuid> = charges.iter().map(|c| c.booking.user_id).collect();
    let amounts: Vec<i64> = charges.iter().map(|c| c.booking.amount).collect();
    let currencies: Vec<&str> = charges
        .iter()
        .map(|c| c.booking.currency.as_str())
        .collect();
    let tokens: Vec<&str> = charges
        .iter()
        .map(|c| c.booking.payment_token.as_str())
        .collect();
    let due: Vec<DateTime<Utc>> = charges.iter().map(|c| c.booking.payment_due_at).collect();
    let keys: Vec<&str> = charges.iter().map(|c| c.key.as_str()).collect();
    let processed: [&(dyn ToSql + Sync); 2] = [&consumer, &event_ids];
    let opened: [&(dyn ToSql + Sync); 8] = [
        &payment_ids,
        &bookings,
        &users,
        &amounts,
        &currencies,
        &tokens,
        &due,
        &keys,
    ];
    let (applied, opened) = tokio::try_join!(
        biased;
        tx.query_one_prepared(
            "SELECT count(*) FROM processed_events WHERE consumer = $1 AND event_id = ANY($2)",
            &processed,
        ),
        tx.query_prepared(
            "WITH p AS (INSERT INTO payments (payment_id, booking_id, user_id, amount, currency, \
                 status, token, payment_due_at, attempts) \
               SELECT b.payment_id, b.booking_id, b.user_id, b.amount, b.currency, 'pending', \
                 b.token, b.due, 1 \
               FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[], \
                 $6::text[], $7::timestamptz[]) AS b(payment_id, booking_id, user_id, amount, \
                 currency, token, due) \
               ON CONFLICT (booking_id) DO NOTHING RETURNING payment_id) \
             INSERT INTO payment_attempts (payment_id, attempt, idempotency_key) \
             SELECT p.payment_id, 1, k.key FROM p \
               JOIN unnest($1::uuid[], $8::text[]) AS k(payment_id, key) USING (payment_id) \
             RETURNING payment_id",
            &opened,
        ),
    )?;
    Ok(applied.get::<_, i64>(0) == 0 && opened.len() == charges.len())
}
