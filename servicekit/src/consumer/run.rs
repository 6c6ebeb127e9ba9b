//! The consuming loop of one queue and the settling of each delivery: decode, handle, count
//! the outcome, then ack, requeue after a back-off, or park.

use super::{HandleError, Handler, Meta, Outcomes, Subscription, topology};
use crate::amqp::{Broker, Envelope};
use crate::metrics::{ConsumerMetrics, Metrics};
use crate::service::Tasks;
use futures_util::future::join_all;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
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
    /// The most deliveries handled as one batch (see [`Subscription::batch`]).
    pub batch: u16,
    /// Batches handled at once (see [`Subscription::batches`]).
    pub batches: u16,
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
            batch: subscription.batch,
            batches: subscription.batches,
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
    let batch = usize::from(spec.batch.max(1));
    let batches = usize::from(spec.batches.max(1));
    // Set once a settlement on this channel failed: an ack of many at once would then also
    // ack a delivery whose own settlement did not reach the broker.
    let unsettled = Arc::new(AtomicBool::new(false));
    let outcome = loop {
        tokio::select! {
            () = stop.cancelled() => {
                // Bounded: a broker slow to answer must not hold the stop; deliveries it still
                // sends are never handled and go back to the queue when the connection closes.
                let cancel = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default());
                let _ = tokio::time::timeout(BROKER_CALL_LIMIT, cancel).await;
                break Ok(());
            }
            // A batched consumer runs `batches` batches at a time: what arrives meanwhile
            // waits in the prefetch and makes the next batch.
            next = deliveries.next(), if batch == 1 || in_flight.len() < batches => match next {
                Some(Ok(delivery)) if batch == 1 => {
                    in_flight.spawn(settle(delivery, shared.clone(), unsettled.clone()));
                }
                Some(Ok(delivery)) => {
                    let mut taken = vec![delivery];
                    let mut failed = None;
                    while taken.len() < batch {
                        match deliveries.next().now_or_never() {
                            Some(Some(Ok(delivery))) => taken.push(delivery),
                            Some(Some(Err(e))) => {
                                failed = Some(e);
                                break;
                            }
                            Some(None) | None => break,
                        }
                    }
                    in_flight.spawn(settle_batch(taken, shared.clone(), unsettled.clone()));
                    if let Some(e) = failed {
                        break Err(e.into());
                    }
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
async fn settle<H: Handler>(
    delivery: Delivery,
    shared: Arc<Shared<H>>,
    unsettled: Arc<AtomicBool>,
) {
    let started = Instant::now();
    let result = match received(&delivery, &shared.spec) {
        Ok((event, meta)) => shared.handler.handle(event, meta).await,
        Err(e) => Err(e),
    };
    finish(delivery, result, &shared, started, &unsettled).await;
}

/// Handles `deliveries` as one batch ([`Handler::handle_batch`]), then acks, requeues or
/// parks each by its own result; a delivery that is not an event envelope is parked without
/// reaching the handler. When the consumer runs one batch at a time and every event of the
/// batch succeeded, one ack settles them all ([`ack_all`]).
async fn settle_batch<H: Handler>(
    deliveries: Vec<Delivery>,
    shared: Arc<Shared<H>>,
    unsettled: Arc<AtomicBool>,
) {
    let started = Instant::now();
    let mut results: Vec<Option<Result<&'static str, HandleError>>> =
        Vec::with_capacity(deliveries.len());
    let mut events = Vec::with_capacity(deliveries.len());
    for delivery in &deliveries {
        match received(delivery, &shared.spec) {
            Ok(event) => {
                events.push(event);
                results.push(None);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    if let Some(m) = &shared.spec.metrics {
        m.batch_size
            .with_label_values(&[shared.spec.queue.as_str()])
            .observe(events.len() as f64);
    }
    let mut handled = if events.is_empty() {
        Vec::new()
    } else {
        shared.handler.handle_batch(events).await
    }
    .into_iter();
    let results: Vec<Result<&'static str, HandleError>> = results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                handled.next().unwrap_or_else(|| {
                    Err(HandleError::Retry(anyhow::anyhow!(
                        "the handler returned no result for this event"
                    )))
                })
            })
        })
        .collect();
    if shared.spec.batches <= 1
        && deliveries.len() > 1
        && results.iter().all(Result::is_ok)
        && !unsettled.load(Ordering::Relaxed)
    {
        ack_all(&deliveries, &results, &shared, started, &unsettled).await;
        return;
    }
    let settled = deliveries
        .into_iter()
        .zip(results)
        .map(|(delivery, result)| finish(delivery, result, &shared, started, &unsettled));
    join_all(settled.collect::<Vec<_>>()).await;
}

/// Acks every delivery of a batch whose events all succeeded with one ack of the last one
/// (`multiple`): on a channel that runs one batch at a time, every delivery before the batch
/// is settled already (`unsettled` is false), so that ack settles exactly this batch. One
/// ack instead of one each is one settlement for the quorum queue to apply.
async fn ack_all<H: Handler>(
    deliveries: &[Delivery],
    results: &[Result<&'static str, HandleError>],
    shared: &Shared<H>,
    started: Instant,
    unsettled: &AtomicBool,
) {
    let spec = &shared.spec;
    for label in results.iter().flatten() {
        if let Some(outcomes) = &shared.outcomes {
            outcomes.count(label);
        }
        if let Some(m) = &spec.metrics {
            m.count(&spec.queue, "acked");
        }
    }
    if let Some(last) = deliveries.last() {
        let ack = last.ack(BasicAckOptions { multiple: true });
        settled(
            tokio::time::timeout(BROKER_CALL_LIMIT, ack).await,
            unsettled,
        );
    }
    if let Some(m) = &spec.metrics {
        let seconds = started.elapsed().as_secs_f64();
        for _ in deliveries {
            m.processing_seconds
                .with_label_values(&[spec.queue.as_str()])
                .observe(seconds);
        }
    }
}

/// Logs a settlement that did not reach the broker (it will redeliver) and marks the channel
/// `unsettled`.
fn settled<T, E: std::fmt::Display>(
    outcome: Result<Result<T, E>, tokio::time::error::Elapsed>,
    unsettled: &AtomicBool,
) {
    match outcome {
        Ok(Ok(_)) => return,
        Ok(Err(error)) => {
            tracing::warn!(%error, "could not settle a delivery; the broker will redeliver it");
        }
        Err(_) => tracing::warn!(
            "the broker did not answer a delivery's settlement; it will redeliver it"
        ),
    }
    unsettled.store(true, Ordering::Relaxed);
}

/// Counts a delivery in and reads its event; one that is not an event envelope can never
/// be handled (rejected).
fn received(delivery: &Delivery, spec: &QueueSpec) -> Result<(Envelope, Meta), HandleError> {
    if let Some(m) = &spec.metrics {
        m.count(&spec.queue, "received");
        if delivery.redelivered {
            m.count(&spec.queue, "redelivered");
        }
    }
    let meta = Meta {
        request_id: request_id(delivery),
        redelivered: delivery.redelivered,
    };
    serde_json::from_slice::<Envelope>(&delivery.data)
        .map(|envelope| (envelope, meta))
        .map_err(|e| HandleError::Reject(anyhow::anyhow!("not an event envelope: {e}")))
}

/// Counts `result` and acks, requeues (after a back-off) or parks `delivery` by it.
async fn finish<H: Handler>(
    delivery: Delivery,
    result: Result<&'static str, HandleError>,
    shared: &Shared<H>,
    started: Instant,
    unsettled: &AtomicBool,
) {
    let spec = &shared.spec;
    let count = |outcome: &str| {
        if let Some(m) = &spec.metrics {
            m.count(&spec.queue, outcome);
        }
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
    settled(
        tokio::time::timeout(BROKER_CALL_LIMIT, settle).await,
        unsettled,
    );
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
