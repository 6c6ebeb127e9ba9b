use chrono::{Duration as Days, NaiveDate, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use servicekit::amqp::{Broker, Envelope};
use servicekit::events::BookedSeat;
use servicekit::testing::{self, TestEnv};
use std::time::{Duration, Instant};
use train_service::availability;
use train_service::seed::{self, SeedOptions, SeedReport};
use train_service::settings::Settings;
use train_service::startup;
use uuid::Uuid;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub queue: String,
    broker: Option<Broker>,
    pub env: TestEnv,
}

/// Starts train-service on a free port with its own database, key prefix and queues;
/// returns once `/health/ready` answers 200.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let app = spawn_unready_app_with(configure).await;
    app.wait_ready().await;
    app
}

/// Starts the app without waiting for its dependencies (for tests of broken ones).
pub async fn spawn_unready_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let env = TestEnv::new("train").await.expect("test environment");
    let mut settings = Settings {
        database: env.database.clone(),
        redis: env.redis.clone(),
        amqp: env.amqp.clone(),
        jwt: testing::jwt_settings(false).expect("test keys"),
        ..Settings::default()
    };
    settings.http.port = 0;
    settings.http.workers = Some(2);
    configure(&mut settings);
    let queue = format!("{}{}", env.amqp.queue_prefix, availability::QUEUE);
    env.track_queue(&queue);
    env.track_queue(&format!("{queue}.parked"));
    let app = startup::build(settings.clone())
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        settings,
        queue,
        broker: None,
        env,
    }
}

/// The service date (Asia/Dhaka) `days` from today.
pub fn service_date(days: i64) -> NaiveDate {
    (Utc::now() + Days::hours(6)).date_naive() + Days::days(days)
}

pub fn token(role: &str) -> String {
    token_signed_by(role, &testing::keys().unwrap().private)
}

pub fn token_signed_by(role: &str, key: &std::path::Path) -> String {
    let now = Utc::now().timestamp();
    let claims = json!({
        "sub": Uuid::new_v4(), "iss": "railrush-auth", "aud": "railrush",
        "exp": now + 600, "iat": now, "jti": Uuid::new_v4(), "role": role,
    });
    let pem = std::fs::read(key).unwrap();
    jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims,
        &EncodingKey::from_ed_pem(&pem).unwrap(),
    )
    .unwrap()
}

pub fn seat(seat_id: i32, class: &str) -> BookedSeat {
    BookedSeat {
        seat_id,
        label: format!("X-{seat_id}"),
        coach: "X".into(),
        class: class.into(),
        fare: 40_500,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    async fn wait_ready(&self) {
        servicekit::testing::wait_ready(&self.client, &self.address).await;
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.expect("json")
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    pub async fn seed(&self, trains: usize, coaches: usize, seats: i32, days: i32) -> SeedReport {
        let pool = servicekit::db::pool(&self.settings.database).unwrap();
        let options = SeedOptions {
            trains,
            coaches,
            seats,
            days,
            ..SeedOptions::default()
        };
        seed::run(&pool, &options).await.expect("seed")
    }

    /// Seeds the brief's scenario for 2 days and returns tomorrow's DHK→CTG trips.
    pub async fn seeded_trips(&self) -> Vec<Value> {
        self.seed(5, 5, 55, 2).await;
        let body = self
            .get_json(&format!(
                "/api/trains/search?from=DHK&to=CTG&date={}",
                service_date(1)
            ))
            .await;
        body["trips"].as_array().unwrap().clone()
    }

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

    /// Publishes an event to this test's exchange, as booking-service's outbox would.
    pub async fn publish(&mut self, kind: &str, payload: &Value) -> Envelope {
        let event = Envelope::new(kind, payload).unwrap();
        self.publish_envelope(&event).await;
        event
    }

    pub async fn publish_envelope(&mut self, event: &Envelope) {
        if self.broker.is_none() {
            let broker = Broker::start(&self.env.amqp, "train-service-test");
            assert!(broker.wait_connected(Duration::from_secs(10)).await);
            self.broker = Some(broker);
        }
        self.broker
            .as_ref()
            .unwrap()
            .publish(event, None)
            .await
            .expect("published");
    }

    /// Messages waiting in `queue` (0 when it does not exist).
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        testing::queue_depth(queue).await.unwrap()
    }

    /// The value of a metric line starting with `prefix` (0 when absent).
    pub async fn metric(&self, prefix: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

/// Polls `check` until it returns true, for up to 10 seconds.
pub async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub use servicekit::testing::assert_error;

pub async fn assert_invalid(res: Response, field: &str) -> Value {
    let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["details"]["field"], field, "{body}");
    body
}
