//! The trip cancellation job, on every replica: each round it reads the set of cancelled
//! trips again (what select consults), then works off every unfinished cancellation one
//! batch at a time. A batch locks up to [`BATCH`] live bookings of the trip with
//! `FOR UPDATE SKIP LOCKED` (replicas share the work; a booking another transaction holds
//! waits for a later round), cancels each like the passenger's own cancel
//! (`crate::cancel`), counts them into the cancellation and commits; then their seats are
//! freed in Redis and on live seat maps. When no live booking is left, the trip's holds are
//! freed, and once every replica surely knows of the cancellation
//! ([`TripCancellations::settle`], so no select can take a new hold) it is marked finished.

use super::TripCancellations;
use super::store::{self, Pending};
use crate::cancel::{self, Target, Why};
use crate::lifecycle;
use crate::seats;
use crate::state::BookingState;
use servicekit::error::chain;
use servicekit::service;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Bookings cancelled per transaction.
pub const BATCH: i64 = 100;

/// Runs every `state.trip_cancel.every` until `stop`; a full batch is followed by the next
/// at once.
pub async fn run(state: Arc<BookingState>, stop: CancellationToken) {
    let every = state.trip_cancel.every;
    service::every(every, stop, || async {
        match round(&state).await {
            Ok(more) => more,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "trip cancellation round failed; retrying next round"
                );
                false
            }
        }
    })
    .await;
}

/// One round; returns whether a batch was full (more work waits).
pub async fn round(state: &BookingState) -> anyhow::Result<bool> {
    let cancellations: &TripCancellations = &state.trip_cancel;
    let pending = {
        let db = state.db.get().await?;
        cancellations.replace(store::not_departed(&db).await?);
        store::unfinished(&db).await?
    };
    let mut more = false;
    for cancellation in &pending {
        let n = batch(state, cancellation).await?;
        if n as i64 == BATCH {
            more = true;
        } else if n == 0 {
            free_holds(state, cancellation.trip_id).await;
            let age = (chrono::Utc::now() - cancellation.requested_at)
                .to_std()
                .unwrap_or_default();
            if age >= cancellations.settle()
                && store::finish(&state.db.get().await?, cancellation.trip_id).await?
            {
                tracing::info!(
                    trip = cancellation.trip_id,
                    "trip cancellation finished: every booking cancelled"
                );
            }
        }
    }
    Ok(more)
}

/// Cancels one batch of the trip's live bookings; returns how many.
async fn batch(state: &BookingState, cancellation: &Pending) -> anyhow::Result<usize> {
    let trip_id = cancellation.trip_id;
    let trip = lifecycle::trip_summary(state, trip_id).await;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let live = store::live_batch(&tx, trip_id, BATCH).await?;
    if live.is_empty() {
        return Ok(0);
    }
    let mut ended = Vec::with_capacity(live.len());
    let mut paid = 0;
    for booking in &live {
        let target = Target {
            booking_id: booking.id,
            user_id: booking.user_id,
            trip_id,
            amount: booking.amount,
            currency: &booking.currency,
        };
        let why = Why {
            trip: trip.clone(),
            reason: Some(&cancellation.reason),
            request_id: None,
        };
        if let Some(was_paid) = cancel::cancel(&tx, &target, None, why).await? {
            paid += i64::from(was_paid);
            ended.push(booking);
        }
    }
    store::count(&tx, trip_id, ended.len() as i64, paid).await?;
    tx.commit().await?;
    state.relay.wake();
    let by_status = &state.trip_cancel.metrics.bookings;
    by_status.with_label_values(&["paid"]).inc_by(paid as u64);
    by_status
        .with_label_values(&["confirmed"])
        .inc_by((ended.len() as i64 - paid) as u64);
    for booking in &ended {
        lifecycle::free_seats(
            state,
            booking.id,
            booking.user_id,
            trip_id,
            &booking.seat_ids,
        )
        .await;
    }
    tracing::info!(
        trip = trip_id,
        cancelled = ended.len(),
        paid,
        "cancelled a batch of a cancelled trip's bookings"
    );
    Ok(ended.len())
}

/// Frees every hold on the trip's seats (they can no longer be confirmed) and tells live
/// seat maps. Redis or train-service trouble is logged: the next round tries again, and a
/// hold left over lapses by itself.
async fn free_holds(state: &BookingState, trip_id: i64) {
    let trip = match state.inventory.trip(trip_id).await {
        Ok(trip) => trip,
        Err(error) => {
            tracing::warn!(trip = trip_id, error = %chain(&error), "holds of a cancelled trip not freed: no inventory");
            return;
        }
    };
    let ids: Vec<i32> = trip.seats.iter().map(|s| s.seat_id).collect();
    let values = match state.seats.values(trip_id, &ids).await {
        Ok(values) => values,
        Err(error) => {
            tracing::warn!(trip = trip_id, error = %chain(&error), "holds of a cancelled trip not freed");
            return;
        }
    };
    for (value, seat_ids) in holds(&ids, values) {
        let Some(user) = holder(&value) else { continue };
        // The hold's expiry entry stays: its sweep finds the seats no longer held by it and
        // lets it go (`crate::expiries`).
        match state
            .seats
            .release(trip_id, &seat_ids, user, &value, None)
            .await
        {
            Ok(0) => {}
            Ok(_) => state.live.publish(trip_id, &seat_ids, "available"),
            Err(error) => {
                tracing::warn!(trip = trip_id, error = %chain(&error), "a hold of a cancelled trip not freed");
            }
        }
    }
}

/// The seats of each hold among `values` (the seat keys' values of `ids`), by hold value.
fn holds(ids: &[i32], values: Vec<Option<String>>) -> HashMap<String, Vec<i32>> {
    let mut holds: HashMap<String, Vec<i32>> = HashMap::new();
    for (id, value) in ids.iter().zip(values) {
        if let Some(value) = value.filter(|v| seats::status_of(Some(v)) == "held") {
            holds.entry(value).or_default().push(*id);
        }
    }
    holds
}

/// The user of a hold value (`seats::hold_value`: `h:<hold>:<user>`).
fn holder(value: &str) -> Option<Uuid> {
    value
        .rsplit(':')
        .next()
        .and_then(|u| Uuid::parse_str(u).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_are_grouped_by_their_value_and_name_their_holder() {
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let a = seats::hold_value(Uuid::new_v4(), alice);
        let b = seats::hold_value(Uuid::new_v4(), bob);
        let booked = seats::booked_value(Uuid::new_v4(), bob);
        let values = vec![
            Some(a.clone()),
            None,
            Some(b.clone()),
            Some(a.clone()),
            Some(booked),
        ];
        let grouped = holds(&[1, 2, 3, 4, 5], values);
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped[&a], vec![1, 4]);
        assert_eq!(grouped[&b], vec![3]);
        assert_eq!(holder(&a), Some(alice));
        assert_eq!(holder(&b), Some(bob));
        assert_eq!(holder("h:garbage"), None);
    }
}
