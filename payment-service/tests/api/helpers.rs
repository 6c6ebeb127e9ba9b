use payment_service::gateway::{PaymentGateway, TestGateway};
use payment_service::settings::Settings;
use payment_service::startup;
use payment_service::{charges, refunds};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use servicekit::amqp::{Broker, Envelope};
use servicekit::consumer;
use servicekit::consumer::QueueSpec;
use servicekit::events;
use servicekit::testing::{self, Listener, TestApp, TestEnv};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use crate::booking_service::{self, BookingService, Bookings};
pub use crate::fixtures::*;
pub use servicekit::testing::{User, assert_error, eventually, user};

/// A running payment-service; `gateway` is what the test inspects of its gateway (the
/// [`TestGateway`] itself, or a fake Stripe it calls).
pub struct PaymentApp<G = TestGateway> {
    app: TestApp,
    pub gateway: Arc<G>,
    pub broker: Broker,
    /// booking-service's internal booking summaries, as the test plays them.
    pub bookings: Arc<Bookings>,
    _booking_service: BookingService,
}

impl<G> Deref for PaymentApp<G> {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// A test environment with this service's queues declared (so events published before the
/// workers subscribe are kept) and tracked for deletion.
pub async fn prepared_env() -> (TestEnv, Broker) {
    let env = TestEnv::new("payment").await.expect("test environment");
    let broker = Broker::start(&env.amqp, "payment-service-test");
    assert!(broker.wait_connected(testing::WAIT).await);
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

fn test_settings(env: &TestEnv) -> Settings {
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

pub async fn spawn_app() -> PaymentApp {
    spawn_app_with(TestGateway::new(Duration::ZERO, 0)).await
}

/// Starts payment-service in-process with `gateway`; returns once it is ready.
pub async fn spawn_app_with(gateway: TestGateway) -> PaymentApp {
    let gateway = Arc::new(gateway);
    let shared: Arc<dyn PaymentGateway> = gateway.clone();
    spawn(gateway, Some(shared), |_| {}).await
}

/// Starts payment-service in-process with the gateway its settings name, as `configure`
/// leaves them (e.g. Stripe at a fake's URL); `observed` becomes the app's `gateway`.
pub async fn spawn_app_configured<G>(
    observed: G,
    configure: impl FnOnce(&mut Settings),
) -> PaymentApp<G> {
    spawn(Arc::new(observed), None, configure).await
}

async fn spawn<G>(
    observed: Arc<G>,
    gateway: Option<Arc<dyn PaymentGateway>>,
    configure: impl FnOnce(&mut Settings),
) -> PaymentApp<G> {
    let (env, broker) = prepared_env().await;
    let booking_service = booking_service::start();
    let mut settings = test_settings(&env);
    settings.booking_service.url = booking_service.base_url.clone();
    configure(&mut settings);
    let app = match gateway {
        Some(gateway) => TestApp::spawn(env, startup::build_with_gateway(settings, gateway)).await,
        None => TestApp::spawn(env, startup::build(settings)).await,
    };
    PaymentApp {
        app,
        gateway: observed,
        broker,
        bookings: booking_service.bookings.clone(),
        _booking_service: booking_service,
    }
}

/// A listener for everything this service announces (not its own retry commands).
pub async fn listen(env: &TestEnv) -> Listener {
    Listener::bind(&env.amqp.exchange, "payment.*")
        .await
        .unwrap()
}

impl<G> PaymentApp<G> {
    pub async fn confirm(&self, booking_id: Uuid, user: &User, token: &str) -> Envelope {
        let booking = confirmed(booking_id, user, token, in_ten_minutes());
        self.bookings.insert(summary(&booking));
        self.publish(events::BOOKING_CONFIRMED, &booking).await
    }

    pub async fn get_payment(&self, booking_id: &str, token: Option<&str>) -> Response {
        let path = format!("/api/payments/{booking_id}");
        match token {
            Some(token) => self.with_token(token).get(&path).await,
            None => self.get(&path).await,
        }
    }

    pub async fn payment(&self, booking_id: Uuid, user: &User) -> Value {
        self.with_token(&user.token)
            .get_json(&format!("/api/payments/{booking_id}"))
            .await
    }

    /// Polls the payment until its status is `status`; returns it.
    pub async fn wait_status(&self, booking_id: Uuid, user: &User, status: &str) -> Value {
        testing::poll(&format!("the payment to be {status}"), || async {
            let res = self
                .get_payment(&booking_id.to_string(), Some(&user.token))
                .await;
            if res.status() != StatusCode::OK {
                return Err(format!("no payment: {}", res.status()));
            }
            let body: Value = res.json().await.unwrap();
            if body["status"] == status {
                Ok(body)
            } else {
                Err(body.to_string())
            }
        })
        .await
    }

    pub async fn retry(
        &self,
        booking_id: Uuid,
        user: &User,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Response {
        let path = format!("/api/payments/{booking_id}/retry");
        let mut req = self
            .with_token(&user.token)
            .request(reqwest::Method::POST, &path)
            .json(body);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        req.send().await.expect("request")
    }

    /// Charges counted with `outcome`.
    pub async fn charges(&self, outcome: &str) -> f64 {
        self.metric("railrush_payment_charges_total", &[("outcome", outcome)])
            .await
    }
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
