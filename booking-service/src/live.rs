//! Live seat changes: every replica publishes the changes it makes to a fanout exchange and
//! relays everything the exchange carries to its own Server-Sent-Events listeners, so a
//! browser connected to any replica sees every change. Each change is rendered as
//! Server-Sent Events once per replica ([`LiveChange`]); every listener writes the same
//! bytes, so a replica's cost per change does not grow with a formatting per listener.

use actix_web::web::Bytes;
use futures_util::StreamExt;
use lapin::ExchangeKind;
use prometheus::IntGauge;
use serde::{Deserialize, Serialize};
use servicekit::amqp::{self, Broker};
use servicekit::metrics::Metrics;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;
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
    tx: broadcast::Sender<Arc<LiveChange>>,
}

impl LiveFeed {
    /// A feed of `exchange`; nothing reaches local listeners until [`LiveFeed::run`] runs.
    pub fn new(broker: Broker, exchange: &str) -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self {
            broker,
            exchange: exchange.to_owned(),
            declared: Arc::new(AtomicBool::new(false)),
            tx,
        }
    }

    /// Relays the fanout exchange to local listeners until `stop`, resubscribing after any
    /// interruption.
    pub async fn run(self, stop: CancellationToken) {
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

    /// Publishes a change for every replica (best effort: a live map is a convenience, the
    /// seat map endpoint is the truth).
    pub fn publish(&self, trip_id: i64, seats: &[i32], status: &str) {
        if !self.declared.load(Ordering::Relaxed) || seats.is_empty() {
            return;
        }
        let change = SeatChange {
            trip_id,
            seats: seats
                .iter()
                .map(|&seat_id| SeatStatus {
                    seat_id,
                    status: status.to_owned(),
                })
                .collect(),
        };
        let (broker, exchange) = (self.broker.clone(), self.exchange.clone());
        tokio::spawn(async move {
            if let Ok(body) = serde_json::to_vec(&change)
                && let Err(error) = broker.notify(&exchange, &body).await
            {
                tracing::debug!(%error, "seat change not published");
            }
        });
    }

    async fn relay(&self) -> anyhow::Result<()> {
        if !self.broker.wait_connected(Duration::from_secs(5)).await {
            anyhow::bail!("broker not connected");
        }
        let channel = self.broker.channel().await?;
        let mut consumer =
            amqp::subscribe_exclusive(&channel, &self.exchange, ExchangeKind::Fanout, "", true)
                .await?;
        self.declared.store(true, Ordering::Relaxed);
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            if let Ok(change) = serde_json::from_slice::<SeatChange>(&delivery.data) {
                let _ = self.tx.send(Arc::new(LiveChange {
                    trip_id: change.trip_id,
                    sse: change.to_sse(),
                }));
            }
        }
        Ok(())
    }
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
}
