//! The booking-service binary: seat holds, confirmation, the live seat map and bookings
//! (`serve`, the default), or applies its migrations (`migrate`).

use booking_service::settings::Settings;
use booking_service::startup;
use booking_service::{payments, refunds};
use servicekit::cli::{self, Binary, Parts};
use std::process::ExitCode;

const BINARY: Binary = Binary {
    name: "booking-service",
    version: env!("CARGO_PKG_VERSION"),
    about: "booking-service: holds seats in Redis, confirms bookings in PostgreSQL with the \
            outbox, serves the live seat map and the caller's bookings, follows payment \
            outcomes and expires unpaid bookings.",
    examples: "\
booking-service               serve on APP_HTTP__PORT, run the payment and refund consumers and the sweeper
booking-service migrate       apply pending migrations to APP_DATABASE__URL and exit
booking-service parked list   the messages its consumers gave up on (then parked replay|drop)",
    queues: &[payments::QUEUE, refunds::QUEUE],
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
