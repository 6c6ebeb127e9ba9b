//! RabbitMQ: one connection per process, kept alive by a supervisor that reconnects with
//! back-off, a confirm-mode channel for publishing, and the event envelope every message
//! carries.
//!
//! Publish with [`Broker::publish`]: it returns only after the broker confirmed the message
//! (persistent, `message_id` = event id, request id in the `x-request-id` header). Events are
//! published `mandatory`: a message no queue is bound for comes back (`basic.return`, then the
//! confirm) and the publish fails with [`BrokerError::Unroutable`] instead of counting as sent.
//! While the
//! connection is down it fails at once with [`BrokerError::Unavailable`] and
//! [`Broker::is_connected`] is false, which `/health/ready` reports.

use crate::config::AmqpSettings;
use chrono::{DateTime, Utc};
use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The envelope of every event on the bus.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

impl Envelope {
    pub fn new(kind: &str, payload: &impl Serialize) -> Result<Self, serde_json::Error> {
        Ok(Self {
            event_id: Uuid::now_v7(),
            kind: kind.to_owned(),
            occurred_at: Utc::now(),
            payload: serde_json::to_value(payload)?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("the message broker is not connected")]
    Unavailable,
    #[error("the broker did not confirm the message in time")]
    Timeout,
    #[error("the broker refused the message")]
    Nacked,
    /// No queue is bound for the routing key: the broker returned the message.
    #[error("no queue is bound for {0}: the broker returned the message")]
    Unroutable(String),
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
}

impl From<BrokerError> for crate::error::ApiError {
    fn from(e: BrokerError) -> Self {
        Self::unavailable(e)
    }
}

/// A live connection and its publishing channel.
#[derive(Clone)]
pub struct Link {
    pub connection: Arc<Connection>,
    publisher: Channel,
}

impl Link {
    fn is_alive(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }
}

/// Handle to the process's broker connection; cheap to clone. [`Broker::close`], or
/// dropping the last handle, makes the supervisor close the connection and end.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    url: SecretString,
    exchange: String,
    queue_prefix: String,
    name: String,
    link: watch::Sender<Option<Link>>,
    /// Cancelled by [`Broker::close`]: the supervisor closes the connection and ends.
    closed: CancellationToken,
}

impl Broker {
    /// Starts the supervisor; the first connection is attempted at once in the background.
    pub fn start(settings: &AmqpSettings, name: &str) -> Self {
        // `amqps://` goes through rustls, which must know its provider.
        crate::tls::install_provider();
        let (link, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            url: settings.url.clone(),
            exchange: settings.exchange.clone(),
            queue_prefix: settings.queue_prefix.clone(),
            name: name.to_owned(),
            link,
            closed: CancellationToken::new(),
        });
        tokio::spawn(supervise(Arc::downgrade(&inner)));
        Self { inner }
    }

    /// Closes the connection now and for good (a stopping service, after its consumers):
    /// deliveries prefetched but not handled go back to their queues before this returns.
    pub async fn close(&self) {
        self.inner.closed.cancel();
        let link = self.inner.link.send_replace(None);
        if let Some(link) = link {
            // Bounded: a broker that does not answer the close must not hold the stop.
            let close = link.connection.close(200, "shutdown".into());
            if tokio::time::timeout(Duration::from_secs(5), close)
                .await
                .is_err()
            {
                tracing::warn!("the broker did not confirm the close within 5 s");
            }
        }
    }

    pub fn exchange(&self) -> &str {
        &self.inner.exchange
    }

    /// Queue names this service declares are prefixed with this.
    pub fn queue_name(&self, name: &str) -> String {
        format!("{}{}", self.inner.queue_prefix, name)
    }

    pub fn is_connected(&self) -> bool {
        self.inner
            .link
            .borrow()
            .as_ref()
            .is_some_and(Link::is_alive)
    }

    /// Waits up to `timeout` for a live connection.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut rx = self.inner.link.subscribe();
        tokio::time::timeout(
            timeout,
            rx.wait_for(|l| l.as_ref().is_some_and(Link::is_alive)),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    }

    /// Changes of the connection: `Some` after every (re)connect, `None` when lost.
    /// Consumers watch this to re-subscribe after a reconnect.
    pub fn links(&self) -> watch::Receiver<Option<Link>> {
        self.inner.link.subscribe()
    }

    /// A new channel on the current connection (for consumers and topology).
    pub async fn channel(&self) -> Result<Channel, BrokerError> {
        let link = self.current()?;
        Ok(link.connection.create_channel().await?)
    }

    fn current(&self) -> Result<Link, BrokerError> {
        self.inner
            .link
            .borrow()
            .clone()
            .filter(Link::is_alive)
            .ok_or(BrokerError::Unavailable)
    }

    /// Publishes `event` to the exchange with its type as routing key, `mandatory`, and waits
    /// for the broker's confirm. A message no queue takes is returned by the broker:
    /// [`BrokerError::Unroutable`].
    pub async fn publish(
        &self,
        event: &Envelope,
        request_id: Option<&str>,
    ) -> Result<(), BrokerError> {
        let link = self.current()?;
        let body = serde_json::to_vec(event)?;
        let mut headers = FieldTable::default();
        if let Some(id) = request_id {
            headers.insert("x-request-id".into(), AMQPValue::LongString(id.into()));
        }
        let props = BasicProperties::default()
            .with_message_id(event.event_id.to_string().into())
            .with_content_type("application/json".into())
            .with_type(event.kind.as_str().into())
            .with_delivery_mode(2)
            .with_timestamp(u64::try_from(event.occurred_at.timestamp()).unwrap_or_default())
            .with_app_id(self.inner.name.as_str().into())
            .with_headers(headers);
        let confirm = tokio::time::timeout(PUBLISH_TIMEOUT, async {
            link.publisher
                .basic_publish(
                    self.inner.exchange.as_str().into(),
                    event.kind.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &body,
                    props,
                )
                .await?
                .await
        })
        .await
        .map_err(|_| BrokerError::Timeout)??;
        match confirm {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => Err(BrokerError::Unroutable(event.kind.clone())),
            Confirmation::Nack(_) | Confirmation::NotRequested => Err(BrokerError::Nacked),
        }
    }
}

impl Broker {
    /// Publishes a transient notice (not an event: nothing depends on it arriving, e.g. live
    /// seat-map updates) to `exchange` without waiting for the confirm. Fails only when the
    /// connection is down.
    pub async fn notify(&self, exchange: &str, body: &[u8]) -> Result<(), BrokerError> {
        let link = self.current()?;
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(1);
        // Dropping the confirm future does not cancel the publish.
        let _confirm = link
            .publisher
            .basic_publish(
                exchange.into(),
                "".into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await?;
        Ok(())
    }
}

/// How long connecting may take (the handshake, the publisher channel, the exchange). lapin
/// has no handshake timeout: a broker that accepts the socket and never answers (a link cut
/// half-way through a handshake, a stalled proxy) would stall the supervisor for good, and the
/// service would never publish or consume again (found by the chaos harness, seed 2033).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

async fn connect(inner: &Inner) -> Result<Link, lapin::Error> {
    let props = ConnectionProperties::default().with_connection_name(inner.name.as_str().into());
    let connection = Connection::connect(inner.url.expose_secret(), props).await?;
    let publisher = connection.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    publisher
        .exchange_declare(
            inner.exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(Link {
        connection: Arc::new(connection),
        publisher,
    })
}

/// Keeps one connection open while any `Broker` handle lives.
async fn supervise(weak: Weak<Inner>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let closed = inner.closed.clone();
        if closed.is_cancelled() {
            return;
        }
        let attempt = match tokio::time::timeout(CONNECT_TIMEOUT, connect(&inner)).await {
            Ok(attempt) => attempt.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
        };
        drop(inner);
        match attempt {
            Ok(link) => {
                backoff = Duration::from_millis(100);
                tracing::info!("connected to the message broker");
                let Some(inner) = weak.upgrade() else {
                    let _ = link.connection.close(200, "shutdown".into()).await;
                    return;
                };
                if closed.is_cancelled() {
                    let _ = link.connection.close(200, "shutdown".into()).await;
                    return;
                }
                inner.link.send_replace(Some(link.clone()));
                drop(inner);
                while link.is_alive() {
                    tokio::select! {
                        () = closed.cancelled() => {}
                        () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                    // `Broker::close` closes the link it took itself: a second close here
                    // would race it (lapin logs an unexpected close-ok).
                    if closed.is_cancelled() {
                        return;
                    }
                    if weak.strong_count() == 0 {
                        let _ = link.connection.close(200, "shutdown".into()).await;
                        return;
                    }
                }
                tracing::warn!("lost the message broker connection; reconnecting");
                if let Some(inner) = weak.upgrade() {
                    inner.link.send_replace(None);
                }
            }
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis(), "cannot reach the message broker");
                tokio::select! {
                    () = closed.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// A private, temporary queue on `channel` bound to `exchange` (declared durable, of `kind`)
/// with `routing_key`, and a consumer of it (`no_ack` for a best-effort feed, else acked by
/// the caller). The queue goes away with the channel. Live seat maps and test listeners use
/// it.
pub async fn subscribe_exclusive(
    channel: &Channel,
    exchange: &str,
    kind: lapin::ExchangeKind,
    routing_key: &str,
    no_ack: bool,
) -> Result<lapin::Consumer, lapin::Error> {
    use lapin::options::{
        BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    };
    channel
        .exchange_declare(
            exchange.into(),
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            queue.name().clone(),
            exchange.into(),
            routing_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .basic_consume(
            queue.name().clone(),
            "".into(),
            BasicConsumeOptions {
                no_ack,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
}
