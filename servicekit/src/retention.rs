//! Retention: the kernel's bookkeeping tables do not grow forever. A periodic job
//! ([`Pruner`], started by [`crate::service::Kernel::retention`]) deletes, in bounded batches:
//!
//! - `outbox` rows the broker confirmed (`sent_at`) more than `retention.outbox_days` ago.
//!   An unsent row is never deleted, whatever its age (an event type set aside because no
//!   queue is bound for it stays unsent too, and waits);
//! - `processed_events` rows (the consumers' dedupe records) older than
//!   `retention.processed_events_days`: longer than any message can come again after it was
//!   applied (see [`crate::config::RetentionSettings`]);
//! - `idempotency_keys` rows past their 24 hours ([`crate::idempotency::KEPT`]), when a new
//!   request with the key would find it free anyway.
//!
//! Each batch is one statement that locks the rows it picks with `FOR UPDATE SKIP LOCKED`
//! and deletes exactly those (`ctid = ANY(ARRAY(...))`): every replica runs the job, none
//! waits for another or for the relay (which locks only unsent rows), and a row is deleted
//! once. A full batch is followed at once by the next; otherwise the job sleeps
//! `retention.interval_secs`. Each table the service's database has is pruned (found in the
//! catalogue at start); deletions are counted in `railrush_pruned_rows_total{table}`.
//! Indexes: `outbox_sent_at_idx`, `processed_events_processed_at_idx` and
//! `idempotency_keys_created_idx` in each service's migrations.

use crate::config::RetentionSettings;
use crate::db::PgPool;
use crate::service::{Tasks, every};
use prometheus::{IntCounterVec, Opts, Registry};
use tokio_util::sync::CancellationToken;

/// A table the pruner knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Outbox,
    ProcessedEvents,
    IdempotencyKeys,
}

impl Table {
    pub const ALL: [Table; 3] = [Self::Outbox, Self::ProcessedEvents, Self::IdempotencyKeys];

    pub fn name(self) -> &'static str {
        match self {
            Self::Outbox => "outbox",
            Self::ProcessedEvents => "processed_events",
            Self::IdempotencyKeys => "idempotency_keys",
        }
    }

    /// The rows of this table that may go: the condition's `$1` is the retention in seconds.
    fn expired(self) -> &'static str {
        match self {
            Self::Outbox => "sent_at < now() - make_interval(secs => $1)",
            Self::ProcessedEvents => "processed_at < now() - make_interval(secs => $1)",
            Self::IdempotencyKeys => "created_at < now() - make_interval(secs => $1)",
        }
    }

    /// How long this table's rows are kept under `settings`.
    pub fn retention(self, settings: &RetentionSettings) -> std::time::Duration {
        let days = |d: u32| std::time::Duration::from_secs(u64::from(d) * 24 * 60 * 60);
        match self {
            Self::Outbox => days(settings.outbox_days),
            Self::ProcessedEvents => days(settings.processed_events_days),
            Self::IdempotencyKeys => crate::idempotency::KEPT,
        }
    }
}

/// Deletes at most `batch` expired rows of `table` (kept `retention`); returns how many.
/// Rows another transaction holds are skipped, not waited for.
pub async fn prune_batch(
    pool: &PgPool,
    table: Table,
    retention: std::time::Duration,
    batch: i64,
) -> anyhow::Result<u64> {
    let name = table.name();
    let sql = format!(
        "DELETE FROM {name} WHERE ctid = ANY(ARRAY(\
           SELECT ctid FROM {name} WHERE {} LIMIT $2 FOR UPDATE SKIP LOCKED))",
        table.expired()
    );
    let client = pool.get().await?;
    let deleted = client
        .execute(&sql, &[&retention.as_secs_f64(), &batch.max(1)])
        .await?;
    Ok(deleted)
}

/// The pruning job of one service's database.
pub struct Pruner {
    pool: PgPool,
    settings: RetentionSettings,
    tables: Vec<Table>,
    pruned: IntCounterVec,
}

impl Pruner {
    /// A pruner of the tables among [`Table::ALL`] that `pool`'s database has, counting on
    /// `registry`.
    pub async fn new(
        pool: PgPool,
        settings: &RetentionSettings,
        registry: &Registry,
    ) -> anyhow::Result<Self> {
        let client = pool.get().await?;
        let mut tables = Vec::new();
        for table in Table::ALL {
            let found: bool = client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table.name()])
                .await?
                .get(0);
            if found {
                tables.push(table);
            }
        }
        drop(client);
        let pruned = IntCounterVec::new(
            Opts::new(
                "pruned_rows_total",
                "Rows the retention job deleted, by table",
            ),
            &["table"],
        )?;
        registry.register(Box::new(pruned.clone()))?;
        for table in &tables {
            pruned.with_label_values(&[table.name()]);
        }
        Ok(Self {
            pool,
            settings: settings.clone(),
            tables,
            pruned,
        })
    }

    /// The tables this pruner prunes.
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// One batch of every table; true when any batch was full (more may be left). A table
    /// that fails is logged and tried again next round.
    pub async fn round(&self) -> bool {
        let mut more = false;
        for &table in &self.tables {
            let retention = table.retention(&self.settings);
            match prune_batch(&self.pool, table, retention, self.settings.batch).await {
                Ok(deleted) => {
                    self.pruned
                        .with_label_values(&[table.name()])
                        .inc_by(deleted);
                    if deleted > 0 {
                        tracing::debug!(table = table.name(), deleted, "pruned");
                    }
                    more |= i64::try_from(deleted).unwrap_or(i64::MAX) >= self.settings.batch;
                }
                Err(error) => {
                    tracing::warn!(
                        table = table.name(),
                        error = format!("{error:#}"),
                        "pruning failed; will retry"
                    );
                }
            }
        }
        more
    }

    /// Runs rounds until `stop`: at once after a full batch, else every `interval_secs`.
    pub async fn run(self, stop: CancellationToken) {
        let period = self.settings.interval();
        every(period, stop, || self.round()).await;
    }

    /// Starts the job on `tasks` (a first-phase task: a round in progress finishes at the
    /// stop).
    pub fn start(self, tasks: &Tasks) {
        tasks.spawn("retention", move |stop| self.run(stop));
    }
}
