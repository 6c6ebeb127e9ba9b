//! The sweeper: confirmed bookings whose payment is past due become `expired`, their seats
//! free in PostgreSQL (same transaction, with `booking.expired` in the outbox) and then in
//! Redis and on live seat maps. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so any
//! number of replicas sweep side by side without expiring a booking twice, and a payment
//! being applied to a booking at the same moment (which locks its row) wins or loses
//! cleanly: the loser sees the new status.

use crate::lifecycle;
use crate::state::BookingState;
use anyhow::Context;
use servicekit::amqp::Envelope;
use servicekit::events::{self, BookedSeat, BookingReleased};
use servicekit::outbox;
use servicekit::service;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Bookings expired per transaction.
const BATCH: i64 = 200;

/// Sweeps every `booking.sweep_interval_ms` until `stop`; a batch in progress finishes, a
/// full batch is followed by the next at once.
pub async fn run(state: Arc<BookingState>, stop: CancellationToken) {
    let every = Duration::from_millis(state.settings.sweep_interval_ms);
    service::every(every, stop, || async {
        match sweep(&state).await {
            Ok(n) => n as i64 == BATCH,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "sweep failed; retrying next round"
                );
                false
            }
        }
    })
    .await;
}

struct Expired {
    id: Uuid,
    user_id: Uuid,
    trip_id: i64,
    amount: i64,
    currency: String,
    seats: Vec<BookedSeat>,
}

/// Expires one batch of overdue bookings; returns how many.
pub async fn sweep(state: &BookingState) -> anyhow::Result<usize> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "UPDATE bookings b SET status = 'expired', updated_at = now() \
             FROM (SELECT id FROM bookings WHERE status = 'confirmed' AND payment_due_at <= now() \
                   ORDER BY payment_due_at LIMIT $1 FOR UPDATE SKIP LOCKED) due \
             WHERE b.id = due.id AND b.status = 'confirmed' \
             RETURNING b.id, b.user_id, b.trip_id, b.amount, b.currency",
            &[&BATCH],
        )
        .await
        .context("expiring overdue bookings")?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    let seat_rows = tx
        .query(
            "UPDATE booking_seats SET live = false WHERE booking_id = ANY($1) \
             RETURNING booking_id, seat_id, label, coach, class, fare",
            &[&ids],
        )
        .await
        .context("freeing the seats of expired bookings")?;
    let mut seats: HashMap<Uuid, Vec<BookedSeat>> = HashMap::new();
    for r in &seat_rows {
        seats.entry(r.get(0)).or_default().push(BookedSeat {
            seat_id: r.get(1),
            label: r.get(2),
            coach: r.get(3),
            class: r.get(4),
            fare: r.get(5),
        });
    }
    let mut expired = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: Uuid = r.get(0);
        let mut booking_seats = seats.remove(&id).unwrap_or_default();
        booking_seats.sort_by_key(|s| s.seat_id);
        expired.push(Expired {
            id,
            user_id: r.get(1),
            trip_id: r.get(2),
            amount: r.get(3),
            currency: r.get(4),
            seats: booking_seats,
        });
    }
    for b in &expired {
        let event = Envelope::new(
            events::BOOKING_EXPIRED,
            &BookingReleased {
                booking_id: b.id,
                user_id: b.user_id,
                trip_id: b.trip_id,
                seats: b.seats.clone(),
                amount: b.amount,
                currency: b.currency.clone(),
                was_paid: false,
                trip: lifecycle::trip_summary(state, b.trip_id).await,
                reason: None,
            },
        )
        .context("encoding booking.expired")?;
        outbox::enqueue(&tx, &event, None)
            .await
            .context("queueing booking.expired")?;
    }
    tx.commit().await?;
    state.relay.wake();
    state.metrics.expired.inc_by(expired.len() as u64);
    for b in &expired {
        let seat_ids: Vec<i32> = b.seats.iter().map(|s| s.seat_id).collect();
        lifecycle::free_seats(state, b.id, b.user_id, b.trip_id, &seat_ids).await;
        tracing::info!(booking = %b.id, trip = b.trip_id, "booking expired unpaid");
    }
    Ok(expired.len())
}
