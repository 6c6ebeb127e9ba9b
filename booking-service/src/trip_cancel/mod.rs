//! Cancelling a trip (the railway's side of `docs/api.md`; `docs/architecture.md`,
//! "Cancelling a trip"). An admin's call writes a row of `trip_cancellations`
//! ([`store::request`]); from then on:
//!
//! - **nothing more is sold**: select answers 409 `trip_cancelled` from the in-memory set
//!   kept here (no store round trip on the hot path), and confirm asks the database in its
//!   own transaction (`crate::store::ConfirmGuard`) under a per-trip lock the cancellation
//!   takes exclusively, so a hold taken before this replica's set knew is never confirmed;
//! - **every live booking is cancelled** by [`job`], in batches, each exactly like the
//!   passenger's own cancel (`crate::cancel`, with the railway's reason): its seats freed,
//!   `booking.cancelled` in the outbox (payment-service refunds a paid one once,
//!   notification-service tells the passenger), and the holds of the trip are freed;
//! - the row counts the progress, which `GET …/cancellation` shows.

pub mod job;
pub mod store;

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What select, the admin routes and the job share.
pub struct TripCancellations {
    /// Cancelled trips not long departed, as last read by the job (plus those cancelled
    /// through this replica since).
    trips: RwLock<Arc<HashSet<i64>>>,
    /// How often the job reads the set again and works off cancellations.
    pub every: Duration,
    pub metrics: TripCancelMetrics,
}

impl TripCancellations {
    pub fn new(every: Duration, metrics: TripCancelMetrics) -> Self {
        Self {
            trips: RwLock::default(),
            every,
            metrics,
        }
    }

    /// Whether `trip` is cancelled, as far as this replica knows (no store round trip).
    pub fn is_cancelled(&self, trip: i64) -> bool {
        self.trips
            .read()
            .map(|t| t.contains(&trip))
            .unwrap_or(false)
    }

    /// This replica stops selling `trip` at once (others within one [`Self::every`]).
    pub fn mark(&self, trip: i64) {
        if let Ok(mut trips) = self.trips.write() {
            let mut next = HashSet::clone(&trips);
            next.insert(trip);
            *trips = Arc::new(next);
        }
    }

    fn replace(&self, set: HashSet<i64>) {
        if let Ok(mut trips) = self.trips.write() {
            *trips = Arc::new(set);
        }
    }

    /// How long after a cancellation every replica's set surely knows it: a select on
    /// another replica can take a hold until then, so the job frees holds that long.
    pub fn settle(&self) -> Duration {
        self.every * 3
    }
}

pub struct TripCancelMetrics {
    /// Trips the railway cancelled (first requests only).
    pub trips: IntCounter,
    /// Bookings cancelled because their trip was, by the status they had.
    pub bookings: IntCounterVec,
}

impl TripCancelMetrics {
    pub fn register(registry: &Registry) -> anyhow::Result<Self> {
        let trips = IntCounter::new(
            "booking_trips_cancelled_total",
            "Trips the railway cancelled (first requests only)",
        )?;
        let bookings = IntCounterVec::new(
            Opts::new(
                "booking_trip_cancellation_bookings_total",
                "Bookings cancelled because the railway cancelled their trip, by the status \
                 they had (paid ones are refunded)",
            ),
            &["was"],
        )?;
        for was in ["confirmed", "paid"] {
            bookings.with_label_values(&[was]);
        }
        registry.register(Box::new(trips.clone()))?;
        registry.register(Box::new(bookings.clone()))?;
        Ok(Self { trips, bookings })
    }
}
