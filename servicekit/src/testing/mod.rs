//! Test support (feature `testing`): every test gets its own database, Redis key prefix and
//! RabbitMQ exchange and queue prefix, all removed when its [`TestEnv`] drops, so tests run
//! in parallel against the real servers and leave nothing behind.
//!
//! The servers come from `TEST_DATABASE_URL` (an admin connection, default the local
//! `postgres` database), `TEST_REDIS_URL` and `TEST_AMQP_URL`.

use crate::config::{AmqpSettings, DatabaseSettings, JwtSettings, RedisSettings};
use anyhow::{Context, bail};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use uuid::Uuid;

pub mod cli;
pub mod servers;

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
pub struct TestEnv {
    /// Short unique id of this test run, used in every name below.
    pub id: String,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub amqp: AmqpSettings,
    db_name: String,
    queues: std::sync::Mutex<Vec<String>>,
    exchanges: std::sync::Mutex<Vec<String>>,
}

impl TestEnv {
    /// Creates a fresh database named after `service` and this run.
    pub async fn new(service: &str) -> anyhow::Result<Self> {
        let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let db_name = format!("test_{}_{}", service.replace('-', "_"), id);
        let (client, conn) = tokio_postgres::connect(&admin_database_url(), tokio_postgres::NoTls)
            .await
            .context("connecting to the test PostgreSQL server")?;
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE \"{db_name}\""))
            .await
            .context("creating the test database")?;
        let mut database = DatabaseSettings::for_database(&db_name);
        database.url = with_database(&admin_database_url(), &db_name).into();
        database.max_size = 8;
        Ok(Self {
            database,
            redis: RedisSettings {
                url: redis_url().into(),
                key_prefix: format!("test:{id}:"),
                ..RedisSettings::default()
            },
            amqp: AmqpSettings {
                url: amqp_url().into(),
                exchange: format!("test.{id}.events"),
                queue_prefix: format!("test.{id}."),
            },
            id,
            db_name,
            queues: std::sync::Mutex::new(Vec::new()),
            exchanges: std::sync::Mutex::new(Vec::new()),
        })
    }

    pub fn database_name(&self) -> &str {
        &self.db_name
    }

    /// Registers another exchange (full name) to delete at the end of the test.
    pub fn track_exchange(&self, name: &str) {
        if let Ok(mut x) = self.exchanges.lock() {
            x.push(name.to_owned());
        }
    }

    /// Registers a queue (full name) to delete at the end of the test.
    pub fn track_queue(&self, name: &str) {
        if let Ok(mut q) = self.queues.lock() {
            q.push(name.to_owned());
        }
    }

    /// Drops the test database now (for tests of an unreachable database).
    pub async fn drop_database(&self) -> anyhow::Result<()> {
        drop_database(&self.db_name).await
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let db = self.db_name.clone();
        let prefix = self.redis.key_prefix.clone();
        let mut exchanges = self.exchanges.lock().map(|x| x.clone()).unwrap_or_default();
        exchanges.push(self.amqp.exchange.clone());
        exchanges.push(format!("{}.dlx", self.amqp.exchange));
        let queues = self.queues.lock().map(|q| q.clone()).unwrap_or_default();
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

async fn drop_database(name: &str) -> anyhow::Result<()> {
    let (client, conn) =
        tokio_postgres::connect(&admin_database_url(), tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    Ok(())
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

async fn delete_amqp(exchanges: &[String], queues: &[String]) -> anyhow::Result<()> {
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

/// Paths of Ed25519 PEM keys for tests, made once with `openssl` and reused.
pub struct TestKeys {
    pub private: PathBuf,
    pub public: PathBuf,
    /// A second private key, whose tokens the first public key must reject.
    pub other_private: PathBuf,
}

/// The test keys: generated once per machine into the temp dir (atomically, so parallel
/// test processes agree) and reused.
pub fn keys() -> anyhow::Result<&'static TestKeys> {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if let Some(k) = KEYS.get() {
        return Ok(k);
    }
    let _guard = MAKING
        .lock()
        .map_err(|_| anyhow::anyhow!("key lock poisoned"))?;
    if let Some(k) = KEYS.get() {
        return Ok(k);
    }
    let dir = std::env::temp_dir().join("railrush-test-keys");
    if !dir.join("other_private.pem").exists() {
        let staging = std::env::temp_dir().join(format!("railrush-test-keys-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&staging)?;
        generate(&staging.join("private.pem"), &staging.join("public.pem"))?;
        generate(
            &staging.join("other_private.pem"),
            &staging.join("other_public.pem"),
        )?;
        // Another process may have won the race; then its keys are used and ours dropped.
        if std::fs::rename(&staging, &dir).is_err() {
            std::fs::remove_dir_all(&staging)?;
        }
    }
    Ok(KEYS.get_or_init(|| TestKeys {
        private: dir.join("private.pem"),
        public: dir.join("public.pem"),
        other_private: dir.join("other_private.pem"),
    }))
}

fn generate(private: &Path, public: &Path) -> anyhow::Result<()> {
    let run = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("openssl")
            .args(args)
            .status()
            .context("running openssl")?;
        if !status.success() {
            bail!("openssl {args:?} failed");
        }
        Ok(())
    };
    let (private, public) = (path_str(private)?, path_str(public)?);
    run(&["genpkey", "-algorithm", "ed25519", "-out", private])?;
    run(&["pkey", "-in", private, "-pubout", "-out", public])
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("non-UTF-8 temp path")
}

/// JWT settings with the test keys; `with_private` for the issuing service.
pub fn jwt_settings(with_private: bool) -> anyhow::Result<JwtSettings> {
    let k = keys()?;
    Ok(JwtSettings {
        public_key_path: k.public.clone(),
        private_key_path: with_private.then(|| k.private.clone()),
        ..JwtSettings::default()
    })
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

/// Asserts a response in the error shape of `docs/api.md` with this status and code; returns
/// the body.
pub async fn assert_error(
    res: reqwest::Response,
    status: reqwest::StatusCode,
    code: &str,
) -> serde_json::Value {
    assert_eq!(res.status(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    let body: serde_json::Value = match res.json().await {
        Ok(body) => body,
        Err(e) => panic!("error body is not JSON: {e}"),
    };
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// Waits (up to 15 s) until `base_url`/health/ready answers 200 `{"status": "ready"}`
/// (every dependency answering, not merely degraded).
pub async fn wait_ready(client: &reqwest::Client, base_url: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let res = client.get(format!("{base_url}/health/ready")).send().await;
        match res {
            Ok(r) if r.status() == reqwest::StatusCode::OK => {
                let body = r.text().await.unwrap_or_default();
                if body.contains(r#""status":"ready""#) {
                    return;
                }
                if std::time::Instant::now() >= deadline {
                    panic!("not ready: {body}");
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Ok(r) if std::time::Instant::now() >= deadline => {
                panic!("not ready: {}", r.text().await.unwrap_or_default())
            }
            Err(e) if std::time::Instant::now() >= deadline => panic!("not ready: {e}"),
            _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// The Prometheus text a service at `base_url` exposes on `/metrics`.
pub async fn scrape(client: &reqwest::Client, base_url: &str) -> String {
    let res = client.get(format!("{base_url}/metrics")).send().await;
    match res {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => panic!("scraping {base_url}/metrics: {e}"),
    }
}

/// A private queue bound to `exchange` for `routing_key`, for asserting what a service
/// published. Deleted with its connection.
pub struct Listener {
    _connection: lapin::Connection,
    consumer: lapin::Consumer,
}

impl Listener {
    pub async fn bind(exchange: &str, routing_key: &str) -> anyhow::Result<Self> {
        use lapin::options::{
            BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
        };
        use lapin::types::FieldTable;
        let connection =
            lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .exchange_declare(
                exchange.into(),
                lapin::ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_bind(
                queue.name().clone(),
                exchange.into(),
                routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(Self {
            _connection: connection,
            consumer,
        })
    }

    /// The next message within `wait`, acked.
    pub async fn next(&mut self, wait: std::time::Duration) -> Option<lapin::message::Delivery> {
        use futures_util::StreamExt;
        let delivery = tokio::time::timeout(wait, self.consumer.next())
            .await
            .ok()??
            .ok()?;
        delivery
            .ack(lapin::options::BasicAckOptions::default())
            .await
            .ok()?;
        Some(delivery)
    }

    /// The next message's body as JSON.
    pub async fn next_json(&mut self, wait: std::time::Duration) -> Option<serde_json::Value> {
        let delivery = self.next(wait).await?;
        serde_json::from_slice(&delivery.data).ok()
    }
}

/// Publishes `event` to `exchange` under its type as routing key, persistent and confirmed,
/// as a service's outbox would (for tests that play another service's part).
pub async fn publish(exchange: &str, event: &crate::amqp::Envelope) -> anyhow::Result<()> {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let body = serde_json::to_vec(event)?;
    let confirm = channel
        .basic_publish(
            exchange.into(),
            event.kind.as_str().into(),
            BasicPublishOptions::default(),
            &body,
            lapin::BasicProperties::default()
                .with_message_id(event.event_id.to_string().into())
                .with_content_type("application/json".into())
                .with_delivery_mode(2),
        )
        .await?
        .await?;
    anyhow::ensure!(confirm.is_ack(), "the broker did not confirm the message");
    let _ = connection.close(200, "done".into()).await;
    Ok(())
}

/// Waits (up to 10 s) until `queue` exists, i.e. its consumer has declared its topology,
/// so that events published after this are routed to it.
pub async fn wait_for_queue(queue: &str) -> anyhow::Result<()> {
    use lapin::options::QueueDeclareOptions;
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // A failed passive declare closes the channel: use a fresh one each time.
        let channel = connection.create_channel().await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        if channel
            .queue_declare(queue.into(), passive, lapin::types::FieldTable::default())
            .await
            .is_ok()
        {
            let _ = connection.close(200, "done".into()).await;
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("queue {queue} was never declared");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Messages ready in `queue` (0 for a queue that does not exist).
pub async fn queue_depth(queue: &str) -> anyhow::Result<u32> {
    use lapin::options::QueueDeclareOptions;
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let depth = channel
        .queue_declare(queue.into(), passive, lapin::types::FieldTable::default())
        .await
        .map(|q| q.message_count())
        .unwrap_or(0);
    let _ = connection.close(200, "done".into()).await;
    Ok(depth)
}

/// An access token for `user` with role `user`, signed with the test key like auth-service
/// signs them (valid 15 minutes).
pub fn user_token(user: Uuid) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({"sub": user, "iss": "railrush-auth", "aud": "railrush", "exp": now + 900, "iat": now, "jti": Uuid::new_v4(), "role": "user"});
    let pem = std::fs::read(&keys()?.private)?;
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(&pem)?,
    )?)
}
