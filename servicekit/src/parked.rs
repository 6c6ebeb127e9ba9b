//! Parked messages: what a consumer gave up on ([`crate::consumer`] dead-letters a message
//! into `<queue>.parked` when its handler rejects it, or when it failed on every delivery
//! the queue allows), listed, replayed or dropped by an operator.
//!
//! [`Parked`] holds the broker and the queues a service consumes (names as in its
//! `Subscription`s, before the broker's `amqp.queue_prefix`); the command line
//! (`<service> parked list|replay|drop`, [`crate::cli::ParkedCommand`]) and the HTTP admin
//! routes ([`routes`]: `GET <prefix>/admin/parked`, `POST <prefix>/admin/parked/{queue}/replay`
//! and `.../drop`) call the same three functions:
//!
//! - [`Parked::list`]: how many messages a parking queue holds and, for the first ones, the
//!   event id and type, the first death's reason (`rejected`: the handler refused it;
//!   `delivery_limit`: it failed on every delivery) and when that was;
//! - [`Parked::replay`]: republishes a message (or all) straight to its source queue through
//!   the default exchange (only the consumer that parked it sees it again, not every queue
//!   bound to its type), with its properties and headers but a fresh delivery count, waits for
//!   the broker's confirm, then acks the parked copy. Safe to repeat: consumers apply an event
//!   once by its id (`first_delivery`), so a replayed message that was applied already, or
//!   replayed twice, changes nothing. A message whose cause is not fixed parks again;
//! - [`Parked::discard`]: acks (deletes) a message, or all.
//!
//! AMQP cannot browse a queue: each operation takes the parking queue's messages with
//! `basic.get` (unacknowledged) and, by closing its channel, gives back every one it did not
//! replay or drop, so they stay parked (in their order); it returns once the queue counts
//! them again (a quorum queue takes them back a moment later). Each such return counts as a
//! delivery of the parked message; the parking queues have no delivery limit, so on
//! RabbitMQ 3.x nothing is lost. RabbitMQ 4 gives every quorum queue a default limit of 20:
//! there, set a policy with `delivery-limit: -1` on the `.parked` queues.

use crate::amqp::{Broker, BrokerError};
use chrono::{DateTime, Utc};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, ErrorKind};
use uuid::Uuid;

pub mod routes;

pub use routes::routes;

/// Which parked messages an operation takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    /// Every parked message whose event id is this (copies of one event included); none
    /// is [`ParkedError::NotFound`].
    Event(Uuid),
    /// Every parked message whose event id is one of these; none is not an error (the
    /// count says how many were taken).
    Events(Vec<Uuid>),
    All,
}

impl Which {
    fn wants(&self, event_id: Option<Uuid>) -> bool {
        match self {
            Which::All => true,
            Which::Event(id) => event_id == Some(*id),
            Which::Events(ids) => event_id.is_some_and(|id| ids.contains(&id)),
        }
    }
}

/// One parked message as [`Parked::list`] shows it. Fields the message does not carry
/// (a body that is not an event envelope) are `None`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ParkedMessage {
    pub event_id: Option<Uuid>,
    pub kind: Option<String>,
    /// The reason of its first dead-lettering: `rejected` or `delivery_limit`.
    pub reason: Option<String>,
    /// When it was first dead-lettered.
    pub parked_at: Option<DateTime<Utc>>,
    /// How many times it was dead-lettered (replayed and parked again).
    pub times_parked: u64,
    /// The message's body: its JSON (the event envelope), else its bytes as text.
    pub body: serde_json::Value,
}

/// A parking queue's messages.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Listing {
    /// The source queue, as the service names it.
    pub queue: String,
    /// How many messages are parked.
    pub count: u32,
    /// The first of them (at most the limit asked for).
    pub messages: Vec<ParkedMessage>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParkedError {
    #[error("no queue {queue:?} here; the queues are {known}")]
    UnknownQueue { queue: String, known: String },
    #[error(
        "{0} does not exist on the broker (the service has not consumed from it yet, or \
         amqp.queue_prefix differs)"
    )]
    NotDeclared(String),
    #[error("no message of event {id} is parked in {queue}")]
    NotFound { queue: String, id: Uuid },
    #[error("the broker did not take the replayed message back into {0}")]
    NotReplayed(String),
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

impl From<lapin::Error> for ParkedError {
    fn from(e: lapin::Error) -> Self {
        Self::Broker(BrokerError::Amqp(e))
    }
}

/// The parking queues of one service's consumers.
#[derive(Clone)]
pub struct Parked {
    broker: Broker,
    queues: Vec<String>,
}

impl Parked {
    /// `queues`: the queues the service consumes, as its subscriptions name them.
    pub fn new(broker: Broker, queues: &[&str]) -> Self {
        Self {
            broker,
            queues: queues.iter().map(|q| (*q).to_owned()).collect(),
        }
    }

    /// The queues, as the service names them.
    pub fn queues(&self) -> &[String] {
        &self.queues
    }

    /// `queue` (or its parking queue's name) as one of ours; the error names the others.
    pub fn resolve(&self, queue: &str) -> Result<&str, ParkedError> {
        resolve(&self.queues, queue)
    }

    /// The count of `queue`'s parked messages and the first `limit` of them.
    pub async fn list(&self, queue: &str, limit: usize) -> Result<Listing, ParkedError> {
        let queue = self.resolve(queue)?.to_owned();
        let parking = format!("{}.parked", self.broker.queue_name(&queue));
        let channel = self.broker.channel().await?;
        let count = declared_count(&channel, &parking).await?;
        let mut messages = Vec::new();
        while messages.len() < limit.min(count as usize) {
            let Some(got) = get(&channel, &parking).await? else {
                break;
            };
            messages.push(describe(&got.delivery));
        }
        // Closing the channel gives back every message taken.
        let _ = channel.close(200, "listed".into()).await;
        self.settled(&parking, count).await;
        Ok(Listing {
            queue,
            count,
            messages,
        })
    }

    /// Republishes the parked messages of `queue` that `which` names to `queue` itself, each
    /// acked from the parking queue once the broker confirmed its copy; returns how many.
    pub async fn replay(&self, queue: &str, which: Which) -> Result<u32, ParkedError> {
        let queue = self.resolve(queue)?;
        let source = self.broker.queue_name(queue);
        let publisher = self.broker.channel().await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let taken = self
            .take(queue, which, |delivery| {
                let (publisher, source) = (publisher.clone(), source.clone());
                async move {
                    let confirm = publisher
                        .basic_publish(
                            "".into(),
                            source.as_str().into(),
                            BasicPublishOptions {
                                mandatory: true,
                                ..Default::default()
                            },
                            &delivery.data,
                            replayed(&delivery.properties),
                        )
                        .await?
                        .await?;
                    match confirm {
                        Confirmation::Ack(None) => {
                            delivery.ack(BasicAckOptions::default()).await?;
                            Ok(())
                        }
                        _ => Err(ParkedError::NotReplayed(source)),
                    }
                }
            })
            .await;
        let _ = publisher.close(200, "replayed".into()).await;
        taken
    }

    /// Deletes the parked messages of `queue` that `which` names; returns how many.
    pub async fn discard(&self, queue: &str, which: Which) -> Result<u32, ParkedError> {
        let queue = self.resolve(queue)?;
        self.take(queue, which, |delivery| async move {
            delivery.ack(BasicAckOptions::default()).await?;
            Ok(())
        })
        .await
    }

    /// Goes through the parking queue of `queue` once, doing `action` with each message
    /// `which` names; the others go back when the channel closes.
    async fn take<F, Fut>(&self, queue: &str, which: Which, action: F) -> Result<u32, ParkedError>
    where
        F: Fn(lapin::message::Delivery) -> Fut,
        Fut: std::future::Future<Output = Result<(), ParkedError>>,
    {
        let parking = format!("{}.parked", self.broker.queue_name(queue));
        let channel = self.broker.channel().await?;
        let count = declared_count(&channel, &parking).await?;
        let outcome: Result<u32, ParkedError> = async {
            // Messages parked meanwhile wait for the next run: one pass, bounded.
            let mut done: u32 = 0;
            for _ in 0..count {
                let Some(got) = get(&channel, &parking).await? else {
                    break;
                };
                if which.wants(describe(&got.delivery).event_id) {
                    action(got.delivery).await?;
                    done += 1;
                }
            }
            Ok(done)
        }
        .await;
        let _ = channel.close(200, "done".into()).await;
        let left = count.saturating_sub(*outcome.as_ref().unwrap_or(&0));
        self.settled(&parking, left).await;
        match (outcome, which) {
            (Ok(0), Which::Event(id)) => Err(ParkedError::NotFound {
                queue: queue.to_owned(),
                id,
            }),
            (outcome, _) => outcome,
        }
    }
}

impl Parked {
    /// Waits (up to [`SETTLE`]) until `parking` counts at least `expected` ready messages:
    /// a quorum queue takes back the messages of a closed channel a moment later, and the
    /// next command (or a caller's count) must find them there.
    async fn settled(&self, parking: &str, expected: u32) {
        let deadline = tokio::time::Instant::now() + SETTLE;
        while tokio::time::Instant::now() < deadline {
            // A failed passive declare closes its channel: a fresh one each time.
            let Ok(channel) = self.broker.channel().await else {
                return;
            };
            let ready = declared_count(&channel, parking).await;
            let _ = channel.close(200, "counted".into()).await;
            match ready {
                Ok(n) if n < expected => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                _ => return,
            }
        }
        tracing::warn!(
            parking,
            expected,
            "parked messages not all back in their queue yet"
        );
    }
}

/// How long an operation waits for the messages it gave back to be counted again.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// `queue` (or its parking queue's name) as one of `queues`; the error names them.
pub fn resolve<'a, Q: AsRef<str>>(queues: &'a [Q], queue: &str) -> Result<&'a str, ParkedError> {
    let source = queue.strip_suffix(".parked").unwrap_or(queue);
    queues
        .iter()
        .map(AsRef::as_ref)
        .find(|q| *q == source)
        .ok_or_else(|| ParkedError::UnknownQueue {
            queue: queue.to_owned(),
            known: queues
                .iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The message count of `queue`, which must exist.
async fn declared_count(channel: &Channel, queue: &str) -> Result<u32, ParkedError> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    match channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await
    {
        Ok(declared) => Ok(declared.message_count()),
        Err(e) => match e.kind() {
            ErrorKind::ProtocolError(amqp)
                if amqp.kind() == &AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND) =>
            {
                Err(ParkedError::NotDeclared(queue.to_owned()))
            }
            _ => Err(e.into()),
        },
    }
}

async fn get(
    channel: &Channel,
    queue: &str,
) -> Result<Option<lapin::message::BasicGetMessage>, ParkedError> {
    Ok(channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: false })
        .await?)
}

/// The properties of a replayed message: the parked one's, without the delivery count the
/// quorum queue added (the consumer would count the old deliveries against the new copy).
fn replayed(properties: &BasicProperties) -> BasicProperties {
    let mut headers = FieldTable::default();
    if let Some(old) = properties.headers() {
        for (key, value) in old.inner() {
            if key.as_str() != "x-delivery-count" {
                headers.insert(key.clone(), value.clone());
            }
        }
    }
    properties.clone().with_headers(headers)
}

fn header<'a>(table: &'a FieldTable, key: &str) -> Option<&'a AMQPValue> {
    table.inner().get(key)
}

fn text(value: Option<&AMQPValue>) -> Option<String> {
    match value {
        Some(AMQPValue::LongString(s)) => Some(s.to_string()),
        Some(AMQPValue::ShortString(s)) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn number(value: Option<&AMQPValue>) -> Option<u64> {
    match value {
        Some(AMQPValue::LongLongInt(n)) => u64::try_from(*n).ok(),
        Some(AMQPValue::LongInt(n)) => u64::try_from(*n).ok(),
        Some(AMQPValue::LongUInt(n)) => Some(u64::from(*n)),
        Some(AMQPValue::Timestamp(n)) => Some(*n),
        _ => None,
    }
}

/// What a parked delivery says about itself: the event from its properties (else its body),
/// the first death from RabbitMQ's `x-first-death-*` and `x-death` headers.
fn describe(delivery: &lapin::message::Delivery) -> ParkedMessage {
    let properties = &delivery.properties;
    let envelope = serde_json::from_slice::<serde_json::Value>(&delivery.data).ok();
    let body = envelope.clone().unwrap_or_else(|| {
        serde_json::Value::String(String::from_utf8_lossy(&delivery.data).into_owned())
    });
    let from_body = |field: &str| {
        envelope
            .as_ref()
            .and_then(|e| e.get(field))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let event_id = properties
        .message_id()
        .as_ref()
        .and_then(|id| Uuid::parse_str(id.as_str()).ok())
        .or_else(|| from_body("event_id").and_then(|id| Uuid::parse_str(&id).ok()));
    let kind = properties
        .kind()
        .as_ref()
        .map(|k| k.as_str().to_owned())
        .or_else(|| from_body("type"));
    let empty = FieldTable::default();
    let headers = properties.headers().as_ref().unwrap_or(&empty);
    let reason = text(header(headers, "x-first-death-reason"));
    let first_queue = text(header(headers, "x-first-death-queue"));
    let deaths: Vec<&FieldTable> = match header(headers, "x-death") {
        Some(AMQPValue::FieldArray(entries)) => entries
            .as_slice()
            .iter()
            .filter_map(|e| match e {
                AMQPValue::FieldTable(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    // `x-death` has one entry per (queue, reason), the latest first: the first death's is
    // the one of the first queue and reason, else the oldest.
    let first = deaths
        .iter()
        .find(|d| text(header(d, "queue")) == first_queue && text(header(d, "reason")) == reason)
        .or(deaths.last());
    let parked_at = first
        .and_then(|d| number(header(d, "time")))
        .and_then(|secs| i64::try_from(secs).ok())
        .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0));
    ParkedMessage {
        event_id,
        kind,
        reason: reason.or_else(|| first.and_then(|d| text(header(d, "reason")))),
        parked_at,
        times_parked: deaths
            .iter()
            .filter_map(|d| number(header(d, "count")))
            .sum(),
        body,
    }
}
