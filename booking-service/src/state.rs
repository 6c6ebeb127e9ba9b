//! What the handlers share.

use crate::inventory::Inventory;
use crate::live::LiveFeed;
use crate::seats::SeatStore;
use crate::settings::BookingSettings;
use prometheus::{IntCounterVec, Opts, Registry};
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
        registry.register(Box::new(selects.clone()))?;
        registry.register(Box::new(confirms.clone()))?;
        Ok(Self { selects, confirms })
    }
}
