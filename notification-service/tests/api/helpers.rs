use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use notification_service::consumers;
use notification_service::settings::Settings;
use notification_service::startup::{self, Application};
use reqwest::{Response, StatusCode};
use serde::Serialize;
use serde_json::Value;
use servicekit::amqp::{Broker, Envelope};
use servicekit::events::UserRegistered;
use servicekit::testing::{self, TestEnv};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub use crate::fixtures::*;
pub use crate::test_channel::TestChannel;
pub use servicekit::testing::assert_error;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub channel: Arc<TestChannel>,
    publisher: Broker,
    pub env: TestEnv,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestChannel::reliable(), |_| {}).await
}

pub async fn spawn_app_with(
    channel: Arc<TestChannel>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let (env, settings) = test_settings(configure).await;
    let app = startup::build_with_channel(settings.clone(), channel.clone())
        .await
        .expect("application builds");
    start(app, env, settings, channel).await
}

/// Starts the app as `main` does (configured channels), e.g. with an SMTP server.
pub async fn spawn_configured_app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let (env, settings) = test_settings(configure).await;
    let app = startup::build(settings.clone())
        .await
        .expect("application builds");
    start(app, env, settings, TestChannel::reliable()).await
}

async fn test_settings(configure: impl FnOnce(&mut Settings)) -> (TestEnv, Settings) {
    let env = TestEnv::new("notification")
        .await
        .expect("test environment");
    let mut settings = Settings {
        database: env.database.clone(),
        amqp: env.amqp.clone(),
        jwt: testing::jwt_settings(false).expect("test keys"),
        ..Settings::default()
    };
    settings.http.port = 0;
    settings.http.workers = Some(2);
    settings.delivery.parked_refresh_ms = 200;
    configure(&mut settings);
    for (name, _) in consumers::QUEUES {
        let queue = format!("{}{name}", env.amqp.queue_prefix);
        env.track_queue(&queue);
        env.track_queue(&format!("{queue}.parked"));
    }
    (env, settings)
}

async fn start(
    app: Application,
    env: TestEnv,
    settings: Settings,
    channel: Arc<TestChannel>,
) -> TestApp {
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let publisher = Broker::start(&env.amqp, "notification-test");
    assert!(publisher.wait_connected(Duration::from_secs(10)).await);
    let app = TestApp {
        address,
        client: reqwest::Client::new(),
        settings,
        channel,
        publisher,
        env,
    };
    testing::wait_ready(&app.client, &app.address).await;
    // Events published before the consumers bound their queues would be lost.
    for (name, _) in consumers::QUEUES {
        testing::wait_for_queue(&app.queue(name)).await.unwrap();
    }
    app
}

pub fn token_for(user: Uuid) -> String {
    testing::user_token(user).unwrap()
}

/// Polls `check` until it returns true, for up to 20 seconds.
pub async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The full name of one of the service's queues.
    pub fn queue(&self, name: &str) -> String {
        format!("{}{name}", self.env.amqp.queue_prefix)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    /// `user`'s inbox (`GET /api/notifications`), asserting 200.
    pub async fn inbox(&self, user: Uuid) -> Vec<Value> {
        let res = self.get("/api/notifications", Some(&token_for(user))).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.expect("json");
        body["notifications"]
            .as_array()
            .expect("notifications")
            .clone()
    }

    /// Waits until `user`'s inbox holds `n` entries and returns them.
    pub async fn wait_inbox(&self, user: Uuid, n: usize) -> Vec<Value> {
        eventually(&format!("{n} notifications"), || async {
            self.inbox(user).await.len() >= n
        })
        .await;
        let inbox = self.inbox(user).await;
        assert_eq!(inbox.len(), n, "{inbox:#?}");
        inbox
    }

    pub async fn publish(&self, kind: &str, payload: &impl Serialize) -> Envelope {
        let event = Envelope::new(kind, payload).unwrap();
        self.publish_envelope(&event).await;
        event
    }

    pub async fn publish_envelope(&self, event: &Envelope) {
        self.publisher
            .publish(event, None)
            .await
            .expect("published");
    }

    /// Publishes `body` as is (not necessarily an envelope) with `routing_key`.
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        let conn = Connection::connect(&testing::amqp_url(), ConnectionProperties::default())
            .await
            .unwrap();
        let channel = conn.create_channel().await.unwrap();
        channel
            .basic_publish(
                self.env.amqp.exchange.as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let _ = conn.close(200, "bye".into()).await;
    }

    /// Messages waiting in `queue` (0 when it does not exist).
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        testing::queue_depth(queue).await.unwrap()
    }

    /// The value of the metric `name` whose labels include all of `labels` (0 when absent).
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = self.get("/metrics", None).await.text().await.unwrap();
        text.lines()
            .filter(|l| l.starts_with(&format!("railrush_{name}")))
            .find(|l| {
                labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

/// Publishes `user.registered` for a new user and waits until the contact is kept.
pub async fn registered_user(app: &TestApp) -> UserRegistered {
    let user = registered(Uuid::new_v4());
    app.publish(servicekit::events::USER_REGISTERED, &user)
        .await;
    eventually("the contact to be kept", || async {
        app.contact_known(user.user_id).await
    })
    .await;
    user
}

impl TestApp {
    pub async fn db(&self) -> tokio_postgres::Client {
        use secrecy::ExposeSecret;
        let (client, conn) = tokio_postgres::connect(
            self.settings.database.url.expose_secret(),
            tokio_postgres::NoTls,
        )
        .await
        .expect("connect to the test database");
        tokio::spawn(conn);
        client
    }

    pub async fn contact_known(&self, user: Uuid) -> bool {
        self.db()
            .await
            .query_opt("SELECT 1 FROM contacts WHERE user_id = $1", &[&user])
            .await
            .unwrap()
            .is_some()
    }
}
