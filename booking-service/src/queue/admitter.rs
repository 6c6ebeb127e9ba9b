//! The waiting room's job, on every replica (each step is an atomic script or idempotent, so
//! replicas running it together admit no faster than one): every `queue.tick_ms` it
//! - fetches the sales from train-service again when `queue.sales_refresh_ms` have passed,
//!   and makes the room of every sale whose pre-queue is open;
//! - at a sale's opening, closes its pre-queue and numbers it in a uniformly random order
//!   (Fisher–Yates, seeded once per room from the OS's generator, so every replica writes
//!   the same numbers);
//! - moves each open room's serving counter at `queue.admit_per_minute`, skipping users
//!   who stopped asking for their place;
//! - ends a room once everyone who joined has had their turn (`queue.end_after_secs` after
//!   the opening at the earliest), when its trips have departed, or when the sale is gone;
//! - reads the set of active rooms into memory, which select and confirm consult.

use super::WaitingRoom;
use super::room::Advance;
use super::sales::SalesSource;
use chrono::Utc;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use servicekit::service;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct QueueMetrics {
    pub joins: IntCounter,
    pub admitted: IntCounter,
    /// Places lost by users who stopped asking before their turn, or whose pass ran out.
    pub lost: IntCounter,
    pub waiting: IntGauge,
    pub waited_seconds: Histogram,
    /// Selects and confirms refused for their pass, by reason (missing, bad_signature, ...).
    pub passes_refused: IntCounterVec,
}

impl QueueMetrics {
    pub fn register(registry: &Registry) -> anyhow::Result<Self> {
        let joins = IntCounter::new("queue_joins_total", "Joins of a sale's waiting room")?;
        let admitted = IntCounter::new(
            "queue_admitted_total",
            "Users let in from a waiting room (the serving counter reached them)",
        )?;
        let lost = IntCounter::new(
            "queue_places_lost_total",
            "Places lost by users who stopped asking for them",
        )?;
        let waiting = IntGauge::new(
            "queue_waiting",
            "Users waiting in the active waiting rooms (pre-queue included)",
        )?;
        let waited_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "queue_waited_seconds",
                "From joining a waiting room to seeing oneself admitted",
            )
            .buckets(vec![
                1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
            ]),
        )?;
        let passes_refused = IntCounterVec::new(
            Opts::new(
                "queue_passes_refused_total",
                "Selects and confirms refused for a missing or invalid queue pass, by reason",
            ),
            &["reason"],
        )?;
        for reason in [
            "missing",
            "malformed",
            "bad_signature",
            "other_sale",
            "other_user",
            "expired",
        ] {
            passes_refused.with_label_values(&[reason]);
        }
        registry.register(Box::new(joins.clone()))?;
        registry.register(Box::new(admitted.clone()))?;
        registry.register(Box::new(lost.clone()))?;
        registry.register(Box::new(waiting.clone()))?;
        registry.register(Box::new(waited_seconds.clone()))?;
        registry.register(Box::new(passes_refused.clone()))?;
        Ok(Self {
            joins,
            admitted,
            lost,
            waiting,
            waited_seconds,
            passes_refused,
        })
    }
}

/// Runs the job until `stop`.
pub async fn run(room: Arc<WaitingRoom>, source: SalesSource, stop: CancellationToken) {
    let tick = Duration::from_millis(room.settings.tick_ms.max(10));
    let refresh = Duration::from_millis(room.settings.sales_refresh_ms);
    let mut fetched: Option<Instant> = None;
    service::every(tick, stop, || {
        let due = fetched.is_none_or(|at| at.elapsed() >= refresh);
        if due {
            fetched = Some(Instant::now());
        }
        let (room, source) = (room.clone(), &source);
        async move {
            if due {
                match source.fetch().await {
                    Ok(sales) => room.sales.replace(sales),
                    Err(error) => tracing::debug!(%error, "sales not fetched"),
                }
                if let Err(error) = make_rooms(&room).await {
                    tracing::debug!(%error, "waiting rooms not made");
                }
            }
            if let Err(error) = round(&room).await {
                tracing::debug!(%error, "waiting-room round failed");
            }
            false
        }
    })
    .await;
}

/// Makes the room of every sale whose pre-queue is open.
async fn make_rooms(room: &WaitingRoom) -> anyhow::Result<()> {
    let now = Utc::now();
    for (id, sale) in room.sales.all().iter() {
        if now >= room.pre_queue_opens(sale.opens_at) && now < sale.opens_at && now < sale.closes_at
        {
            let opens_ms = sale.opens_at.timestamp_millis();
            if room
                .rooms
                .create(id, opens_ms, now.timestamp_millis())
                .await?
            {
                tracing::info!(sale_id = %id, opens_at = %sale.opens_at, "waiting room open");
            }
        }
    }
    Ok(())
}

/// One round over the active rooms, then the in-memory copy of the active set.
async fn round(room: &WaitingRoom) -> anyhow::Result<()> {
    let active = room.rooms.active().await?;
    let sales = room.sales.all();
    let now = Utc::now();
    let mut waiting = 0;
    let mut still: HashMap<String, bool> = HashMap::new();
    for id in active {
        let Some(sale) = sales.get(&id) else {
            // The sale is gone (its trips moved to another opening) once the list is known.
            if !sales.is_empty() {
                room.rooms.end(&id).await?;
                tracing::info!(sale_id = %id, "waiting room ended: the sale is gone");
            } else {
                still.insert(id, true);
            }
            continue;
        };
        if now >= sale.closes_at {
            room.rooms.end(&id).await?;
            continue;
        }
        let Some(status) = room.rooms.status(&id).await? else {
            continue;
        };
        let mut assigned = status.assigned;
        if !status.assigned && now >= sale.opens_at {
            open(room, &id).await?;
            assigned = true;
        } else if status.assigned {
            let stale = now - chrono::Duration::seconds(stale_secs(room));
            let step = room
                .rooms
                .advance(
                    &id,
                    now.timestamp_millis(),
                    room.settings.admit_per_minute,
                    stale.timestamp_millis(),
                )
                .await?;
            count(room, step);
            let drained = step.serving >= step.tail;
            let end_after = chrono::Duration::seconds(
                i64::try_from(room.settings.end_after_secs).unwrap_or(60),
            );
            if drained && now >= sale.opens_at + end_after {
                room.rooms.end(&id).await?;
                tracing::info!(sale_id = %id, admitted = step.serving, "waiting room drained and ended");
                continue;
            }
            waiting += (step.tail - step.serving).max(0);
        } else {
            waiting += status.waiting();
        }
        still.insert(id, assigned);
    }
    room.metrics.waiting.set(waiting);
    room.set_active(still);
    Ok(())
}

fn stale_secs(room: &WaitingRoom) -> i64 {
    i64::try_from(room.settings.stale_after_secs).unwrap_or(180)
}

fn count(room: &WaitingRoom, step: Advance) {
    room.metrics
        .admitted
        .inc_by(u64::try_from(step.admitted).unwrap_or(0));
    room.metrics
        .lost
        .inc_by(u64::try_from(step.lost).unwrap_or(0));
}

/// The opening: closes the pre-queue, shuffles it and numbers it.
async fn open(room: &WaitingRoom, id: &str) -> anyhow::Result<()> {
    let (size, seed) = room.rooms.close(id, rand::random()).await?;
    let mut order = room.rooms.pre_queue(id).await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    order.shuffle(&mut rng);
    room.rooms
        .assign(id, &order, Utc::now().timestamp_millis())
        .await?;
    tracing::info!(sale_id = %id, pre_queue = size, "sale open: the pre-queue is shuffled and numbered");
    Ok(())
}
