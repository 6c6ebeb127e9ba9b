//! Builds the booking-service application. `main` and the tests both start it through
//! [`Application::build`].

use crate::inventory::Inventory;
use crate::live::LiveFeed;
use crate::seats::SeatStore;
use crate::settings::Settings;
use crate::state::{BookingMetrics, BookingState};
use crate::sweeper::SweeperHandle;
use actix_web::dev::Server;
use actix_web::web;
use prometheus::IntGauge;
use servicekit::amqp::Broker;
use servicekit::app::{self, Common};
use servicekit::auth::JwtVerifier;
use servicekit::cache::{self, Keys};
use servicekit::consumer::ConsumerHandle;
use servicekit::db;
use servicekit::health::Readiness;
use servicekit::idempotency::IdempotencyStore;
use servicekit::metrics::Metrics;
use servicekit::outbox::OutboxRelay;
use std::sync::Arc;
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
    payments: ConsumerHandle,
    sweeper: SweeperHandle,
    hot_trips: tokio::task::JoinHandle<()>,
}

/// How often the seats-left gauge is recomputed.
const HOT_TRIPS_REFRESH: Duration = Duration::from_secs(5);

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pg = db::pool(&settings.database)?;
        db::migrate(&pg, embedded::migrations::runner()).await?;
        let redis = cache::pool(&settings.redis)?;
        let seats = SeatStore::new(redis.clone(), Keys::new(settings.redis.key_prefix.clone()));
        let broker = Broker::start(&settings.amqp, "booking-service");
        let metrics = Metrics::new("booking")?;
        metrics.watch_pg_pool(pg.clone());
        metrics.watch_redis_pool(redis.clone());
        let relay = OutboxRelay::spawn(pg.clone(), broker.clone(), metrics.registry())?;
        let live = LiveFeed::start(broker.clone(), &settings.booking.seats_exchange);
        let listeners = IntGauge::new("booking_live_listeners", "Live seat-map connections open")?;
        metrics.registry().register(Box::new(listeners.clone()))?;
        let feed = live.clone();
        metrics.on_scrape(move || listeners.set(i64::try_from(feed.listeners()).unwrap_or(0)));

        if let Err(error) = crate::markers::rebuild(&pg, &seats).await {
            tracing::warn!(%error, "booked markers not rebuilt at start; the watcher will retry");
        }
        crate::markers::watch(
            pg.clone(),
            seats.clone(),
            Duration::from_millis(settings.booking.marker_check_ms),
        );

        let state = Arc::new(BookingState {
            db: pg.clone(),
            seats,
            inventory: Inventory::new(&settings.booking.train_service_url)?,
            relay,
            live,
            settings: settings.booking.clone(),
            metrics: BookingMetrics::register(metrics.registry())?,
        });
        let payments = crate::payments::spawn(broker.clone(), state.clone(), &metrics);
        let sweeper = crate::sweeper::spawn(
            state.clone(),
            Duration::from_millis(settings.booking.sweep_interval_ms),
        );
        let hot_trips = crate::hot_trips::spawn(state.clone(), HOT_TRIPS_REFRESH);
        let state = web::Data::from(state);
        let verifier = web::Data::new(JwtVerifier::from_settings(&settings.jwt)?);
        let idempotency = web::Data::new(IdempotencyStore { db: pg.clone() });
        let common = Common {
            metrics,
            readiness: Readiness {
                postgres: Some(pg),
                redis: Some(redis),
                broker: Some(broker),
                // Confirmations wait in the outbox; live maps then update on this replica only.
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
            payments,
            sweeper,
            hot_trips,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM (graceful), then stops the payment-outcome consumer
    /// after its in-flight events are applied and acked, and the sweeper after its batch.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.payments.shutdown().await;
        self.sweeper.shutdown().await;
        self.hot_trips.abort();
        served
    }
}
