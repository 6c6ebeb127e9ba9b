//! The train-service binary: serves the API (`serve`, the default), applies its migrations
//! (`migrate`), or seeds the catalogue (`seed`, see `seed::SeedOptions`) with the same
//! settings.

use anyhow::Context;
use clap::{Parser, Subcommand};
use servicekit::cli::{self, ServiceCommand};
use std::process::ExitCode;
use train_service::seed::{self, SeedOptions};
use train_service::settings::Settings;
use train_service::startup::{self, Application};

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
}

const EXAMPLES: &str = "\
train-service                              serve on APP_HTTP__PORT
train-service migrate                      apply pending migrations to APP_DATABASE__URL
train-service seed --trains 200 --days 3   seed 200 trains for today and the next 2 days";

fn main() -> ExitCode {
    cli::run(|cli: Cli| async move {
        let settings: Settings = servicekit::config::load("train-service")?;
        match cli
            .command
            .unwrap_or(Command::Service(ServiceCommand::Serve))
        {
            Command::Service(ServiceCommand::Serve) => {
                servicekit::telemetry::init(&settings.log);
                let app = Application::build(settings).await?;
                tracing::info!(port = app.port(), "train-service listening");
                app.run_until_stopped().await?;
            }
            Command::Service(ServiceCommand::Migrate) => {
                servicekit::telemetry::init_quiet(&settings.log);
                let pool = servicekit::db::pool(&settings.database)?;
                startup::migrate(&pool).await.context("migrating")?;
                println!("train-service: migrations applied");
            }
            Command::Seed(options) => {
                servicekit::telemetry::init_quiet(&settings.log);
                let started = std::time::Instant::now();
                let pool = servicekit::db::pool(&settings.database)?;
                startup::migrate(&pool).await.context("migrating")?;
                let report = seed::run(&pool, &options).await.context("seeding")?;
                tracing::info!(
                    ?options,
                    ?report,
                    elapsed_ms = started.elapsed().as_millis(),
                    "seeded"
                );
                println!(
                    "train-service: the seed added {} stations, {} trains, {} seats and {} trips",
                    report.stations, report.trains, report.seats, report.trips
                );
            }
        }
        Ok(())
    })
}
