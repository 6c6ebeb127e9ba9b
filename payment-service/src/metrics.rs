//! payment-service's own metrics, registered on the service's registry (which prefixes
//! them with `railrush_` and labels them with the service).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use servicekit::metrics::LATENCY_BUCKETS;

#[derive(Clone)]
pub struct PaymentMetrics {
    /// Charge attempts by outcome (succeeded, declined, invalid_token, unavailable,
    /// duplicate).
    pub charges: IntCounterVec,
    /// Time the gateway took to answer, by operation (charge, refund).
    pub gateway_seconds: HistogramVec,
    /// Refunds by outcome (refunded, declined, unavailable, duplicate).
    pub refunds: IntCounterVec,
    /// Consumed events by queue and outcome (applied, duplicate, skipped, ignored, rejected,
    /// retried).
    pub events: IntCounterVec,
}

impl PaymentMetrics {
    pub fn register(registry: &Registry) -> anyhow::Result<Self> {
        let charges = IntCounterVec::new(
            Opts::new(
                "payment_charges_total",
                "Charge attempts by outcome (succeeded, declined, invalid_token, unavailable, duplicate)",
            ),
            &["outcome"],
        )?;
        let gateway_seconds = HistogramVec::new(
            HistogramOpts::new(
                "payment_gateway_seconds",
                "Time the payment gateway took to answer, by operation (charge, refund)",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["operation"],
        )?;
        let refunds = IntCounterVec::new(
            Opts::new(
                "payment_refunds_total",
                "Refunds by outcome (refunded, declined, unavailable, duplicate)",
            ),
            &["outcome"],
        )?;
        let events = IntCounterVec::new(
            Opts::new(
                "payment_events_total",
                "Consumed events by queue and outcome (applied, duplicate, skipped, ignored, rejected, retried)",
            ),
            &["queue", "outcome"],
        )?;
        // Every known series starts at zero, so rates and dashboards see them before the
        // first event.
        for outcome in [
            "succeeded",
            "declined",
            "invalid_token",
            "unavailable",
            "duplicate",
        ] {
            charges.with_label_values(&[outcome]);
        }
        for outcome in ["refunded", "declined", "unavailable", "duplicate"] {
            refunds.with_label_values(&[outcome]);
        }
        for operation in ["charge", "refund"] {
            gateway_seconds.with_label_values(&[operation]);
        }
        for queue in [crate::charges::QUEUE, crate::refunds::QUEUE] {
            for outcome in [
                "applied",
                "duplicate",
                "skipped",
                "ignored",
                "rejected",
                "retried",
            ] {
                events.with_label_values(&[queue, outcome]);
            }
        }
        registry.register(Box::new(charges.clone()))?;
        registry.register(Box::new(gateway_seconds.clone()))?;
        registry.register(Box::new(refunds.clone()))?;
        registry.register(Box::new(events.clone()))?;
        Ok(Self {
            charges,
            gateway_seconds,
            refunds,
            events,
        })
    }
}
