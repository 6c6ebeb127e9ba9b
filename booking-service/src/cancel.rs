//! Cancelling one booking, in the caller's transaction: the passenger's own cancel
//! (`routes::bookings`) and the railway's cancellation of a whole trip (`trip_cancel`) end a
//! booking the same way. The booking's status transition decides (`store::end` moves only a
//! live booking, under its row lock), so a booking is cancelled, and its `booking.cancelled`
//! written, at most once whoever asks and however often.

use crate::store;
use deadpool_postgres::GenericClient;
use servicekit::amqp::Envelope;
use servicekit::db::DbError;
use servicekit::events::{self, BookingReleased, TripSummary};
use servicekit::outbox;
use uuid::Uuid;

/// The booking to cancel, as its event names it.
pub struct Target<'a> {
    pub booking_id: Uuid,
    pub user_id: Uuid,
    pub trip_id: i64,
    pub amount: i64,
    pub currency: &'a str,
}

/// Why the booking ended, for the event and the passenger's message.
pub struct Why<'a> {
    pub trip: Option<TripSummary>,
    /// The railway's reason when it cancelled the trip; `None` for the passenger's cancel.
    pub reason: Option<&'a str>,
    pub request_id: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum CancelFailure {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("encoding booking.cancelled")]
    Encoding(#[from] serde_json::Error),
}

/// Cancels `target` if it is live (of `owner` only, when given): the status, its seats freed
/// in PostgreSQL and `booking.cancelled` (with `was_paid`, which payment-service refunds) in
/// the outbox, all in `tx`. Returns whether it had been paid, or `None` when it was not live
/// (already ended, or not the owner's). The caller commits, wakes the relay and frees the
/// seats in Redis (`lifecycle::free_seats`).
pub async fn cancel(
    tx: &impl GenericClient,
    target: &Target<'_>,
    owner: Option<Uuid>,
    why: Why<'_>,
) -> Result<Option<bool>, CancelFailure> {
    let by_trip = why.reason.is_some();
    let Some(previous) = store::end(tx, target.booking_id, owner, "cancelled", by_trip).await?
    else {
        return Ok(None);
    };
    let was_paid = previous == "paid";
    let event = Envelope::new(
        events::BOOKING_CANCELLED,
        &BookingReleased {
            booking_id: target.booking_id,
            user_id: target.user_id,
            trip_id: target.trip_id,
            seats: store::seats(tx, target.booking_id).await?,
            amount: target.amount,
            currency: target.currency.to_owned(),
            was_paid,
            trip: why.trip,
            reason: why.reason.map(str::to_owned),
        },
    )?;
    outbox::enqueue(tx, &event, why.request_id)
        .await
        .map_err(DbError::from)?;
    Ok(Some(was_paid))
}
