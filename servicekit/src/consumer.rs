//! Consuming events: durable quorum queues with a delivery limit and at-least-once
//! dead-lettering into a parking queue, manual acks after the effect is committed, bounded
//! prefetch, and re-subscription after the broker connection comes back.
//!
//! A handler returns `Ok` (ack), [`HandleError::Retry`] (requeued after a back-off; the
//! queue's delivery limit parks a message that keeps failing) or [`HandleError::Reject`]
//! (parked at once: poison). Handlers make their effect idempotent with
//! [`first_delivery`], recorded in the same transaction as the effect, in the table
//! ```sql
//! CREATE TABLE processed_events (
//!     consumer     text NOT NULL,
//!     event_id     uuid NOT NULL,
//!     processed_at timestamptz NOT NULL DEFAULT now(),
//!     PRIMARY KEY (consumer, event_id)
//! );
//! ```
//! Parked messages stay in `<queue>.parked` for an operator to inspect and replay (shovel
//! or re-publish them to the events exchange).

use crate::amqp::{Broker, Envelope};
use crate::metrics::{ConsumerMetrics, Metrics};
use deadpool_postgres::GenericClient;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

/// Where and how a consumer reads.
#[derive(Clone, Debug)]
pub struct QueueSpec {
    /// Full queue name (already prefixed with `Broker::queue_name`).
    pub queue: String,
    /// Routing keys (event types) bound from the events exchange.
    pub bindings: Vec<String>,
    /// Unacked messages in flight at once.
    pub prefetch: u16,
    /// Deliveries before a message is dead-lettered to the parking queue.
    pub delivery_limit: u32,
    /// Where the consumer reports (see [`QueueSpec::observed_by`]); none in some tests.
    pub metrics: Option<ConsumerMetrics>,
    /// How often the queue-depth gauges are read from the broker.
    pub depth_refresh: Duration,
}

impl QueueSpec {
    pub fn new(queue: String, bindings: &[&str]) -> Self {
        Self {
            queue,
            bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
            prefetch: 32,
            delivery_limit: 5,
            metrics: None,
            depth_refresh: Duration::from_secs(5),
        }
    }

    /// Reports this consumer's messages, latency, queue depth and parked messages in
    /// `metrics` (labelled by queue).
    pub fn observed_by(mut self, metrics: &Metrics) -> Self {
        self.metrics = Some(metrics.consumers());
        self
    }

    pub fn parking_queue(&self) -> String {
        format!("{}.parked", self.queue)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Could succeed later (a store is down): redelivered after a back-off.
    #[error("retry: {0:#}")]
    Retry(anyhow::Error),
    /// Can never succeed (malformed): parked now.
    #[error("reject: {0:#}")]
    Reject(anyhow::Error),
}

/// What the handler learns about the delivery besides the event.
#[derive(Clone, Debug)]
pub struct Meta {
    pub request_id: Option<String>,
    pub redelivered: bool,
}

pub type Handler =
    Arc<dyn Fn(Envelope, Meta) -> BoxFuture<'static, Result<(), HandleError>> + Send + Sync>;

/// Stops a consumer: no new deliveries are taken, in-flight ones finish and are acked.
pub struct ConsumerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ConsumerHandle {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Declares the topology and consumes `spec.queue` with `handler` until shut down,
/// re-subscribing whenever the connection is re-established.
pub fn spawn(broker: Broker, spec: QueueSpec, handler: Handler) -> ConsumerHandle {
    let (stop, stopped) = watch::channel(false);
    if let Some(metrics) = &spec.metrics {
        metrics.init_queue(&spec.queue);
        tokio::spawn(refresh_depths(
            broker.clone(),
            spec.clone(),
            metrics.clone(),
            stopped.clone(),
        ));
    }
    let task = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        while !*stopped.borrow() {
            match consume(&broker, &spec, &handler, stopped.clone()).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(error) => {
                    tracing::warn!(queue = %spec.queue, %error, "consumer interrupted; resubscribing");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
    ConsumerHandle { stop, task }
}

/// Until the consumer stops: sets the queue-depth and parked gauges from passive declares.
async fn refresh_depths(
    broker: Broker,
    spec: QueueSpec,
    metrics: ConsumerMetrics,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(spec.depth_refresh.max(Duration::from_millis(100)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stopped.borrow() {
        tokio::select! {
            _ = stopped.changed() => {}
            _ = ticker.tick() => {
                if let Err(error) = refresh_once(&broker, &spec, &metrics).await {
                    tracing::debug!(queue = %spec.queue, %error, "queue depth not refreshed");
                }
            }
        }
    }
}

async fn refresh_once(
    broker: &Broker,
    spec: &QueueSpec,
    metrics: &ConsumerMetrics,
) -> anyhow::Result<()> {
    if !broker.is_connected() {
        return Ok(());
    }
    let channel = broker.channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    // A queue not declared yet closes the channel: the next round tries again.
    for (queue, gauge) in [
        (spec.queue.clone(), &metrics.queue_depth),
        (spec.parking_queue(), &metrics.parked),
    ] {
        let declared = channel
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await?;
        gauge
            .with_label_values(&[spec.queue.as_str()])
            .set(i64::from(declared.message_count()));
    }
    let _ = channel.close(200, "done".into()).await;
    Ok(())
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

/// Declares the dead-letter exchange, the parking queue, the queue and its bindings.
/// Idempotent: the same arguments every time.
pub async fn declare(
    channel: &Channel,
    exchange: &str,
    spec: &QueueSpec,
) -> Result<(), lapin::Error> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let dlx = format!("{exchange}.dlx");
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            dlx.as_str().into(),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await?;
    let quorum = |extra: &[(&str, AMQPValue)]| {
        let mut args = vec![("x-queue-type", AMQPValue::LongString("quorum".into()))];
        args.extend(extra.iter().cloned());
        table(&args)
    };
    let queue_opts = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let parked = spec.parking_queue();
    channel
        .queue_declare(parked.as_str().into(), queue_opts, quorum(&[]))
        .await?;
    channel
        .queue_bind(
            parked.as_str().into(),
            dlx.as_str().into(),
            spec.queue.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let args = quorum(&[
        (
            "x-delivery-limit",
            AMQPValue::LongInt(i32::try_from(spec.delivery_limit).unwrap_or(5)),
        ),
        (
            "x-dead-letter-exchange",
            AMQPValue::LongString(dlx.as_str().into()),
        ),
        (
            "x-dead-letter-routing-key",
            AMQPValue::LongString(spec.queue.as_str().into()),
        ),
        (
            "x-dead-letter-strategy",
            AMQPValue::LongString("at-least-once".into()),
        ),
        ("x-overflow", AMQPValue::LongString("reject-publish".into())),
    ]);
    channel
        .queue_declare(spec.queue.as_str().into(), queue_opts, args)
        .await?;
    for key in &spec.bindings {
        channel
            .queue_bind(
                spec.queue.as_str().into(),
                exchange.into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

async fn consume(
    broker: &Broker,
    spec: &QueueSpec,
    handler: &Handler,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    if !broker.wait_connected(Duration::from_secs(1)).await {
        anyhow::bail!("the broker is not connected");
    }
    let channel = broker.channel().await?;
    declare(&channel, broker.exchange(), spec).await?;
    channel
        .basic_qos(spec.prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("{}-{}", spec.queue, Uuid::new_v4().simple());
    let mut deliveries = channel
        .basic_consume(
            spec.queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %spec.queue, "consuming");
    let mut in_flight = JoinSet::new();
    let shared = Arc::new(spec.clone());
    let outcome = loop {
        tokio::select! {
            _ = stopped.changed() => {
                let _ = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await;
                break Ok(());
            }
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => {
                    let handler = handler.clone();
                    in_flight.spawn(handle(delivery, handler, shared.clone()));
                }
                Some(Err(e)) => break Err(e.into()),
                None => break Err(anyhow::anyhow!("the consumer was cancelled by the broker")),
            },
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    };
    while in_flight.join_next().await.is_some() {}
    outcome
}

async fn handle(delivery: Delivery, handler: Handler, spec: Arc<QueueSpec>) {
    let started = std::time::Instant::now();
    let count = |outcome: &str| {
        if let Some(m) = &spec.metrics {
            m.count(&spec.queue, outcome);
        }
    };
    count("received");
    if delivery.redelivered {
        count("redelivered");
    }
    let meta = Meta {
        request_id: delivery.properties.headers().as_ref().and_then(|h| {
            match h.inner().get("x-request-id") {
                Some(AMQPValue::LongString(s)) => Some(s.to_string()),
                _ => None,
            }
        }),
        redelivered: delivery.redelivered,
    };
    let result = match serde_json::from_slice::<Envelope>(&delivery.data) {
        Ok(envelope) => handler(envelope, meta).await,
        Err(e) => Err(HandleError::Reject(anyhow::anyhow!(
            "not an event envelope: {e}"
        ))),
    };
    let acked = match result {
        Ok(()) => {
            count("acked");
            delivery.ack(BasicAckOptions::default()).await
        }
        Err(HandleError::Retry(error)) => {
            let attempt = delivery_count(&delivery);
            tracing::warn!(%error, attempt, "event handling failed; will retry");
            count("retried");
            if attempt + 1 >= spec.delivery_limit {
                // This requeue reaches the delivery limit: the broker dead-letters it.
                count("parked");
            }
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt.min(25) + 1))).await;
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
        }
        Err(HandleError::Reject(error)) => {
            tracing::error!(%error, "poison message: parking it");
            count("rejected");
            count("parked");
            delivery
                .nack(BasicNackOptions {
                    requeue: false,
                    ..Default::default()
                })
                .await
        }
    };
    if let Err(error) = acked {
        tracing::warn!(%error, "could not settle a delivery; the broker will redeliver it");
    }
    if let Some(m) = &spec.metrics {
        m.processing_seconds
            .with_label_values(&[spec.queue.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
}

fn delivery_count(delivery: &Delivery) -> u32 {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| match h.inner().get("x-delivery-count") {
            Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).ok(),
            Some(AMQPValue::LongInt(n)) => u32::try_from(*n).ok(),
            Some(AMQPValue::LongUInt(n)) => Some(*n),
            _ => None,
        })
        .unwrap_or(0)
}

/// Records that `consumer` applied `event_id`; false when it already had (a duplicate
/// delivery, whose effect must then be skipped). Call inside the effect's transaction.
pub async fn first_delivery(
    tx: &impl GenericClient,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, tokio_postgres::Error> {
    let inserted = tx
        .execute(
            "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&consumer, &event_id],
        )
        .await?;
    Ok(inserted == 1)
}
