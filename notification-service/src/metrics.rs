//! notification-service's own metrics, registered on the service's registry. Queue depths
//! and parked messages are servicekit's consumer metrics.

use prometheus::{IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct NotificationMetrics {
    /// Delivery attempts by channel (sms, email), the implementation that carried it
    /// (`via`: log, smtp) and outcome (delivered, retried, failed).
    pub deliveries: IntCounterVec,
    /// Consumed events by queue and outcome (notified, contact_saved, duplicate, ignored,
    /// retried, rejected).
    pub events: IntCounterVec,
}

impl NotificationMetrics {
    pub fn register(registry: &Registry) -> anyhow::Result<Self> {
        let deliveries = IntCounterVec::new(
            Opts::new(
                "notification_deliveries_total",
                "Delivery attempts by channel (sms, email), implementation (via) and outcome \
                 (delivered, retried, failed)",
            ),
            &["channel", "via", "outcome"],
        )?;
        let events = IntCounterVec::new(
            Opts::new(
                "notification_events_total",
                "Consumed events by queue and outcome (notified, contact_saved, duplicate, \
                 ignored, retried, rejected)",
            ),
            &["queue", "outcome"],
        )?;
        registry.register(Box::new(deliveries.clone()))?;
        registry.register(Box::new(events.clone()))?;
        Ok(Self { deliveries, events })
    }
}
