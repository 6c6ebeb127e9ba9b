//! One test's private slice of the shared servers: its own database, Redis key prefix and
//! RabbitMQ names, removed when the [`TestEnv`] drops.

use crate::config::{AmqpSettings, DatabaseSettings, RedisSettings};
use anyhow::{Context, bail};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use std::sync::Mutex;
use uuid::Uuid;

/// The admin connection to the shared PostgreSQL (`TEST_DATABASE_URL`).
pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// One test's private slice of the shared servers.
///
/// The settings are what a service of the test is given; a test may point them elsewhere
/// (a TLS server of its own) before starting it. What the env created on the shared
/// servers is removed on drop either way.
pub struct TestEnv {
    /// Short unique id of this env, used in every name below.
    pub id: String,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub amqp: AmqpSettings,
    created: Created,
}

/// What the env created on the shared servers, removed on drop.
struct Created {
    database: String,
    redis_prefix: String,
    /// The exchange (and its dead-letter exchange) this env named; `None` when it shares
    /// another env's broker names, which that env removes.
    exchange: Option<String>,
    queues: Mutex<Vec<String>>,
    exchanges: Mutex<Vec<String>>,
    /// The queues of [`TestEnv::track_consumer_queues`], full names.
    consumers: Mutex<Vec<String>>,
}

impl TestEnv {
    /// A fresh database named after `service` and this env, a key prefix and broker names.
    pub async fn new(service: &str) -> anyhow::Result<Self> {
        let mut env = Self::without_broker(service).await?;
        env.amqp = AmqpSettings {
            url: amqp_url().into(),
            exchange: format!("test.{}.events", env.id),
            queue_prefix: format!("test.{}.", env.id),
        };
        env.created.exchange = Some(env.amqp.exchange.clone());
        Ok(env)
    }

    /// A fresh database and key prefix for another service of the same test, on the broker
    /// names of `bus` (several services of one test exchange events there). `bus` removes
    /// those names; queues tracked on this env are removed with it.
    pub async fn sharing_broker(service: &str, bus: &TestEnv) -> anyhow::Result<Self> {
        let mut env = Self::without_broker(service).await?;
        env.amqp = bus.amqp.clone();
        Ok(env)
    }

    async fn without_broker(service: &str) -> anyhow::Result<Self> {
        let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let name = format!("test_{}_{}", service.replace('-', "_"), id);
        admin(&format!("CREATE DATABASE \"{name}\""))
            .await
            .context("creating the test database")?;
        let mut database = DatabaseSettings::for_database(&name);
        database.url = with_database(&admin_database_url(), &name).into();
        database.max_size = 8;
        let redis_prefix = format!("test:{id}:");
        Ok(Self {
            database,
            redis: RedisSettings {
                url: redis_url().into(),
                key_prefix: redis_prefix.clone(),
                ..RedisSettings::default()
            },
            amqp: AmqpSettings::default(),
            id,
            created: Created {
                database: name,
                redis_prefix,
                exchange: None,
                queues: Mutex::new(Vec::new()),
                exchanges: Mutex::new(Vec::new()),
                consumers: Mutex::new(Vec::new()),
            },
        })
    }

    /// The name of the database this env created.
    pub fn database_name(&self) -> &str {
        &self.created.database
    }

    /// The full name of the queue `name` under this env's queue prefix.
    pub fn queue(&self, name: &str) -> String {
        format!("{}{name}", self.amqp.queue_prefix)
    }

    /// Registers another exchange (full name) to delete at the end of the test.
    pub fn track_exchange(&self, name: &str) {
        if let Ok(mut x) = self.created.exchanges.lock() {
            x.push(name.to_owned());
        }
    }

    /// Registers a queue (full name) to delete at the end of the test.
    pub fn track_queue(&self, name: &str) {
        if let Ok(mut q) = self.created.queues.lock() {
            q.push(name.to_owned());
        }
    }

    /// Registers the queues of the consumers of a service on this env (`names` under this
    /// env's prefix): deleted with their parking queues `<queue>.parked` at the end of the
    /// test, and what [`TestEnv::consumer_queues`] lists.
    pub fn track_consumer_queues(&self, names: &[&str]) {
        for name in names {
            let queue = self.queue(name);
            self.track_queue(&queue);
            self.track_queue(&format!("{queue}.parked"));
            if let Ok(mut c) = self.created.consumers.lock() {
                c.push(queue);
            }
        }
    }

    /// The consumer queues registered with [`TestEnv::track_consumer_queues`].
    pub fn consumer_queues(&self) -> Vec<String> {
        self.created
            .consumers
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// A durable queue `name` (under the env's prefix) bound to the env's exchange for
    /// `routing_keys`, standing in for the queue of a service the test does not run (e.g.
    /// notification-service's for `otp.requested`, which auth-service publishes `mandatory`
    /// while the request waits); deleted at the end of the test.
    pub async fn stand_in_queue(
        &self,
        name: &str,
        routing_keys: &[&str],
    ) -> anyhow::Result<String> {
        let queue = self.queue(name);
        self.track_queue(&queue);
        super::broker::declare_bound_queue(&self.amqp.exchange, &queue, routing_keys).await?;
        Ok(queue)
    }

    /// Drops the test database now (for tests of an unreachable database).
    pub async fn drop_database(&self) -> anyhow::Result<()> {
        drop_database(&self.created.database).await
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let db = self.created.database.clone();
        let prefix = self.created.redis_prefix.clone();
        let mut exchanges = self
            .created
            .exchanges
            .lock()
            .map(|x| x.clone())
            .unwrap_or_default();
        if let Some(exchange) = &self.created.exchange {
            exchanges.push(exchange.clone());
            exchanges.push(format!("{exchange}.dlx"));
        }
        let queues = self
            .created
            .queues
            .lock()
            .map(|q| q.clone())
            .unwrap_or_default();
        // Drop runs inside the test's runtime; clean up on a thread with its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let (a, b, c) = tokio::join!(
                    drop_database(&db),
                    delete_redis_prefix(&prefix),
                    delete_amqp(&exchanges, &queues)
                );
                for e in [a.err(), b.err(), c.err()].into_iter().flatten() {
                    eprintln!("test cleanup: {e:#}");
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Runs `sql` on the admin connection.
async fn admin(sql: &str) -> anyhow::Result<()> {
    let (client, conn) = tokio_postgres::connect(&admin_database_url(), tokio_postgres::NoTls)
        .await
        .context("connecting to the test PostgreSQL server")?;
    tokio::spawn(conn);
    client.batch_execute(sql).await?;
    Ok(())
}

async fn drop_database(name: &str) -> anyhow::Result<()> {
    admin(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await
}

async fn delete_redis_prefix(prefix: &str) -> anyhow::Result<()> {
    if prefix.is_empty() {
        bail!("refusing to delete an empty prefix");
    }
    let client = redis::Client::open(redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<()>(&mut conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Deletes `exchanges` from the test broker: for a test that declares its own outside a
/// [`TestEnv`] (a bare `Broker`).
pub async fn delete_exchanges(exchanges: &[String]) -> anyhow::Result<()> {
    delete_amqp(exchanges, &[]).await
}

async fn delete_amqp(exchanges: &[String], queues: &[String]) -> anyhow::Result<()> {
    if exchanges.is_empty() && queues.is_empty() {
        return Ok(());
    }
    let conn =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    for q in queues {
        channel
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    for exchange in exchanges {
        channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await?;
    }
    conn.close(200, "bye".into()).await?;
    Ok(())
}

/// `url` with its database (path) replaced by `db`; the query string is kept.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{}/{db}{query}", &base[..host_end])
}
