//! The payment-service binary: serves the API and runs the charge and refund workers
//! (`serve`, the default), or applies its migrations (`migrate`).

use clap::Parser;
use payment_service::settings::Settings;
use payment_service::startup;
use servicekit::cli::{self, ServiceCommand};
use std::process::ExitCode;

/// payment-service: charges confirmed bookings through the payment gateway (the built-in
/// test gateway or Stripe), serves payment status and retries, and refunds cancellations.
#[derive(Parser)]
#[command(name = "payment-service", version, after_help = cli::after_help(EXAMPLES))]
struct Cli {
    #[command(subcommand)]
    command: Option<ServiceCommand>,
}

const EXAMPLES: &str = "\
payment-service           serve on APP_HTTP__PORT, run the charge and refund workers
payment-service migrate   apply pending migrations to APP_DATABASE__URL and exit";

fn main() -> ExitCode {
    cli::run(|cli: Cli| async move {
        let settings: Settings = servicekit::config::load("payment-service")?;
        let (log, database) = (settings.log.clone(), settings.database.clone());
        let command = cli.command.unwrap_or_default();
        let build = || startup::build(settings);
        cli::run_service(
            "payment-service",
            command,
            &log,
            &database,
            startup::migrations,
            build,
        )
        .await
    })
}
