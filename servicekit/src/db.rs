//! PostgreSQL: one deadpool pool per service database, migrations applied at start, and
//! [`DbError`], the error every store returns.

use crate::config::DatabaseSettings;
use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use secrecy::ExposeSecret;
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

mod error;

use deadpool_postgres::GenericClient;
pub use deadpool_postgres::{Object as Client, Pool as PgPool};
pub use error::{DbError, is_connection_lost};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// The server's address and options from `settings`, with the connect timeout applied.
fn config(settings: &DatabaseSettings) -> anyhow::Result<tokio_postgres::Config> {
    let mut pg: tokio_postgres::Config = settings
        .url
        .expose_secret()
        .parse()
        .context("the database url is not valid")?;
    pg.connect_timeout(settings.timeout());
    Ok(pg)
}

/// The TLS connector when the URL says `sslmode=require`: every connection TLS, with the
/// server's certificate verified (chain and host name) against `ca_file` or the system's
/// roots. `None` for any other mode, including the default `prefer`, which connects in plain
/// text: a service never falls back from TLS silently.
fn tls(
    pg: &tokio_postgres::Config,
    settings: &DatabaseSettings,
) -> anyhow::Result<Option<MakeRustlsConnect>> {
    if pg.get_ssl_mode() != SslMode::Require {
        if settings.ca_file.is_some() {
            tracing::warn!("database.ca_file is set but the url lacks sslmode=require: no TLS");
        }
        return Ok(None);
    }
    let config = crate::tls::client_config(settings.ca_file.as_deref())
        .context("setting up TLS to the database")?;
    Ok(Some(MakeRustlsConnect::new(config)))
}

/// Builds the pool. Connections open lazily, so this succeeds with the server down; every
/// wait is bounded by `timeout_ms` so a request fails fast (503) instead of hanging.
/// TLS as [`tls`] decides.
pub fn pool(settings: &DatabaseSettings) -> anyhow::Result<Pool> {
    let pg = config(settings)?;
    let config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match tls(&pg, settings)? {
        Some(tls) => Manager::from_config(pg, tls, config),
        None => Manager::from_config(pg, NoTls, config),
    };
    Pool::builder(manager)
        .max_size(settings.max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.timeout()))
        .create_timeout(Some(settings.timeout()))
        .recycle_timeout(Some(settings.timeout()))
        .build()
        .context("building the database pool")
}

/// One connection outside any pool (tools such as the consistency check), TLS as [`tls`]
/// decides; it is driven on its own task until the client drops.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<tokio_postgres::Client> {
    let pg = config(settings)?;
    let client = match tls(&pg, settings)? {
        Some(tls) => {
            let (client, conn) = pg.connect(tls).await?;
            tokio::spawn(conn);
            client
        }
        None => {
            let (client, conn) = pg.connect(NoTls).await?;
            tokio::spawn(conn);
            client
        }
    };
    Ok(client)
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

/// Embeds a service's migrations (the SQL files in `$dir`, relative to the crate) and defines
/// `migrations()` (the runner) and `migrate(pool)` next to the call.
#[macro_export]
macro_rules! migrations {
    ($dir:literal) => {
        mod embedded {
            refinery::embed_migrations!($dir);
        }

        /// This service's migrations.
        pub fn migrations() -> refinery::Runner {
            embedded::migrations::runner()
        }

        /// Applies this service's migrations to the database of `pool`.
        pub async fn migrate(pool: &$crate::db::PgPool) -> anyhow::Result<()> {
            $crate::db::migrate(pool, migrations()).await
        }
    };
}

/// Statements prepared once per connection and then only bound and executed.
///
/// tokio-postgres prepares a statement given as text on every call: a round trip to parse,
/// analyse and describe it before the one that runs it, and the server plans it afresh each
/// time. These methods take the statement from the connection's cache (deadpool-postgres's
/// `prepare_cached`), so a hot statement costs one round trip and, after its first few runs,
/// no planning. For statements whose text is fixed (not built per call), on the paths every
/// booking takes.
pub trait Prepared: GenericClient {
    /// Like `execute`, with the statement prepared once per connection.
    fn execute_prepared(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<u64, tokio_postgres::Error>> + Send;

    /// Like `query`, with the statement prepared once per connection.
    fn query_prepared(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send;

    /// Like `query_one`, with the statement prepared once per connection.
    fn query_one_prepared(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Row, tokio_postgres::Error>> + Send;

    /// Like `query_opt`, with the statement prepared once per connection.
    fn query_opt_prepared(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Option<Row>, tokio_postgres::Error>> + Send;
}

impl<C: GenericClient> Prepared for C {
    async fn execute_prepared(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = self.prepare_cached(sql).await?;
        self.execute(&statement, params).await
    }

    async fn query_prepared(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.prepare_cached(sql).await?;
        self.query(&statement, params).await
    }

    async fn query_one_prepared(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, tokio_postgres::Error> {
        let statement = self.prepare_cached(sql).await?;
        self.query_one(&statement, params).await
    }

    async fn query_opt_prepared(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        let statement = self.prepare_cached(sql).await?;
        self.query_opt(&statement, params).await
    }
}
