//! The notification-service binary: consumes events, delivers messages, serves the inbox
//! (`serve`, the default), or applies its migrations (`migrate`).

use notification_service::settings::Settings;
use notification_service::startup;
use servicekit::cli::{self, Binary};
use std::process::ExitCode;

const BINARY: Binary = Binary {
    name: "notification-service",
    version: env!("CARGO_PKG_VERSION"),
    about: "notification-service: delivers one-time codes, e-tickets and booking news (log \
            channel, or e-mail over SMTP) from the events of the other services, and serves \
            each user's inbox.",
    examples: "\
notification-service           serve on APP_HTTP__PORT, consume the events
notification-service migrate   apply pending migrations to APP_DATABASE__URL and exit",
};

fn main() -> ExitCode {
    let parts = |s: &Settings| (s.log.clone(), s.database.clone());
    cli::service_main(BINARY, startup::migrations, parts, startup::build)
}
