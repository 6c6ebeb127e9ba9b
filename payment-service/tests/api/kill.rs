//! The real binary killed (SIGKILL) after the gateway charged and before the ack: the
//! message is redelivered to a second process, which gets the same charge back for the
//! same idempotency key. One charge, one outcome event.

use crate::fake_stripe::{self, FakeStripe, SECRET};
use crate::helpers::{attempts, confirmed, in_ten_minutes, listen, prepared_env, user};
use secrecy::ExposeSecret;
use servicekit::amqp::Envelope;
use servicekit::events;
use servicekit::testing::{self, TestEnv};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use uuid::Uuid;

/// A payment-service process, killed when dropped (also when the test fails).
struct Service(Child);

impl Service {
    fn start(env: &TestEnv, stripe: &FakeStripe) -> Self {
        let jwt = testing::jwt_settings(false).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_payment-service"))
            .env("APP_CONFIG_FILE", "/nonexistent/payment-service.toml")
            .env("APP_HTTP__HOST", "127.0.0.1")
            .env("APP_HTTP__PORT", "0")
            .env("APP_HTTP__WORKERS", "1")
            .env("APP_DATABASE__URL", env.database.url.expose_secret())
            .env("APP_DATABASE__MAX_SIZE", "4")
            .env("APP_AMQP__URL", env.amqp.url.expose_secret())
            .env("APP_AMQP__EXCHANGE", &env.amqp.exchange)
            .env("APP_AMQP__QUEUE_PREFIX", &env.amqp.queue_prefix)
            .env("APP_JWT__PUBLIC_KEY_PATH", &jwt.public_key_path)
            .env("APP_GATEWAY__KIND", "stripe")
            .env("APP_GATEWAY__BASE_URL", &stripe.base_url)
            .env("APP_GATEWAY__SECRET_KEY", SECRET)
            .env("APP_GATEWAY__TIMEOUT_MS", "60000")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .spawn()
            .expect("payment-service starts");
        Self(child)
    }

    /// SIGKILL: no shutdown, no ack.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_worker_killed_after_the_charge_never_charges_twice() {
    let (env, broker) = prepared_env().await;
    let stripe = fake_stripe::start();
    stripe.ledger.hang_next_charge();
    let mut outcomes = listen(&env).await;
    let alice = user();
    let booking = Uuid::new_v4();
    let event = Envelope::new(
        events::BOOKING_CONFIRMED,
        &confirmed(booking, &alice, "tok_visa", in_ten_minutes()),
    )
    .unwrap();
    broker.publish(&event, None).await.unwrap();

    let first = Service::start(&env, &stripe);
    tokio::time::timeout(Duration::from_secs(60), stripe.ledger.hung.notified())
        .await
        .expect("the first process charged");
    assert_eq!(stripe.ledger.distinct_charges(), 1);
    first.kill();

    let _second = Service::start(&env, &stripe);
    let outcome = outcomes.expect_event("payment.succeeded").await;
    assert_eq!(outcome["payload"]["booking_id"], booking.to_string());
    assert_eq!(outcome["payload"]["attempts"], 1);
    assert!(
        outcomes
            .next_event("payment.succeeded", Duration::from_secs(2))
            .await
            .is_none(),
        "a second outcome was announced"
    );

    assert_eq!(stripe.ledger.distinct_charges(), 1);
    assert!(
        stripe
            .ledger
            .charge_calls
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 2
    );
    let db = servicekit::db::connect(&env.database).await.unwrap();
    let row = db
        .query_one(
            "SELECT status, attempts, charge_id FROM payments WHERE booking_id = $1",
            &[&booking],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "succeeded");
    assert_eq!(row.get::<_, i32>(1), 1);
    assert!(row.get::<_, Option<String>>(2).unwrap().starts_with("ch_"));
    let rows = attempts(&db, booking).await;
    assert_eq!(
        rows,
        vec![(1, event.event_id.to_string(), Some("succeeded".to_owned()))]
    );
}
