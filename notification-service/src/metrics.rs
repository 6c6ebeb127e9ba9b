//! notification-service's own metrics, registered on the service's registry, and the task
//! that keeps the parked-messages gauge current.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use servicekit::amqp::Broker;
use std::time::Duration;
use tokio::task::JoinHandle;

#[derive(Clone)]
pub struct NotificationMetrics {
    /// Delivery attempts by channel and outcome (delivered, retried, failed).
    pub deliveries: IntCounterVec,
    /// Consumed events by queue and outcome (notified, contact_saved, duplicate, ignored,
    /// retried, rejected).
    pub events: IntCounterVec,
    /// Messages waiting in each parking queue, refreshed from the broker.
    pub parked: IntGaugeVec,
}

impl NotificationMetrics {
    pub fn register(registry: &Registry) -> anyhow::Result<Self> {
        let deliveries = IntCounterVec::new(
            Opts::new(
                "notification_deliveries_total",
                "Delivery attempts by channel and outcome (delivered, retried, failed)",
            ),
            &["channel", "outcome"],
        )?;
        let events = IntCounterVec::new(
            Opts::new(
                "notification_events_total",
                "Consumed events by queue and outcome (notified, contact_saved, duplicate, \
                 ignored, retried, rejected)",
            ),
            &["queue", "outcome"],
        )?;
        let parked = IntGaugeVec::new(
            Opts::new(
                "notification_parked_messages",
                "Messages waiting in each parking queue (<queue>.parked)",
            ),
            &["queue"],
        )?;
        registry.register(Box::new(deliveries.clone()))?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(parked.clone()))?;
        Ok(Self {
            deliveries,
            events,
            parked,
        })
    }
}

/// Every `every`, sets the parked gauge of each queue from a passive declare of its parking
/// queue (the broker's message count). Abort the task to stop it.
pub fn refresh_parked(
    broker: Broker,
    parking_queues: Vec<String>,
    gauge: IntGaugeVec,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = refresh_once(&broker, &parking_queues, &gauge).await {
                tracing::debug!(%error, "could not refresh the parked-messages gauge");
            }
        }
    })
}

async fn refresh_once(
    broker: &Broker,
    parking_queues: &[String],
    gauge: &IntGaugeVec,
) -> anyhow::Result<()> {
    use lapin::options::QueueDeclareOptions;
    use lapin::types::FieldTable;
    if !broker.is_connected() {
        return Ok(());
    }
    let channel = broker.channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    for queue in parking_queues {
        // A missing queue closes the channel: stop here, the next round tries again.
        let declared = channel
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await?;
        gauge
            .with_label_values(&[queue.as_str()])
            .set(i64::from(declared.message_count()));
    }
    let _ = channel.close(200, "done".into()).await;
    Ok(())
}
