//! What the handlers share.

use crate::inventory::Inventory;
use crate::live::LiveFeed;
use crate::seats::SeatStore;
use crate::settings::BookingSettings;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use servicekit::db::PgPool;
use servicekit::outbox::OutboxRelay;

pub struct BookingState {
    pub db: PgPool,
    pub seats: SeatStore,
    pub inventory: Inventory,
    pub relay: OutboxRelay,
    pub live: LiveFeed,
    pub settings: BookingSettings,
    pub metrics: BookingMetrics,
}

pub struct BookingMetrics {
    /// Seat selections by outcome: held, taken, limit, invalid, unavailable.
    pub selects: IntCounterVec,
    /// Confirmations by outcome: confirmed, conflict (the unique index fired), expired.
    pub confirms: IntCounterVec,
    /// Payment outcomes applied: paid, failed, refund_due, duplicate, ...
    pub payments: IntCounterVec,
    /// Bookings the sweeper expired unpaid.
    pub expired: IntCounter,
}

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
        registry.register(Box::new(selects.clone()))?;
        registry.register(Box::new(confirms.clone()))?;
        registry.register(Box::new(payments.clone()))?;
        registry.register(Box::new(expired.clone()))?;
        Ok(Self {
            selects,
            confirms,
            payments,
            expired,
        })
    }
}
