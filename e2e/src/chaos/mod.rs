//! The chaos harness (`chaos` binary, `bench/chaos.sh`): the five services as real processes
//! on private stores ([`platform`]), passengers driving them and recording a history
//! ([`passengers`]), faults at random moments of a seeded RNG ([`faults`]), and a checker
//! over the history and the databases after each round ([`checker`]).
//!
//! A round: passengers book for a few seconds, then (every fourth round) the railway cancels one of the trips
//! (while at least two others stay on sale) as each fault of the round strikes at a random
//! moment (the next after the previous is undone), the passengers stop, and the
//! checker waits for the saga to settle and reports violations. Quick mode is one round of
//! a few faults of random kinds; a long run is `--rounds N` rounds of every kind.

pub mod checker;
/// payment-service's fake Stripe (its tests' own file, shared rather than copied): the
/// payment gateway, which must outlive payment-service's restarts as the real one does.
#[path = "../../../payment-service/tests/api/fake_stripe.rs"]
#[allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
pub mod fake_stripe;
pub mod faults;
pub mod passengers;
pub mod platform;

use faults::{Fault, Kind};
use passengers::Driver;
use platform::{Platform, Timings};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct Options {
    pub seed: u64,
    pub rounds: usize,
    /// Faults per round, of random kinds; `None`: one of every kind per round.
    pub faults: Option<usize>,
    pub passengers: usize,
    /// Where the service binaries are.
    pub bin_dir: PathBuf,
    /// Keep the run's directory (logs, history) instead of removing it.
    pub keep: bool,
    /// Cancelled to end the run after the current round (SIGINT, SIGTERM).
    pub stop: CancellationToken,
}

/// What a run did and found.
#[derive(Default)]
pub struct Summary {
    pub rounds: usize,
    pub faults: BTreeMap<Kind, usize>,
    /// Operations by kind and outcome.
    pub operations: BTreeMap<(String, String), usize>,
    pub unknown_found: usize,
    /// Confirms whose 201 came as a replay: an earlier attempt's answer was lost.
    pub replayed_confirms: usize,
    pub max_settle_secs: f64,
    pub violations: Vec<String>,
    pub elapsed: Duration,
}

impl Summary {
    pub fn operations_total(&self) -> usize {
        self.operations.values().sum()
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "rounds: {}, elapsed: {} s",
            self.rounds,
            self.elapsed.as_secs()
        )?;
        writeln!(f, "faults:")?;
        for (kind, n) in &self.faults {
            writeln!(f, "  {:<50} {n}", kind.name())?;
        }
        writeln!(f, "operations: {}", self.operations_total())?;
        for ((kind, outcome), n) in &self.operations {
            writeln!(f, "  {kind:<14} {outcome:<8} {n}")?;
        }
        writeln!(
            f,
            "confirms answered by a replay of their key: {}; unknown confirms found with their key: {}; longest settle after a round's last fault: {:.1} s",
            self.replayed_confirms, self.unknown_found, self.max_settle_secs
        )?;
        writeln!(f, "violations: {}", self.violations.len())?;
        for v in self.violations.iter().take(100) {
            writeln!(f, "  - {v}")?;
        }
        Ok(())
    }
}

pub const TIMINGS: Timings = Timings {
    hold_ttl: Duration::from_secs(8),
    payment_window: Duration::from_secs(30),
};

pub async fn run(options: Options) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(options.seed);
    println!(
        "chaos: seed {} (repeat with --seed {})",
        options.seed, options.seed
    );
    println!("chaos: starting private PostgreSQL, Redis, RabbitMQ and the services");
    let mut platform = Platform::start(&options.bin_dir, TIMINGS).await?;
    println!(
        "chaos: platform up in {} s (logs in {}); trips {:?}",
        started.elapsed().as_secs(),
        platform.dir.path().display(),
        platform.trips
    );
    let driver = Driver {
        auth: platform.address("auth-service"),
        booking: platform.address("booking-service"),
        payment: platform.address("payment-service"),
        trips: platform.trips.clone(),
        cancelled: Default::default(),
        history: passengers::History::default(),
        started: Instant::now(),
        client: reqwest::Client::new(),
    };
    let never = CancellationToken::new();
    let mut passengers = Vec::new();
    for i in 0..options.passengers {
        if let Some(p) = driver.passenger(i, &never).await {
            passengers.push(p);
        }
    }
    let emails: HashMap<usize, String> = passengers
        .iter()
        .map(|p| (p.index, p.email.clone()))
        .collect();
    let mut summary = Summary::default();
    // The railway's admin; its token is signed anew for each cancellation (an access token
    // lives 15 minutes, less than a long run).
    let admin = uuid::Uuid::new_v4();
    let admin_key = servicekit::testing::keys()?.private.clone();
    let mut cancelled: Vec<i64> = Vec::new();
    let mut bookings: Vec<passengers::Mine> =
        passengers.iter().map(|_| Default::default()).collect();
    for round in 1..=options.rounds {
        if options.stop.is_cancelled() {
            println!("chaos: stopped before round {round}");
            break;
        }
        let since_ms = u64::try_from(driver.started.elapsed().as_millis()).unwrap_or(0);
        let stop = CancellationToken::new();
        let tasks: Vec<_> = passengers
            .iter()
            .zip(bookings.iter_mut())
            .map(|(p, mine)| {
                let (driver, p, stop) = (driver.clone(), p.clone(), stop.clone());
                let (mine, seed) = (std::mem::take(mine), rng.random());
                tokio::spawn(async move { driver.run(p, mine, seed, stop).await })
            })
            .collect();
        let mut kinds: Vec<Kind> = match options.faults {
            Some(n) => (0..n)
                .filter_map(|_| Kind::ALL.choose(&mut rng).copied())
                .collect(),
            None => Kind::ALL.to_vec(),
        };
        kinds.shuffle(&mut rng);
        tokio::time::sleep(Duration::from_secs(3)).await;
        // The railway cancels a trip every fourth round (the first included) while the faults
        // strike, as long as more than half of the trips stay on sale: a long run keeps
        // selling on the rest.
        let admin_token = servicekit::testing::sign_token(admin, "admin", &admin_key)?;
        let cancelling = if round % 4 == 1 && 2 * (cancelled.len() + 1) <= driver.trips.len() {
            let open: Vec<i64> = driver
                .trips
                .iter()
                .copied()
                .filter(|t| !cancelled.contains(t))
                .collect();
            open.choose(&mut rng).copied().map(|trip| {
                cancelled.push(trip);
                driver.cancelled_trip(trip);
                println!("chaos: round {round}: the railway cancels trip {trip}");
                let (driver, token) = (driver.clone(), admin_token.clone());
                tokio::spawn(async move { driver.cancel_trip(&token, trip).await })
            })
        } else {
            None
        };
        for kind in kinds {
            tokio::time::sleep(Duration::from_millis(rng.random_range(1000..5000))).await;
            let fault = Fault::pick(kind, &mut rng);
            let at = driver.started.elapsed().as_secs_f64();
            println!("chaos: round {round} at {at:.1} s: {}", fault.describe());
            fault.inject(&mut platform, &mut rng).await?;
            *summary.faults.entry(kind).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.cancel();
        for (task, mine) in tasks.into_iter().zip(bookings.iter_mut()) {
            *mine = task.await?;
        }
        if let Some(task) = cancelling {
            task.await?;
        }
        let verdict = checker::check(&platform, &driver, &emails, since_ms).await?;
        println!(
            "chaos: round {round}: confirms ok {} (paid {}, expired {}, cancelled {}), refused {}, unknown {} ({} found with their key); settled in {:.1} s; violations {}",
            verdict.confirms_ok,
            verdict.paid,
            verdict.expired,
            verdict.cancelled,
            verdict.confirms_failed,
            verdict.confirms_unknown,
            verdict.unknown_found,
            verdict.settled_secs,
            verdict.violations.len()
        );
        for v in &verdict.violations {
            println!("chaos:   VIOLATION {v}");
        }
        summary.rounds = round;
        summary.unknown_found += verdict.unknown_found;
        summary.max_settle_secs = summary.max_settle_secs.max(verdict.settled_secs);
        summary.violations.extend(
            verdict
                .violations
                .into_iter()
                .map(|v| format!("round {round}: {v}")),
        );
    }
    for op in driver.history.ops() {
        if op.kind == "confirm" && op.answer.ends_with("replayed") {
            summary.replayed_confirms += 1;
        }
        let outcome = serde_json::to_value(op.outcome)?
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *summary
            .operations
            .entry((op.kind.to_owned(), outcome))
            .or_default() += 1;
    }
    let history = platform.dir.path().join("history.jsonl");
    let lines: Vec<String> = driver
        .history
        .ops()
        .iter()
        .filter_map(|op| serde_json::to_string(op).ok())
        .collect();
    std::fs::write(&history, lines.join("\n"))?;
    if options.keep || !summary.violations.is_empty() {
        let fresh = tempfile::Builder::new()
            .prefix("railrush-chaos-")
            .tempdir()?;
        let kept = std::mem::replace(&mut platform.dir, fresh).keep();
        println!("chaos: logs and history kept in {}", kept.display());
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}
