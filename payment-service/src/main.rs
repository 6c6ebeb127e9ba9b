//! The payment-service binary: serves the API and runs the charge and refund workers
//! (`serve`, the default), or applies its migrations (`migrate`).

use payment_service::settings::Settings;
use payment_service::startup;
use payment_service::{charges, refunds};
use servicekit::cli::{self, Binary, Parts};
use std::process::ExitCode;

const BINARY: Binary = Binary {
    name: "payment-service",
    version: env!("CARGO_PKG_VERSION"),
    about: "payment-service: charges confirmed bookings through the payment gateway (the \
            built-in test gateway or Stripe), serves payment status and retries, and refunds \
            cancellations.",
    examples: "\
payment-service               serve on APP_HTTP__PORT, run the charge and refund workers
payment-service migrate       apply pending migrations to APP_DATABASE__URL and exit
payment-service parked list   the messages its consumers gave up on (then parked replay|drop)",
    queues: &[charges::QUEUE, refunds::QUEUE],
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
