//! `demo`: the seeds' three scenes, played against the running local stack through its
//! gateway, printing what happens and the numbers (`bench/demo.sh` runs it):
//!
//! - `flash-sale`: 100 passengers press "buy" at the same moment for the same 100 seats of
//!   one trip. Each picks a seat at random among those not yet known to be taken, and picks
//!   again on `409 seat_unavailable`, until it has one or none is left. Every seat is sold
//!   once; every sale is paid.
//! - `service-down`: passengers keep buying while booking-service is killed with SIGKILL
//!   mid-rush (its pid from `scripts/start.sh`'s run directory); the stack's supervisor
//!   starts it again. A confirm whose answer was lost is retried with the same
//!   `Idempotency-Key` until it has a definite answer: nothing bought is lost, nothing is
//!   bought twice.
//! - `viewers`: two viewers watch one trip's live seat map while a passenger holds a seat,
//!   lets it go, then buys one: both see each change, with the delay.
//!
//! Passengers sign up at auth-service first (real accounts: their tickets are delivered).
//! Answers `429` are waited out as `Retry-After` says (the gateway's per-address limits see
//! one address here) and counted.

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use e2e::bench::percentile;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Barrier;
use uuid::Uuid;

/// demo: the seeds' scenes against the local stack (flash sale, a service down mid-rush and
/// back, two viewers of one trip), printing what happens and the numbers.
#[derive(Parser)]
#[command(name = "demo", version, after_help = EXAMPLES)]
struct Args {
    /// The scene to play
    #[arg(value_enum, default_value_t = Scene::All)]
    scene: Scene,
    /// The gateway's base URL
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// auth-service's base URL: the scenes' passengers sign up there first (set-up, not
    /// counted; straight to the service, past the gateway's per-address sign-up limit)
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8081")]
    auth: String,
    /// `scripts/start.sh`'s run directory, where booking-service's pid file is
    #[arg(long, value_name = "DIR", default_value = ".local/run")]
    run_dir: PathBuf,
    /// service-down: seconds of buying in all, and the second at which the service is killed
    #[arg(long, value_name = "S", default_value_t = 30)]
    rush_secs: u64,
    #[arg(long, value_name = "S", default_value_t = 8)]
    kill_at: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scene {
    FlashSale,
    ServiceDown,
    Viewers,
    All,
}

const EXAMPLES: &str = "\
Examples:
  bench/demo.sh                 # every scene, against the running stack (or one it starts)
  demo flash-sale --tokens /tmp/tokens
  demo service-down --tokens /tmp/tokens --rush-secs 40 --kill-at 10";

fn main() -> ExitCode {
    servicekit::cli::run(|args: Args| async move { run(args).await })
}

async fn run(args: Args) -> anyhow::Result<()> {
    let api = Api::new(&args.gateway)?;
    let begun = Instant::now();
    let tokens = sign_up(&api.http, &args.auth, 206).await?;
    println!(
        "set-up: {} passengers signed up in {:.1} s",
        tokens.len(),
        begun.elapsed().as_secs_f64()
    );
    let mut failed = Vec::new();
    if matches!(args.scene, Scene::FlashSale | Scene::All) {
        println!("\n== Flash sale: 100 passengers, 100 seats, one moment");
        if let Err(e) = flash_sale(&api, &tokens[..100]).await {
            println!("FAILED: {e:#}");
            failed.push("flash-sale");
        }
    }
    if matches!(args.scene, Scene::ServiceDown | Scene::All) {
        println!("\n== A service down mid-rush: booking-service killed (SIGKILL), and back");
        if let Err(e) = service_down(&api, &tokens[100..200], &args).await {
            println!("FAILED: {e:#}");
            failed.push("service-down");
        }
    }
    if matches!(args.scene, Scene::Viewers | Scene::All) {
        println!("\n== Two viewers of one trip");
        if let Err(e) = viewers(&api, &tokens[200..206]).await {
            println!("FAILED: {e:#}");
            failed.push("viewers");
        }
    }
    if !failed.is_empty() {
        bail!("scenes failed: {}", failed.join(", "));
    }
    Ok(())
}

/// Signs up `n` passengers at auth-service (8 at a time): their access tokens.
async fn sign_up(http: &reqwest::Client, auth: &str, n: usize) -> anyhow::Result<Vec<String>> {
    futures_util::stream::iter(0..n)
        .map(|_| e2e::signup::sign_up(http, auth, "demo"))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// The gateway, with the answers counted by kind.
struct Api {
    http: reqwest::Client,
    base: String,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
}

/// An answer: its status and JSON body (`Null` when it has none), or no answer at all.
type Answer = Option<(StatusCode, Value)>;

impl Api {
    fn new(base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
            throttled: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            transport_errors: AtomicU64::new(0),
        })
    }

    /// One call; a `429` is waited out (its `Retry-After`) and asked again, up to a minute.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Answer {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(token);
            if let Some(body) = body {
                req = req.json(body);
            }
            if let Some(key) = idempotency_key {
                req = req.header("Idempotency-Key", key);
            }
            let res = match req.send().await {
                Ok(res) => res,
                Err(_) => {
                    self.transport_errors.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            };
            let status = res.status();
            if status == StatusCode::TOO_MANY_REQUESTS && Instant::now() < deadline {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                let wait = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(1u64);
                tokio::time::sleep(Duration::from_secs(wait.max(1))).await;
                continue;
            }
            if status.is_server_error() {
                self.server_errors.fetch_add(1, Ordering::Relaxed);
            }
            return Some((status, res.json().await.unwrap_or(Value::Null)));
        }
    }

    async fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        match self.call(Method::GET, path, token, None, None).await {
            Some((status, body)) if status.is_success() => Ok(body),
            Some((status, body)) => bail!("GET {path} answered {status}: {body}"),
            None => bail!("GET {path}: no answer"),
        }
    }

    /// Select `seat_id` of `trip_id`: the hold's id, `Err(Some(status, body))` when refused,
    /// `Err(None)` when nothing answered.
    async fn select(&self, token: &str, trip_id: i64, seat_id: i64) -> Result<String, Answer> {
        let body = json!({"trip_id": trip_id, "seat_ids": [seat_id]});
        match self
            .call(
                Method::POST,
                "/api/bookings/seats/select",
                token,
                Some(&body),
                None,
            )
            .await
        {
            Some((StatusCode::CREATED, hold)) => {
                hold["hold_id"].as_str().map(str::to_owned).ok_or(None)
            }
            other => Err(other),
        }
    }

    /// Confirm `hold_id` with `tok_visa`, retrying with the same `Idempotency-Key` while the
    /// answer is unknown (no answer, or a 5xx from the gateway while the service is away),
    /// for up to two minutes. The booking, or the definite refusal.
    async fn confirm(&self, token: &str, hold_id: &str) -> (Result<Value, Answer>, u32) {
        let key = Uuid::new_v4().to_string();
        let body = json!({"hold_id": hold_id, "passengers": [{"name": "Demo Passenger"}],
                          "payment_token": "tok_visa"});
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut retries = 0;
        loop {
            let answer = self
                .call(
                    Method::POST,
                    "/api/bookings/seats/confirm",
                    token,
                    Some(&body),
                    Some(&key),
                )
                .await;
            match answer {
                Some((StatusCode::CREATED, booking)) => return (Ok(booking), retries),
                Some((status, _)) if !status.is_server_error() => return (Err(answer), retries),
                _ if Instant::now() >= deadline => return (Err(answer), retries),
                _ => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Waits (up to `within`) until every booking is `paid`; the number that are.
    async fn until_paid(&self, bookings: &[(String, String)], within: Duration) -> usize {
        let deadline = Instant::now() + within;
        let mut pending: Vec<&(String, String)> = bookings.iter().collect();
        while !pending.is_empty() && Instant::now() < deadline {
            let mut still = Vec::new();
            for b in pending {
                let path = format!("/api/bookings/{}", b.1);
                match self.get(&path, &b.0).await {
                    Ok(booking) if booking["status"] == "paid" => {}
                    _ => still.push(b),
                }
            }
            pending = still;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        bookings.len() - pending.len()
    }

    fn counts(&self) -> String {
        format!(
            "429 waited out: {}, 5xx: {}, no answer: {}",
            self.throttled.swap(0, Ordering::Relaxed),
            self.server_errors.swap(0, Ordering::Relaxed),
            self.transport_errors.swap(0, Ordering::Relaxed)
        )
    }
}

/// A trip of the next days on sale without a waiting room with at least `seats` free seats:
/// its id, label and the free seats' ids in order.
async fn trip_with_free_seats(
    api: &Api,
    token: &str,
    seats: usize,
    skip: &[i64],
) -> anyhow::Result<(i64, String, Vec<i64>)> {
    let today = chrono::Utc::now().date_naive();
    for day in 1..=8 {
        let date = today + chrono::Days::new(day);
        let found = api
            .get(
                &format!("/api/trains/search?from=DHK&to=CTG&date={date}"),
                token,
            )
            .await?;
        for trip in found["trips"].as_array().into_iter().flatten() {
            let Some(id) = trip["trip_id"].as_i64() else {
                continue;
            };
            if skip.contains(&id) {
                continue;
            }
            let map = api
                .get(&format!("/api/bookings/trips/{id}/seats"), token)
                .await?;
            let free: Vec<i64> = map["seats"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["status"] == "available")
                .filter_map(|s| s["seat_id"].as_i64())
                .collect();
            if free.len() >= seats {
                let label = format!(
                    "{} {} departing {}",
                    trip["train"]["number"],
                    trip["train"]["name"].as_str().unwrap_or(""),
                    trip["departs_at"].as_str().unwrap_or("")
                );
                return Ok((id, label, free));
            }
        }
    }
    bail!("no trip of the next 8 days has {seats} free seats")
}

async fn flash_sale(api: &Api, tokens: &[String]) -> anyhow::Result<()> {
    let (trip, label, free) = trip_with_free_seats(api, &tokens[0], 100, &[]).await?;
    let seats: Vec<i64> = free.into_iter().take(100).collect();
    println!(
        "trip {trip} ({label}): seats {}..{} on sale to {} passengers",
        seats[0],
        seats[seats.len() - 1],
        tokens.len()
    );
    let open: Arc<Mutex<HashSet<i64>>> = Arc::new(Mutex::new(seats.iter().copied().collect()));
    let barrier = Arc::new(Barrier::new(tokens.len()));
    let started = Instant::now();
    let outcomes = futures_util::future::join_all(tokens.iter().map(|token| {
        let (open, barrier) = (open.clone(), barrier.clone());
        async move {
            barrier.wait().await;
            let begun = Instant::now();
            let mut conflicts = 0u32;
            loop {
                let pick = {
                    let open = open.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                    let open: Vec<i64> = open.iter().copied().collect();
                    // A random pick: the low bits of a v4 UUID are random.
                    let n = open.len().max(1) as u128;
                    open.get((Uuid::new_v4().as_u128() % n) as usize).copied()
                };
                let Some(seat) = pick else {
                    return Ok((None, conflicts, begun.elapsed()));
                };
                match api.select(token, trip, seat).await {
                    Ok(hold) => {
                        if let Ok(mut open) = open.lock() {
                            open.remove(&seat);
                        }
                        let (booking, _) = api.confirm(token, &hold).await;
                        let booking = booking.map_err(|a| anyhow::anyhow!("confirm: {a:?}"))?;
                        let id = booking["booking_id"]
                            .as_str()
                            .context("booking_id")?
                            .to_owned();
                        return Ok((Some((token.clone(), id, seat)), conflicts, begun.elapsed()));
                    }
                    Err(Some((StatusCode::CONFLICT, body)))
                        if body["error"]["code"] == "seat_unavailable" =>
                    {
                        conflicts += 1;
                        if let Ok(mut open) = open.lock() {
                            open.remove(&seat);
                        }
                    }
                    Err(other) => bail!("select answered {other:?}"),
                }
            }
        }
    }))
    .await;
    let sold_out_in = started.elapsed();
    let mut bookings = Vec::new();
    let mut conflicts = 0;
    let mut waits = Vec::new();
    let mut without = 0;
    for outcome in outcomes {
        let (booking, c, took) = outcome?;
        conflicts += c;
        waits.push(took);
        match booking {
            Some(b) => bookings.push(b),
            None => without += 1,
        }
    }
    let mut waits: Vec<f64> = waits.iter().map(|w| w.as_secs_f64() * 1e3).collect();
    waits.sort_by(f64::total_cmp);
    let sold: HashSet<i64> = bookings.iter().map(|b| b.2).collect();
    println!(
        "sold {} bookings in {:.2} s; {} passengers without a seat; {conflicts} picks \
              answered 409 seat_unavailable (picked again)",
        bookings.len(),
        sold_out_in.as_secs_f64(),
        without
    );
    println!(
        "time from 'buy' to a confirmed booking: p50 {:.0} ms, p99 {:.0} ms ({})",
        percentile(&waits, 0.5).floor(),
        percentile(&waits, 0.99).floor(),
        api.counts()
    );
    let pairs: Vec<(String, String)> = bookings
        .iter()
        .map(|b| (b.0.clone(), b.1.clone()))
        .collect();
    let paid = api.until_paid(&pairs, Duration::from_secs(120)).await;
    let map = api
        .get(&format!("/api/bookings/trips/{trip}/seats"), &tokens[0])
        .await?;
    let booked = map["seats"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| {
            s["status"] == "booked" && s["seat_id"].as_i64().is_some_and(|id| seats.contains(&id))
        })
        .count();
    println!(
        "paid {paid} of {}; seat map: {booked} of the 100 seats booked; distinct seats \
              sold: {} (a seat sold twice would make this smaller than the bookings)",
        bookings.len(),
        sold.len()
    );
    if sold.len() != bookings.len()
        || bookings.len() != seats.len().min(tokens.len())
        || paid != bookings.len()
        || booked != sold.len()
    {
        bail!("the flash sale did not end with every seat sold once and paid");
    }
    Ok(())
}

/// What one second of the rush saw.
#[derive(Default, Clone, Copy)]
struct Second {
    booked: u32,
    refused: u32,
    unknown: u32,
}

async fn service_down(api: &Api, tokens: &[String], args: &Args) -> anyhow::Result<()> {
    let pid_file = args.run_dir.join("booking-service.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .with_context(|| {
            format!(
                "reading {} (is the stack started by scripts/start.sh?)",
                pid_file.display()
            )
        })?
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .context("no pid in booking-service's pid file")?;
    // Each passenger buys at most 4 seats of a trip: enough trips for the whole rush.
    let mut trips = Vec::new();
    for _ in 0..6 {
        let skip: Vec<i64> = trips.iter().map(|t: &(i64, Vec<i64>)| t.0).collect();
        let (id, _, free) = trip_with_free_seats(api, &tokens[0], 100, &skip).await?;
        trips.push((id, free));
    }
    let pools: Arc<Vec<Mutex<Vec<i64>>>> =
        Arc::new(trips.iter().map(|t| Mutex::new(t.1.clone())).collect());
    let trip_ids: Vec<i64> = trips.iter().map(|t| t.0).collect();
    let timeline: Arc<Mutex<BTreeMap<u64, Second>>> = Arc::default();
    let started = Instant::now();
    let until = started + Duration::from_secs(args.rush_secs);
    let retried = Arc::new(AtomicU64::new(0));
    println!(
        "{} passengers buy single seats for {} s over {} trips; booking-service (pid {pid}) \
              is killed at {} s",
        tokens.len(),
        args.rush_secs,
        trips.len(),
        args.kill_at
    );
    let killer = async {
        tokio::time::sleep(Duration::from_secs(args.kill_at)).await;
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        println!(
            "  {:>5.1} s  kill -KILL {pid}: {}",
            started.elapsed().as_secs_f64(),
            if status.is_ok_and(|s| s.success()) {
                "killed"
            } else {
                "FAILED"
            }
        );
    };
    let buyers = futures_util::future::join_all(tokens.iter().enumerate().map(|(i, token)| {
        let (pools, timeline, trip_ids, retried) = (
            pools.clone(),
            timeline.clone(),
            trip_ids.clone(),
            retried.clone(),
        );
        async move {
            let mut mine = Vec::new();
            let mut n = 0usize;
            // A confirm every 6 s at most (booking-service allows a passenger 10 a minute),
            // the passengers spread over those 6 s so that the rush is steady.
            let mut next = Instant::now() + Duration::from_millis(60 * (i as u64 % 100));
            while Instant::now() < until && n < 4 * trip_ids.len() {
                tokio::time::sleep_until(next.into()).await;
                next = Instant::now() + Duration::from_secs(6);
                let t = n / 4;
                let seat = pools[t].lock().ok().and_then(|mut p| p.pop());
                let Some(seat) = seat else {
                    n = (t + 1) * 4;
                    continue;
                };
                let second = started.elapsed().as_secs();
                let outcome = match api.select(token, trip_ids[t], seat).await {
                    Ok(hold) => {
                        let (booking, r) = api.confirm(token, &hold).await;
                        retried.fetch_add(u64::from(r), Ordering::Relaxed);
                        match booking {
                            Ok(b) => {
                                if let Some(id) = b["booking_id"].as_str() {
                                    mine.push((token.clone(), id.to_owned()));
                                }
                                n += 1;
                                0
                            }
                            Err(None) => 2,
                            Err(Some((s, _))) if s.is_server_error() => 2,
                            Err(Some(_)) => 1,
                        }
                    }
                    Err(Some((s, _))) if !s.is_server_error() => 1,
                    Err(_) => {
                        // The seat may or may not be held: leave it, try another soon.
                        next = Instant::now() + Duration::from_millis(500);
                        2
                    }
                };
                if let Ok(mut timeline) = timeline.lock() {
                    let s = timeline.entry(second).or_default();
                    match outcome {
                        0 => s.booked += 1,
                        1 => s.refused += 1,
                        _ => s.unknown += 1,
                    }
                }
            }
            mine
        }
    }));
    let (_, bought) = tokio::join!(killer, buyers);
    let bookings: Vec<(String, String)> = bought.into_iter().flatten().collect();
    let timeline = timeline
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    println!("  second  booked  refused  no answer/5xx");
    for (s, c) in &timeline {
        println!(
            "  {s:>6}  {:>6}  {:>7}  {:>13}",
            c.booked, c.refused, c.unknown
        );
    }
    let down: Vec<u64> = timeline
        .iter()
        .filter(|(_, c)| c.unknown > 0)
        .map(|(s, _)| *s)
        .collect();
    println!(
        "bookings: {}; seconds with unanswered requests: {} ({}..{}); confirms retried \
              with their key: {}; {}",
        bookings.len(),
        down.len(),
        down.first().unwrap_or(&0),
        down.last().unwrap_or(&0),
        retried.load(Ordering::Relaxed),
        api.counts()
    );
    let paid = api.until_paid(&bookings, Duration::from_secs(180)).await;
    let mut seen = HashSet::new();
    for (token, id) in &bookings {
        seen.insert(api.get(&format!("/api/bookings/{id}"), token).await?["booking_id"].clone());
    }
    println!(
        "paid {paid} of {} confirmed bookings; each found again by its owner: {}",
        bookings.len(),
        seen.len()
    );
    if paid != bookings.len() || seen.len() != bookings.len() || bookings.is_empty() {
        bail!("a confirmed booking was lost or not paid");
    }
    Ok(())
}

/// One viewer's live seat map: the `event: seat` data as they arrive, with the time.
async fn watch(api: &Api, trip: i64, token: &str) -> anyhow::Result<Feed> {
    let res = api
        .http
        .get(format!("{}/api/bookings/trips/{trip}/events", api.base))
        .bearer_auth(token)
        .timeout(Duration::from_secs(3600))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("the live seat map answered {}", res.status());
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = res.bytes_stream();
    tokio::spawn(async move {
        let mut buf = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let event: String = buf.drain(..end + 2).collect();
                let mut lines = event.lines();
                if lines.next() == Some("event: seat")
                    && let Some(data) = lines.find_map(|l| l.strip_prefix("data: "))
                    && let Ok(v) = serde_json::from_str(data)
                    && tx.send((Instant::now(), v)).is_err()
                {
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// Waits up to 5 s for `seat` to become `status` on a viewer's feed: the delay from `since`.
async fn seen(rx: &mut Feed, seat: i64, status: &str, since: Instant) -> Option<Duration> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some((at, event))) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if event["seat_id"] == seat && event["status"] == status {
            return Some(at.saturating_duration_since(since));
        }
    }
    None
}

type Feed = tokio::sync::mpsc::UnboundedReceiver<(Instant, Value)>;

/// One change, as each viewer saw it: prints the delays; the number of viewers that missed it.
async fn step(
    what: &str,
    (seat, status): (i64, &str),
    since: Instant,
    viewers: [&mut Feed; 2],
) -> usize {
    let mut shown = Vec::new();
    let mut missed = 0;
    for (i, feed) in viewers.into_iter().enumerate() {
        let delay = seen(feed, seat, status, since).await;
        missed += usize::from(delay.is_none());
        shown.push(format!(
            "viewer {}: {}",
            i + 1,
            delay.map_or("NOT SEEN".to_owned(), |d| format!("{} ms", d.as_millis()))
        ));
    }
    println!("  {what:<40} {}", shown.join("   "));
    missed
}

async fn viewers(api: &Api, tokens: &[String]) -> anyhow::Result<()> {
    let (trip, label, free) = trip_with_free_seats(api, &tokens[0], 2, &[]).await?;
    let (a, b) = (free[0], free[1]);
    println!("trip {trip} ({label}); viewers 1 and 2 open its live seat map");
    let mut one = watch(api, trip, &tokens[1]).await?;
    let mut two = watch(api, trip, &tokens[2]).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut missed = 0;
    let t = Instant::now();
    let hold = api
        .select(&tokens[0], trip, a)
        .await
        .map_err(|e| anyhow::anyhow!("select: {e:?}"))?;
    missed += step(
        &format!("a passenger holds seat {a} → held"),
        (a, "held"),
        t,
        [&mut one, &mut two],
    )
    .await;
    let t = Instant::now();
    match api
        .call(
            Method::DELETE,
            &format!("/api/bookings/holds/{hold}"),
            &tokens[0],
            None,
            None,
        )
        .await
    {
        Some((StatusCode::NO_CONTENT, _)) => {}
        other => bail!("releasing the hold answered {other:?}"),
    }
    missed += step(
        &format!("lets seat {a} go → available"),
        (a, "available"),
        t,
        [&mut one, &mut two],
    )
    .await;
    let t = Instant::now();
    let hold = api
        .select(&tokens[0], trip, b)
        .await
        .map_err(|e| anyhow::anyhow!("select: {e:?}"))?;
    missed += step(
        &format!("holds seat {b} → held"),
        (b, "held"),
        t,
        [&mut one, &mut two],
    )
    .await;
    let t = Instant::now();
    let (booking, _) = api.confirm(&tokens[0], &hold).await;
    booking.map_err(|e| anyhow::anyhow!("confirm: {e:?}"))?;
    missed += step(
        &format!("buys seat {b} → booked"),
        (b, "booked"),
        t,
        [&mut one, &mut two],
    )
    .await;
    if missed > 0 {
        bail!("{missed} changes were not seen by a viewer within 5 s");
    }
    Ok(())
}
