//! Availability from booking events: `booking.confirmed` counts a booking's seats as sold
//! in its trip's classes, `booking.cancelled` and `booking.expired` uncount them. Holds never
//! count.
//!
//! Each event is applied once ([`first_delivery`] in the same transaction as the counters),
//! and each booking is counted at most once and uncounted at most once (`counted_bookings`),
//! even when a release overtakes its confirmation. After commit the route's cached searches
//! are invalidated, so the next search shows the change.

use crate::catalogue::trips;
use crate::domain::SeatClass;
use crate::metrics::TrainMetrics;
use crate::search_cache::SearchCache;
use servicekit::amqp::Envelope;
use servicekit::consumer::{
    HandleError, Handler, Meta, Outcomes, Subscription, decode, first_delivery,
};
use servicekit::db::{PgPool, Prepared};
use servicekit::events::{self, BookedSeat, BookingConfirmed, BookingReleased};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Name under which applied events are recorded in `processed_events`.
pub const CONSUMER: &str = "train.availability";
/// Queue name before the broker's prefix.
pub const QUEUE: &str = "train.booking-events";

/// What this consumer reads: its queue, bindings and limits.
pub const SUBSCRIPTION: Subscription = Subscription::new(
    QUEUE,
    &[
        events::BOOKING_CONFIRMED,
        events::BOOKING_CANCELLED,
        events::BOOKING_EXPIRED,
    ],
);

/// The consumer of booking events.
#[derive(Clone)]
pub struct Availability {
    pub db: PgPool,
    pub cache: SearchCache,
    pub metrics: TrainMetrics,
}

impl Handler for Availability {
    fn subscription(&self) -> Subscription {
        SUBSCRIPTION
    }

    fn outcomes(&self) -> Option<Outcomes> {
        Some(Outcomes::new(self.metrics.availability_events.clone()))
    }

    #[tracing::instrument(skip_all, fields(event_id = %event.event_id, kind = %event.kind))]
    async fn handle(&self, event: Envelope, _meta: Meta) -> Result<&'static str, HandleError> {
        self.apply(&event).await
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Sold,
    Released,
}

struct Parsed {
    booking_id: Uuid,
    trip_id: i64,
    change: Change,
    per_class: BTreeMap<SeatClass, i32>,
}

fn parse(event: &Envelope) -> Result<Option<Parsed>, HandleError> {
    let (booking_id, trip_id, seats, change) = match event.kind.as_str() {
        events::BOOKING_CONFIRMED => {
            let p: BookingConfirmed = decode(event)?;
            (p.booking_id, p.trip_id, p.seats, Change::Sold)
        }
        events::BOOKING_CANCELLED | events::BOOKING_EXPIRED => {
            let p: BookingReleased = decode(event)?;
            (p.booking_id, p.trip_id, p.seats, Change::Released)
        }
        _ => return Ok(None),
    };
    Ok(Some(Parsed {
        booking_id,
        trip_id,
        change,
        per_class: count(&seats)?,
    }))
}

fn count(seats: &[BookedSeat]) -> Result<BTreeMap<SeatClass, i32>, HandleError> {
    if seats.is_empty() {
        return Err(HandleError::reject(anyhow::anyhow!(
            "a booking without seats"
        )));
    }
    let mut per_class = BTreeMap::new();
    for seat in seats {
        let class = SeatClass::parse(&seat.class).ok_or_else(|| {
            HandleError::reject(anyhow::anyhow!("unknown class {:?}", seat.class))
        })?;
        *per_class.entry(class).or_insert(0) += 1;
    }
    Ok(per_class)
}

impl Availability {
    async fn apply(&self, event: &Envelope) -> Result<&'static str, HandleError> {
        let Some(parsed) = parse(event)? else {
            return Ok("ignored");
        };
        let mut client = self.db.get().await?;
        let tx = client.transaction().await?;
        // One flight: the delivery's record, the booking's count and the trip's route; then
        // the trip's classes, whose row lock is held only from there to the commit.
        let count = async {
            Ok::<_, tokio_postgres::Error>(match parsed.change {
                Change::Sold => {
                    tx.execute_prepared(
                        "INSERT INTO counted_bookings (booking_id, trip_id, released) \
                         VALUES ($1, $2, false) ON CONFLICT DO NOTHING",
                        &[&parsed.booking_id, &parsed.trip_id],
                    )
                    .await?
                        == 1
                }
                Change::Released => tx
                    .query_opt_prepared(
                        "INSERT INTO counted_bookings (booking_id, trip_id, released) \
                         VALUES ($1, $2, true) ON CONFLICT (booking_id) DO UPDATE \
                         SET released = true, updated_at = now() WHERE NOT counted_bookings.released \
                         RETURNING xmax <> 0",
                        &[&parsed.booking_id, &parsed.trip_id],
                    )
                    .await?
                    .is_some_and(|row| row.get::<_, bool>(0)),
            })
        };
        let (first, counts, route) = tokio::join!(
            biased;
            first_delivery(&tx, CONSUMER, event.event_id),
            count,
            trips::route_of(&tx, parsed.trip_id),
        );
        if !first? {
            return Ok("duplicate");
        }
        let counts = counts?;
        let route = if counts {
            let sign = if parsed.change == Change::Sold { 1 } else { -1 };
            let classes: Vec<&str> = parsed.per_class.keys().map(|c| c.as_str()).collect();
            let deltas: Vec<i32> = parsed.per_class.values().map(|n| n * sign).collect();
            let updated = tx
                .execute_prepared(
                    "UPDATE trip_classes tc SET seats_sold = tc.seats_sold + d.n \
                     FROM unnest($2::text[], $3::int[]) AS d(class, n) \
                     WHERE tc.trip_id = $1 AND tc.class = d.class",
                    &[&parsed.trip_id, &classes, &deltas],
                )
                .await?;
            if updated != classes.len() as u64 {
                return Err(HandleError::reject(anyhow::anyhow!(
                    "trip {} has no classes {classes:?}",
                    parsed.trip_id
                )));
            }
            route?
        } else {
            None
        };
        tx.commit().await?;
        if let Some(route) = route
            && let Err(error) = self.cache.invalidate(&route).await
        {
            tracing::warn!(%error, "could not invalidate the search cache; it expires by TTL");
        }
        tracing::debug!(booking = %parsed.booking_id, trip = parsed.trip_id, counts, "booking event applied");
        Ok(if counts { "applied" } else { "duplicate" })
    }
}
