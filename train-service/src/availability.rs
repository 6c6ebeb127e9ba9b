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
use servicekit::amqp::{Broker, Envelope};
use servicekit::consumer::{self, ConsumerHandle, HandleError, Handler, QueueSpec, first_delivery};
use servicekit::db::PgPool;
use servicekit::events::{self, BookedSeat, BookingConfirmed, BookingReleased};
use servicekit::metrics::Metrics;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// Name under which applied events are recorded in `processed_events`.
pub const CONSUMER: &str = "train.availability";
/// Queue name before the broker's prefix.
pub const QUEUE: &str = "train.booking-events";

#[derive(Clone)]
pub struct Availability {
    pub db: PgPool,
    pub cache: SearchCache,
    pub metrics: TrainMetrics,
}

/// The queue this service consumes, with its bindings.
pub fn queue_spec(broker: &Broker) -> QueueSpec {
    QueueSpec::new(
        broker.queue_name(QUEUE),
        &[
            events::BOOKING_CONFIRMED,
            events::BOOKING_CANCELLED,
            events::BOOKING_EXPIRED,
        ],
    )
}

pub fn spawn(broker: Broker, availability: Availability, metrics: &Metrics) -> ConsumerHandle {
    let spec = queue_spec(&broker).observed_by(metrics);
    let availability = Arc::new(availability);
    let handler: Handler = Arc::new(move |event, _meta| {
        let availability = availability.clone();
        Box::pin(async move { availability.handle(event).await })
    });
    consumer::spawn(broker, spec, handler)
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

fn reject(message: String) -> HandleError {
    HandleError::Reject(anyhow::anyhow!(message))
}

fn parse(event: &Envelope) -> Result<Option<Parsed>, HandleError> {
    let payload = event.payload.clone();
    let (booking_id, trip_id, seats, change) = match event.kind.as_str() {
        events::BOOKING_CONFIRMED => {
            let p: BookingConfirmed = serde_json::from_value(payload)
                .map_err(|e| reject(format!("malformed {}: {e}", event.kind)))?;
            (p.booking_id, p.trip_id, p.seats, Change::Sold)
        }
        events::BOOKING_CANCELLED | events::BOOKING_EXPIRED => {
            let p: BookingReleased = serde_json::from_value(payload)
                .map_err(|e| reject(format!("malformed {}: {e}", event.kind)))?;
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
        return Err(reject("a booking without seats".into()));
    }
    let mut per_class = BTreeMap::new();
    for seat in seats {
        let class = SeatClass::parse(&seat.class)
            .ok_or_else(|| reject(format!("unknown class {:?}", seat.class)))?;
        *per_class.entry(class).or_insert(0) += 1;
    }
    Ok(per_class)
}

fn db_error(e: tokio_postgres::Error) -> HandleError {
    if e.code() == Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION) {
        HandleError::Reject(e.into())
    } else {
        HandleError::Retry(e.into())
    }
}

impl Availability {
    #[tracing::instrument(skip_all, fields(event_id = %event.event_id, kind = %event.kind))]
    async fn handle(&self, event: Envelope) -> Result<(), HandleError> {
        let outcome = self.apply(&event).await;
        let label = match &outcome {
            Ok(label) => label,
            Err(HandleError::Reject(_)) => "rejected",
            Err(HandleError::Retry(_)) => "retried",
        };
        self.metrics
            .availability_events
            .with_label_values(&[label])
            .inc();
        outcome.map(|_| ())
    }

    async fn apply(&self, event: &Envelope) -> Result<&'static str, HandleError> {
        let Some(parsed) = parse(event)? else {
            return Ok("ignored");
        };
        let mut client = self
            .db
            .get()
            .await
            .map_err(|e| HandleError::Retry(e.into()))?;
        let tx = client.transaction().await.map_err(db_error)?;
        if !first_delivery(&tx, CONSUMER, event.event_id)
            .await
            .map_err(db_error)?
        {
            return Ok("duplicate");
        }
        let counts = match parsed.change {
            Change::Sold => {
                tx.execute(
                    "INSERT INTO counted_bookings (booking_id, trip_id, released) \
                     VALUES ($1, $2, false) ON CONFLICT DO NOTHING",
                    &[&parsed.booking_id, &parsed.trip_id],
                )
                .await
                .map_err(db_error)?
                    == 1
            }
            Change::Released => tx
                .query_opt(
                    "INSERT INTO counted_bookings (booking_id, trip_id, released) \
                     VALUES ($1, $2, true) ON CONFLICT (booking_id) DO UPDATE \
                     SET released = true, updated_at = now() WHERE NOT counted_bookings.released \
                     RETURNING xmax <> 0",
                    &[&parsed.booking_id, &parsed.trip_id],
                )
                .await
                .map_err(db_error)?
                .is_some_and(|row| row.get::<_, bool>(0)),
        };
        let route = if counts {
            let sign = if parsed.change == Change::Sold { 1 } else { -1 };
            let classes: Vec<&str> = parsed.per_class.keys().map(|c| c.as_str()).collect();
            let deltas: Vec<i32> = parsed.per_class.values().map(|n| n * sign).collect();
            let updated = tx
                .execute(
                    "UPDATE trip_classes tc SET seats_sold = tc.seats_sold + d.n \
                     FROM unnest($2::text[], $3::int[]) AS d(class, n) \
                     WHERE tc.trip_id = $1 AND tc.class = d.class",
                    &[&parsed.trip_id, &classes, &deltas],
                )
                .await
                .map_err(db_error)?;
            if updated != classes.len() as u64 {
                return Err(reject(format!(
                    "trip {} has no classes {classes:?}",
                    parsed.trip_id
                )));
            }
            trips::route_of(&tx, parsed.trip_id)
                .await
                .map_err(|e| HandleError::Retry(e.into()))?
        } else {
            None
        };
        tx.commit().await.map_err(db_error)?;
        if let Some(route) = route
            && let Err(error) = self.cache.invalidate(&route).await
        {
            tracing::warn!(%error, "could not invalidate the search cache; it expires by TTL");
        }
        tracing::debug!(booking = %parsed.booking_id, trip = parsed.trip_id, counts, "booking event applied");
        Ok(if counts { "applied" } else { "duplicate" })
    }
}
