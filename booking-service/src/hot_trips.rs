//! The `booking_seats_left{trip}` gauge: seats not booked on the trips with the most
//! bookings in the last hour (a bounded set, so the series stay few), recomputed every few
//! seconds from PostgreSQL and the cached inventory.

use crate::state::BookingState;
use servicekit::service;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the gauge is recomputed.
const REFRESH: Duration = Duration::from_secs(5);

/// Trips shown at once.
const TRIPS: i64 = 20;

/// Refreshes the gauge every [`REFRESH`] until `stop`.
pub async fn run(state: Arc<BookingState>, stop: CancellationToken) {
    service::every(REFRESH, stop, || async {
        if let Err(error) = refresh(&state).await {
            tracing::debug!(%error, "seats-left gauge not refreshed");
        }
        false
    })
    .await;
}

async fn refresh(state: &BookingState) -> anyhow::Result<()> {
    let db = state.db.get().await?;
    let rows = db
        .query(
            "WITH hot AS (
                 SELECT trip_id FROM bookings
                 WHERE created_at > now() - interval '1 hour'
                 GROUP BY trip_id ORDER BY count(*) DESC LIMIT $1
             )
             SELECT hot.trip_id, count(s.seat_id)
             FROM hot LEFT JOIN booking_seats s ON s.trip_id = hot.trip_id AND s.live
             GROUP BY hot.trip_id",
            &[&TRIPS],
        )
        .await?;
    drop(db);
    let mut values = Vec::with_capacity(rows.len());
    for row in rows {
        let trip_id: i64 = row.get(0);
        let booked: i64 = row.get(1);
        // A trip train-service cannot describe right now is left out of this round.
        if let Ok(trip) = state.inventory.trip(trip_id).await {
            let capacity = i64::try_from(trip.seats.len()).unwrap_or(i64::MAX);
            values.push((trip_id.to_string(), (capacity - booked).max(0)));
        }
    }
    let gauge = &state.metrics.seats_left;
    gauge.reset();
    for (trip, left) in values {
        gauge.with_label_values(&[trip.as_str()]).set(left);
    }
    Ok(())
}
