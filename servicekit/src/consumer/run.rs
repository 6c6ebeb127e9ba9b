//! The consuming loop of one queue and the settling of each delivery: decode, handle, count
//! the outcome, then ack, requeue after a back-off, or park.

use super::{HandleError, Handler, Meta, Outcomes, Subscription, topology};
use crate::amqp::{Broker, Envelope};
use crate::metrics::{ConsumerMetrics, Metrics};
use crate::service::Tasks;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long a stopping consumer waits for the broker to confirm its cancellation, and how long
/// a subscription's set-up or a delivery's ack may take before the attempt is given up.
/// lapin's promises can stay unresolved for good when the connection dies under them (its own
/// recovery gives up without failing them): the chaos harness (seed 2036) found
/// booking-service's `booking.payment-results` consumer waiting for ever after a broker link
/// was cut, 311 payment results left unread.
const BROKER_CALL_LIMIT: Duration = Duration::from_secs(5);
/// How often a subscription checks that its channel is still open.
const CHANNEL_CHECK: Duration = Duration::from_secs(1);

/// A subscription resolved against a broker: the full queue name and where it reports.
#[derive(Clone, Debug)]
pub struct QueueSpec {
    /// Full queue name (already prefixed with `Broker::queue_name`).
    pub queue: String,
    /// Routing keys (event types) bound from the events exchange.
    pub bindings: Vec<String>,
    /// Unacked messages in flight at once.
    pub prefetch: u16,
    /// Returns (failed deliveries) a message may have: the broker dead-letters it to the
    /// parking queue when it is returned once more, so it is delivered at most
    /// `delivery_limit + 1` times.
    pub delivery_limit: u32,
    /// Where the consumer reports (see [`QueueSpec::observed_by`]); none in some tests.
    pub metrics: Option<ConsumerMetrics>,
    /// How often the queue-depth gauges are read from the broker.
    pub depth_refresh: Duration,
}

impl QueueSpec {
    /// `subscription` with the broker's queue prefix.
    pub fn resolve(broker: &Broker, subscription: &Subscription) -> Self {
        Self {
            queue: broker.queue_name(subscription.queue),
            bindings: subscription
                .bindings
                .iter()
                .map(|b| (*b).to_owned())
                .collect(),
            prefetch: subscription.prefetch,
            delivery_limit: subscription.delivery_limit,
            metrics: None,
            depth_refresh: subscription.depth_refresh,
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

/// What every in-flight delivery of one consumer shares.
struct Shared<H> {
    handler: H,
    spec: QueueSpec,
    outcomes: Option<Outcomes>,
}

/// Consumes `handler`'s subscription on `tasks` until they stop, re-subscribing whenever
/// the connection is re-established; reports in `metrics`.
pub fn start<H: Handler>(tasks: &Tasks, broker: &Broker, metrics: &Metrics, handler: H) {
    let spec = QueueSpec::resolve(broker, &handler.subscription()).observed_by(metrics);
    if let Some(consumers) = &spec.metrics {
        consumers.init_queue(&spec.queue);
        let (broker, spec, consumers) = (broker.clone(), spec.clone(), consumers.clone());
        tasks.spawn("queue depth", move |stop| {
            refresh_depths(broker, spec, consumers, stop)
        });
    }
    let shared = Arc::new(Shared {
        outcomes: handler.outcomes(),
        handler,
        spec,
    });
    let broker = broker.clone();
    tasks.spawn("consumer", move |stop| async move {
        let mut backoff = Duration::from_millis(100);
        while !stop.is_cancelled() {
            match consume(&broker, &shared, &stop).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(error) => {
                    tracing::warn!(queue = %shared.spec.queue, %error, "consumer interrupted; resubscribing");
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
}

/// Until stopped: sets the queue-depth and parked gauges from passive declares.
async fn refresh_depths(
    broker: Broker,
    spec: QueueSpec,
    metrics: ConsumerMetrics,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(spec.depth_refresh.max(Duration::from_millis(100)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {
                // A refresh in progress is abandoned at the stop: it only reads gauges.
                tokio::select! {
                    () = stop.cancelled() => return,
                    refreshed = refresh_once(&broker, &spec, &metrics) => if let Err(error) = refreshed {
                        tracing::debug!(queue = %spec.queue, %error, "queue depth not refreshed");
                    },
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

/// One subscription: consumes until stopped (then cancels the consumer, finishes and settles
/// every delivery in flight) or until the channel fails.
async fn consume<H: Handler>(
    broker: &Broker,
    shared: &Arc<Shared<H>>,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let spec = &shared.spec;
    if !broker.wait_connected(Duration::from_secs(1)).await {
        anyhow::bail!("the broker is not connected");
    }
    let tag = format!("{}-{}", spec.queue, Uuid::new_v4().simple());
    let subscribe = async {
        let channel = broker.channel().await?;
        topology::declare(&channel, broker.exchange(), spec).await?;
        channel
            .basic_qos(spec.prefetch, BasicQosOptions::default())
            .await?;
        let deliveries = channel
            .basic_consume(
                spec.queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        anyhow::Ok((channel, deliveries))
    };
    let (channel, mut deliveries) = tokio::time::timeout(BROKER_CALL_LIMIT, subscribe)
        .await
        .map_err(|_| anyhow::anyhow!("the broker did not answer the subscription"))??;
    tracing::info!(queue = %spec.queue, "consuming");
    let mut in_flight = JoinSet::new();
    let mut check = tokio::time::interval(CHANNEL_CHECK);
    let outcome = loop {
        tokio::select! {
            () = stop.cancelled() => {
                // Bounded: a broker slow to answer must not hold the stop; deliveries it still
                // sends are never handled and go back to the queue when the connection closes.
                let cancel = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default());
                let _ = tokio::time::timeout(BROKER_CALL_LIMIT, cancel).await;
                break Ok(());
            }
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => {
                    in_flight.spawn(settle(delivery, shared.clone()));
                }
                Some(Err(e)) => break Err(e.into()),
                None => break Err(anyhow::anyhow!("the consumer was cancelled by the broker")),
            },
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            // A channel whose connection died without ending the stream.
            _ = check.tick() => if !channel.status().connected() {
                break Err(anyhow::anyhow!("the channel is closed"));
            },
        }
    };
    while in_flight.join_next().await.is_some() {}
    outcome
}

fn request_id(delivery: &Delivery) -> Option<String> {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| match h.inner().get("x-request-id") {
            Some(AMQPValue::LongString(s)) => Some(s.to_string()),
            _ => None,
        })
}

/// Handles one delivery and acks, requeues or parks it.
async fn settle<H: Handler>(delivery: Delivery, shared: Arc<Shared<H>>) {
    let spec = &shared.spec;
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
        request_id: request_id(&delivery),
        redelivered: delivery.redelivered,
    };
    let result = match serde_json::from_slice::<Envelope>(&delivery.data) {
        Ok(envelope) => shared.handler.handle(envelope, meta).await,
        Err(e) => Err(HandleError::Reject(anyhow::anyhow!(
            "not an event envelope: {e}"
        ))),
    };
    if let Some(outcomes) = &shared.outcomes {
        outcomes.count(match &result {
            Ok(label) => label,
            Err(e) => e.label(),
        });
    }
    let settle = match result {
        Ok(_) => {
            count("acked");
            delivery.ack(BasicAckOptions::default()).boxed()
        }
        Err(HandleError::Retry(error)) => {
            let attempt = delivery_count(&delivery);
            tracing::warn!(queue = %spec.queue, error = format!("{error:#}"), attempt, "event handling failed; will retry");
            count("retried");
            // `attempt` is how often the message was returned before. The broker
            // dead-letters a message returned more than `delivery_limit` times: this
            // requeue parks it when the message has had `delivery_limit` returns already.
            if attempt >= spec.delivery_limit {
                count("parked");
            }
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt.min(25) + 1))).await;
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .boxed()
        }
        Err(HandleError::Reject(error)) => {
            tracing::error!(queue = %spec.queue, error = format!("{error:#}"), "poison message: parking it");
            count("rejected");
            count("parked");
            delivery
                .nack(BasicNackOptions {
                    requeue: false,
                    ..Default::default()
                })
                .boxed()
        }
    };
    let settled = tokio::time::timeout(BROKER_CALL_LIMIT, settle).await;
    match settled {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "could not settle a delivery; the broker will redeliver it");
        }
        Err(_) => tracing::warn!(
            "the broker did not answer a delivery's settlement; it will redeliver it"
        ),
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
