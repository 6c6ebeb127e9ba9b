//! Assembles train-service on the service kernel: `main` and the tests both start it
//! through [`build`].

use crate::availability::Availability;
use crate::cancellations::Cancellations;
use crate::metrics::TrainMetrics;
use crate::search_cache::SearchCache;
use crate::settings::Settings;
use crate::state::TrainState;
use actix_web::web;
use servicekit::cache::Keys;
pub use servicekit::service::Application;
use servicekit::service::Kernel;

servicekit::migrations!("migrations");

/// The queues train-service consumes (before the broker's prefix; each has its `.parked`).
pub const QUEUES: [&str; 2] = [crate::availability::QUEUE, crate::cancellations::QUEUE];

pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut kernel = Kernel::new("train-service", &settings.http)?;
    let pg = kernel.postgres(&settings.database, migrations()).await?;
    kernel.retention(&pg, &settings.retention).await?;
    let redis = kernel.redis(&settings.redis)?;
    kernel.broker(&settings.amqp);
    // Search falls back to PostgreSQL; availability events wait in their queue.
    kernel.degradable(&["redis", "rabbitmq"]);
    kernel.verify_tokens(&settings.jwt)?;
    kernel.idempotency(&pg);
    let metrics = TrainMetrics::register(kernel.metrics().registry())?;
    let cache = SearchCache::new(
        redis,
        Keys::new(settings.redis.key_prefix.clone()),
        settings.search.cache_ttl_secs,
        settings.redis.timeout(),
    );
    kernel.consume(Availability {
        db: pg.clone(),
        cache: cache.clone(),
        metrics: metrics.clone(),
    })?;
    kernel.consume(Cancellations {
        db: pg.clone(),
        cache: cache.clone(),
    })?;
    let state = web::Data::new(TrainState {
        db: pg,
        cache,
        metrics,
    });
    kernel.api(crate::routes::api());
    kernel.serve(move |cfg| {
        cfg.app_data(state.clone());
    })
}
