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
    HandleError, Handler, Meta, Outcomes, Subscription, decode, first_deliveries, first_delivery,
};
use servicekit::db::{PgPool, Prepared};
use servicekit::events::{self, BookedSeat, BookingConfirmed, BookingReleased};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use tokio_postgres::types::ToSql;
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
)
.prefetch(BATCH * 2)
.batched(BATCH);

/// The most events applied in one transaction.
const BATCH: u16 = 64;

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

    #[tracing::instrument(skip_all, fields(events = events.len()))]
    async fn handle_batch(
        &self,
        events: Vec<(Envelope, Meta)>,
    ) -> Vec<Result<&'static str, HandleError>> {
        self.apply_batch(events.into_iter().map(|(event, _)| event).collect())
            .await
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

/// Whether every event and every booking in `batch` is there once: a batch's statements
/// count each booking at most once.
fn distinct(batch: &[(&Envelope, &Parsed)]) -> bool {
    let events: HashSet<Uuid> = batch.iter().map(|(e, _)| e.event_id).collect();
    let bookings: HashSet<Uuid> = batch.iter().map(|(_, p)| p.booking_id).collect();
    events.len() == batch.len() && bookings.len() == batch.len()
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
    /// Applies `events` in one transaction: their deliveries recorded, their bookings counted
    /// or uncounted, and one update of each trip class's counter for all of them. That update
    /// holds the class's row lock once for the batch, not once for each booking: at a trip's
    /// rush every booking counts on the same row. The batch is all or nothing; when it cannot
    /// be applied as one (a duplicate delivery, a booking twice in it, a class that does not
    /// exist, a store error), each event is applied on its own, as one delivery would be.
    async fn apply_batch(&self, events: Vec<Envelope>) -> Vec<Result<&'static str, HandleError>> {
        let parsed: Vec<Result<Option<Parsed>, HandleError>> = events.iter().map(parse).collect();
        let applicable: Vec<(&Envelope, &Parsed)> = events
            .iter()
            .zip(&parsed)
            .filter_map(|(event, p)| match p {
                Ok(Some(p)) => Some((event, p)),
                _ => None,
            })
            .collect();
        let together = if applicable.len() > 1 && distinct(&applicable) {
            match self.apply_together(&applicable).await {
                Ok(labels) => Some(labels),
                Err(error) => {
                    tracing::debug!(%error, events = applicable.len(), "batch not applied as one; applying each event");
                    None
                }
            }
        } else {
            None
        };
        let mut labels = together.map(Vec::into_iter);
        let mut results = Vec::with_capacity(events.len());
        for (event, parsed) in events.iter().zip(parsed) {
            results.push(match parsed {
                Err(e) => Err(e),
                Ok(None) => Ok("ignored"),
                Ok(Some(_)) => match labels.as_mut().and_then(Iterator::next) {
                    Some(label) => Ok(label),
                    None => self.apply(event).await,
                },
            });
        }
        results
    }

    /// Applies `batch` in one transaction when every event is a first delivery and every
    /// class exists; otherwise rolls back and fails. One label per event, in order.
    async fn apply_together(
        &self,
        batch: &[(&Envelope, &Parsed)],
    ) -> Result<Vec<&'static str>, HandleError> {
        let event_ids: Vec<Uuid> = batch.iter().map(|(e, _)| e.event_id).collect();
        let (mut sold, mut sold_trips, mut released, mut released_trips) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (_, p) in batch {
            let (ids, trips) = match p.change {
                Change::Sold => (&mut sold, &mut sold_trips),
                Change::Released => (&mut released, &mut released_trips),
            };
            ids.push(p.booking_id);
            trips.push(p.trip_id);
        }
        let trip_ids: Vec<i64> = batch
            .iter()
            .map(|(_, p)| p.trip_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut client = self.db.get().await?;
        let tx = client.transaction().await?;
        // One flight: the deliveries' records, the bookings counted, the bookings uncounted
        // and the trips' routes.
        let sold: [&(dyn ToSql + Sync); 2] = [&sold, &sold_trips];
        let released: [&(dyn ToSql + Sync); 2] = [&released, &released_trips];
        let (first, counted_sold, counted_released, routes) = tokio::join!(
            biased;
            first_deliveries(&tx, CONSUMER, &event_ids),
            tx.query_prepared(
                "INSERT INTO counted_bookings (booking_id, trip_id, released) \
                 SELECT b, t, false FROM unnest($1::uuid[], $2::bigint[]) AS x(b, t) \
                 ON CONFLICT DO NOTHING RETURNING booking_id",
                &sold,
            ),
            tx.query_prepared(
                "INSERT INTO counted_bookings (booking_id, trip_id, released) \
                 SELECT b, t, true FROM unnest($1::uuid[], $2::bigint[]) AS x(b, t) \
                 ON CONFLICT (booking_id) DO UPDATE SET released = true, updated_at = now() \
                 WHERE NOT counted_bookings.released RETURNING booking_id, xmax <> 0",
                &released,
            ),
            trips::routes_of(&tx, &trip_ids),
        );
        if first? != batch.len() {
            return Err(HandleError::retry(anyhow::anyhow!(
                "a duplicate delivery in the batch"
            )));
        }
        let routes = routes?;
        let mut counted: HashSet<Uuid> = counted_sold?.iter().map(|r| r.get(0)).collect();
        counted.extend(
            counted_released?
                .iter()
                .filter(|r| r.get::<_, bool>(1))
                .map(|r| r.get::<_, Uuid>(0)),
        );
        let mut deltas: BTreeMap<(i64, SeatClass), i32> = BTreeMap::new();
        for (_, p) in batch
            .iter()
            .filter(|(_, p)| counted.contains(&p.booking_id))
        {
            let sign = if p.change == Change::Sold { 1 } else { -1 };
            for (class, n) in &p.per_class {
                *deltas.entry((p.trip_id, *class)).or_insert(0) += n * sign;
            }
        }
        if !deltas.is_empty() {
            let trips: Vec<i64> = deltas.keys().map(|(trip, _)| *trip).collect();
            let classes: Vec<&str> = deltas.keys().map(|(_, class)| class.as_str()).collect();
            let ns: Vec<i32> = deltas.values().copied().collect();
            let updated = tx
                .execute_prepared(
                    "UPDATE trip_classes tc SET seats_sold = tc.seats_sold + d.n \
                     FROM unnest($1::bigint[], $2::text[], $3::int[]) AS d(trip_id, class, n) \
                     WHERE tc.trip_id = d.trip_id AND tc.class = d.class",
                    &[&trips, &classes, &ns],
                )
                .await?;
            if updated != deltas.len() as u64 {
                return Err(HandleError::retry(anyhow::anyhow!(
                    "a class in the batch does not exist"
                )));
            }
        }
        tx.commit().await?;
        let changed: BTreeSet<i64> = deltas.keys().map(|(trip, _)| *trip).collect();
        for route in changed.iter().filter_map(|trip| routes.get(trip)) {
            if let Err(error) = self.cache.invalidate(route).await {
                tracing::warn!(%error, "could not invalidate the search cache; it expires by TTL");
            }
        }
        tracing::debug!(
            events = batch.len(),
            counted = counted.len(),
            "booking events applied as one"
        );
        Ok(batch
            .iter()
            .map(|(_, p)| {
                if counted.contains(&p.booking_id) {
                    "applied"
                } else {
                    "duplicate"
                }
            })
            .collect())
    }

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
