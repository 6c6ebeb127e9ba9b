//! Builds the train-service application: pools, migrations, broker, the availability
//! consumer, the app factory and the HTTP server. `main` and the tests both start it through
//! [`Application::build`].

use crate::availability::{self, Availability};
use crate::metrics::TrainMetrics;
use crate::search_cache::SearchCache;
use crate::settings::Settings;
use crate::state::TrainState;
use actix_web::dev::Server;
use actix_web::web;
use servicekit::amqp::Broker;
use servicekit::app::{self, Common};
use servicekit::auth::JwtVerifier;
use servicekit::cache::{self, Keys};
use servicekit::consumer::ConsumerHandle;
use servicekit::db;
use servicekit::health::Readiness;
use servicekit::idempotency::IdempotencyStore;
use servicekit::metrics::Metrics;

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
    consumer: ConsumerHandle,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pg = db::pool(&settings.database)?;
        migrate(&pg).await?;
        let redis = cache::pool(&settings.redis)?;
        let keys = Keys::new(settings.redis.key_prefix.clone());
        let broker = Broker::start(&settings.amqp, "train-service");
        let metrics = Metrics::new("train")?;
        metrics.watch_pg_pool(pg.clone());
        metrics.watch_redis_pool(redis.clone());
        let train_metrics = TrainMetrics::register(metrics.registry())?;
        let search_cache = SearchCache::new(
            redis.clone(),
            keys,
            settings.search.cache_ttl_secs,
            settings.redis.timeout(),
        );
        let consumer = availability::spawn(
            broker.clone(),
            Availability {
                db: pg.clone(),
                cache: search_cache.clone(),
                metrics: train_metrics.clone(),
            },
            &metrics,
        );
        let state = web::Data::new(TrainState {
            db: pg.clone(),
            cache: search_cache,
            metrics: train_metrics,
        });
        let idempotency = web::Data::new(IdempotencyStore { db: pg.clone() });
        let verifier = web::Data::new(JwtVerifier::from_settings(&settings.jwt)?);
        let common = Common {
            metrics,
            readiness: Readiness {
                postgres: Some(pg),
                redis: Some(redis),
                broker: Some(broker),
                // Search falls back to PostgreSQL; availability events wait in their queue.
                degradable: vec!["redis", "rabbitmq"],
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
            consumer,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM (graceful: in-flight requests finish), then stops the
    /// consumer after its in-flight events are applied and acked.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.consumer.shutdown().await;
        served
    }
}
