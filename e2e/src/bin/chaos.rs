//! `chaos`: the chaos harness. Starts private PostgreSQL, Redis and RabbitMQ and the services
//! as processes (the binaries beside this one, or in `--bin-dir`), drives passengers while
//! injecting faults at random moments of a seeded RNG, and checks the history and the
//! databases after each round (`e2e::chaos`). Prints the seed, each fault, each round's
//! verdict and a summary; exits 1 on any violation. SIGINT or SIGTERM ends the run after the
//! round under way, with its summary. `bench/chaos.sh` builds and runs it.

use anyhow::Context;
use clap::Parser;
use e2e::chaos::{self, Options};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// chaos: faults as a test. Quick mode (the test command's step): `--faults 3`; long mode:
/// `--rounds N` (every fault kind each round).
#[derive(Parser)]
#[command(name = "chaos", version)]
struct Cli {
    /// Seed of the fault schedule and the passengers' choices (default: from the clock)
    #[arg(long)]
    seed: Option<u64>,
    /// Rounds to run
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Faults per round, of random kinds (default: one of every kind per round)
    #[arg(long)]
    faults: Option<usize>,
    /// Passengers booking at once
    #[arg(long, default_value_t = 8)]
    passengers: usize,
    /// Directory of the service binaries (default: this binary's)
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Keep the run's directory (service logs, history.jsonl) even when all is well
    #[arg(long)]
    keep: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("chaos: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    let bin_dir = match cli.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()?
            .parent()
            .context("the binary has no directory")?
            .to_owned(),
    };
    let seed = cli.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let stop = CancellationToken::new();
    let summary = runtime.block_on(async {
        // SIGINT or SIGTERM: finish the round under way, then report (and stop everything).
        let on_signal = stop.clone();
        tokio::spawn(async move {
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("chaos: stopping after the current round");
            on_signal.cancel();
        });
        chaos::run(Options {
            seed,
            rounds: cli.rounds,
            faults: cli.faults,
            passengers: cli.passengers,
            bin_dir,
            keep: cli.keep,
            stop,
        })
        .await
    })?;
    println!("\nchaos: seed {seed}\n{summary}");
    Ok(summary.violations.is_empty())
}
