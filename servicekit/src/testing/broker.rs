//! The broker side of a test: listening to what a service publishes, publishing what
//! another service would, and looking at queues.

use super::env::amqp_url;
use super::eventually::WAIT;
use crate::amqp::Envelope;
use crate::config::AmqpSettings;
use crate::consumer::QueueSpec;
use anyhow::bail;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::time::{Duration, Instant};

async fn connect() -> anyhow::Result<Connection> {
    Ok(Connection::connect(&amqp_url(), ConnectionProperties::default()).await?)
}

/// A private queue bound to `exchange` for `routing_key`, for asserting what a service
/// published. Deleted with its connection.
pub struct Listener {
    _connection: Connection,
    consumer: lapin::Consumer,
}

impl Listener {
    pub async fn bind(exchange: &str, routing_key: &str) -> anyhow::Result<Self> {
        let connection = connect().await?;
        let channel = connection.create_channel().await?;
        let consumer = crate::amqp::subscribe_exclusive(
            &channel,
            exchange,
            lapin::ExchangeKind::Topic,
            routing_key,
            false,
        )
        .await?;
        Ok(Self {
            _connection: connection,
            consumer,
        })
    }

    /// The next message within `wait`, acked.
    pub async fn next(&mut self, wait: Duration) -> Option<lapin::message::Delivery> {
        use futures_util::StreamExt;
        let delivery = tokio::time::timeout(wait, self.consumer.next())
            .await
            .ok()??
            .ok()?;
        delivery
            .ack(lapin::options::BasicAckOptions::default())
            .await
            .ok()?;
        Some(delivery)
    }

    /// The next message's body as JSON.
    pub async fn next_json(&mut self, wait: Duration) -> Option<serde_json::Value> {
        let delivery = self.next(wait).await?;
        serde_json::from_slice(&delivery.data).ok()
    }

    /// The next event of type `kind` within `wait`; events of other types are skipped.
    pub async fn next_event(&mut self, kind: &str, wait: Duration) -> Option<serde_json::Value> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let event = self.next_json(left).await?;
            if event["type"] == kind {
                return Some(event);
            }
        }
    }

    /// The next event of type `kind`; panics when none comes within [`WAIT`].
    pub async fn expect_event(&mut self, kind: &str) -> serde_json::Value {
        match self.next_event(kind, WAIT).await {
            Some(event) => event,
            None => panic!("no {kind} event within {WAIT:?}"),
        }
    }
}

/// Publishes `event` to `exchange` under its type as routing key, persistent and confirmed,
/// as a service's outbox would (for tests that play another service's part).
pub async fn publish(exchange: &str, event: &Envelope) -> anyhow::Result<()> {
    let properties = BasicProperties::default()
        .with_message_id(event.event_id.to_string().into())
        .with_content_type("application/json".into())
        .with_type(event.kind.as_str().into());
    send(
        exchange,
        &event.kind,
        &serde_json::to_vec(event)?,
        properties,
    )
    .await
}

/// Publishes `body` as it is (not necessarily an event envelope) to `exchange` under
/// `routing_key`, persistent and confirmed.
pub async fn publish_raw(exchange: &str, routing_key: &str, body: &[u8]) -> anyhow::Result<()> {
    send(exchange, routing_key, body, BasicProperties::default()).await
}

async fn send(
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> anyhow::Result<()> {
    let connection = connect().await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties.with_delivery_mode(2),
        )
        .await?
        .await?;
    anyhow::ensure!(confirm.is_ack(), "the broker did not confirm the message");
    let _ = connection.close(200, "done".into()).await;
    Ok(())
}

/// Declares the durable queue `queue` bound to `exchange` (declared as the services declare
/// it) for each of `routing_keys`: a stand-in for another service's queue, so that events a
/// test's service publishes `mandatory` are routed (they would otherwise be returned). The
/// caller tracks it for deletion ([`super::TestEnv::stand_in_queue`] does).
pub async fn declare_bound_queue(
    exchange: &str,
    queue: &str,
    routing_keys: &[&str],
) -> anyhow::Result<()> {
    use lapin::options::{ExchangeDeclareOptions, QueueBindOptions};
    let connection = connect().await?;
    let channel = connection.create_channel().await?;
    channel
        .exchange_declare(
            exchange.into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    for key in routing_keys {
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                (*key).into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let _ = connection.close(200, "done".into()).await;
    Ok(())
}

/// Waits (up to [`WAIT`]) until `queue` has a consumer. A consumer subscribes only after it
/// has declared the queue and its bindings, so events published after this are routed to it
/// (a queue that merely exists may not be bound yet).
pub async fn wait_for_queue(queue: &str) -> anyhow::Result<()> {
    let connection = connect().await?;
    let deadline = Instant::now() + WAIT;
    loop {
        // A failed passive declare closes the channel: use a fresh one each time.
        let channel = connection.create_channel().await?;
        let declared = channel
            .queue_declare(queue.into(), passive(), FieldTable::default())
            .await;
        if declared.is_ok_and(|q| q.consumer_count() > 0) {
            let _ = connection.close(200, "done".into()).await;
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("queue {queue} never got a consumer");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Messages ready in `queue` (0 for a queue that does not exist).
pub async fn queue_depth(queue: &str) -> anyhow::Result<u32> {
    let connection = connect().await?;
    let channel = connection.create_channel().await?;
    let depth = channel
        .queue_declare(queue.into(), passive(), FieldTable::default())
        .await
        .map(|q| q.message_count())
        .unwrap_or(0);
    let _ = connection.close(200, "done".into()).await;
    Ok(depth)
}

fn passive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

/// Parks `event` as a consumer of `queue` (as its subscription names it, under `amqp`'s
/// prefix) that rejects it would: declares the queue and its parking queue as a consumer
/// does, puts the event in the queue, takes it and rejects it, and waits until it is parked.
/// The caller tracks the queues for deletion ([`super::TestEnv::track_consumer_queues`]).
pub async fn park(amqp: &AmqpSettings, queue: &str, event: &Envelope) -> anyhow::Result<()> {
    use lapin::options::{BasicGetOptions, BasicNackOptions};
    let spec = QueueSpec {
        queue: format!("{}{queue}", amqp.queue_prefix),
        bindings: Vec::new(),
        prefetch: 1,
        delivery_limit: 5,
        metrics: None,
        depth_refresh: Duration::from_secs(5),
        batch: 1,
        batches: 1,
    };
    let parking = spec.parking_queue();
    let before = queue_depth(&parking).await?;
    let connection = connect().await?;
    let channel = connection.create_channel().await?;
    crate::consumer::declare(&channel, &amqp.exchange, &spec).await?;
    let properties = BasicProperties::default()
        .with_message_id(event.event_id.to_string().into())
        .with_content_type("application/json".into())
        .with_type(event.kind.as_str().into());
    send("", &spec.queue, &serde_json::to_vec(event)?, properties).await?;
    let deadline = Instant::now() + WAIT;
    let got = loop {
        if let Some(got) = channel
            .basic_get(
                spec.queue.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await?
        {
            break got;
        }
        if Instant::now() > deadline {
            bail!("the message never reached {}", spec.queue);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    got.delivery
        .nack(BasicNackOptions {
            requeue: false,
            ..Default::default()
        })
        .await?;
    let _ = connection.close(200, "done".into()).await;
    while queue_depth(&parking).await? <= before {
        if Instant::now() > deadline {
            bail!("the message was never parked in {parking}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
