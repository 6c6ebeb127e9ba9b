//! Builds the notification-service application: pool, migrations, broker, channels, the
//! consumers, the parked-messages gauge, the app factory and the HTTP server. `main` and the
//! tests both start it through [`Application::build`] (tests inject their own channel with
//! [`Application::build_with_channel`]).

use crate::channel::{Channel, Channels, LogChannel, SmtpChannel};
use crate::consumers;
use crate::metrics::NotificationMetrics;
use crate::notify::Notifier;
use crate::routes::Inbox;
use crate::settings::Settings;
use actix_web::dev::Server;
use actix_web::web;
use servicekit::amqp::Broker;
use servicekit::app::{self, Common};
use servicekit::auth::JwtVerifier;
use servicekit::consumer::ConsumerHandle;
use servicekit::db;
use servicekit::health::Readiness;
use servicekit::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;

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

/// The configured channels: SMS to the log (there is no SMS provider), e-mail over SMTP when
/// `smtp.url` is set, else to the log too.
fn configured_channels(settings: &Settings) -> anyhow::Result<Channels> {
    let log: Arc<dyn Channel> = Arc::new(LogChannel);
    let email: Arc<dyn Channel> = match SmtpChannel::from_settings(&settings.smtp)? {
        Some(smtp) => Arc::new(smtp),
        None => log.clone(),
    };
    Ok(Channels { sms: log, email })
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let channels = configured_channels(&settings)?;
        Self::build_with_channels(settings, channels).await
    }

    /// Like [`Application::build`], delivering every message through `channel`.
    pub async fn build_with_channel(
        settings: Settings,
        channel: Arc<dyn Channel>,
    ) -> anyhow::Result<Self> {
        Self::build_with_channels(settings, Channels::all(channel)).await
    }

    pub async fn build_with_channels(
        settings: Settings,
        channels: Channels,
    ) -> anyhow::Result<Self> {
        let pg = db::pool(&settings.database)?;
        migrate(&pg).await?;
        let broker = Broker::start(&settings.amqp, "notification-service");
        let metrics = Metrics::new("notification")?;
        metrics.watch_pg_pool(pg.clone());
        let own_metrics = NotificationMetrics::register(metrics.registry())?;
        let delivery = &settings.delivery;
        let notifier = Arc::new(Notifier {
            db: pg.clone(),
            channels,
            metrics: own_metrics,
            contact_wait: Duration::from_millis(delivery.contact_wait_ms),
        });
        let consumers = consumers::spawn(&broker, notifier, delivery, &metrics);
        let inbox = web::Data::new(Inbox { db: pg.clone() });
        let verifier = web::Data::new(JwtVerifier::from_settings(&settings.jwt)?);
        let common = Common {
            metrics,
            readiness: Readiness {
                postgres: Some(pg),
                redis: None,
                broker: Some(broker),
                // The inbox needs PostgreSQL only; messages wait in their queues.
                degradable: vec!["rabbitmq"],
            },
        };
        let (port, server) = app::serve(&settings.http, common, move |cfg| {
            cfg.app_data(inbox.clone())
                .app_data(verifier.clone())
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
    /// consumers after their in-flight messages are delivered, recorded and acked.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        futures_util::future::join_all(self.consumers.into_iter().map(ConsumerHandle::shutdown))
            .await;
        served
    }
}
