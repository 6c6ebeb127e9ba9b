//! `rush-bench`: a sale's opening through the gateway, with its waiting room.
//!
//! 1. Moves the trips of the last `upcoming` sale to open `--opens-in` seconds from now
//!    (train-service's admin call), so they form a new sale with a waiting room.
//! 2. Every passenger of `--tokens` (access tokens claiming a verified phone and NID, one a
//!    line: `mint_tokens`) joins the pre-queue through the gateway.
//! 3. Until the opening, `--pollers` clients poll the sale's public status through the gateway
//!    (at most `--in-flight` requests at once): answers per second from its micro-cache.
//! 4. After the opening, `--sample` passengers ask for their place every half second; each one
//!    admitted selects one seat and confirms it with its pass (`tok_visa`), until the seats
//!    run out. Admission order is checked against the queue numbers: an inversion is a
//!    passenger seen waiting after one with a higher number was seen admitted.
//!
//! Prints one JSON line with the figures. `bench/rush.sh` runs it against the local stack.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
use e2e::bench::summary_ms as millis;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// rush-bench: a sale's opening through the gateway with its waiting room: joins, status
/// polls, admission order, and select + confirm of the admitted; prints one JSON line.
#[derive(Parser)]
#[command(name = "rush-bench", version, after_help = EXAMPLES)]
struct Args {
    /// The gateway's base URL
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// Passengers' access tokens, one a line (verified phone and NID)
    #[arg(long, value_name = "FILE")]
    tokens: PathBuf,
    /// An admin's access token (moves the sale's opening)
    #[arg(long, value_name = "TOKEN")]
    admin_token: String,
    /// Seconds from now to the opening (every join must fit before it)
    #[arg(long, value_name = "S", default_value_t = 120)]
    opens_in: u64,
    /// Clients polling the sale's status before the opening
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pollers: usize,
    /// Requests in flight at most (joins, polls)
    #[arg(long, value_name = "N", default_value_t = 512)]
    in_flight: usize,
    /// Seconds of status polling (ends 2 s before the opening at the latest)
    #[arg(long, value_name = "S", default_value_t = 15)]
    poll_secs: u64,
    /// Passengers who follow their place after the opening and buy when admitted
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    sample: usize,
}

const EXAMPLES: &str = "\
Examples:
  rush-bench --tokens /tmp/tokens --admin-token \"$ADMIN\" --opens-in 150 --pollers 20000";

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    client_error: AtomicU64,
    server_error: AtomicU64,
    transport: AtomicU64,
}

impl Counts {
    fn record(&self, status: Option<reqwest::StatusCode>) {
        let counter = match status {
            Some(s) if s.is_success() => &self.ok,
            Some(s) if s.is_server_error() => &self.server_error,
            Some(_) => &self.client_error,
            None => &self.transport,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn json(&self) -> Value {
        json!({
            "ok": self.ok.load(Ordering::Relaxed),
            "4xx": self.client_error.load(Ordering::Relaxed),
            "5xx": self.server_error.load(Ordering::Relaxed),
            "transport_errors": self.transport.load(Ordering::Relaxed),
        })
    }
}

/// One answer about a place: when it was asked and answered, the number and the state.
struct Look {
    asked: Instant,
    answered: Instant,
    number: i64,
    admitted: bool,
}

fn main() -> ExitCode {
    servicekit::cli::run(|args: Args| async move {
        let report = run(args).await?;
        println!("{report}");
        Ok(())
    })
}

async fn run(args: Args) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(args.in_flight)
        .build()?;
    let gw = args.gateway.trim_end_matches('/').to_owned();
    let tokens: Vec<String> = std::fs::read_to_string(&args.tokens)
        .with_context(|| format!("reading {}", args.tokens.display()))?
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect();
    if tokens.len() < args.sample {
        bail!(
            "--sample {} is more than the {} tokens",
            args.sample,
            tokens.len()
        );
    }

    // 1. A sale of its own: the last upcoming sale's trips, opening soon.
    let sales: Value = client
        .get(format!("{gw}/api/queue/sales"))
        .send()
        .await?
        .json()
        .await?;
    let Some(last) = sales["sales"]
        .as_array()
        .and_then(|s| s.iter().rev().find(|s| s["state"] == "upcoming"))
    else {
        bail!("no upcoming sale to open: seed more days");
    };
    let trips: Vec<i64> = last["trip_ids"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let opens = DateTime::from_timestamp(Utc::now().timestamp() + args.opens_in as i64, 0)
        .context("the opening")?;
    for trip in &trips {
        let res = client
            .put(format!("{gw}/api/trains/admin/trips/{trip}/sales"))
            .bearer_auth(&args.admin_token)
            .json(&json!({ "sales_open_at": opens }))
            .send()
            .await?;
        if !res.status().is_success() {
            bail!(
                "moving trip {trip}'s opening: {} {}",
                res.status(),
                res.text().await?
            );
        }
    }
    let sale = opens.format("%Y%m%dT%H%M%SZ").to_string();
    let status_url = format!("{gw}/api/queue/sales/{sale}");
    let ready = Instant::now();
    loop {
        let res = client.get(&status_url).send().await?;
        if res.status().is_success() && res.json::<Value>().await?["waiting_room"] == true {
            break;
        }
        if ready.elapsed() > Duration::from_secs(30) {
            bail!("the sale {sale} has no waiting room 30 s after its trips moved");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "rush-bench: sale {sale} ({} trips) opens at {opens}",
        trips.len()
    );

    // 2. Everyone joins the pre-queue.
    let joins = Counts::default();
    let join_url = format!("{gw}/api/queue/sales/{sale}/join");
    let started = Instant::now();
    stream::iter(tokens.iter())
        .for_each_concurrent(args.in_flight, |token| {
            let (client, url, joins) = (&client, &join_url, &joins);
            async move {
                let res = client.post(url).bearer_auth(token).send().await;
                joins.record(res.as_ref().ok().map(reqwest::Response::status));
            }
        })
        .await;
    let join_secs = started.elapsed().as_secs_f64();
    let passengers = tokens.len();
    let joined_before_opening = Utc::now() < opens;
    eprintln!("rush-bench: {passengers} joins in {join_secs:.1} s");

    // 3. The crowd polls the public status until shortly before the opening.
    let polls = Arc::new(Counts::default());
    let until = Instant::now()
        + Duration::from_secs(args.poll_secs).min(
            (opens - Utc::now() - chrono::Duration::seconds(2))
                .to_std()
                .unwrap_or_default(),
        );
    let permits = Arc::new(Semaphore::new(args.in_flight));
    let poll_started = Instant::now();
    let mut crowd = tokio::task::JoinSet::new();
    for _ in 0..args.pollers {
        let (client, url, polls, permits) = (
            client.clone(),
            status_url.clone(),
            polls.clone(),
            permits.clone(),
        );
        crowd.spawn(async move {
            while Instant::now() < until {
                let Ok(_permit) = permits.acquire().await else {
                    return;
                };
                let res = client.get(&url).send().await;
                let status = match res {
                    Ok(r) => {
                        let s = r.status();
                        let _ = r.bytes().await;
                        Some(s)
                    }
                    Err(_) => None,
                };
                polls.record(status);
            }
        });
    }
    while crowd.join_next().await.is_some() {}
    let poll_secs = poll_started.elapsed().as_secs_f64();
    let answered = polls.ok.load(Ordering::Relaxed) as f64;
    let before: Value = client.get(&status_url).send().await?.json().await?;

    // 4. The opening: a sample follows its places, and buys when admitted.
    let wait = (opens - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    let mut seats: Vec<(i64, i64)> = Vec::new();
    for trip in &trips {
        let map: Value = client
            .get(format!("{gw}/api/bookings/trips/{trip}/seats"))
            .send()
            .await?
            .json()
            .await?;
        for s in map["seats"].as_array().into_iter().flatten() {
            if s["status"] == "available"
                && let Some(id) = s["seat_id"].as_i64()
            {
                seats.push((*trip, id));
            }
        }
    }
    let seats_offered = seats.len();
    let seats = Arc::new(Mutex::new(seats));
    let looks: Arc<Mutex<Vec<Look>>> = Arc::default();
    let selects: Arc<Mutex<Vec<f64>>> = Arc::default();
    let confirms: Arc<Mutex<Vec<f64>>> = Arc::default();
    let buying = Arc::new(Counts::default());
    let places = Arc::new(Counts::default());
    let numbers: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let out_of_seats = Arc::new(AtomicBool::new(false));
    let mut sample = tokio::task::JoinSet::new();
    for token in tokens.into_iter().take(args.sample) {
        let (client, gw, sale) = (client.clone(), gw.clone(), sale.clone());
        let (looks, selects, confirms, buying, places, numbers, seats, out) = (
            looks.clone(),
            selects.clone(),
            confirms.clone(),
            buying.clone(),
            places.clone(),
            numbers.clone(),
            seats.clone(),
            out_of_seats.clone(),
        );
        sample.spawn(async move {
            let place_url = format!("{gw}/api/queue/sales/{sale}/place");
            let deadline = Instant::now() + Duration::from_secs(900);
            while Instant::now() < deadline {
                let asked = Instant::now();
                let res = client.get(&place_url).bearer_auth(&token).send().await;
                let answered = Instant::now();
                places.record(res.as_ref().ok().map(reqwest::Response::status));
                let Ok(res) = res else { continue };
                let Ok(place) = res.json::<Value>().await else {
                    continue;
                };
                let state = place["state"].as_str().unwrap_or_default().to_owned();
                if let Some(number) = place["number"].as_i64() {
                    if let Ok(mut n) = numbers.lock() {
                        n.insert(number);
                    }
                    // Sold-out and expired answers carry a number too; they say nothing
                    // about the order.
                    let admitted = state == "admitted";
                    if (admitted || state == "waiting")
                        && let Ok(mut l) = looks.lock()
                    {
                        l.push(Look {
                            asked,
                            answered,
                            number,
                            admitted,
                        });
                    }
                }
                match state.as_str() {
                    "admitted" => {
                        let pass = place["pass"].as_str().unwrap_or_default().to_owned();
                        buy(
                            &client, &gw, &token, &pass, &seats, &out, &selects, &confirms, &buying,
                        )
                        .await;
                        return;
                    }
                    "sold_out" | "expired" => return,
                    _ => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        });
    }
    while sample.join_next().await.is_some() {}

    // 5. The figures.
    let looks = std::mem::take(&mut *looks.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let numbers = numbers.lock().map(|n| n.clone()).unwrap_or_default();
    let pre_queue = before["waiting"].as_i64().unwrap_or(0);
    let out_of_range = numbers.iter().filter(|&&n| n < 1 || n > pre_queue).count();
    let selects = selects.lock().map(|v| v.clone()).unwrap_or_default();
    let confirms = confirms.lock().map(|v| v.clone()).unwrap_or_default();
    let five_xx = joins.server_error.load(Ordering::Relaxed)
        + polls.server_error.load(Ordering::Relaxed)
        + places.server_error.load(Ordering::Relaxed)
        + buying.server_error.load(Ordering::Relaxed);
    Ok(json!({
        "sale_id": sale,
        "passengers": passengers,
        "joins": joins.json(),
        "joins_per_s": (passengers as f64 / join_secs).round(),
        "joined_before_opening": joined_before_opening,
        "pre_queue_at_opening": pre_queue,
        "status_polls": polls.json(),
        "status_pollers": args.pollers,
        "status_in_flight": args.in_flight,
        "status_answers_per_s": (answered / poll_secs).round(),
        "sample": args.sample,
        "sample_numbers_distinct": numbers.len(),
        "sample_numbers_outside_pre_queue": out_of_range,
        "place_answers": places.json(),
        "admission_inversions": inversions(&looks),
        "seats_offered": seats_offered,
        "select": millis(selects),
        "confirm": millis(confirms),
        "buying": buying.json(),
        "5xx": five_xx,
    }))
}

/// Passengers seen waiting (the question asked) after someone with a higher number had been
/// seen admitted (the answer received): 0 when admission follows the numbers.
fn inversions(looks: &[Look]) -> usize {
    let mut admitted: Vec<(Instant, i64)> = looks
        .iter()
        .filter(|l| l.admitted)
        .map(|l| (l.answered, l.number))
        .collect();
    admitted.sort_by_key(|(t, _)| *t);
    let mut highest = Vec::with_capacity(admitted.len());
    let mut most = i64::MIN;
    for (_, n) in &admitted {
        most = most.max(*n);
        highest.push(most);
    }
    looks
        .iter()
        .filter(|l| !l.admitted)
        .filter(|l| {
            let seen = admitted.partition_point(|(t, _)| *t < l.asked);
            seen > 0 && highest[seen - 1] > l.number
        })
        .count()
}

/// Selects one free seat (trying the next on a conflict) and confirms it with the pass.
#[allow(clippy::too_many_arguments)]
async fn buy(
    client: &reqwest::Client,
    gw: &str,
    token: &str,
    pass: &str,
    seats: &Mutex<Vec<(i64, i64)>>,
    out: &AtomicBool,
    selects: &Mutex<Vec<f64>>,
    confirms: &Mutex<Vec<f64>>,
    counts: &Counts,
) {
    loop {
        let Some((trip, seat)) = seats.lock().ok().and_then(|mut s| s.pop()) else {
            out.store(true, Ordering::Relaxed);
            return;
        };
        let started = Instant::now();
        let res = client
            .post(format!("{gw}/api/bookings/seats/select"))
            .bearer_auth(token)
            .header("x-queue-pass", pass)
            .json(&json!({"trip_id": trip, "seat_ids": [seat]}))
            .send()
            .await;
        let took = started.elapsed().as_secs_f64() * 1000.0;
        counts.record(res.as_ref().ok().map(reqwest::Response::status));
        let Ok(res) = res else { return };
        if let Ok(mut s) = selects.lock() {
            s.push(took);
        }
        if res.status() == reqwest::StatusCode::CONFLICT {
            continue;
        }
        if res.status() != reqwest::StatusCode::CREATED {
            return;
        }
        let Ok(hold) = res.json::<Value>().await else {
            return;
        };
        let started = Instant::now();
        let res = client
            .post(format!("{gw}/api/bookings/seats/confirm"))
            .bearer_auth(token)
            .header("x-queue-pass", pass)
            .json(&json!({
                "hold_id": hold["hold_id"],
                "passengers": [{"name": "Rush Passenger"}],
                "payment_token": "tok_visa",
            }))
            .send()
            .await;
        let took = started.elapsed().as_secs_f64() * 1000.0;
        counts.record(res.as_ref().ok().map(reqwest::Response::status));
        if let Ok(mut c) = confirms.lock() {
            c.push(took);
        }
        return;
    }
}
