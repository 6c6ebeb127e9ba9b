//! Assembles payment-service on the service kernel: `main` and the tests both start it
//! through [`build`] (or [`build_with_gateway`], to hand in a gateway the test inspects).

use crate::bookings::Bookings;
use crate::gateway::{self, PaymentGateway};
use crate::metrics::PaymentMetrics;
use crate::settings::Settings;
use crate::state::PaymentState;
use crate::worker::{Consumer, Job, Worker};
use actix_web::web;
pub use servicekit::service::Application;
use servicekit::service::Kernel;
use std::sync::Arc;

servicekit::migrations!("migrations");

/// Builds the application with the gateway `settings.gateway` names.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let gateway = gateway::from_settings(&settings.gateway)?;
    build_with_gateway(settings, gateway).await
}

pub async fn build_with_gateway(
    settings: Settings,
    gateway: Arc<dyn PaymentGateway>,
) -> anyhow::Result<Application> {
    let mut kernel = Kernel::new("payment-service", &settings.http)?;
    let pg = kernel.postgres(&settings.database, migrations()).await?;
    kernel.retention(&pg, &settings.retention).await?;
    kernel.broker(&settings.amqp);
    // HTTP reads need PostgreSQL only; charges and refunds wait in their queues.
    kernel.degradable(&["rabbitmq"]);
    kernel.verify_tokens(&settings.jwt)?;
    kernel.idempotency(&pg);
    let relay = kernel.outbox(&pg)?;
    let worker = Worker {
        db: pg.clone(),
        gateway,
        relay: relay.clone(),
        metrics: PaymentMetrics::register(kernel.metrics().registry())?,
    };
    for job in [Job::Charge, Job::Refund] {
        let worker = worker.clone();
        kernel.consume(Consumer { worker, job })?;
    }
    let bookings = Arc::new(Bookings::new(&settings.booking_service)?);
    let state = web::Data::new(PaymentState {
        db: pg,
        relay,
        bookings,
    });
    kernel.api(crate::routes::api());
    kernel.serve(move |cfg| {
        cfg.app_data(state.clone());
    })
}
