//! Confirmations written together (group commit).
//!
//! In a rush every confirmation is its own transaction of seven statements and one commit.
//! Here a confirmation the handler has checked and built is handed to one task, which
//! writes the confirmations that arrived while its previous batch was being written in one
//! transaction: the guard's locks and read for all of them, every booking and seat in one
//! statement, every `booking.confirmed` event in one statement, the kept answers of keyed
//! requests, one commit. A quiet service still writes batches of one, without added wait.
//!
//! A batch is all or nothing, and only the common case is written this way: when any of its
//! confirmations would be refused (the trip was cancelled, a passenger's seat limit, a seat
//! or hold already booked) or anything fails, the transaction rolls back and every handler
//! of the batch writes its own confirmation the single way (`crate::routes::confirm`), with
//! its own answer. Each (passenger, trip) is in a batch at most once: a second confirmation
//! waits for the next batch, so the guard's read counts what the first one committed.
//! Durability is the single way's: a handler answers 201 only after the commit that holds
//! its booking and event. A confirmation whose handler went away before its batch (the
//! client disconnected) is not written, as the single way's transaction is dropped with its
//! handler; one whose handler went away during the write is committed, and its trip is
//! marked for reconciliation, since no handler writes its booked markers.

use crate::reconcile;
use crate::state::BookingState;
use crate::store::{self, BatchGuard, NewBooking};
use actix_web::http::StatusCode;
use prometheus::{Histogram, HistogramOpts, IntGauge, Registry};
use servicekit::amqp::Envelope;
use servicekit::db::DbError;
use servicekit::events::{BookedSeat, Passenger};
use servicekit::idempotency::Claimed;
use servicekit::outbox;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A confirmation to write: the booking, its event and, under an `Idempotency-Key`, its
/// answer (JSON).
pub struct Confirmation {
    pub id: Uuid,
    pub hold_id: Uuid,
    pub user_id: Uuid,
    pub trip_id: i64,
    pub seats: Vec<BookedSeat>,
    pub passengers: Vec<Passenger>,
    pub amount: i64,
    pub currency: String,
    pub payment_due_at: chrono::DateTime<chrono::Utc>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub event: Envelope,
    pub request_id: String,
    pub answer: Option<(Claimed, Vec<u8>)>,
}

impl Confirmation {
    pub fn booking(&self) -> NewBooking<'_> {
        NewBooking {
            id: self.id,
            hold_id: self.hold_id,
            user_id: self.user_id,
            trip_id: self.trip_id,
            seats: &self.seats,
            passengers: &self.passengers,
            amount: self.amount,
            currency: &self.currency,
            payment_due_at: self.payment_due_at,
            created_at: self.created_at,
        }
    }
}

struct Job {
    confirmation: Confirmation,
    done: oneshot::Sender<Outcome>,
}

/// What became of a confirmation handed to the writer.
pub enum Outcome {
    /// Its batch committed.
    Committed(Box<Confirmation>),
    /// Not written: the handler writes it the single way.
    Single(Box<Confirmation>),
    /// The database could not be reached: the handler answers 503 at once (the single way
    /// would wait for the pool again).
    Unavailable,
}

/// The handlers' side: hands confirmations to the writer task.
pub struct Confirms {
    queue: Option<mpsc::Sender<Job>>,
    metrics: ConfirmBatchMetrics,
}

/// What the writer task takes.
pub struct Writer {
    queue: mpsc::Receiver<Job>,
    max: usize,
    metrics: ConfirmBatchMetrics,
}

#[derive(Clone)]
struct ConfirmBatchMetrics {
    size: Histogram,
    waiting: IntGauge,
}

impl Confirms {
    /// Batches of at most `max` confirmations (0: none; every handler writes its own). Start
    /// the returned writer with [`run`].
    pub fn new(max: usize, registry: &Registry) -> anyhow::Result<(Self, Option<Writer>)> {
        let size = Histogram::with_opts(
            HistogramOpts::new(
                "booking_confirm_batch_size",
                "Confirmations written in one transaction",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
        )?;
        let waiting = IntGauge::new(
            "booking_confirms_waiting",
            "Confirmations waiting for the next batch",
        )?;
        registry.register(Box::new(size.clone()))?;
        registry.register(Box::new(waiting.clone()))?;
        let metrics = ConfirmBatchMetrics { size, waiting };
        if max == 0 {
            return Ok((
                Self {
                    queue: None,
                    metrics,
                },
                None,
            ));
        }
        // Room for the requests in flight of a rush; past it, handlers write their own.
        let (sender, queue) = mpsc::channel(max * 16);
        let writer = Writer {
            queue,
            max,
            metrics: metrics.clone(),
        };
        Ok((
            Self {
                queue: Some(sender),
                metrics,
            },
            Some(writer),
        ))
    }

    /// Writes `confirmation` in the next batch, or gives it back to be written the single
    /// way (no batches, a full queue, a batch that did not commit, the writer stopping).
    /// `None`: the writer went away without a word (it ended abnormally); nothing was
    /// committed for it.
    pub async fn write(&self, confirmation: Confirmation) -> Option<Outcome> {
        let Some(queue) = &self.queue else {
            return Some(Outcome::Single(Box::new(confirmation)));
        };
        let (done, outcome) = oneshot::channel();
        self.metrics.waiting.inc();
        if let Err(e) = queue.try_send(Job { confirmation, done }) {
            self.metrics.waiting.dec();
            return Some(Outcome::Single(Box::new(e.into_inner().confirmation)));
        }
        outcome.await.ok()
    }
}

/// The writer task: one batch at a time, made of what waits (at most `max`, one per
/// passenger and trip), until `stop`. What still waits then is handed back to its handlers.
pub async fn run(state: Arc<BookingState>, mut writer: Writer, stop: CancellationToken) {
    let mut next: VecDeque<Job> = VecDeque::new();
    loop {
        if next.is_empty() {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                job = writer.queue.recv() => match job {
                    Some(job) => next.push_back(job),
                    None => break,
                },
            }
        }
        while next.len() < writer.max * 2 {
            match writer.queue.try_recv() {
                Ok(job) => next.push_back(job),
                Err(_) => break,
            }
        }
        let mut batch = take_batch(&mut next, writer.max);
        writer.metrics.waiting.sub(batch.len() as i64);
        // A handler that went away (its client disconnected) is not written, as the single
        // way's transaction is dropped with its handler.
        batch.retain(|job| !job.done.is_closed());
        if batch.is_empty() {
            continue;
        }
        writer.metrics.size.observe(batch.len() as f64);
        let written = write(&state, &batch).await;
        match &written {
            Ok(true) => state.relay.wake(),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, n = batch.len(), "a batch of confirmations failed");
            }
        }
        for job in batch {
            let trip = job.confirmation.trip_id;
            let outcome = match &written {
                Ok(true) => {
                    if let Some((claimed, _)) = &job.confirmation.answer {
                        claimed.committed();
                    }
                    Outcome::Committed(Box::new(job.confirmation))
                }
                Err(e) if e.is_unavailable() => Outcome::Unavailable,
                _ => Outcome::Single(Box::new(job.confirmation)),
            };
            // A handler that went away meanwhile writes no booked markers for its committed
            // booking: its trip is reconciled soon (as after a failed marker write).
            if let Err(Outcome::Committed(_)) = job.done.send(outcome) {
                reconcile::soon(&state, trip).await;
            }
        }
    }
    // Stopping: what still waits goes back to its handlers.
    writer.queue.close();
    while let Ok(job) = writer.queue.try_recv() {
        next.push_back(job);
    }
    writer.metrics.waiting.sub(next.len() as i64);
    for job in next {
        let _ = job.done.send(Outcome::Single(Box::new(job.confirmation)));
    }
}

/// The first `max` jobs of `next` with one (passenger, trip) each; the others stay, in order.
fn take_batch(next: &mut VecDeque<Job>, max: usize) -> Vec<Job> {
    let mut seen = HashSet::new();
    let mut batch = Vec::new();
    let mut later = VecDeque::new();
    while let Some(job) = next.pop_front() {
        if batch.len() == max {
            next.push_front(job);
            break;
        }
        let c = &job.confirmation;
        if seen.insert((c.user_id, c.trip_id)) {
            batch.push(job);
        } else {
            later.push_back(job);
        }
    }
    later.append(next);
    *next = later;
    batch
}

/// Writes `batch` in one transaction; `false` when any of it would be refused (rolled back).
async fn write(state: &BookingState, batch: &[Job]) -> Result<bool, DbError> {
    let all: Vec<&Confirmation> = batch.iter().map(|j| &j.confirmation).collect();
    let bookings: Vec<NewBooking<'_>> = all.iter().map(|c| c.booking()).collect();
    let pairs: Vec<(Uuid, i64)> = all.iter().map(|c| (c.user_id, c.trip_id)).collect();
    let events: Vec<(Envelope, Option<&str>)> = all
        .iter()
        .map(|c| (c.event.clone(), Some(c.request_id.as_str())))
        .collect();

    let mut db = state.db.get().await?;
    let tx = db.transaction().await?;
    let guard = BatchGuard::prepare(&tx).await?;
    let answers = futures_util::future::join_all(all.iter().filter_map(|c| {
        c.answer
            .as_ref()
            .map(|(claimed, json)| claimed.record(&tx, StatusCode::CREATED, json))
    }));
    // In this order: the locks and the read, then the writes (as the single way's flight).
    let (guarded, inserted, enqueued, kept) = tokio::join!(
        biased;
        guard.check(&tx, &pairs),
        store::insert_all(&tx, &bookings),
        outbox::enqueue_all(&tx, &events),
        answers,
    );
    let guarded = guarded?;
    let limit = usize::try_from(state.settings.max_seats_per_user).unwrap_or(4);
    let refused = guarded.len() != all.len()
        || guarded
            .iter()
            .zip(&all)
            .any(|(g, c)| g.trip_cancelled || g.live_seats + c.seats.len() > limit);
    if refused || inserted.is_err() || enqueued.is_err() || kept.iter().any(Result::is_err) {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}
