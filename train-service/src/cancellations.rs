//! Trips the railway cancelled, from booking-service's `trip.cancelled`: the trip is marked
//! (`trips.cancelled_at`) and its route's cached searches are invalidated, so search stops
//! listing it. Each event is applied once ([`first_delivery`] in the same transaction); a
//! trip cancelled again, or unknown here, changes nothing.

use crate::catalogue::trips;
use crate::search_cache::SearchCache;
use servicekit::amqp::Envelope;
use servicekit::consumer::{HandleError, Handler, Meta, Subscription, decode, first_delivery};
use servicekit::db::PgPool;
use servicekit::events::{self, TripCancelled};

/// Name under which applied events are recorded in `processed_events`.
pub const CONSUMER: &str = "train.trip-cancellations";
/// Queue name before the broker's prefix.
pub const QUEUE: &str = "train.trip-events";

/// What this consumer reads.
pub const SUBSCRIPTION: Subscription = Subscription::new(QUEUE, &[events::TRIP_CANCELLED]);

/// The consumer of trip cancellations.
#[derive(Clone)]
pub struct Cancellations {
    pub db: PgPool,
    pub cache: SearchCache,
}

impl Handler for Cancellations {
    fn subscription(&self) -> Subscription {
        SUBSCRIPTION
    }

    #[tracing::instrument(skip_all, fields(event_id = %event.event_id))]
    async fn handle(&self, event: Envelope, _meta: Meta) -> Result<&'static str, HandleError> {
        let cancelled: TripCancelled = decode(&event)?;
        let mut client = self.db.get().await?;
        let tx = client.transaction().await?;
        if !first_delivery(&tx, CONSUMER, event.event_id).await? {
            return Ok("duplicate");
        }
        let route = trips::cancel(&tx, cancelled.trip_id, cancelled.cancelled_at).await?;
        tx.commit().await?;
        let Some(route) = route else {
            return Ok("unchanged");
        };
        if let Err(error) = self.cache.invalidate(&route).await {
            tracing::warn!(%error, "could not invalidate the search cache; it expires by TTL");
        }
        tracing::info!(trip = cancelled.trip_id, "trip cancelled: no longer listed");
        Ok("cancelled")
    }
}
