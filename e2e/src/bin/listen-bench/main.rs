//! `listen-bench`: live seat maps under load, through the gateway.
//!
//! `listen-bench run` is the coordinator and the driver:
//! 1. Baseline: selects one seat at a time on `--trip` at `--rate` a second for `--secs`
//!    seconds (each seat once, every hold released as soon as it is answered), with nobody
//!    listening: the select latency without listeners.
//! 2. Starts `--processes` listener processes (this binary's `listen` role: one process cannot
//!    hold 20,000 sockets under a 20,000-file limit) that open `--listeners` event streams of
//!    the trip between them, and waits until every stream is open or refused. Reads the RSS
//!    and open files of the `--rss` processes (booking-service replicas, nginx workers) before
//!    and after.
//! 3. Fan-out: the same selects while every listener reads its stream. A hold's delay at a
//!    listener is the time the listener read its `held` event minus the time the driver read
//!    the 201 (one machine, one wall clock).
//! 4. Sends the holds to every listener process, which answers with how many of them each of
//!    its listeners saw and the delays, merged here.
//!
//! Prints one JSON line. `bench/listeners.sh` starts the replicas and the gateway and runs it.

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, Parser, Subcommand};
use e2e::bench::{Histogram, hook};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

mod driver;
mod listener;

/// listen-bench: live seat-map listeners through the gateway while selects run: streams
/// held, memory, the delay from a hold to its event at every listener, select latency with
/// and without listeners; prints one JSON line.
#[derive(Parser)]
#[command(name = "listen-bench", version, after_help = EXAMPLES)]
struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// The coordinator and select driver (starts the listener processes itself)
    Run(RunArgs),
    /// One listener process, started by `run`: opens streams, reports on stdin's request
    Listen(listener::ListenArgs),
}

#[derive(ClapArgs)]
struct RunArgs {
    /// The gateway's base URL (streams and selects both go through it)
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// The trip everyone watches and the driver selects on
    #[arg(long, value_name = "ID")]
    trip: i64,
    /// Passengers' access tokens, one a line (`mint_tokens`); a select takes the next one
    #[arg(long, value_name = "FILE")]
    tokens: PathBuf,
    /// Event streams to open in all
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    listeners: usize,
    /// Listener processes (default: one per 5,000 streams)
    #[arg(long, value_name = "K")]
    processes: Option<usize>,
    /// Streams each listener process opens at once while connecting
    #[arg(long, value_name = "N", default_value_t = 64)]
    connect_in_flight: usize,
    /// Selects a second, in both phases
    #[arg(long, value_name = "R", default_value_t = 10.0)]
    rate: f64,
    /// Seconds of each phase (at most one select per seat of the trip per phase)
    #[arg(long, value_name = "S", default_value_t = 20)]
    secs: u64,
    /// Seconds to wait after the last hold for its events
    #[arg(long, value_name = "S", default_value_t = 5)]
    drain_secs: u64,
    /// Processes whose RSS and open files are read before and after the streams open:
    /// NAME=PID[,PID...], repeated (e.g. booking=101,102 nginx=201,202,203)
    #[arg(long, value_name = "NAME=PIDS")]
    rss: Vec<String>,
    /// A shell command run once every stream is open (bench/listeners.sh prints the spread)
    #[arg(long, value_name = "COMMAND")]
    on_connected: Option<String>,
}

const EXAMPLES: &str = "\
Examples:
  listen-bench run --gateway http://127.0.0.1:18080 --trip 3 --tokens /tmp/tokens \\
      --listeners 20000 --processes 4 --rate 10 --secs 20 \\
      --rss booking=4101,4102,4103 --rss nginx=4201,4202,4203,4204";

fn main() -> ExitCode {
    servicekit::cli::run(|args: Args| async move {
        match args.role {
            Role::Run(args) => {
                let report = run(args).await?;
                println!("{report}");
                Ok(())
            }
            Role::Listen(args) => listener::listen(args).await,
        }
    })
}

async fn run(args: RunArgs) -> anyhow::Result<Value> {
    if args.listeners == 0 || args.rate.is_nan() || args.rate <= 0.0 {
        bail!("--listeners and --rate must be positive");
    }
    let tokens: Vec<String> = std::fs::read_to_string(&args.tokens)
        .with_context(|| format!("reading {}", args.tokens.display()))?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        bail!("{} has no tokens", args.tokens.display());
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let seats = driver::available_seats(&client, &args.gateway, args.trip).await?;
    let wanted = ((args.rate * args.secs as f64).round() as usize).max(1);
    if seats.len() < wanted {
        eprintln!(
            "listen-bench: {} selects wanted, the trip has {} available seats: {} a phase",
            wanted,
            seats.len(),
            seats.len()
        );
    }
    let plan = driver::Plan {
        gateway: &args.gateway,
        trip: args.trip,
        seats: &seats[..wanted.min(seats.len())],
        tokens: &tokens,
        rate: args.rate,
    };

    eprintln!(
        "listen-bench: baseline, {} selects, nobody listening",
        plan.seats.len()
    );
    let baseline = driver::drive(&client, &plan).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let groups = rss_groups(&args.rss)?;
    let before = sample(&groups);
    let processes = args
        .processes
        .unwrap_or_else(|| args.listeners.div_ceil(5_000))
        .clamp(1, args.listeners);
    let started = Instant::now();
    let mut fleet = Fleet::start(&args, processes)?;
    let ready = fleet.replies(Duration::from_secs(600)).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    let connected: u64 = ready.iter().map(|r| count(r, "connected")).sum();
    let failed: u64 = ready.iter().map(|r| count(r, "failed")).sum();
    let refusals: Vec<&Value> = ready.iter().map(|r| &r["refusals"]).collect();
    eprintln!("listen-bench: {connected} streams open, {failed} refused, in {connect_secs:.1}s");
    let after = sample(&groups);
    hook(args.on_connected.as_deref())?;

    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!("listen-bench: fan-out, {} selects", plan.seats.len());
    let fanout = driver::drive(&client, &plan).await;
    tokio::time::sleep(Duration::from_secs(args.drain_secs)).await;

    fleet.send(&json!({ "holds": fanout.holds_json() }))?;
    let results = fleet.replies(Duration::from_secs(120)).await?;
    fleet.wait();
    let mut delays = Histogram::default();
    for r in &results {
        delays.merge(&Histogram::from_json(&r["delays"]).context("a listener's delays")?);
    }
    let sum = |key: &str| results.iter().map(|r| count(r, key)).sum::<u64>();
    let min_seen = results
        .iter()
        .filter_map(|r| r["fewest_seen"].as_u64())
        .min();
    let expected = fanout.holds.len() as u64;
    Ok(json!({
        "listeners": {
            "wanted": args.listeners,
            "processes": processes,
            "connected": connected,
            "failed": failed,
            "refusals": refusals,
            "connect_secs": connect_secs,
            "dropped_during_run": sum("dropped"),
            "resyncs": sum("resyncs"),
        },
        "events": {
            "holds": expected,
            "expected_per_listener": expected,
            "fewest_seen_by_a_listener": min_seen,
            "expected_total": expected * sum("reported"),
            "received_total": sum("received"),
            "listeners_that_missed_any": sum("missed_any"),
        },
        "delay_hold_to_listener": delays.summary(),
        "select": {
            "baseline": baseline.summary(),
            "with_listeners": fanout.summary(),
        },
        "memory": memory(&groups, &before, &after, connected),
        "rate_per_sec": args.rate,
        "phase_secs": args.secs,
    }))
}

fn count(reply: &Value, key: &str) -> u64 {
    reply[key].as_u64().unwrap_or(0)
}

/// The listener processes, each talking JSON lines: one line when its streams are open, and
/// after it is sent the holds, one line with what its listeners saw.
struct Fleet {
    children: Vec<(Child, ChildStdin)>,
    lines: mpsc::UnboundedReceiver<(usize, anyhow::Result<Value>)>,
}

impl Fleet {
    fn start(args: &RunArgs, processes: usize) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let url = format!("{}/api/bookings/trips/{}/events", args.gateway, args.trip);
        let (tx, lines) = mpsc::unbounded_channel();
        let mut children = Vec::new();
        for i in 0..processes {
            let share = args.listeners / processes + usize::from(i < args.listeners % processes);
            let mut child = Command::new(&exe)
                .args(["listen", "--url", &url])
                .args(["--listeners", &share.to_string()])
                .args(["--in-flight", &args.connect_in_flight.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .context("starting a listener process")?;
            let stdout = child.stdout.take().context("a listener's stdout")?;
            let stdin = child.stdin.take().context("a listener's stdin")?;
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let parsed = line
                        .map_err(anyhow::Error::from)
                        .and_then(|l| serde_json::from_str(&l).map_err(Into::into));
                    if tx.send((i, parsed)).is_err() {
                        return;
                    }
                }
            });
            children.push((child, stdin));
        }
        Ok(Self { children, lines })
    }

    /// One line from every process, in process order.
    async fn replies(&mut self, within: Duration) -> anyhow::Result<Vec<Value>> {
        let mut out = vec![Value::Null; self.children.len()];
        let deadline = tokio::time::Instant::now() + within;
        for _ in 0..self.children.len() {
            let (i, line) = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .context("a listener process did not answer in time")?
                .context("a listener process exited")?;
            out[i] = line?;
        }
        Ok(out)
    }

    fn send(&mut self, message: &Value) -> anyhow::Result<()> {
        let line = format!("{message}\n");
        for (_, stdin) in &mut self.children {
            stdin.write_all(line.as_bytes())?;
            stdin.flush()?;
        }
        Ok(())
    }

    fn wait(self) {
        for (mut child, stdin) in self.children {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

type Groups = Vec<(String, Vec<u32>)>;

fn rss_groups(specs: &[String]) -> anyhow::Result<Groups> {
    specs
        .iter()
        .map(|spec| {
            let (name, pids) = spec
                .split_once('=')
                .with_context(|| format!("--rss {spec}: not NAME=PID[,PID...]"))?;
            let pids = pids
                .split(',')
                .map(|p| {
                    p.trim()
                        .parse()
                        .with_context(|| format!("--rss {spec}: {p}"))
                })
                .collect::<anyhow::Result<_>>()?;
            Ok((name.to_owned(), pids))
        })
        .collect()
}

/// (RSS in KiB, open files) of every process of every group.
fn sample(groups: &Groups) -> Vec<Vec<(u64, u64)>> {
    groups
        .iter()
        .map(|(_, pids)| {
            pids.iter()
                .map(|pid| {
                    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
                        .ok()
                        .and_then(|s| {
                            s.lines()
                                .find_map(|l| l.strip_prefix("VmRSS:"))
                                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                        })
                        .unwrap_or(0);
                    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
                        .map(|d| d.count() as u64)
                        .unwrap_or(0);
                    (rss, fds)
                })
                .collect()
        })
        .collect()
}

fn memory(
    groups: &Groups,
    before: &[Vec<(u64, u64)>],
    after: &[Vec<(u64, u64)>],
    connected: u64,
) -> Value {
    let mut out = serde_json::Map::new();
    for (((name, _), before), after) in groups.iter().zip(before).zip(after) {
        let total = |s: &[(u64, u64)]| s.iter().map(|(rss, _)| rss).sum::<u64>();
        let (b, a) = (total(before), total(after));
        out.insert(
            name.clone(),
            json!({
                "rss_before_mib": b as f64 / 1024.0,
                "rss_connected_mib": a as f64 / 1024.0,
                "kib_per_listener": (a.saturating_sub(b)) as f64 / connected.max(1) as f64,
                "open_files_each": after.iter().map(|(_, fds)| fds).collect::<Vec<_>>(),
            }),
        );
    }
    Value::Object(out)
}
