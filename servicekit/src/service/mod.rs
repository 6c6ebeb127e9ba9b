//! The service kernel: how every RailRush service is assembled, run and stopped.
//!
//! A service's `startup.rs` says only what is its own. It makes a [`Kernel`], asks it for the
//! stores it needs ([`Kernel::postgres`] runs the migrations, [`Kernel::redis`],
//! [`Kernel::broker`]), adds its consumers ([`Kernel::consume`]), its background jobs
//! ([`Kernel::spawn`]), the pruning of its bookkeeping tables ([`Kernel::retention`]) and,
//! where it publishes, the outbox relay ([`Kernel::outbox`]), then
//! hands its routes to [`Kernel::serve`]. The kernel registers metrics and readiness for every
//! store, the JWT verifier and the idempotency store as app data (and, for a service that
//! consumes, the [`Parked`] of its queues), and the common routes and middleware
//! ([`app::base`]).
//!
//! The resulting [`Application`] is the same in `main` and in tests: `port()`,
//! `run_until_stopped()`, and a [`StopHandle`]. Stopping (SIGINT/SIGTERM, or
//! [`StopHandle::stop`]) ends the HTTP server gracefully (in-flight requests finish), then
//! the background tasks in two phases ([`Tasks`]): consumers stop taking deliveries and
//! finish and ack the ones they hold, periodic jobs finish their round; then the outbox relay
//! publishes what they committed and stops; last, the broker connection closes, so deliveries
//! prefetched but never handled are back in their queues. `run_until_stopped` returns when
//! every task has ended.

pub mod app;
mod tasks;

pub use tasks::{Tasks, every};

use crate::amqp::Broker;
use crate::auth::JwtVerifier;
use crate::cache::{self, RedisPool};
use crate::config::{
    AmqpSettings, DatabaseSettings, HttpSettings, JwtSettings, RedisSettings, RetentionSettings,
};
use crate::consumer::{self, Handler};
use crate::db::{self, PgPool};
use crate::health::Readiness;
use crate::idempotency::IdempotencyStore;
use crate::metrics::Metrics;
use crate::openapi::{self, Api};
use crate::outbox::OutboxRelay;
use crate::parked::Parked;
use crate::retention::Pruner;
use actix_web::dev::{Server, ServerHandle};
use actix_web::web;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Assembles one service: its stores, tasks and app data, then its HTTP server.
pub struct Kernel {
    name: &'static str,
    http: HttpSettings,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    tasks: Tasks,
    verifier: Option<web::Data<JwtVerifier>>,
    idempotency: Option<web::Data<IdempotencyStore>>,
    api: Option<Api>,
    /// The queues [`Kernel::consume`] reads, as their subscriptions name them: `serve`
    /// registers their [`Parked`] as app data for [`crate::parked::routes`].
    consumed: Vec<&'static str>,
}

impl Kernel {
    /// A kernel for the service `name` (its binary's name, e.g. `booking-service`; metrics
    /// carry `service="booking"`), serving HTTP on `http`.
    pub fn new(name: &'static str, http: &HttpSettings) -> anyhow::Result<Self> {
        let short = name.strip_suffix("-service").unwrap_or(name);
        Ok(Self {
            name,
            http: http.clone(),
            metrics: Metrics::new(short)?,
            readiness: Readiness::default(),
            tasks: Tasks::new(),
            verifier: None,
            idempotency: None,
            api: None,
            consumed: Vec::new(),
        })
    }

    /// The service's database: the pool (pool gauges, readiness) with `migrations` applied.
    pub async fn postgres(
        &mut self,
        settings: &DatabaseSettings,
        migrations: refinery::Runner,
    ) -> anyhow::Result<PgPool> {
        let pool = db::pool(settings)?;
        db::migrate(&pool, migrations).await?;
        self.metrics.watch_pg_pool(pool.clone());
        self.readiness.postgres = Some(pool.clone());
        Ok(pool)
    }

    /// The Redis pool (pool gauges, readiness).
    pub fn redis(&mut self, settings: &RedisSettings) -> anyhow::Result<RedisPool> {
        let pool = cache::pool(settings)?;
        self.metrics.watch_redis_pool(pool.clone());
        self.readiness.redis = Some(pool.clone());
        Ok(pool)
    }

    /// The broker connection (supervised, reconnecting; readiness).
    pub fn broker(&mut self, settings: &AmqpSettings) -> Broker {
        let broker = Broker::start(settings, self.name);
        self.readiness.broker = Some(broker.clone());
        broker
    }

    /// Dependencies (`postgres`, `redis`, `rabbitmq`) whose loss degrades the service
    /// without making it unready (see [`Readiness::degradable`]).
    pub fn degradable(&mut self, dependencies: &[&'static str]) {
        self.readiness.degradable = dependencies.to_vec();
    }

    /// Verifies access tokens: [`crate::auth::User`] extractors work in the routes.
    pub fn verify_tokens(&mut self, settings: &JwtSettings) -> anyhow::Result<()> {
        self.verifier = Some(web::Data::new(JwtVerifier::from_settings(settings)?));
        Ok(())
    }

    /// Stores `Idempotency-Key` answers in `pool`'s `idempotency_keys` table.
    pub fn idempotency(&mut self, pool: &PgPool) {
        self.idempotency_store(IdempotencyStore::new(pool.clone()));
    }

    /// Registers `store` (a store with another lease, for tests).
    pub fn idempotency_store(&mut self, store: IdempotencyStore) {
        self.idempotency = Some(web::Data::new(store));
    }

    /// Starts the outbox relay of `pool` on the broker.
    pub fn outbox(&mut self, pool: &PgPool) -> anyhow::Result<OutboxRelay> {
        let broker = self.require_broker()?;
        OutboxRelay::start(pool.clone(), broker, self.metrics.registry(), &self.tasks)
    }

    /// Prunes the bookkeeping tables `pool`'s database has (`outbox`, `processed_events`,
    /// `idempotency_keys`) as `settings` says, in a periodic job ([`crate::retention`]).
    pub async fn retention(
        &mut self,
        pool: &PgPool,
        settings: &RetentionSettings,
    ) -> anyhow::Result<()> {
        Pruner::new(pool.clone(), settings, self.metrics.registry())
            .await?
            .start(&self.tasks);
        Ok(())
    }

    /// Consumes `handler`'s subscription.
    pub fn consume<H: Handler>(&mut self, handler: H) -> anyhow::Result<()> {
        let broker = self.require_broker()?;
        self.consumed.push(handler.subscription().queue);
        consumer::start(&self.tasks, &broker, &self.metrics, handler);
        Ok(())
    }

    /// Runs a background job until the service stops; `job` gets the token that says stop
    /// and must return soon after it is cancelled.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, job: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(name, job);
    }

    /// The service's metrics registry and scrape hooks.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    fn require_broker(&self) -> anyhow::Result<Broker> {
        self.readiness
            .broker
            .clone()
            .ok_or_else(|| anyhow::anyhow!("{}: call Kernel::broker first", self.name))
    }

    /// Binds the HTTP port and serves the common routes plus what `configure` registers
    /// (the service's app data and routes) on every worker.
    /// The service's routes ([`crate::openapi::Api`]): served by [`Kernel::serve`], and
    /// described with the common routes in the document at `GET /openapi.json`.
    pub fn api(&mut self, api: Api) {
        self.api = Some(api);
    }

    /// The document `serve` serves: the common routes, the service's and its own route.
    pub fn document(name: &str, api: Option<&Api>) -> (Api, serde_json::Value) {
        let mut all = openapi::common();
        if let Some(api) = api {
            all.merge(api.clone());
        }
        openapi::with_document_route(&mut all);
        let document = all.document(false);
        let mut own = api.cloned().unwrap_or_else(|| Api::new(name, ""));
        openapi::with_document_route(&mut own);
        (own, document)
    }

    pub fn serve<F>(self, configure: F) -> anyhow::Result<Application>
    where
        F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let (routes, document) = Self::document(self.name, self.api.as_ref());
        let routes = Arc::new(routes);
        let document = web::Data::new(openapi::Served(serde_json::to_string(&document)?));
        let broker = self.readiness.broker.clone();
        // The parking queues of what this service consumes (the admin parked routes).
        let parked = broker
            .as_ref()
            .filter(|_| !self.consumed.is_empty())
            .map(|b| web::Data::new(Parked::new(b.clone(), &self.consumed)));
        let common = app::Common {
            metrics: self.metrics,
            readiness: self.readiness,
        };
        let (verifier, idempotency) = (self.verifier, self.idempotency);
        let (port, server) = app::serve(&self.http, common, move |cfg| {
            if let Some(verifier) = &verifier {
                cfg.app_data(verifier.clone());
            }
            if let Some(idempotency) = &idempotency {
                cfg.app_data(idempotency.clone());
            }
            if let Some(parked) = &parked {
                cfg.app_data(parked.clone());
            }
            cfg.app_data(document.clone());
            routes.configure(cfg);
            configure(cfg);
        })?;
        Ok(Application {
            name: self.name,
            port,
            server,
            tasks: self.tasks,
            broker,
        })
    }
}

/// A running service: its HTTP server and its background tasks.
pub struct Application {
    name: &'static str,
    port: u16,
    server: Server,
    tasks: Tasks,
    broker: Option<Broker>,
}

impl Application {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops this application from elsewhere (tests; an operator command).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            server: self.server.handle(),
        }
    }

    /// The background tasks (tests check that none is left after a stop).
    pub fn tasks(&self) -> Tasks {
        self.tasks.clone()
    }

    /// Serves until SIGINT/SIGTERM or [`StopHandle::stop`]: in-flight requests finish, then
    /// every background task is stopped and joined (see the module doc).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        tracing::info!(
            service = self.name,
            "HTTP server stopped; stopping background tasks"
        );
        self.tasks.shutdown().await;
        if let Some(broker) = &self.broker {
            broker.close().await;
        }
        tracing::info!(service = self.name, "stopped");
        served
    }
}

/// Stops an [`Application`] gracefully.
#[derive(Clone)]
pub struct StopHandle {
    server: ServerHandle,
}

impl StopHandle {
    /// Asks the application to stop; [`Application::run_until_stopped`] returns once it has.
    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}
