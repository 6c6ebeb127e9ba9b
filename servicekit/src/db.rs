//! PostgreSQL: one deadpool pool per service database, and migrations applied at start.

use crate::config::DatabaseSettings;
use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use secrecy::ExposeSecret;
use tokio_postgres::NoTls;

pub use deadpool_postgres::{Object as Client, Pool as PgPool};

/// Builds the pool. Connections open lazily, so this succeeds with the server down; every
/// wait is bounded by `timeout_ms` so a request fails fast (503) instead of hanging.
pub fn pool(settings: &DatabaseSettings) -> anyhow::Result<Pool> {
    let mut pg: tokio_postgres::Config = settings
        .url
        .expose_secret()
        .parse()
        .context("the database url is not valid")?;
    pg.connect_timeout(settings.timeout());
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(settings.max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.timeout()))
        .create_timeout(Some(settings.timeout()))
        .recycle_timeout(Some(settings.timeout()))
        .build()
        .context("building the database pool")
}

/// Applies the service's embedded migrations, serialised across replicas by an advisory
/// lock so that two starting replicas never race.
pub async fn migrate(pool: &Pool, runner: refinery::Runner) -> anyhow::Result<()> {
    const LOCK: i64 = 0x7261_696c_7275_7368; // "railrush"
    let mut client = pool.get().await.context("connecting to run migrations")?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK])
        .await
        .context("taking the migration lock")?;
    let pg: &mut tokio_postgres::Client = &mut client;
    let report = runner.run_async(pg).await.context("applying migrations");
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK])
        .await
        .context("releasing the migration lock")?;
    for m in report?.applied_migrations() {
        tracing::info!(migration = %m, "applied migration");
    }
    Ok(())
}
