//! What the handlers share.

use crate::inventory::Inventory;
use crate::live::LiveFeed;
use crate::seats::SeatStore;
use crate::settings::BookingSettings;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use servicekit::auth::Revocations;
use servicekit::db::PgPool;
use servicekit::metrics::LATENCY_BUCKETS;
use servicekit::outbox::OutboxRelay;

pub struct BookingState {
    pub db: PgPool,
    pub seats: SeatStore,
    pub inventory: Inventory,
    pub relay: OutboxRelay,
    /// Ended sessions: checked on confirm and cancel (never on select, the hot path).
    pub revocations: Revocations,
    pub live: LiveFeed,
    pub settings: BookingSettings,
    pub metrics: BookingMetrics,
    pub queue: std::sync::Arc<crate::queue::WaitingRoom>,
    /// Per-passenger limits of select, confirm, join and place (`settings.user_limits`).
    pub limits: servicekit::limit::PerCaller,
    pub user_limits: crate::settings::UserLimits,
    /// Ticket signing keys and check-in.
    pub tickets: crate::tickets::Tickets,
    /// Trips to reconcile that could not be marked in Redis (`crate::reconcile`).
    pub unreconciled: crate::reconcile::Pending,
    /// Trips the railway cancelled (`crate::trip_cancel`).
    pub trip_cancel: crate::trip_cancel::TripCancellations,
    /// Confirmations written together (`crate::confirms`).
    pub confirms: crate::confirms::Confirms,
}

impl BookingState {
    /// Counts one `kind` request of `caller` against its per-minute limit `n`.
    pub fn limit(
        &self,
        caller: uuid::Uuid,
        kind: &'static str,
        n: u32,
    ) -> Result<(), servicekit::ApiError> {
        self.limits
            .check(caller, kind, self.user_limits.per_minute(n))
    }
}

pub struct BookingMetrics {
    /// Seat selections by outcome: held, taken, limit, invalid, unavailable, not_open,
    /// closed (the railway closed the sales), no_pass, cancelled (the trip was).
    pub selects: IntCounterVec,
    /// Confirmations by outcome: confirmed, conflict (the unique index fired), expired,
    /// cancelled (the trip was).
    pub confirms: IntCounterVec,
    /// Payment outcomes applied: paid, failed, refund_due, duplicate, ...
    pub payments: IntCounterVec,
    /// Bookings the sweeper expired unpaid.
    pub expired: IntCounter,
    /// The Redis round trip that takes (or refuses) a hold.
    pub hold_seconds: Histogram,
    /// Confirmations the unique index refused (the oversell guard firing).
    pub oversell_guard: IntCounter,
    /// Holds that ended without a booking (lapsed, or released by their owner).
    pub holds_expired: IntCounter,
    /// Seats not booked, for the trips with the most recent bookings.
    pub seats_left: IntGaugeVec,
}

const SELECT_OUTCOMES: &[&str] = &[
    "held",
    "taken",
    "limit",
    "invalid",
    "unavailable",
    "not_open",
    "closed",
    "no_pass",
    "cancelled",
];
const CONFIRM_OUTCOMES: &[&str] = &["confirmed", "conflict", "expired", "cancelled"];

impl BookingMetrics {
    pub fn register(registry: &Registry) -> anyhow::Result<Self> {
        let selects = IntCounterVec::new(
            Opts::new("booking_selects_total", "Seat selections by outcome"),
            &["outcome"],
        )?;
        let confirms = IntCounterVec::new(
            Opts::new("booking_confirms_total", "Confirmations by outcome"),
            &["outcome"],
        )?;
        let payments = IntCounterVec::new(
            Opts::new(
                "booking_payment_outcomes_total",
                "Payment outcomes applied to bookings, by result",
            ),
            &["outcome"],
        )?;
        let expired = IntCounter::new(
            "booking_expired_total",
            "Bookings expired unpaid by the sweeper",
        )?;
        let hold_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "booking_hold_seconds",
                "The Redis round trip of a seat selection (hold taken or refused)",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let oversell_guard = IntCounter::new(
            "booking_oversell_guard_total",
            "Confirmations refused by the unique index on live seats (the oversell guard)",
        )?;
        let holds_expired = IntCounter::new(
            "booking_holds_expired_total",
            "Holds that ended without a booking (lapsed, or released by their owner)",
        )?;
        let seats_left = IntGaugeVec::new(
            Opts::new(
                "booking_seats_left",
                "Seats not booked, for the trips with the most bookings in the last hour",
            ),
            &["trip"],
        )?;
        for outcome in SELECT_OUTCOMES {
            selects.with_label_values(&[outcome]);
        }
        for outcome in CONFIRM_OUTCOMES {
            confirms.with_label_values(&[outcome]);
        }
        registry.register(Box::new(selects.clone()))?;
        registry.register(Box::new(confirms.clone()))?;
        registry.register(Box::new(payments.clone()))?;
        registry.register(Box::new(expired.clone()))?;
        registry.register(Box::new(hold_seconds.clone()))?;
        registry.register(Box::new(oversell_guard.clone()))?;
        registry.register(Box::new(holds_expired.clone()))?;
        registry.register(Box::new(seats_left.clone()))?;
        Ok(Self {
            selects,
            confirms,
            payments,
            expired,
            hold_seconds,
            oversell_guard,
            holds_expired,
            seats_left,
        })
    }
}
