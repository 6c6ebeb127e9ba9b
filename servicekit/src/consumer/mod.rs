//! Consuming events: durable quorum queues with a delivery limit and at-least-once
//! dead-lettering into a parking queue, manual acks after the effect is committed, bounded
//! prefetch, and re-subscription after the broker connection comes back.
//!
//! A service writes a [`Handler`]: it declares its [`Subscription`] (queue, bindings, limits)
//! and handles one event at a time. The kernel ([`crate::service::Kernel::consume`]) owns the
//! rest: spawning, decoding the envelope, counting outcomes, retry and park decisions, and a
//! clean stop (no new deliveries, in-flight ones finished and acked).
//!
//! A [batched](Subscription::batched) subscription hands the deliveries that arrived while
//! the previous batch ran to [`Handler::handle_batch`] at once, one batch at a time (or a
//! few: [`Subscription::concurrent_batches`]), and settles each by its own result after the
//! batch: a handler can apply many events in one transaction ([`first_deliveries`] records
//! them in one statement).
//!
//! A handler returns `Ok(label)` (acked; `label` is counted in the handler's [`Outcomes`]),
//! [`HandleError::Retry`] (requeued after a back-off; the queue's delivery limit parks a
//! message that keeps failing) or [`HandleError::Reject`] (parked at once: poison). Store
//! errors convert into `Retry` with `?`; a payload that does not parse is a `Reject`
//! ([`decode`]). Handlers make their effect idempotent with [`first_delivery`], recorded in
//! the same transaction as the effect, in the table
//! ```sql
//! CREATE TABLE processed_events (
//!     consumer     text NOT NULL,
//!     event_id     uuid NOT NULL,
//!     processed_at timestamptz NOT NULL DEFAULT now(),
//!     PRIMARY KEY (consumer, event_id)
//! );
//! ```
//! Parked messages stay in `<queue>.parked` until an operator lists, replays or drops them
//! (the service's `parked` command, [`crate::parked`]). The records are pruned after
//! `retention.processed_events_days` ([`crate::retention`]).
//!
//! Files: `topology.rs` declares queues and bindings; `run.rs` is the consuming loop and the
//! settling of each delivery.

mod run;
mod topology;

pub use run::{QueueSpec, start};
pub use topology::declare;

use crate::amqp::Envelope;
use crate::db::Prepared;
use deadpool_postgres::GenericClient;
use futures_util::future::join_all;
use prometheus::IntCounterVec;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

/// What a handler consumes and how: the queue (before the broker's prefix), the event types
/// bound to it from the events exchange, and its limits.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub queue: &'static str,
    pub bindings: &'static [&'static str],
    /// Unacked messages in flight at once.
    pub prefetch: u16,
    /// Returns (failed deliveries) a message may have: the broker dead-letters it to the
    /// parking queue when it is returned once more, so it is delivered at most
    /// `delivery_limit + 1` times.
    pub delivery_limit: u32,
    /// How often the queue-depth gauges are read from the broker.
    pub depth_refresh: Duration,
    /// The most deliveries handed to [`Handler::handle_batch`] at once; 1 (the default)
    /// hands each delivery to [`Handler::handle`] as it arrives, many at a time. Above 1 the
    /// consumer runs `batches` batches at a time, each made of what arrived while the others
    /// ran.
    pub batch: u16,
    /// Batches handled at once (1 by default): more when a batch waits on something slow
    /// outside (a payment gateway), so that one slow call does not hold the queue.
    pub batches: u16,
}

impl Subscription {
    pub const fn new(queue: &'static str, bindings: &'static [&'static str]) -> Self {
        Self {
            queue,
            bindings,
            prefetch: 32,
            delivery_limit: 5,
            depth_refresh: Duration::from_secs(5),
            batch: 1,
            batches: 1,
        }
    }

    /// Hands up to `batch` deliveries at once to [`Handler::handle_batch`] (see
    /// [`Subscription::batch`]); the prefetch should leave room for more than one batch. A
    /// batch ends when every delivery in it is settled, so a retried one's back-off (200 ms
    /// times its returns) holds the batch's place that long.
    pub const fn batched(mut self, batch: u16) -> Self {
        self.batch = batch;
        self
    }

    /// Runs up to `batches` batches at once (see [`Subscription::batches`]).
    pub const fn concurrent_batches(mut self, batches: u16) -> Self {
        self.batches = batches;
        self
    }

    pub const fn prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch;
        self
    }

    pub const fn delivery_limit(mut self, limit: u32) -> Self {
        self.delivery_limit = limit;
        self
    }
}

/// A counter of a handler's outcomes: the label a handler returns, or `retried` /
/// `rejected`, after any fixed leading label values (e.g. the queue).
#[derive(Clone)]
pub struct Outcomes {
    counter: IntCounterVec,
    leading: Vec<String>,
}

impl Outcomes {
    /// `counter` has one label: the outcome.
    pub fn new(counter: IntCounterVec) -> Self {
        Self {
            counter,
            leading: Vec::new(),
        }
    }

    /// `counter`'s first label values are `leading`, its last the outcome.
    pub fn labelled(counter: IntCounterVec, leading: &[&str]) -> Self {
        Self {
            counter,
            leading: leading.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    pub(crate) fn count(&self, outcome: &str) {
        let mut labels: Vec<&str> = self.leading.iter().map(String::as_str).collect();
        labels.push(outcome);
        self.counter.with_label_values(&labels).inc();
    }
}

/// Handles the events of one queue. Implementations hold their dependencies (pools, the
/// outbox relay) and are shared by every in-flight delivery.
pub trait Handler: Send + Sync + 'static {
    fn subscription(&self) -> Subscription;

    /// Where each handled event's outcome is counted; none by default.
    fn outcomes(&self) -> Option<Outcomes> {
        None
    }

    /// Applies `event`; `Ok` carries the outcome's label (`"paid"`, `"duplicate"`, ...).
    fn handle(
        &self,
        event: Envelope,
        meta: Meta,
    ) -> impl Future<Output = Result<&'static str, HandleError>> + Send;

    /// Applies several events, for a [batched](Subscription::batched) subscription: one
    /// result per event, in their order (a result missing is retried). Each delivery is
    /// settled by its own result, after the whole batch is handled: an implementation that
    /// commits the batch in one transaction acks nothing before that commit. By default the
    /// events are handled one by one, all at once.
    fn handle_batch(
        &self,
        events: Vec<(Envelope, Meta)>,
    ) -> impl Future<Output = Vec<Result<&'static str, HandleError>>> + Send {
        join_all(
            events
                .into_iter()
                .map(|(event, meta)| self.handle(event, meta)),
        )
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

impl HandleError {
    pub fn retry(e: impl Into<anyhow::Error>) -> Self {
        Self::Retry(e.into())
    }

    pub fn reject(e: impl Into<anyhow::Error>) -> Self {
        Self::Reject(e.into())
    }

    /// The label counted for this failure.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Retry(_) => "retried",
            Self::Reject(_) => "rejected",
        }
    }
}

/// A store that fails now may answer on the next delivery: store errors are retried, except
/// a check constraint refusing the change, which no redelivery can fix (parked).
impl From<tokio_postgres::Error> for HandleError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.code() == Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION) {
            Self::Reject(e.into())
        } else {
            Self::Retry(e.into())
        }
    }
}

/// A store error is retried: an unavailable store may be back for the next delivery, and
/// anything else parks the message after the delivery limit.
impl From<crate::db::DbError> for HandleError {
    fn from(e: crate::db::DbError) -> Self {
        Self::Retry(e.into())
    }
}

impl From<crate::cache::CacheError> for HandleError {
    fn from(e: crate::cache::CacheError) -> Self {
        Self::Retry(e.into())
    }
}

macro_rules! retry_on {
    ($($error:ty),*) => {$(
        impl From<$error> for HandleError {
            fn from(e: $error) -> Self {
                Self::Retry(e.into())
            }
        }
    )*};
}
retry_on!(deadpool_postgres::PoolError, redis::RedisError);

/// The payload of `event` as `T`; a payload that does not parse can never succeed, so it is
/// rejected (parked) with the cause.
pub fn decode<T: DeserializeOwned>(event: &Envelope) -> Result<T, HandleError> {
    serde_json::from_value(event.payload.clone())
        .map_err(|e| HandleError::Reject(anyhow::anyhow!("malformed {} payload: {e}", event.kind)))
}

/// What the handler learns about the delivery besides the event.
#[derive(Clone, Debug)]
pub struct Meta {
    pub request_id: Option<String>,
    pub redelivered: bool,
}

/// Records that `consumer` applied `event_id`; false when it already had (a duplicate
/// delivery, whose effect must then be skipped). Call inside the effect's transaction.
pub async fn first_delivery(
    tx: &impl GenericClient,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, tokio_postgres::Error> {
    let inserted = tx
        .execute_prepared(
            "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&consumer, &event_id],
        )
        .await?;
    Ok(inserted == 1)
}

/// Records that `consumer` applied each of `event_ids` (one statement); returns how many were
/// first deliveries (the others had been applied before). Call inside the effect's
/// transaction; a batch that needs every event to be new rolls back when this is short.
pub async fn first_deliveries(
    tx: &impl GenericClient,
    consumer: &str,
    event_ids: &[Uuid],
) -> Result<usize, tokio_postgres::Error> {
    let inserted = tx
        .execute_prepared(
            "INSERT INTO processed_events (consumer, event_id) \
             SELECT $1, e FROM unnest($2::uuid[]) AS e ON CONFLICT DO NOTHING",
            &[&consumer, &event_ids],
        )
        .await?;
    Ok(usize::try_from(inserted).unwrap_or(usize::MAX))
}
