//! The notification-service binary: consumes events, delivers messages, serves the inbox
//! (`serve`, the default), or applies its migrations (`migrate`).

use notification_service::consumers;
use notification_service::settings::Settings;
use notification_service::startup;
use servicekit::cli::{self, Binary, Parts};
use std::process::ExitCode;

const BINARY: Binary = Binary {
    name: "notification-service",
    version: env!("CARGO_PKG_VERSION"),
    about: "notification-service: delivers one-time codes, e-tickets and booking news (log \
            channel, or e-mail over SMTP) from the events of the other services, and serves \
            each user's inbox.",
    examples: "\
notification-service               serve on APP_HTTP__PORT, consume the events
notification-service migrate       apply pending migrations to APP_DATABASE__URL and exit
notification-service parked list   the messages its consumers gave up on (then parked replay|drop)",
    queues: &consumers::NAMES,
};

#[global_allocator]
static ALLOCATOR: servicekit::Allocator = servicekit::Allocator;

fn main() -> ExitCode {
    let parts = |s: &Settings| Parts {
        log: s.log.clone(),
        database: s.database.clone(),
        amqp: s.amqp.clone(),
    };
    cli::service_main(BINARY, startup::migrations, parts, startup::build)
}
