//! train-service's own metrics, registered on the service's registry.

use prometheus::{IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct TrainMetrics {
    /// Search cache lookups by result (hit, miss, unavailable).
    pub search_cache: IntCounterVec,
    /// Booking events by outcome (applied, duplicate, ignored, rejected, retried).
    pub availability_events: IntCounterVec,
}

impl TrainMetrics {
    pub fn register(registry: &Registry) -> anyhow::Result<Self> {
        let search_cache = IntCounterVec::new(
            Opts::new(
                "search_cache_lookups_total",
                "Search cache lookups by result (hit, miss, unavailable)",
            ),
            &["result"],
        )?;
        let availability_events = IntCounterVec::new(
            Opts::new(
                "availability_events_total",
                "Booking events by outcome (applied, duplicate, ignored, rejected, retried)",
            ),
            &["outcome"],
        )?;
        for result in ["hit", "miss", "unavailable"] {
            search_cache.with_label_values(&[result]);
        }
        registry.register(Box::new(search_cache.clone()))?;
        registry.register(Box::new(availability_events.clone()))?;
        Ok(Self {
            search_cache,
            availability_events,
        })
    }
}
