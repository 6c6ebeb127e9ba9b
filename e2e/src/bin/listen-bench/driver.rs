//! The select driver: one seat a select at a steady rate, each hold released once answered.

use anyhow::Context;
use e2e::bench::summary_ms;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// Microseconds since the Unix epoch: the clock driver and listeners share.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The seats of `trip` the seat map shows available, in order.
pub async fn available_seats(
    client: &reqwest::Client,
    gateway: &str,
    trip: i64,
) -> anyhow::Result<Vec<i64>> {
    let map: Value = client
        .get(format!("{gateway}/api/bookings/trips/{trip}/seats"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    map["seats"]
        .as_array()
        .context("a seat map without seats")?
        .iter()
        .filter(|s| s["status"] == "available")
        .map(|s| s["seat_id"].as_i64().context("a seat without an id"))
        .collect()
}

pub struct Plan<'a> {
    pub gateway: &'a str,
    pub trip: i64,
    /// Selected one by one, in order, each once.
    pub seats: &'a [i64],
    pub tokens: &'a [String],
    pub rate: f64,
}

/// What one phase of selects did.
#[derive(Default)]
pub struct Phase {
    /// (seat, Unix µs when the driver read the 201) of every hold.
    pub holds: Vec<(i64, i64)>,
    select_ms: Vec<f64>,
    refused: u64,
    errors: u64,
    release_failures: u64,
    secs: f64,
}

impl Phase {
    pub fn holds_json(&self) -> Value {
        json!(self.holds)
    }

    pub fn summary(&self) -> Value {
        json!({
            "holds": self.holds.len(),
            "refused": self.refused,
            "errors": self.errors,
            "release_failures": self.release_failures,
            "secs": self.secs,
            "latency": summary_ms(self.select_ms.clone()),
        })
    }
}

enum Outcome {
    Held {
        seat: i64,
        answered_us: i64,
        ms: f64,
        released: bool,
    },
    Refused(f64),
    Failed(String),
}

/// Selects every seat of the plan at its rate (a select is sent on time even while earlier
/// ones wait for their answer) and releases each hold as soon as it is answered.
pub async fn drive(client: &reqwest::Client, plan: &Plan<'_>) -> Phase {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / plan.rate));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut tasks = JoinSet::new();
    for (i, &seat) in plan.seats.iter().enumerate() {
        ticker.tick().await;
        let client = client.clone();
        let gateway = plan.gateway.to_owned();
        let token = plan.tokens[i % plan.tokens.len()].clone();
        let trip = plan.trip;
        tasks.spawn(async move { hold_and_release(&client, &gateway, &token, trip, seat).await });
    }
    let mut phase = Phase::default();
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap_or_else(|e| Outcome::Failed(e.to_string())) {
            Outcome::Held {
                seat,
                answered_us,
                ms,
                released,
            } => {
                phase.holds.push((seat, answered_us));
                phase.select_ms.push(ms);
                phase.release_failures += u64::from(!released);
            }
            Outcome::Refused(ms) => {
                phase.refused += 1;
                phase.select_ms.push(ms);
            }
            Outcome::Failed(error) => {
                phase.errors += 1;
                if phase.errors <= 5 {
                    eprintln!("listen-bench: select failed: {error}");
                }
            }
        }
    }
    phase.secs = started.elapsed().as_secs_f64();
    phase
}

async fn hold_and_release(
    client: &reqwest::Client,
    gateway: &str,
    token: &str,
    trip: i64,
    seat: i64,
) -> Outcome {
    let sent = Instant::now();
    let res = client
        .post(format!("{gateway}/api/bookings/seats/select"))
        .bearer_auth(token)
        .json(&json!({ "trip_id": trip, "seat_ids": [seat] }))
        .send()
        .await;
    let answered_us = now_us();
    let ms = sent.elapsed().as_secs_f64() * 1000.0;
    let res = match res {
        Ok(res) => res,
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    match res.status().as_u16() {
        201 => {}
        409 => return Outcome::Refused(ms),
        other => return Outcome::Failed(format!("select answered {other}")),
    }
    let hold: Value = match res.json().await {
        Ok(hold) => hold,
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    let released = match hold["hold_id"].as_str() {
        Some(id) => client
            .delete(format!("{gateway}/api/bookings/holds/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()),
        None => false,
    };
    Outcome::Held {
        seat,
        answered_us,
        ms,
        released,
    }
}
