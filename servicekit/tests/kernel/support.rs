//! What every test here shares: the test service's migrations, a running [`Application`]
//! with its stop handle, and small helpers for the broker, the database and the metrics.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use reqwest::Response;
use servicekit::amqp::Envelope;
use servicekit::config::HttpSettings;
use servicekit::db::PgPool;
use servicekit::service::{Application, StopHandle, Tasks};
use servicekit::testing::{self, TestEnv};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

#[allow(dead_code)] // The macro also defines `migrate`, which the kernel does for us.
mod schema {
    servicekit::migrations!("tests/kernel/migrations");
}
pub use schema::migrations;

/// The test service's name: its metrics carry `service="kernel"`.
pub const SERVICE: &str = "kernel-service";

/// How long a stopping service may take before the test calls it hung. Generous: it only
/// catches a stop that never returns.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// HTTP on a free port, one worker, a short grace period for in-flight requests.
pub fn http() -> HttpSettings {
    HttpSettings {
        workers: Some(1),
        shutdown_timeout_secs: 5,
        ..HttpSettings::default()
    }
}

/// An [`Application`] running on the test's runtime.
pub struct Running {
    pub address: String,
    pub stop: StopHandle,
    pub tasks: Tasks,
    pub client: reqwest::Client,
    serving: JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub fn start(app: Application) -> Self {
        Self {
            address: format!("http://127.0.0.1:{}", app.port()),
            stop: app.stop_handle(),
            tasks: app.tasks(),
            client: reqwest::Client::new(),
            serving: tokio::spawn(app.run_until_stopped()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Stops the application and waits (bounded) until `run_until_stopped` has returned;
    /// asserts that it returned cleanly and that no background task is left.
    pub async fn stop(self) {
        self.stop.stop().await;
        let served = tokio::time::timeout(STOP_TIMEOUT, self.serving).await;
        match served {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => panic!("run_until_stopped failed: {e}"),
            Ok(Err(e)) => panic!("run_until_stopped panicked: {e}"),
            Err(_) => panic!("run_until_stopped did not return within {STOP_TIMEOUT:?}"),
        }
        assert_eq!(
            self.tasks.running(),
            0,
            "a background task outlived the stop"
        );
        assert!(self.tasks.is_stopping());
    }

    /// The value of the metric `name` (without the `railrush_` prefix) whose labels include
    /// all of `labels`; 0 when there is no such series.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = testing::scrape(&self.client, &self.address).await;
        metric_in(&text, name, labels)
    }
}

/// The value of `railrush_<name>{labels...}` in the exposition `text`; 0 when absent.
pub fn metric_in(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let full = format!("railrush_{name}{{");
    text.lines()
        .filter(|l| l.starts_with(&full))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Polls `check` until it holds; fails the test after 30 s.
pub async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The full name of the test's queue `name`, registered (with its parking queue) for
/// deletion when `env` drops.
pub fn queue(env: &TestEnv, name: &str) -> String {
    let full = format!("{}{name}", env.amqp.queue_prefix);
    env.track_queue(&full);
    env.track_queue(&format!("{full}.parked"));
    full
}

/// Messages ready in `queue`.
pub async fn depth(queue: &str) -> u32 {
    testing::queue_depth(queue).await.unwrap()
}

/// Publishes every event to `exchange` on one confirming channel, as an upstream service's
/// outbox relay would.
pub async fn publish_all(exchange: &str, events: &[Envelope]) {
    let bodies: Vec<(String, Vec<u8>, BasicProperties)> = events
        .iter()
        .map(|e| {
            let props = BasicProperties::default()
                .with_message_id(e.event_id.to_string().into())
                .with_content_type("application/json".into())
                .with_delivery_mode(2);
            (e.kind.clone(), serde_json::to_vec(e).unwrap(), props)
        })
        .collect();
    publish_bodies(exchange, &bodies).await;
}

/// Publishes `body` as is (not necessarily an envelope) under `routing_key`.
pub async fn publish_raw(exchange: &str, routing_key: &str, body: &[u8]) {
    let props = BasicProperties::default().with_delivery_mode(2);
    publish_bodies(exchange, &[(routing_key.to_owned(), body.to_vec(), props)]).await;
}

async fn publish_bodies(exchange: &str, messages: &[(String, Vec<u8>, BasicProperties)]) {
    let conn = Connection::connect(&testing::amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut confirms = Vec::new();
    for (key, body, props) in messages {
        let confirm = channel
            .basic_publish(
                exchange.into(),
                key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                props.clone(),
            )
            .await
            .unwrap();
        confirms.push(confirm);
    }
    for confirm in confirms {
        let confirmation = confirm.await.unwrap();
        assert!(confirmation.is_ack(), "the broker refused a test message");
        assert!(
            confirmation.take_message().is_none(),
            "a test message was not routed to any queue"
        );
    }
    let _ = conn.close(200, "bye".into()).await;
}

/// A pool on the test's database, beside the service's own.
pub fn pool(env: &TestEnv) -> PgPool {
    servicekit::db::pool(&env.database).unwrap()
}

/// `SELECT count(*) ...` as a number.
pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    pool.get()
        .await
        .unwrap()
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}
