//! `saga-bench`: bookings per second through the whole saga, confirm → paid → ticket.
//!
//! Registers `--users` passengers at auth-service (the setup step, not timed), then books
//! `--bookings` single seats with `--concurrency` parallel clients (select + confirm with
//! `tok_visa` at booking-service), spreading them over the trips of the next days so that no
//! passenger holds more than 4 seats of a trip. The clock runs from the first select until
//! the last of those bookings is `paid` in booking-service's database and has its ticket in
//! notification-service's. Prints one JSON line with the results.
//!
//! `saga-bench --help` lists the options; `bench/saga-rush.sh` runs it against a local stack.

use anyhow::{Context, bail};
use clap::Parser;
use e2e::bench::{hook, percentile};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// saga-bench: bookings per second through the whole saga, confirm -> paid -> ticket.
/// Registers passengers (not timed), books single seats over the next days' DHK-CTG trips,
/// and waits until each booking is paid and ticketed; prints one JSON line with the results.
#[derive(Parser)]
#[command(name = "saga-bench", version, after_help = EXAMPLES)]
struct Args {
    /// auth-service's base URL
    #[arg(long, value_name = "URL")]
    auth: String,
    /// train-service's base URL
    #[arg(long, value_name = "URL")]
    train: String,
    /// booking-service's base URL
    #[arg(long, value_name = "URL")]
    booking: String,
    /// booking-service's database, to see the bookings paid
    #[arg(long, value_name = "URL")]
    booking_db: String,
    /// notification-service's database, to see the tickets sent
    #[arg(long, value_name = "URL")]
    notification_db: String,
    /// Seats to book, one per booking
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = at_least_one)]
    bookings: usize,
    /// Clients booking in parallel
    #[arg(long, value_name = "C", default_value_t = 32, value_parser = at_least_one)]
    concurrency: usize,
    /// Passengers to register and book as
    #[arg(long, value_name = "U", default_value_t = 100, value_parser = at_least_one)]
    users: usize,
    /// A shell command run just before the timed phase (bench/profile-saga.sh starts its
    /// profiler and reads the processes' CPU time here)
    #[arg(long, value_name = "COMMAND")]
    on_start: Option<String>,
    /// A shell command run when the timed phase ends (every booking paid and ticketed, or the
    /// deadline passed), before the results are printed
    #[arg(long, value_name = "COMMAND")]
    on_end: Option<String>,
}

const EXAMPLES: &str = "\
Examples:
  saga-bench --auth http://127.0.0.1:8081 --train http://127.0.0.1:8082 \\
      --booking http://127.0.0.1:8083 \\
      --booking-db postgres://postgres@127.0.0.1:5432/railrush_booking \\
      --notification-db postgres://postgres@127.0.0.1:5432/railrush_notification \\
      --bookings 2000 --concurrency 64 --users 200";

fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{value} is not a whole number of at least 1")),
    }
}

/// Every (trip, seat) of DHK→CTG over the next days, in order.
async fn seats(
    client: &reqwest::Client,
    train: &str,
    wanted: usize,
) -> anyhow::Result<Vec<(i64, i64)>> {
    let mut out = Vec::new();
    let today = chrono::Utc::now().date_naive();
    for day in 1..14 {
        let date = today + chrono::Duration::days(day);
        let found: Value = client
            .get(format!(
                "{train}/api/trains/search?from=DHK&to=CTG&date={date}"
            ))
            .send()
            .await?
            .json()
            .await?;
        for trip in found["trips"].as_array().into_iter().flatten() {
            let id = trip["trip_id"].as_i64().context("trip id")?;
            let detail: Value = client
                .get(format!("{train}/api/trains/trips/{id}"))
                .send()
                .await?
                .json()
                .await?;
            for coach in detail["coaches"].as_array().into_iter().flatten() {
                for seat in coach["seats"].as_array().into_iter().flatten() {
                    out.push((id, seat["seat_id"].as_i64().context("seat id")?));
                }
            }
            if out.len() >= wanted {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

#[derive(Default)]
struct Tally {
    booked: Vec<Uuid>,
    taken: usize,
    errors: usize,
    latencies_ms: Vec<f64>,
}

async fn book(
    client: &reqwest::Client,
    booking: &str,
    token: &str,
    trip: i64,
    seat: i64,
) -> anyhow::Result<Option<Uuid>> {
    let res = client
        .post(format!("{booking}/api/bookings/seats/select"))
        .bearer_auth(token)
        .json(&json!({"trip_id": trip, "seat_ids": [seat]}))
        .send()
        .await?;
    if res.status() == reqwest::StatusCode::CONFLICT {
        return Ok(None);
    }
    if !res.status().is_success() {
        bail!("select answered {}", res.status());
    }
    let hold: Value = res.json().await?;
    let res = client
        .post(format!("{booking}/api/bookings/seats/confirm"))
        .bearer_auth(token)
        .json(&json!({"hold_id": hold["hold_id"], "passengers": [{"name": "Bench Passenger"}], "payment_token": "tok_visa"}))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("confirm answered {}", res.status());
    }
    let b: Value = res.json().await?;
    Ok(b["booking_id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok()))
}

async fn count(db: &tokio_postgres::Client, sql: &str, ids: &[Uuid]) -> anyhow::Result<i64> {
    Ok(db.query_one(sql, &[&ids]).await?.get(0))
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(c)
}

fn main() -> ExitCode {
    servicekit::cli::run(run)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;

    let setup = Instant::now();
    let tokens: Vec<String> = stream::iter(0..args.users)
        .map(|_| e2e::signup::sign_up(&client, &args.auth, "bench"))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let pairs = seats(&client, &args.train, args.bookings).await?;
    if pairs.len() < args.bookings {
        bail!(
            "only {} seats in the next 13 days; seed more trains",
            pairs.len()
        );
    }
    eprintln!(
        "setup: {} users, {} seats in {:.1}s",
        tokens.len(),
        pairs.len(),
        setup.elapsed().as_secs_f64()
    );

    // Seat k of a trip goes to user (k / 4) mod users: at most 4 seats per user and trip
    // as long as a trip has no more than 4 * users seats.
    let mut per_trip: HashMap<i64, usize> = HashMap::new();
    let jobs: Vec<(i64, i64, usize)> = pairs
        .into_iter()
        .take(args.bookings)
        .map(|(trip, seat)| {
            let k = per_trip.entry(trip).or_insert(0);
            let user = (*k / 4) % tokens.len();
            *k += 1;
            (trip, seat, user)
        })
        .collect();

    hook(args.on_start.as_deref())?;
    let started = Instant::now();
    let results = stream::iter(jobs)
        .map(|(trip, seat, user)| {
            let client = &client;
            let token = &tokens[user];
            let booking = &args.booking;
            async move {
                let t = Instant::now();
                let r = book(client, booking, token, trip, seat).await;
                (r, t.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(args.concurrency)
        .collect::<Vec<_>>()
        .await;
    let confirm_secs = started.elapsed().as_secs_f64();
    let mut tally = Tally::default();
    for (r, ms) in results {
        tally.latencies_ms.push(ms);
        match r {
            Ok(Some(id)) => tally.booked.push(id),
            Ok(None) => tally.taken += 1,
            Err(e) => {
                tally.errors += 1;
                if tally.errors <= 5 {
                    eprintln!("booking failed: {e:#}");
                }
            }
        }
    }
    tally.latencies_ms.sort_by(f64::total_cmp);

    let booking_db = connect(&args.booking_db).await?;
    let notification_db = connect(&args.notification_db).await?;
    let n = tally.booked.len() as i64;
    let deadline = Instant::now() + Duration::from_secs(600);
    let (mut paid, mut tickets) = (0, 0);
    while Instant::now() < deadline {
        paid = count(
            &booking_db,
            "SELECT count(*) FROM bookings WHERE id = ANY($1) AND status = 'paid'",
            &tally.booked,
        )
        .await?;
        tickets = count(&notification_db, "SELECT count(DISTINCT booking_id) FROM notifications WHERE kind = 'ticket' AND booking_id = ANY($1)", &tally.booked).await?;
        if paid == n && tickets == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let saga_secs = started.elapsed().as_secs_f64();
    hook(args.on_end.as_deref())?;
    let summary = json!({
        "bookings": n,
        "seats_taken_already": tally.taken,
        "errors": tally.errors,
        "concurrency": args.concurrency,
        "confirm_phase_secs": confirm_secs,
        "confirmed_per_sec": n as f64 / confirm_secs,
        "select_confirm_ms": {"p50": percentile(&tally.latencies_ms, 0.5), "p99": percentile(&tally.latencies_ms, 0.99)},
        "paid": paid,
        "ticketed": tickets,
        "saga_secs": saga_secs,
        "saga_bookings_per_sec": n as f64 / saga_secs,
    });
    println!("{summary}");
    if paid != n || tickets != n {
        bail!(
            "{} bookings did not complete the saga within 10 minutes",
            n - paid.min(tickets)
        );
    }
    Ok(())
}
