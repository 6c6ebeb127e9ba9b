//! `redis-failover`: selling through the loss of a Redis primary, measured
//! (docs/architecture.md, "When Redis goes away"; `bench/redis-failover.sh`).
//!
//! 1. Starts a private Redis Cluster (three shards, one replica each, `cluster-node-timeout`
//!    1 s), train-service and booking-service in-process on it (PostgreSQL and RabbitMQ are
//!    the shared ones, with names of their own), and seeds one trip of `--seats` seats.
//! 2. The cost of making a hold wait for its replica: `--clients` callers run a hold-like
//!    script (check, `SET PX`, `SADD` under one hash tag) over servicekit's cluster connection
//!    for `--wait-secs` seconds, then the same script pipelined with `WAIT 1 100` to the slot's
//!    primary: rates and latencies of both.
//! 3. `--clients` passengers select one random seat after another through booking-service
//!    (holds lapse after `--hold-ttl-ms`, so seats come free again); after `--before-secs`
//!    the primary owning the trip's slot is killed with SIGKILL; the run goes on until
//!    `--after-secs` after the replica's promotion. Readiness is probed every 100 ms.
//!
//! Prints the answers per second, then one JSON line: select rates before, during (the kill
//! to the last 503) and after, the refusal window (first to last 503), the promotion delay,
//! readiness, and the WAIT figures.

use anyhow::{Context, bail};
use clap::Parser;
use e2e::services;
use futures_util::future::join_all;
use rand::Rng;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
use serde_json::{Value, json};
use servicekit::cache::RedisConnection;
use servicekit::config::RedisSettings;
use servicekit::testing::servers::RedisCluster;
use servicekit::testing::{TestEnv, User, user, wait_ready};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// redis-failover: booking-service selling while the Redis primary of its trip dies.
#[derive(Parser)]
#[command(name = "redis-failover", version)]
struct Args {
    /// Passengers selecting at once (and callers of the WAIT measurement)
    #[arg(long, value_name = "N", default_value_t = 32)]
    clients: usize,
    /// Seats of the trip
    #[arg(long, value_name = "N", default_value_t = 400)]
    seats: i32,
    /// How long a hold lasts (short, so seats come free during the run)
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    hold_ttl_ms: u64,
    /// Seconds of selling before the kill
    #[arg(long, value_name = "S", default_value_t = 5)]
    before_secs: u64,
    /// Seconds of selling after the promotion
    #[arg(long, value_name = "S", default_value_t = 10)]
    after_secs: u64,
    /// Seconds of each phase of the WAIT measurement (0: skip it)
    #[arg(long, value_name = "S", default_value_t = 10)]
    wait_secs: u64,
}

fn main() -> ExitCode {
    servicekit::cli::run(|args: Args| async move {
        let report = run(args).await?;
        println!("{report}");
        Ok(())
    })
}

/// One select: when it was answered (since the start) and its status.
type Answers = Arc<Mutex<Vec<(Duration, u16)>>>;

async fn run(args: Args) -> anyhow::Result<Value> {
    // Warnings and errors of the services (and the redis client) unless RUST_LOG says more.
    servicekit::telemetry::init_quiet(&servicekit::config::LogSettings::default());
    let mut cluster = RedisCluster::with_replicas(3, 1)?;
    let cluster_settings = |key_prefix: String| RedisSettings {
        url: cluster.url().into(),
        cluster: true,
        key_prefix,
        ..RedisSettings::default()
    };
    let wait = if args.wait_secs > 0 {
        let settings = cluster_settings("bench:".into());
        wait_cost(&settings, args.clients, Duration::from_secs(args.wait_secs)).await?
    } else {
        Value::Null
    };

    let bus = TestEnv::new("failover_bench").await?;
    let train = services::train(TestEnv::sharing_broker("train", &bus).await?).await;
    wait_ready(&train.client, &train.address).await;
    let trip = services::seed(&train.env.database, args.seats).await;
    let env = TestEnv::sharing_broker("booking", &bus).await?;
    let redis = cluster_settings(env.redis.key_prefix.clone());
    let booking = services::booking(env, &train, |s| {
        s.redis = redis;
        s.booking.hold_ttl_ms = args.hold_ttl_ms;
        s.user_limits.enabled = false;
    })
    .await;
    wait_ready(&booking.client, &booking.address).await;
    let users: Arc<Vec<User>> = Arc::new((0..100 * args.clients).map(|_| user()).collect());

    let slot_key = format!("{{{}}}", trip.id);
    let primary = cluster
        .primary_of(&slot_key)?
        .context("no primary serves the trip")?;
    let answers: Answers = Arc::default();
    let ready: Arc<Mutex<Vec<(Duration, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let url = booking.url("/api/bookings/seats/select");
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, url, users, answers, stop) = (
            booking.client.clone(),
            url.clone(),
            users.clone(),
            answers.clone(),
            stop.clone(),
        );
        let (trip, seats) = (trip.id, args.seats);
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (who, seat) = {
                    let mut rng = rand::rng();
                    (
                        &users[rng.random_range(0..users.len())],
                        rng.random_range(1..=seats),
                    )
                };
                let status = client
                    .post(&url)
                    .bearer_auth(&who.token)
                    .json(&json!({"trip_id": trip, "seat_ids": [seat]}))
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16());
                if let Ok(mut a) = answers.lock() {
                    a.push((start.elapsed(), status));
                }
            }
        }));
    }
    let probe = {
        let (client, url, ready, stop) = (
            booking.client.clone(),
            booking.url("/health/ready"),
            ready.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let said = match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => r
                        .json::<Value>()
                        .await
                        .map(|b| b["status"].as_str().unwrap_or("?").to_owned())
                        .unwrap_or_default(),
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(_) => "no answer".to_owned(),
                };
                if let Ok(mut r) = ready.lock() {
                    r.push((start.elapsed(), said));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_secs(args.before_secs)).await;
    let killed = start.elapsed();
    eprintln!(
        "killing the primary on port {primary} (nodes {:?}, the client's seed node {})",
        cluster.ports, cluster.ports[0]
    );
    cluster.kill(primary)?;
    let (cluster, promoted) = tokio::task::spawn_blocking(move || {
        let promoted = cluster.wait_promoted(&slot_key, primary, Duration::from_secs(60));
        (cluster, promoted)
    })
    .await?;
    promoted?;
    let promoted = start.elapsed();
    tokio::time::sleep(Duration::from_secs(args.after_secs)).await;
    stop.store(true, Ordering::Relaxed);
    join_all(tasks).await;
    probe.await?;
    let end = start.elapsed();
    drop(booking);
    drop(train);
    drop(cluster);

    let answers = answers
        .lock()
        .map_err(|_| anyhow::anyhow!("a passenger panicked"))?
        .clone();
    let ready = ready
        .lock()
        .map_err(|_| anyhow::anyhow!("the probe panicked"))?
        .clone();
    print_seconds(&answers, killed, promoted);
    let refused: Vec<Duration> = answers
        .iter()
        .filter(|(_, s)| *s == 503)
        .map(|(at, _)| *at)
        .collect();
    let last_refusal = refused.last().copied().unwrap_or(promoted).max(killed);
    let rate = |from: Duration, to: Duration, status: u16| {
        let n = answers
            .iter()
            .filter(|(at, s)| *at >= from && *at < to && *s == status)
            .count();
        let secs = (to.saturating_sub(from)).as_secs_f64();
        if secs > 0.0 { n as f64 / secs } else { 0.0 }
    };
    let phase = |from: Duration, to: Duration| {
        json!({
            "secs": round((to.saturating_sub(from)).as_secs_f64()),
            "selects_per_sec": round(
                [201, 409, 503, 500, 0].iter().map(|&s| rate(from, to, s)).sum::<f64>()
            ),
            "held_per_sec": round(rate(from, to, 201)),
            "refused_per_sec": round(rate(from, to, 503)),
        })
    };
    let unexpected = answers
        .iter()
        .filter(|(_, s)| ![201, 409, 503].contains(s))
        .count();
    let degraded: Vec<f64> = ready
        .iter()
        .filter(|(_, said)| said == "degraded")
        .map(|(at, _)| at.as_secs_f64())
        .collect();
    let unready = ready
        .iter()
        .filter(|(_, said)| said != "ok" && said != "degraded")
        .count();
    Ok(json!({
        "clients": args.clients,
        "seats": args.seats,
        "selects": answers.len(),
        "unexpected_answers": unexpected,
        "promotion_secs_after_kill": round((promoted - killed).as_secs_f64()),
        "refused": refused.len(),
        "refusal_window_secs": refused.first().map(|first| {
            round((last_refusal.saturating_sub(*first)).as_secs_f64())
        }),
        "first_refusal_secs_after_kill": refused.first().map(|f| round(f.saturating_sub(killed).as_secs_f64())),
        "last_refusal_secs_after_kill": refused.last().map(|l| round(l.saturating_sub(killed).as_secs_f64())),
        "before": phase(Duration::ZERO, killed),
        "during": phase(killed, last_refusal),
        "after": phase(last_refusal, end),
        "readiness": {
            "probes": ready.len(),
            "degraded": degraded.len(),
            "degraded_from_secs_after_kill": degraded.first().map(|d| round(d - killed.as_secs_f64())),
            "degraded_to_secs_after_kill": degraded.last().map(|d| round(d - killed.as_secs_f64())),
            "unready": unready,
        },
        "wait_for_replica": wait,
    }))
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Prints one line per second of the run: answers by status.
fn print_seconds(answers: &[(Duration, u16)], killed: Duration, promoted: Duration) {
    let last = answers.last().map_or(0, |(at, _)| at.as_secs());
    eprintln!("second  selects  201  409  503  other");
    for second in 0..=last {
        let of: Vec<u16> = answers
            .iter()
            .filter(|(at, _)| at.as_secs() == second)
            .map(|(_, s)| *s)
            .collect();
        let n = |status: u16| of.iter().filter(|&&s| s == status).count();
        let mark = if second == killed.as_secs() {
            "  <- primary killed"
        } else if second == promoted.as_secs() {
            "  <- replica promoted"
        } else {
            ""
        };
        eprintln!(
            "{second:>6}  {:>7}  {:>3}  {:>3}  {:>3}  {:>5}{mark}",
            of.len(),
            n(201),
            n(409),
            n(503),
            of.len() - n(201) - n(409) - n(503),
        );
    }
}

/// A hold-like script: refuses if KEYS[2] exists, else sets it with a lifetime and adds
/// ARGV[2] to the set KEYS[1] (what the select script does for one seat).
const HOLD: &str = r"
    if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
    redis.call('SET', KEYS[2], ARGV[1], 'PX', 2000)
    redis.call('SADD', KEYS[1], ARGV[2])
    return 1
";

/// Rates and latencies of the hold-like script alone and followed by `WAIT 1 100` on the
/// slot's primary, `clients` callers at once for `each` per phase.
async fn wait_cost(
    settings: &RedisSettings,
    clients: usize,
    each: Duration,
) -> anyhow::Result<Value> {
    let pool = servicekit::cache::pool(settings)?;
    let script = redis::Script::new(HOLD);
    // Loaded on every node once, so both phases run EVALSHA.
    let mut conn = pool.multiplexed().await?;
    script.load_async(&mut conn).await?;
    let mut figures = serde_json::Map::new();
    for with_wait in [false, true] {
        let stop = Instant::now() + each;
        let runs = (0..clients).map(|c| {
            let (pool, script) = (pool.clone(), script.clone());
            async move {
                let mut conn = pool.multiplexed().await?;
                let RedisConnection::Cluster(cluster) = &mut conn else {
                    bail!("not a cluster connection");
                };
                let (mut times, mut unacked, mut i) = (Vec::new(), 0u64, 0u64);
                while Instant::now() < stop {
                    i += 1;
                    // Ten trips' worth of slots, so every shard takes its share.
                    let tag = format!("{{bench{}}}", (c as u64 + i) % 10);
                    let (set, seat) = (
                        settings.key_prefix.clone() + &format!("user:{tag}:{c}"),
                        settings.key_prefix.clone() + &format!("seat:{tag}:{c}:{i}"),
                    );
                    let began = Instant::now();
                    if with_wait {
                        let mut pipe = redis::pipe();
                        pipe.cmd("EVALSHA")
                            .arg(script.get_hash())
                            .arg(2)
                            .arg(&set)
                            .arg(&seat)
                            .arg("h")
                            .arg(i)
                            .cmd("WAIT")
                            .arg(1)
                            .arg(100);
                        let route = SingleNodeRoutingInfo::SpecificNode(Route::with_key(
                            &seat,
                            SlotAddr::Master,
                        ));
                        let replies = cluster.route_pipeline(pipe, 0, 2, route).await?;
                        if replies.get(1) == Some(&redis::Value::Int(0)) {
                            unacked += 1;
                        }
                    } else {
                        let _: i64 = script
                            .key(&set)
                            .key(&seat)
                            .arg("h")
                            .arg(i)
                            .invoke_async(cluster)
                            .await?;
                    }
                    times.push(began.elapsed().as_secs_f64() * 1000.0);
                }
                Ok::<_, anyhow::Error>((times, unacked))
            }
        });
        let mut times = Vec::new();
        let mut unacked = 0;
        for run in join_all(runs).await {
            let (t, u) = run?;
            times.extend(t);
            unacked += u;
        }
        times.sort_by(f64::total_cmp);
        let at = |p: f64| {
            times
                .get(((times.len().saturating_sub(1)) as f64 * p).round() as usize)
                .copied()
                .map(round)
        };
        let name = if with_wait {
            "script_then_wait"
        } else {
            "script"
        };
        eprintln!(
            "{name}: {:.0}/s, p50 {:?} ms, p99 {:?} ms",
            times.len() as f64 / each.as_secs_f64(),
            at(0.5),
            at(0.99)
        );
        figures.insert(
            name.to_owned(),
            json!({
                "per_sec": round(times.len() as f64 / each.as_secs_f64()),
                "p50_ms": at(0.5),
                "p99_ms": at(0.99),
                "replica_not_acked_within_100ms": unacked,
            }),
        );
    }
    Ok(Value::Object(figures))
}
