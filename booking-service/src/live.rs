//! Live seat changes: every replica publishes the changes it makes to a fanout exchange and
//! relays everything the exchange carries to its own Server-Sent-Events listeners, so a
//! browser connected to any replica sees every change. A replica coalesces what it changes
//! within [`PUBLISH_WINDOW`] into one message (the changes of each trip merged in order), so
//! a rush of selects costs the broker a message per replica and window, not one per select;
//! and it gathers what the exchange brings within its relay window
//! (`booking.live_window_ms`) the same way before its listeners write it, so each listener
//! writes once per trip and window however many replicas changed seats, not once per
//! message: the sweeps over the listeners, not the listeners, are what cost CPU. Each
//! trip's changes are rendered as Server-Sent Events once per replica ([`LiveChange`]);
//! every listener writes the same bytes, so a replica's cost per change does not grow with a
//! formatting per listener.

use actix_web::web::Bytes;
use futures_util::StreamExt;
use lapin::ExchangeKind;
use prometheus::IntGauge;
use serde::{Deserialize, Serialize};
use servicekit::amqp::{self, Broker};
use servicekit::metrics::Metrics;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeatStatus {
    pub seat_id: i32,
    pub status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeatChange {
    pub trip_id: i64,
    pub seats: Vec<SeatStatus>,
}

impl SeatChange {
    /// The change as listeners receive it: one `event: seat` per seat, `data: {"seat_id",
    /// "status"}`.
    pub fn to_sse(&self) -> Bytes {
        let mut out = String::new();
        for seat in &self.seats {
            let data = serde_json::json!({ "seat_id": seat.seat_id, "status": seat.status });
            out.push_str(&format!("event: seat\ndata: {data}\n\n"));
        }
        Bytes::from(out)
    }
}

/// How long a replica gathers its changes before it publishes them: the most a change waits
/// for its message.
pub const PUBLISH_WINDOW: Duration = Duration::from_millis(50);
/// Seat changes waiting in a window beyond this are dropped (the broker is not taking them,
/// or the listeners are that far behind; the seat map endpoint stays the truth).
const MAX_PENDING: usize = 20_000;

/// This replica's changes not yet published, merged per trip in the order they were made.
#[derive(Default)]
struct Pending {
    changes: Mutex<Vec<SeatChange>>,
    ready: Notify,
}

impl Pending {
    fn push(&self, trip_id: i64, seats: &[i32], status: &str) {
        let seats = seats.iter().map(|&seat_id| SeatStatus {
            seat_id,
            status: status.to_owned(),
        });
        self.merge(trip_id, seats);
    }

    /// Adds `seats` to the trip's changes of the window, after the ones already there.
    fn merge(&self, trip_id: i64, seats: impl Iterator<Item = SeatStatus>) {
        let mut changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let waiting: usize = changes.iter().map(|c| c.seats.len()).sum();
        if waiting >= MAX_PENDING {
            tracing::debug!(trip_id, "seat change dropped: too many waiting");
            return;
        }
        let was_empty = changes.is_empty();
        match changes.iter_mut().find(|c| c.trip_id == trip_id) {
            Some(change) => change.seats.extend(seats),
            None => changes.push(SeatChange {
                trip_id,
                seats: seats.collect(),
            }),
        }
        drop(changes);
        if was_empty {
            self.ready.notify_one();
        }
    }

    fn take(&self) -> Vec<SeatChange> {
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// What one message of the exchange carries: the changes of a window (or, from a replica of
/// an earlier version, one change).
#[derive(Deserialize)]
#[serde(untagged)]
enum Message {
    Batch(Vec<SeatChange>),
    One(SeatChange),
}

impl Message {
    fn changes(self) -> Vec<SeatChange> {
        match self {
            Self::Batch(changes) => changes,
            Self::One(change) => vec![change],
        }
    }
}

/// A change of one trip, rendered once for every listener of the replica.
#[derive(Debug)]
pub struct LiveChange {
    pub trip_id: i64,
    /// What each listener of the trip writes ([`SeatChange::to_sse`]).
    pub sse: Bytes,
}

#[derive(Clone)]
pub struct LiveFeed {
    broker: Broker,
    exchange: String,
    declared: Arc<AtomicBool>,
    window: Duration,
    pending: Arc<Pending>,
    tx: broadcast::Sender<Arc<LiveChange>>,
}

impl LiveFeed {
    /// A feed of `exchange` whose listeners get what it brings in `window` at once; nothing
    /// reaches local listeners until [`LiveFeed::run`] runs.
    pub fn new(broker: Broker, exchange: &str, window: Duration) -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self {
            broker,
            exchange: exchange.to_owned(),
            declared: Arc::new(AtomicBool::new(false)),
            window,
            pending: Arc::default(),
            tx,
        }
    }

    /// Until `stop`: relays the fanout exchange to local listeners, resubscribing after any
    /// interruption, and publishes this replica's changes every [`PUBLISH_WINDOW`].
    pub async fn run(self, stop: CancellationToken) {
        tokio::join!(self.relay_until(&stop), self.publish_until(&stop));
    }

    async fn publish_until(&self, stop: &CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.pending.ready.notified() => {}
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(PUBLISH_WINDOW) => {}
            }
            let changes = self.pending.take();
            if changes.is_empty() {
                continue;
            }
            if let Ok(body) = serde_json::to_vec(&changes)
                && let Err(error) = self.broker.notify(&self.exchange, &body).await
            {
                tracing::debug!(%error, "seat changes not published");
            }
        }
    }

    async fn relay_until(&self, stop: &CancellationToken) {
        while !stop.is_cancelled() {
            tokio::select! {
                () = stop.cancelled() => return,
                relayed = self.relay() => if let Err(error) = relayed {
                    tracing::debug!(%error, "live seat feed interrupted; resubscribing");
                },
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    /// Exports `booking_live_listeners`, read at each scrape.
    pub fn export_listeners(&self, metrics: &Metrics) -> anyhow::Result<()> {
        let gauge = IntGauge::new("booking_live_listeners", "Live seat-map connections open")?;
        metrics.registry().register(Box::new(gauge.clone()))?;
        let feed = self.clone();
        metrics.on_scrape(move || gauge.set(i64::try_from(feed.listeners()).unwrap_or(0)));
        Ok(())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveChange>> {
        self.tx.subscribe()
    }

    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Publishes a change for every replica within [`PUBLISH_WINDOW`] (best effort: a live map is
    /// a convenience, the seat map endpoint is the truth).
    pub fn publish(&self, trip_id: i64, seats: &[i32], status: &str) {
        if !self.declared.load(Ordering::Relaxed) || seats.is_empty() {
            return;
        }
        self.pending.push(trip_id, seats, status);
    }

    async fn relay(&self) -> anyhow::Result<()> {
        if !self.broker.wait_connected(Duration::from_secs(5)).await {
            anyhow::bail!("broker not connected");
        }
        let channel = self.broker.channel().await?;
        let consumer =
            amqp::subscribe_exclusive(&channel, &self.exchange, ExchangeKind::Fanout, "", true)
                .await?;
        self.declared.store(true, Ordering::Relaxed);
        let messages = consumer.map(|delivery| delivery.map(|d| d.data));
        Ok(relay_windows(messages, self.window, &self.tx).await?)
    }
}

/// Hands what `messages` bring to `tx` a window at a time: a window opens with the first
/// message after the last one closed, and when it closes its changes go out merged, one
/// [`LiveChange`] per trip in the order they were made. Ends with the stream, or at its
/// first error (after handing out what came before it).
async fn relay_windows<E>(
    messages: impl futures_util::Stream<Item = Result<Vec<u8>, E>>,
    window: Duration,
    tx: &broadcast::Sender<Arc<LiveChange>>,
) -> Result<(), E> {
    let inbound = Pending::default();
    let gather = |data: Vec<u8>| {
        if let Ok(message) = serde_json::from_slice::<Message>(&data) {
            for change in message.changes() {
                inbound.merge(change.trip_id, change.seats.into_iter());
            }
        }
    };
    tokio::pin!(messages);
    while let Some(first) = messages.next().await {
        gather(first?);
        let closes = tokio::time::sleep(window);
        tokio::pin!(closes);
        let ended = loop {
            tokio::select! {
                () = &mut closes => break None,
                next = messages.next() => match next {
                    Some(Ok(data)) => gather(data),
                    Some(Err(error)) => break Some(Err(error)),
                    None => break Some(Ok(())),
                },
            }
        };
        for change in inbound.take() {
            let _ = tx.send(Arc::new(LiveChange {
                trip_id: change.trip_id,
                sse: change.to_sse(),
            }));
        }
        if let Some(ended) = ended {
            return ended;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_renders_one_seat_event_per_seat_in_order() {
        let change = SeatChange {
            trip_id: 7,
            seats: vec![
                SeatStatus {
                    seat_id: 3,
                    status: "held".to_owned(),
                },
                SeatStatus {
                    seat_id: 4,
                    status: "held".to_owned(),
                },
            ],
        };

        assert_eq!(
            change.to_sse(),
            Bytes::from_static(
                b"event: seat\ndata: {\"seat_id\":3,\"status\":\"held\"}\n\n\
                  event: seat\ndata: {\"seat_id\":4,\"status\":\"held\"}\n\n"
            )
        );
    }

    fn statuses(change: &SeatChange) -> Vec<(i32, &str)> {
        change
            .seats
            .iter()
            .map(|s| (s.seat_id, s.status.as_str()))
            .collect()
    }

    #[test]
    fn a_window_merges_each_trips_changes_in_the_order_they_were_made() {
        let pending = Pending::default();
        pending.push(7, &[3, 4], "held");
        pending.push(9, &[1], "held");
        pending.push(7, &[3], "booked");

        let changes = pending.take();

        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].trip_id, 7);
        assert_eq!(
            statuses(&changes[0]),
            [(3, "held"), (4, "held"), (3, "booked")]
        );
        assert_eq!(changes[1].trip_id, 9);
        assert_eq!(statuses(&changes[1]), [(1, "held")]);
        assert!(pending.take().is_empty(), "taken changes are gone");
    }

    #[test]
    fn a_window_past_its_bound_drops_further_changes() {
        let pending = Pending::default();
        let seats: Vec<i32> = (0..i32::try_from(MAX_PENDING).unwrap()).collect();
        pending.push(1, &seats, "held");
        pending.push(2, &[1], "held");

        let changes = pending.take();

        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].seats.len(), MAX_PENDING);
    }

    #[tokio::test(start_paused = true)]
    async fn a_relay_window_hands_out_each_trips_changes_of_every_message_in_it_once() {
        let (tx, mut rx) = broadcast::channel(16);
        let message = |trip: i64, seat: i32, status: &str| -> Result<Vec<u8>, ()> {
            Ok(serde_json::to_vec(&[SeatChange {
                trip_id: trip,
                seats: vec![SeatStatus {
                    seat_id: seat,
                    status: status.to_owned(),
                }],
            }])
            .unwrap())
        };
        // Three replicas' messages within one 200 ms window, then one after it.
        let at = |ms: u64, m| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            m
        };
        let messages = futures_util::stream::iter([
            at(0, message(7, 3, "held")),
            at(50, message(8, 1, "held")),
            at(50, message(7, 4, "held")),
            at(300, message(7, 3, "available")),
        ])
        .then(|m| m);

        relay_windows(messages, Duration::from_millis(200), &tx)
            .await
            .unwrap();

        let sse = |change: Arc<LiveChange>| (change.trip_id, change.sse.clone());
        let one = |seat: i32, status: &str| {
            SeatChange {
                trip_id: 0,
                seats: vec![SeatStatus {
                    seat_id: seat,
                    status: status.to_owned(),
                }],
            }
            .to_sse()
        };
        let first = sse(rx.try_recv().unwrap());
        assert_eq!(first.0, 7);
        assert_eq!(first.1, [one(3, "held"), one(4, "held")].concat());
        assert_eq!(sse(rx.try_recv().unwrap()), (8, one(1, "held")));
        assert_eq!(sse(rx.try_recv().unwrap()), (7, one(3, "available")));
        assert!(rx.try_recv().is_err(), "nothing else");
    }

    #[test]
    fn a_message_is_a_window_of_changes_or_one_change_from_an_earlier_replica() {
        let batch = br#"[{"trip_id":7,"seats":[{"seat_id":3,"status":"held"}]},
                         {"trip_id":8,"seats":[{"seat_id":1,"status":"booked"}]}]"#;
        let one = br#"{"trip_id":9,"seats":[{"seat_id":2,"status":"available"}]}"#;

        let batch = serde_json::from_slice::<Message>(batch).unwrap().changes();
        let one = serde_json::from_slice::<Message>(one).unwrap().changes();

        assert_eq!(batch.iter().map(|c| c.trip_id).collect::<Vec<_>>(), [7, 8]);
        assert_eq!(statuses(&batch[1]), [(1, "booked")]);
        assert_eq!(one.len(), 1);
        assert_eq!(statuses(&one[0]), [(2, "available")]);
    }
}
