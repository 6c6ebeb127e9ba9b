//! The notification-service binary: consumes events, delivers messages, serves the inbox
//! (`serve`, the default), or applies its migrations (`migrate`).

use clap::Parser;
use notification_service::settings::Settings;
use notification_service::startup;
use servicekit::cli::{self, ServiceCommand};
use std::process::ExitCode;

/// notification-service: delivers one-time codes, e-tickets and booking news (log channel,
/// or e-mail over SMTP) from the events of the other services, and serves each user's inbox.
#[derive(Parser)]
#[command(name = "notification-service", version, after_help = cli::after_help(EXAMPLES))]
struct Cli {
    #[command(subcommand)]
    command: Option<ServiceCommand>,
}

const EXAMPLES: &str = "\
notification-service           serve on APP_HTTP__PORT, consume the events
notification-service migrate   apply pending migrations to APP_DATABASE__URL and exit";

fn main() -> ExitCode {
    cli::run(|cli: Cli| async move {
        let settings: Settings = servicekit::config::load("notification-service")?;
        let (log, database) = (settings.log.clone(), settings.database.clone());
        let command = cli.command.unwrap_or_default();
        let build = || startup::build(settings);
        cli::run_service(
            "notification-service",
            command,
            &log,
            &database,
            startup::migrations,
            build,
        )
        .await
    })
}
