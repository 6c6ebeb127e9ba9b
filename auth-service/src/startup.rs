//! Builds the auth-service application: pools, migrations, broker, the outbox relay, the app
//! factory and the HTTP server. `main` and the tests both start it through
//! [`Application::build`].

use crate::metrics::AuthMetrics;
use crate::otp::OtpStore;
use crate::password::Hasher;
use crate::settings::Settings;
use crate::state::AuthState;
use crate::throttle::LoginThrottle;
use actix_web::dev::Server;
use actix_web::web;
use servicekit::amqp::Broker;
use servicekit::app::{self, Common};
use servicekit::auth::{JwtIssuer, JwtVerifier};
use servicekit::cache::{self, Keys};
use servicekit::db;
use servicekit::health::Readiness;
use servicekit::idempotency::IdempotencyStore;
use servicekit::metrics::Metrics;
use servicekit::outbox::OutboxRelay;
use std::time::Duration;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Applies the service's migrations to the database of `pool`.
pub async fn migrate(pool: &db::PgPool) -> anyhow::Result<()> {
    db::migrate(pool, embedded::migrations::runner()).await
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pg = db::pool(&settings.database)?;
        db::migrate(&pg, embedded::migrations::runner()).await?;
        let redis = cache::pool(&settings.redis)?;
        let keys = Keys::new(settings.redis.key_prefix.clone());
        let broker = Broker::start(&settings.amqp, "auth-service");
        let metrics = Metrics::new("auth")?;
        metrics.watch_pg_pool(pg.clone());
        metrics.watch_redis_pool(redis.clone());
        let outbox = OutboxRelay::spawn(pg.clone(), broker.clone(), metrics.registry())?;
        let auth_metrics = AuthMetrics::register(metrics.registry())?;
        let state = web::Data::new(AuthState {
            db: pg.clone(),
            hasher: Hasher::new(
                settings.login.max_concurrent_hashes,
                Duration::from_millis(settings.login.hash_wait_ms),
                auth_metrics.clone(),
            )?,
            issuer: JwtIssuer::from_settings(&settings.jwt)?,
            otp: OtpStore::new(redis.clone(), keys.clone(), settings.otp.clone())?,
            throttle: LoginThrottle::new(redis.clone(), keys, settings.login.clone()),
            broker: broker.clone(),
            outbox,
            otp_dev_echo: settings.otp.dev_echo,
            refresh_ttl_days: settings.refresh_ttl_days,
            metrics: auth_metrics,
        });
        let idempotency = web::Data::new(IdempotencyStore { db: pg.clone() });
        let verifier = web::Data::new(JwtVerifier::from_settings(&settings.jwt)?);
        let common = Common {
            metrics,
            readiness: Readiness {
                postgres: Some(pg),
                redis: Some(redis),
                broker: Some(broker),
                // Registration goes through the outbox; only OTP requests need the broker.
                degradable: vec!["rabbitmq"],
            },
        };
        let (port, server) = app::serve(&settings.http, common, move |cfg| {
            cfg.app_data(state.clone())
                .app_data(verifier.clone())
                .app_data(idempotency.clone())
                .configure(crate::routes::configure);
        })?;
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM (graceful: in-flight requests finish).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
