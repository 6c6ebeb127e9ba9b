//! The booking-service binary: seat holds, confirmation, the live seat map and bookings
//! (`serve`, the default), or applies its migrations (`migrate`).

use booking_service::settings::Settings;
use booking_service::startup;
use clap::Parser;
use servicekit::cli::{self, ServiceCommand};
use std::process::ExitCode;

/// booking-service: holds seats in Redis, confirms bookings in PostgreSQL with the outbox,
/// serves the live seat map and the caller's bookings, follows payment outcomes and expires
/// unpaid bookings.
#[derive(Parser)]
#[command(name = "booking-service", version, after_help = cli::after_help(EXAMPLES))]
struct Cli {
    #[command(subcommand)]
    command: Option<ServiceCommand>,
}

const EXAMPLES: &str = "\
booking-service           serve on APP_HTTP__PORT, run the payment consumer and the sweeper
booking-service migrate   apply pending migrations to APP_DATABASE__URL and exit";

fn main() -> ExitCode {
    cli::run(|cli: Cli| async move {
        let settings: Settings = servicekit::config::load("booking-service")?;
        let (log, database) = (settings.log.clone(), settings.database.clone());
        let command = cli.command.unwrap_or_default();
        let build = || startup::build(settings);
        cli::run_service(
            "booking-service",
            command,
            &log,
            &database,
            startup::migrations,
            build,
        )
        .await
    })
}
