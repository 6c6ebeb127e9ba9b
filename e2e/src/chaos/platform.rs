//! The platform a chaos run breaks: private PostgreSQL, Redis and RabbitMQ
//! (`servicekit::testing::stores`) and every service of [`SERVICES`] as a real process (the
//! binaries cargo built, beside the `chaos` binary), each reaching RabbitMQ through a proxy
//! of its own so that its broker link can be cut alone. Logs and keys go to the run's
//! directory.

use super::fake_stripe::{self, FakeStripe};
use crate::proxy::Proxy;
use anyhow::{Context as _, bail};
use servicekit::testing::stores::{Postgres, RabbitMq, Redis};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Timings the run shortens so that faults outlast them.
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    /// booking-service's hold lifetime (a pause is longer).
    pub hold_ttl: Duration,
    /// booking-service's payment window.
    pub payment_window: Duration,
}

/// One service as the harness runs it. To add a service, add a line to [`SERVICES`].
pub struct ServiceSpec {
    /// The binary, also the service's name.
    pub name: &'static str,
    /// Its database on the private PostgreSQL.
    pub database: &'static str,
    /// The queues it consumes: passengers start once each has its consumer (an event
    /// published before its queue exists is lost to it, as on a first deployment).
    pub queues: &'static [&'static str],
    /// Its own settings beyond the common ones (`APP_…` variables).
    pub env: fn(&Context) -> Vec<(String, String)>,
}

/// What a service's own settings may name.
pub struct Context<'a> {
    pub ports: &'a Ports,
    pub timings: &'a Timings,
    /// The run's directory (keys under `keys/`).
    pub dir: &'a Path,
    /// The fake Stripe payment-service charges through.
    pub stripe: &'a str,
}

/// The services, in start order (train-service before booking-service, which asks it).
pub const SERVICES: &[ServiceSpec] = &[
    ServiceSpec {
        name: "auth-service",
        database: "railrush_auth",
        queues: &[],
        env: |cx| {
            let keys = cx.dir.join("keys");
            vars(&[
                ("APP_OTP__DEV_ECHO", "true".into()),
                (
                    "APP_OTP__SECRET_PATH",
                    keys.join("otp_secret").display().to_string(),
                ),
                (
                    "APP_NID__SECRET_PATH",
                    keys.join("nid_secret").display().to_string(),
                ),
            ])
        },
    },
    ServiceSpec {
        name: "train-service",
        database: "railrush_train",
        // train_service::startup::QUEUES (the harness is built without the service crates).
        queues: &["train.booking-events", "train.trip-events"],
        env: |_| Vec::new(),
    },
    ServiceSpec {
        name: "booking-service",
        database: "railrush_booking",
        queues: &["booking.payment-results", "booking.refunds"],
        env: |cx| {
            vars(&[
                (
                    "APP_BOOKING__TRAIN_SERVICE_URL",
                    format!("http://127.0.0.1:{}", cx.ports.of("train-service")),
                ),
                (
                    "APP_BOOKING__HOLD_TTL_MS",
                    cx.timings.hold_ttl.as_millis().to_string(),
                ),
                (
                    "APP_BOOKING__PAYMENT_WINDOW_SECS",
                    cx.timings.payment_window.as_secs().to_string(),
                ),
                ("APP_BOOKING__SWEEP_INTERVAL_MS", "500".into()),
                // The harness's passengers are load, not people: no per-passenger limits.
                ("APP_USER_LIMITS__ENABLED", "false".into()),
            ])
        },
    },
    ServiceSpec {
        name: "payment-service",
        database: "railrush_payment",
        queues: &["payment.booking-confirmed", "payment.refunds"],
        // The outside world outlives the service: a fake Stripe in the harness's process
        // (the built-in test gateway would forget its charges when the service is killed).
        env: |cx| {
            vars(&[
                ("APP_GATEWAY__KIND", "stripe".into()),
                ("APP_GATEWAY__BASE_URL", cx.stripe.to_owned()),
                ("APP_GATEWAY__SECRET_KEY", fake_stripe::SECRET.to_owned()),
                ("APP_GATEWAY__TIMEOUT_MS", "10000".into()),
                (
                    "APP_BOOKING_SERVICE__URL",
                    format!("http://127.0.0.1:{}", cx.ports.of("booking-service")),
                ),
            ])
        },
    },
    ServiceSpec {
        name: "notification-service",
        database: "railrush_notification",
        queues: &[
            "notification.users",
            "notification.otp",
            "notification.tickets",
            "notification.bookings",
        ],
        env: |_| Vec::new(),
    },
];

fn vars(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The HTTP port of each service, chosen before any starts.
pub struct Ports(Vec<(&'static str, u16)>);

impl Ports {
    pub fn of(&self, name: &str) -> u16 {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, p)| *p)
    }
}

/// A service's process: started, killed, paused and resumed by the harness.
pub struct Process {
    pub name: &'static str,
    pub port: u16,
    /// The service's own way to RabbitMQ.
    pub broker_link: Proxy,
    env: Vec<(String, String)>,
    binary: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Process {
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.binary)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.log.parent().unwrap_or(Path::new("/")))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let Some(child) = &self.child else {
            bail!("{} is not running", self.name)
        };
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill {signal} {} failed", self.name);
        Ok(())
    }

    /// SIGKILL, reaped.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    pub fn pause(&self) -> anyhow::Result<()> {
        self.signal("-STOP")
    }

    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal("-CONT")
    }

    /// Starts the process again after [`Process::kill`] and waits until it answers.
    pub async fn restart(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        self.kill()?;
        self.spawn()?;
        self.wait_ready(client).await
    }

    /// Waits until `/health/ready` answers 200 (ready or degraded).
    pub async fn wait_ready(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(90);
        let url = format!("{}/health/ready", self.address());
        loop {
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "{} exited: {status} (log {})",
                    self.name,
                    self.log.display()
                );
            }
            let ok = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not ready within 90 s (log {})",
                    self.name,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.resume();
        let _ = self.kill();
    }
}

/// Dropped in field order: the services stop before the stores.
pub struct Platform {
    pub services: Vec<Process>,
    pub stripe: FakeStripe,
    pub postgres: Postgres,
    pub redis: Redis,
    pub rabbitmq: RabbitMq,
    /// The trips on sale that passengers book.
    pub trips: Vec<i64>,
    pub timings: Timings,
    pub client: reqwest::Client,
    /// Logs and keys; kept when `keep` (its path printed).
    pub dir: TempDir,
}

impl Platform {
    /// Starts the stores, creates the databases, seeds trains and starts every service.
    pub async fn start(bin_dir: &Path, timings: Timings) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("railrush-chaos-")
            .tempdir()?;
        let keys_dir = dir.path().join("keys");
        std::fs::create_dir_all(&keys_dir)?;
        for secret in ["otp_secret", "nid_secret"] {
            let value: String = uuid::Uuid::new_v4().simple().to_string().repeat(2);
            std::fs::write(keys_dir.join(secret), value)?;
        }
        let (postgres, redis, rabbitmq) = tokio::task::spawn_blocking(|| {
            anyhow::Ok((Postgres::start()?, Redis::start()?, RabbitMq::start()?))
        })
        .await??;
        let admin = servicekit::db::connect(&db_settings(&postgres.url("postgres"))).await?;
        for spec in SERVICES {
            admin
                .batch_execute(&format!("CREATE DATABASE {}", spec.database))
                .await?;
        }
        let timings_ref = timings;
        let ports = Ports(
            SERVICES
                .iter()
                .map(|s| Ok((s.name, servicekit::testing::servers::free_port()?)))
                .collect::<anyhow::Result<_>>()?,
        );
        let keys = servicekit::testing::keys()?;
        let stripe = fake_stripe::start();
        let context = Context {
            ports: &ports,
            timings: &timings_ref,
            dir: dir.path(),
            stripe: &stripe.base_url,
        };
        let mut services = Vec::new();
        for spec in SERVICES {
            let proxy = Proxy::start(([127, 0, 0, 1], rabbitmq.port).into()).await?;
            let port = ports.of(spec.name);
            let mut env = vars(&[
                ("APP_HTTP__HOST", "127.0.0.1".into()),
                ("APP_HTTP__PORT", port.to_string()),
                ("APP_DATABASE__URL", postgres.url(spec.database)),
                ("APP_REDIS__URL", redis.url()),
                (
                    "APP_AMQP__URL",
                    format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port()),
                ),
                (
                    "APP_JWT__PUBLIC_KEY_PATH",
                    keys.public.display().to_string(),
                ),
                ("APP_LOG__FORMAT", "json".into()),
                ("RUST_LOG", "warn".into()),
            ]);
            if spec.name == "auth-service" {
                env.push((
                    "APP_JWT__PRIVATE_KEY_PATH".into(),
                    keys.private.display().to_string(),
                ));
            }
            env.extend((spec.env)(&context));
            services.push(Process {
                name: spec.name,
                port,
                broker_link: proxy,
                env,
                binary: bin_dir.join(spec.name),
                log: dir.path().join(format!("{}.log", spec.name)),
                child: None,
            });
        }
        let trips = seed(bin_dir, &postgres, dir.path()).await?;
        let client = reqwest::Client::new();
        for process in &mut services {
            process.spawn()?;
            process.wait_ready(&client).await?;
        }
        wait_for_consumers(&rabbitmq).await?;
        Ok(Self {
            services,
            stripe,
            postgres,
            redis,
            rabbitmq,
            trips,
            timings,
            client,
            dir,
        })
    }

    pub fn service(&mut self, name: &str) -> anyhow::Result<&mut Process> {
        self.services
            .iter_mut()
            .find(|p| p.name == name)
            .with_context(|| format!("no service {name}"))
    }

    pub fn address(&self, name: &str) -> String {
        self.services
            .iter()
            .find(|p| p.name == name)
            .map(Process::address)
            .unwrap_or_default()
    }

    /// The database URL of each service by name.
    pub fn database_url(&self, name: &str) -> String {
        let db = SERVICES
            .iter()
            .find(|s| s.name == name)
            .map_or("postgres", |s| s.database);
        self.postgres.url(db)
    }
}

/// Waits until every queue of [`SERVICES`] has a consumer.
async fn wait_for_consumers(rabbitmq: &RabbitMq) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = tokio::task::block_in_place(|| {
            rabbitmq.ctl(&["list_queues", "--no-table-headers", "name", "consumers"])
        })?;
        let consumed: Vec<&str> = out
            .lines()
            .filter_map(|l| l.split_once(char::is_whitespace))
            .filter(|(_, n)| n.trim().parse::<u32>().is_ok_and(|n| n > 0))
            .map(|(q, _)| q.trim())
            .collect();
        let missing: Vec<&str> = SERVICES
            .iter()
            .flat_map(|s| s.queues.iter().copied())
            .filter(|q| !consumed.contains(q))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("queues without a consumer after 60 s: {missing:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub fn db_settings(url: &str) -> servicekit::config::DatabaseSettings {
    servicekit::config::DatabaseSettings {
        url: url.to_owned().into(),
        ..Default::default()
    }
}

/// `train-service seed`: three trains of four 40-seat coaches, four days (about 1,900 seats on
/// sale: a long run's passengers keep finding seats); returns the trips on sale.
async fn seed(bin_dir: &Path, postgres: &Postgres, dir: &Path) -> anyhow::Result<Vec<i64>> {
    let url = postgres.url("railrush_train");
    let mut seed = Command::new(bin_dir.join("train-service"));
    seed.args(["seed", "--trains", "3", "--coaches", "4", "--seats", "40"])
        .args(["--days", "4"])
        .env("APP_DATABASE__URL", &url)
        .env("RUST_LOG", "warn")
        .current_dir(dir);
    let out = tokio::task::spawn_blocking(move || seed.output())
        .await?
        .context("running train-service seed")?;
    anyhow::ensure!(
        out.status.success(),
        "train-service seed failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = servicekit::db::connect(&db_settings(&url)).await?;
    let rows = db
        .query(
            "SELECT trip_id FROM trips WHERE sales_open_at <= now() AND departs_at > now() \
             ORDER BY trip_id",
            &[],
        )
        .await?;
    let trips: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    anyhow::ensure!(!trips.is_empty(), "the seed put no trip on sale");
    Ok(trips)
}
