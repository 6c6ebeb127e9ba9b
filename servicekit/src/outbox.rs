//! The transactional outbox: events are written in the same transaction as the change they
//! announce ([`enqueue`]), and a relay task ([`OutboxRelay`]) publishes unsent rows with
//! publisher confirms, marking them sent only after the broker confirmed. A crash or a broker
//! outage between commit and publish delays an event; it never loses one. Rows are claimed
//! with `FOR UPDATE SKIP LOCKED`, so several replicas share the work.
//!
//! **Unroutable events.** Events are published `mandatory`: when no queue is bound for an
//! event's type (its consumer has never started, or its queue was deleted), the broker returns
//! the message and the row stays unsent. Every type in `servicekit::events` has a consumer by
//! design, so this is a deployment fault, not a policy: the relay logs a warning, counts
//! `railrush_outbox_unroutable_total{kind}`, and sets that type aside for a back-off (1 s,
//! doubling up to 60 s) while the other types keep flowing; then it tries again, and the rows
//! go out in order once the consumer has declared its queue. A type that nothing should
//! consume must not be published at all (there is none today).
//!
//! Each publishing service's migrations create the table:
//! ```sql
//! CREATE TABLE outbox (
//!     id          bigserial PRIMARY KEY,
//!     event_id    uuid NOT NULL UNIQUE,
//!     kind        text NOT NULL,
//!     payload     jsonb NOT NULL,
//!     occurred_at timestamptz NOT NULL,
//!     request_id  text,
//!     sent_at     timestamptz
//! );
//! CREATE INDEX outbox_unsent_idx ON outbox (id) WHERE sent_at IS NULL;
//! ```

use crate::amqp::{Broker, BrokerError, Envelope};
use crate::db::{PgPool, Prepared};
use crate::service::Tasks;
use deadpool_postgres::GenericClient;
use futures_util::future::join_all;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const BATCH: i64 = 200;
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often the backlog gauge is read (a count of the unsent rows): not at every batch,
/// which under load is every event.
const BACKLOG_READ: Duration = Duration::from_secs(1);
/// How long a stopping relay keeps publishing what is left.
const FINAL_FLUSH: Duration = Duration::from_secs(5);
/// The first and the longest wait before an unroutable event type is tried again.
const UNROUTABLE_FIRST_WAIT: Duration = Duration::from_secs(1);
const UNROUTABLE_MAX_WAIT: Duration = Duration::from_secs(60);

/// Writes `event` to the outbox inside the caller's transaction.
pub async fn enqueue(
    tx: &impl GenericClient,
    event: &Envelope,
    request_id: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    tx.execute_prepared(
        "INSERT INTO outbox (event_id, kind, payload, occurred_at, request_id) VALUES ($1, $2, $3, $4, $5)",
        &[&event.event_id, &event.kind, &event.payload, &event.occurred_at, &request_id],
    )
    .await
    .map(|_| ())
}

/// Writes `events` (each with its request id) to the outbox inside the caller's
/// transaction, in one statement.
pub async fn enqueue_all(
    tx: &impl GenericClient,
    events: &[(Envelope, Option<&str>)],
) -> Result<(), tokio_postgres::Error> {
    let ids: Vec<Uuid> = events.iter().map(|(e, _)| e.event_id).collect();
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.kind.as_str()).collect();
    let payloads: Vec<&serde_json::Value> = events.iter().map(|(e, _)| &e.payload).collect();
    let occurred: Vec<chrono::DateTime<chrono::Utc>> =
        events.iter().map(|(e, _)| e.occurred_at).collect();
    let request_ids: Vec<Option<&str>> = events.iter().map(|(_, r)| *r).collect();
    tx.execute_prepared(
        "INSERT INTO outbox (event_id, kind, payload, occurred_at, request_id) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::timestamptz[], $5::text[])",
        &[&ids, &kinds, &payloads, &occurred, &request_ids],
    )
    .await
    .map(|_| ())
}

/// Handle to the relay: call [`OutboxRelay::wake`] after committing an event so it goes
/// out at once instead of at the next poll.
#[derive(Clone)]
pub struct OutboxRelay {
    wake: Arc<Notify>,
}

struct RelayMetrics {
    backlog: IntGauge,
    publish_seconds: Histogram,
    unroutable: IntCounterVec,
}

/// Event types the broker returned (no queue bound), set aside until their wait is over.
#[derive(Default)]
struct SetAside {
    /// kind → (how many times in a row it was returned, when to try again)
    kinds: HashMap<String, (u32, Instant)>,
}

impl SetAside {
    /// The kinds still waiting at `now` (the others are tried again).
    fn waiting(&self, now: Instant) -> Vec<String> {
        self.kinds
            .iter()
            .filter(|(_, (_, until))| *until > now)
            .map(|(kind, _)| kind.clone())
            .collect()
    }

    /// `kind` came back again: wait twice as long as last time (capped).
    fn returned(&mut self, kind: &str, now: Instant) -> Duration {
        let times = self.kinds.get(kind).map_or(0, |(n, _)| *n);
        let wait = UNROUTABLE_FIRST_WAIT
            .saturating_mul(1 << times.min(16))
            .min(UNROUTABLE_MAX_WAIT);
        self.kinds
            .insert(kind.to_owned(), (times.saturating_add(1), now + wait));
        wait
    }

    /// `kind` was routed: its back-off starts over.
    fn routed(&mut self, kind: &str) {
        self.kinds.remove(kind);
    }
}

impl OutboxRelay {
    /// Starts the relay for `pool`'s outbox on `tasks` (as a flusher: it stops after every
    /// consumer has, publishing what they committed last), with its metrics on `registry`.
    pub fn start(
        pool: PgPool,
        broker: Broker,
        registry: &Registry,
        tasks: &Tasks,
    ) -> anyhow::Result<Self> {
        let metrics = RelayMetrics {
            backlog: IntGauge::new(
                "outbox_backlog",
                "Outbox rows not yet confirmed by the broker",
            )?,
            publish_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "outbox_publish_seconds",
                    "Time from commit to broker confirm",
                )
                .buckets(crate::metrics::LATENCY_BUCKETS.to_vec()),
            )?,
            unroutable: IntCounterVec::new(
                Opts::new(
                    "outbox_unroutable_total",
                    "Outbox events the broker returned because no queue is bound for their type; they stay unsent",
                ),
                &["kind"],
            )?,
        };
        registry.register(Box::new(metrics.backlog.clone()))?;
        registry.register(Box::new(metrics.publish_seconds.clone()))?;
        registry.register(Box::new(metrics.unroutable.clone()))?;
        let wake = Arc::new(Notify::new());
        let relay = Self { wake: wake.clone() };
        tasks.spawn_flusher("outbox relay", move |stop| {
            run(pool, broker, wake, metrics, stop)
        });
        Ok(relay)
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

async fn run(
    pool: PgPool,
    broker: Broker,
    wake: Arc<Notify>,
    metrics: RelayMetrics,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    let mut set_aside = SetAside::default();
    let mut backlog_read: Option<Instant> = None;
    while !stop.is_cancelled() {
        let read_backlog = backlog_read.is_none_or(|at| at.elapsed() >= BACKLOG_READ);
        if read_backlog {
            backlog_read = Some(Instant::now());
        }
        match relay_batch(&pool, &broker, &metrics, &mut set_aside, read_backlog).await {
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => {
                backoff = Duration::from_millis(100);
                tokio::select! {
                    () = stop.cancelled() => {}
                    _ = tokio::time::timeout(IDLE_POLL, wake.notified()) => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "outbox relay: will retry");
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    // Stopping: what was committed last goes out now if the broker takes it within the
    // grace period; anything left waits in the table for the next start.
    let drained = tokio::time::timeout(FINAL_FLUSH, async {
        while let Ok(n) = relay_batch(&pool, &broker, &metrics, &mut set_aside, false).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("outbox relay stopped with events still unsent; they go at next start");
    }
}

/// Publishes one batch, after reading the backlog gauge when `read_backlog`; returns how many
/// rows it handled (sent, or returned by the broker and set aside with their type).
async fn relay_batch(
    pool: &PgPool,
    broker: &Broker,
    metrics: &RelayMetrics,
    set_aside: &mut SetAside,
    read_backlog: bool,
) -> anyhow::Result<usize> {
    let mut client = pool.get().await?;
    if read_backlog
        && let Ok(row) = client
            .query_one_prepared("SELECT count(*) FROM outbox WHERE sent_at IS NULL", &[])
            .await
    {
        metrics.backlog.set(row.get(0));
    }
    if !broker.is_connected() {
        return Ok(0);
    }
    let tx = client.transaction().await?;
    let rows = tx
        .query_prepared(
            "SELECT id, event_id, kind, payload, occurred_at, request_id FROM outbox \
             WHERE sent_at IS NULL AND kind <> ALL($2) ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            &[&BATCH, &set_aside.waiting(Instant::now())],
        )
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let started = Instant::now();
    let events: Vec<(i64, Envelope, Option<String>)> = rows
        .iter()
        .map(|r| {
            let envelope = Envelope {
                event_id: r.get::<_, Uuid>(1),
                kind: r.get(2),
                payload: r.get(3),
                occurred_at: r.get(4),
            };
            (r.get(0), envelope, r.get(5))
        })
        .collect();
    let results = join_all(
        events
            .iter()
            .map(|(_, e, rid)| broker.publish(e, rid.as_deref())),
    )
    .await;
    let sent: Vec<i64> = events
        .iter()
        .zip(&results)
        .filter_map(|((id, _, _), r)| r.is_ok().then_some(*id))
        .collect();
    tx.execute_prepared(
        "UPDATE outbox SET sent_at = now() WHERE id = ANY($1)",
        &[&sent],
    )
    .await?;
    tx.commit().await?;
    let mut returned: HashMap<&str, u64> = HashMap::new();
    for ((_, e, _), r) in events.iter().zip(&results) {
        match r {
            Ok(()) => set_aside.routed(&e.kind),
            Err(BrokerError::Unroutable(_)) => *returned.entry(e.kind.as_str()).or_default() += 1,
            Err(_) => {}
        }
    }
    for (kind, count) in &returned {
        metrics
            .unroutable
            .with_label_values(&[*kind])
            .inc_by(*count);
        let retry_in = set_aside.returned(kind, Instant::now());
        tracing::warn!(
            kind,
            count,
            retry_in_ms = retry_in.as_millis(),
            "outbox: the broker returned events no queue is bound for; they stay unsent"
        );
    }
    for (_, e, _) in events
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .map(|(e, _)| e)
    {
        let age = chrono::Utc::now() - e.occurred_at;
        metrics
            .publish_seconds
            .observe(age.to_std().unwrap_or_default().as_secs_f64());
    }
    if let Some(Err(error)) = results.iter().find(|r| {
        r.as_ref()
            .is_err_and(|e| !matches!(e, BrokerError::Unroutable(_)))
    }) {
        anyhow::bail!(
            "publishing outbox events: {error} ({} of {} sent)",
            sent.len(),
            events.len()
        );
    }
    tracing::debug!(
        sent = sent.len(),
        elapsed_ms = started.elapsed().as_millis(),
        "outbox batch"
    );
    Ok(sent.len() + returned.values().sum::<u64>() as usize)
}
