//! Builds the payment-service application: pool, migrations, broker, outbox relay, the
//! charge and refund workers, and the HTTP server. `main` and the tests both start it
//! through [`Application::build`] (or [`Application::build_with_gateway`] to hand in a
//! gateway the test can inspect).

use crate::gateway::{self, PaymentGateway};
use crate::metrics::PaymentMetrics;
use crate::settings::Settings;
use crate::state::PaymentState;
use crate::worker::Worker;
use crate::{charges, refunds};
use actix_web::dev::Server;
use actix_web::web;
use servicekit::amqp::Broker;
use servicekit::app::{self, Common};
use servicekit::auth::JwtVerifier;
use servicekit::consumer::ConsumerHandle;
use servicekit::db;
use servicekit::health::Readiness;
use servicekit::idempotency::IdempotencyStore;
use servicekit::metrics::Metrics;
use servicekit::outbox::OutboxRelay;
use std::sync::Arc;

pub(crate) mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Applies the service's migrations to the database of `pool`.
pub async fn migrate(pool: &db::PgPool) -> anyhow::Result<()> {
    db::migrate(pool, embedded::migrations::runner()).await
}

pub struct Application {
    port: u16,
    server: Server,
    consumers: Vec<ConsumerHandle>,
}

impl Application {
    /// Builds the application with the gateway `settings.gateway` names.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let gateway = gateway::from_settings(&settings.gateway)?;
        Self::build_with_gateway(settings, gateway).await
    }

    pub async fn build_with_gateway(
        settings: Settings,
        gateway: Arc<dyn PaymentGateway>,
    ) -> anyhow::Result<Self> {
        let pg = db::pool(&settings.database)?;
        migrate(&pg).await?;
        let broker = Broker::start(&settings.amqp, "payment-service");
        let metrics = Metrics::new("payment")?;
        metrics.watch_pg_pool(pg.clone());
        let payment_metrics = PaymentMetrics::register(metrics.registry())?;
        let relay = OutboxRelay::spawn(pg.clone(), broker.clone(), metrics.registry())?;
        let worker = Worker {
            db: pg.clone(),
            gateway,
            relay: relay.clone(),
            metrics: payment_metrics,
        };
        let consumers = vec![
            charges::spawn(broker.clone(), worker.clone(), &metrics),
            refunds::spawn(broker.clone(), worker, &metrics),
        ];
        let state = web::Data::new(PaymentState {
            db: pg.clone(),
            relay,
        });
        let idempotency = web::Data::new(IdempotencyStore { db: pg.clone() });
        let verifier = web::Data::new(JwtVerifier::from_settings(&settings.jwt)?);
        let common = Common {
            metrics,
            readiness: Readiness {
                postgres: Some(pg),
                redis: None,
                broker: Some(broker),
                // HTTP reads need PostgreSQL only; charges and refunds wait in their queues.
                degradable: vec!["rabbitmq"],
            },
        };
        let (port, server) = app::serve(&settings.http, common, move |cfg| {
            cfg.app_data(state.clone())
                .app_data(verifier.clone())
                .app_data(idempotency.clone())
                .configure(crate::routes::configure);
        })?;
        Ok(Self {
            port,
            server,
            consumers,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM (graceful: in-flight requests finish), then stops the
    /// workers after their in-flight events are applied and acked.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        for consumer in self.consumers {
            consumer.shutdown().await;
        }
        served
    }
}
