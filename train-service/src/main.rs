//! The train-service binary: serves the API (`serve`, the default), applies its migrations
//! (`migrate`), seeds the catalogue (`seed`, see `seed::SeedOptions`) with the same
//! settings, or lists, replays and drops its consumer's parked messages (`parked`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use servicekit::cli::{self, ParkedCommand, ServiceCommand};
use std::process::ExitCode;
use train_service::availability;
use train_service::seed::{self, SeedOptions};
use train_service::settings::Settings;
use train_service::startup;

/// train-service: stations, trains and dated trips with fares, search with availability,
/// the seat layouts booking-service caches, the admin endpoints, and the seed command.
#[derive(Parser)]
#[command(name = "train-service", version, after_help = cli::after_help(EXAMPLES))]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Service(ServiceCommand),
    Seed(SeedOptions),
    /// List, replay or drop the messages the consumers gave up on (parked)
    #[command(subcommand, after_help = cli::PARKED_EXAMPLES)]
    Parked(ParkedCommand),
}

const EXAMPLES: &str = "\
train-service                              serve on APP_HTTP__PORT
train-service migrate                      apply pending migrations to APP_DATABASE__URL
train-service seed --trains 200 --days 3   seed 200 trains for today and the next 2 days
train-service parked list                  the availability events its consumer gave up on";

#[global_allocator]
static ALLOCATOR: servicekit::Allocator = servicekit::Allocator;

fn main() -> ExitCode {
    cli::run(|cli: Cli| async move {
        let settings: Settings = servicekit::config::load("train-service")?;
        let (log, database) = (settings.log.clone(), settings.database.clone());
        match cli
            .command
            .unwrap_or(Command::Service(ServiceCommand::Serve))
        {
            Command::Service(command) => {
                let build = || startup::build(settings);
                cli::run_service(
                    "train-service",
                    command,
                    &log,
                    &database,
                    startup::migrations,
                    build,
                )
                .await
            }
            Command::Parked(command) => {
                let queues = [availability::QUEUE];
                cli::run_parked("train-service", command, &log, &settings.amqp, &queues).await
            }
            Command::Seed(options) => {
                let pool = cli::migrated_pool(&log, &database, startup::migrations).await?;
                let report = seed::run(&pool, &options).await.context("seeding")?;
                println!(
                    "train-service: the seed added {} stations, {} trains, {} seats and {} trips",
                    report.stations, report.trains, report.seats, report.trips
                );
                if let Some(minutes) = options.rush_in {
                    println!(
                        "train-service: {} trips of day {} go on sale in {minutes} minutes",
                        report.rush_trips, options.rush_day
                    );
                }
                Ok(())
            }
        }
    })
}
