use chrono::{DateTime, Duration as Span, Utc};
use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;
use payment_service::gateway::{PaymentGateway, TestGateway};
use payment_service::settings::Settings;
use payment_service::startup;
use payment_service::{charges, refunds};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use servicekit::amqp::{Broker, Envelope};
use servicekit::consumer;
use servicekit::consumer::QueueSpec;
use servicekit::events::{self, BookedSeat, BookingConfirmed, BookingRefundDue, BookingReleased};
use servicekit::testing::{self, Listener, TestEnv};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub const AMOUNT: i64 = 81_000;
pub const WAIT: Duration = Duration::from_secs(15);

/// A running payment-service; `gateway` is what the test inspects of its gateway (the
/// [`TestGateway`] itself, or a fake Stripe it calls).
pub struct TestApp<G = TestGateway> {
    pub address: String,
    pub client: reqwest::Client,
    pub gateway: Arc<G>,
    pub broker: Broker,
    pub charges_queue: String,
    pub env: TestEnv,
}

/// A passenger: a user id and its access token.
#[derive(Clone)]
pub struct User {
    pub id: Uuid,
    pub token: String,
}

pub fn user() -> User {
    let id = Uuid::new_v4();
    User {
        id,
        token: token_for(id),
    }
}

pub fn token_for(user: Uuid) -> String {
    testing::user_token(user).unwrap()
}

/// A test environment with this service's queues declared (so events published before the
/// workers subscribe are kept) and tracked for deletion.
pub async fn prepared_env() -> (TestEnv, Broker) {
    let env = TestEnv::new("payment").await.expect("test environment");
    let broker = Broker::start(&env.amqp, "payment-service-test");
    assert!(broker.wait_connected(Duration::from_secs(10)).await);
    let channel = broker.channel().await.unwrap();
    for spec in [
        QueueSpec::resolve(&broker, &charges::SUBSCRIPTION),
        QueueSpec::resolve(&broker, &refunds::SUBSCRIPTION),
    ] {
        env.track_queue(&spec.queue);
        env.track_queue(&spec.parking_queue());
        consumer::declare(&channel, broker.exchange(), &spec)
            .await
            .unwrap();
    }
    let _ = channel.close(200, "declared".into()).await;
    (env, broker)
}

pub fn test_settings(env: &TestEnv) -> Settings {
    let mut settings = Settings {
        database: env.database.clone(),
        amqp: env.amqp.clone(),
        jwt: testing::jwt_settings(false).expect("test keys"),
        ..Settings::default()
    };
    settings.http.port = 0;
    settings.http.workers = Some(2);
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestGateway::new(Duration::ZERO, 0)).await
}

/// Starts payment-service in-process with `gateway`; returns once it is ready.
pub async fn spawn_app_with(gateway: TestGateway) -> TestApp {
    let gateway = Arc::new(gateway);
    let shared: Arc<dyn PaymentGateway> = gateway.clone();
    spawn(gateway, Some(shared), |_| {}).await
}

/// Starts payment-service in-process with the gateway its settings name, as `configure`
/// leaves them (e.g. Stripe at a fake's URL); `observed` becomes the app's `gateway`.
pub async fn spawn_app_configured<G>(
    observed: G,
    configure: impl FnOnce(&mut Settings),
) -> TestApp<G> {
    spawn(Arc::new(observed), None, configure).await
}

async fn spawn<G>(
    observed: Arc<G>,
    gateway: Option<Arc<dyn PaymentGateway>>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp<G> {
    let (env, broker) = prepared_env().await;
    let mut settings = test_settings(&env);
    configure(&mut settings);
    let app = match gateway {
        Some(gateway) => startup::build_with_gateway(settings, gateway).await,
        None => startup::build(settings).await,
    }
    .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    testing::wait_ready(&client, &address).await;
    TestApp {
        address,
        client,
        gateway: observed,
        charges_queue: broker.queue_name(charges::QUEUE),
        broker,
        env,
    }
}

pub fn confirmed(
    booking_id: Uuid,
    user: &User,
    token: &str,
    due: DateTime<Utc>,
) -> BookingConfirmed {
    BookingConfirmed {
        booking_id,
        user_id: user.id,
        trip_id: 7,
        seats: vec![seat(1), seat(2)],
        passengers: vec![],
        amount: AMOUNT,
        currency: "BDT".into(),
        payment_token: token.into(),
        payment_due_at: due,
    }
}

pub fn seat(seat_id: i32) -> BookedSeat {
    BookedSeat {
        seat_id,
        label: format!("KA-{seat_id}"),
        coach: "KA".into(),
        class: "S_CHAIR".into(),
        fare: AMOUNT / 2,
    }
}

pub fn in_ten_minutes() -> DateTime<Utc> {
    Utc::now() + Span::minutes(10)
}

pub fn released(booking_id: Uuid, user: &User, was_paid: bool) -> BookingReleased {
    BookingReleased {
        booking_id,
        user_id: user.id,
        trip_id: 7,
        seats: vec![seat(1), seat(2)],
        amount: AMOUNT,
        currency: "BDT".into(),
        was_paid,
        trip: None,
    }
}

pub fn refund_due(booking_id: Uuid, user: &User) -> BookingRefundDue {
    BookingRefundDue {
        booking_id,
        user_id: user.id,
        status: "expired".into(),
    }
}

/// A listener for everything this service announces (not its own retry commands).
pub async fn listen(env: &TestEnv) -> Listener {
    Listener::bind(&env.amqp.exchange, "payment.*")
        .await
        .unwrap()
}

/// The next event of type `kind` within `wait` (other event types are skipped).
pub async fn next_event(listener: &mut Listener, kind: &str, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let event = listener.next_json(left).await?;
        if event["type"] == kind {
            return Some(event);
        }
    }
}

pub async fn expect_event(listener: &mut Listener, kind: &str) -> Value {
    next_event(listener, kind, WAIT)
        .await
        .unwrap_or_else(|| panic!("no {kind} event"))
}

impl<G> TestApp<G> {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn publish(&self, kind: &str, payload: &impl serde::Serialize) -> Envelope {
        let event = Envelope::new(kind, payload).unwrap();
        self.publish_envelope(&event).await;
        event
    }

    pub async fn publish_envelope(&self, event: &Envelope) {
        self.broker.publish(event, None).await.expect("published");
    }

    /// Publishes raw bytes under `routing_key` (for messages that are not envelopes).
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        let channel = self.broker.channel().await.unwrap();
        channel
            .basic_publish(
                self.broker.exchange().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let _ = channel.close(200, "bye".into()).await;
    }

    pub async fn confirm(&self, booking_id: Uuid, user: &User, token: &str) -> Envelope {
        self.publish(
            events::BOOKING_CONFIRMED,
            &confirmed(booking_id, user, token, in_ten_minutes()),
        )
        .await
    }

    pub async fn get_payment(&self, booking_id: &str, token: Option<&str>) -> Response {
        let mut req = self
            .client
            .get(self.url(&format!("/api/payments/{booking_id}")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    pub async fn payment(&self, booking_id: Uuid, user: &User) -> Value {
        let res = self
            .get_payment(&booking_id.to_string(), Some(&user.token))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// Polls the payment until its status is `status`; returns it.
    pub async fn wait_status(&self, booking_id: Uuid, user: &User, status: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let res = self
                .get_payment(&booking_id.to_string(), Some(&user.token))
                .await;
            if res.status() == StatusCode::OK {
                let body: Value = res.json().await.unwrap();
                if body["status"] == status {
                    return body;
                }
                assert!(Instant::now() < deadline, "still {body}, not {status}");
            } else {
                assert!(Instant::now() < deadline, "no payment: {}", res.status());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn retry(
        &self,
        booking_id: Uuid,
        user: &User,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Response {
        let mut req = self
            .client
            .post(self.url(&format!("/api/payments/{booking_id}/retry")))
            .bearer_auth(&user.token)
            .json(body);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        req.send().await.expect("request")
    }

    pub async fn db(&self) -> tokio_postgres::Client {
        db(&self.env).await
    }

    /// The value of a metric line starting with `prefix` (0 when absent).
    pub async fn metric(&self, prefix: &str) -> f64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next())
            .filter_map(|v| v.parse::<f64>().ok())
            .sum()
    }
}

pub async fn db(env: &TestEnv) -> tokio_postgres::Client {
    use secrecy::ExposeSecret;
    let (client, conn) =
        tokio_postgres::connect(env.database.url.expose_secret(), tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
    tokio::spawn(conn);
    client
}

/// Rows of `payment_attempts` for the booking: (attempt, idempotency_key, outcome).
pub async fn attempts(
    db: &tokio_postgres::Client,
    booking_id: Uuid,
) -> Vec<(i32, String, Option<String>)> {
    db.query(
        "SELECT a.attempt, a.idempotency_key, a.outcome FROM payment_attempts a \
         JOIN payments p USING (payment_id) WHERE p.booking_id = $1 ORDER BY a.attempt",
        &[&booking_id],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// Polls `check` until it returns true, for up to 15 seconds.
pub async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub use servicekit::testing::assert_error;
