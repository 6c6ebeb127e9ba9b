//! The five services started in-process for a test, each on the stores of its own
//! [`TestEnv`] (see [`TestEnv::sharing_broker`] for services exchanging events), on a free
//! port with one worker; and a seeded trip. [`crate::stack`] and the stores tests build on
//! these. Each returns without waiting for readiness: the caller waits for what it needs.

use servicekit::config::DatabaseSettings;
use servicekit::testing::{self, TestApp, TestEnv};

/// `$service`'s settings on the stores of `$env` (its database, its broker and the
/// `$store`s it has besides) with the test keys, on a free port with one worker.
macro_rules! settings {
    ($service:ident, $env:expr $(, $store:ident)*) => {{
        let mut s = $service::settings::Settings {
            database: $env.database.clone(),
            amqp: $env.amqp.clone(),
            $($store: $env.$store.clone(),)*
            jwt: testing::jwt_settings(true).unwrap(),
            ..Default::default()
        };
        s.http.port = 0;
        s.http.workers = Some(1);
        s
    }};
}

/// auth-service with the OTP dev echo on.
pub async fn auth(env: TestEnv) -> TestApp {
    let mut s = settings!(auth_service, env, redis);
    s.otp.dev_echo = true;
    TestApp::spawn_unready(env, auth_service::startup::build(s)).await
}

pub async fn train(env: TestEnv) -> TestApp {
    env.track_consumer_queues(&train_service::startup::QUEUES);
    let s = settings!(train_service, env, redis);
    TestApp::spawn_unready(env, train_service::startup::build(s)).await
}

/// booking-service asking `train` for its inventory, its live seat updates on an
/// exchange of the test's own, with `configure` applied last.
pub async fn booking(
    env: TestEnv,
    train: &TestApp,
    configure: impl FnOnce(&mut booking_service::settings::Settings),
) -> TestApp {
    env.track_consumer_queues(&[
        booking_service::payments::QUEUE,
        booking_service::refunds::QUEUE,
    ]);
    let mut s = settings!(booking_service, env, redis);
    s.booking.train_service_url = train.address.clone();
    s.booking.seats_exchange = format!("test.{}.seats", env.id);
    env.track_exchange(&s.booking.seats_exchange);
    configure(&mut s);
    TestApp::spawn_unready(env, booking_service::startup::build(s)).await
}

/// payment-service with its built-in test gateway (it uses no Redis), asking `booking` for
/// the bookings it has not seen yet.
pub async fn payment(env: TestEnv, booking: &TestApp) -> TestApp {
    env.track_consumer_queues(&[
        payment_service::charges::QUEUE,
        payment_service::refunds::QUEUE,
    ]);
    let mut s = settings!(payment_service, env);
    s.booking_service.url = booking.address.clone();
    TestApp::spawn_unready(env, payment_service::startup::build(s)).await
}

/// notification-service (it uses no Redis).
pub async fn notification(env: TestEnv) -> TestApp {
    env.track_consumer_queues(&notification_service::consumers::QUEUES.map(|(name, _)| name));
    let s = settings!(notification_service, env);
    TestApp::spawn_unready(env, notification_service::startup::build(s)).await
}

/// The trip the seed puts last: one train, one coach of `seats` seats, two days.
pub struct Trip {
    pub id: i64,
    /// From and to station codes and the local departure date, as a search takes them.
    pub route: [String; 3],
}

/// Seeds train-service's database and returns its latest trip.
pub async fn seed(database: &DatabaseSettings, seats: i32) -> Trip {
    let options = train_service::seed::SeedOptions {
        trains: 1,
        coaches: 1,
        seats,
        days: 2,
        ..Default::default()
    };
    let pool = servicekit::db::pool(database).unwrap();
    train_service::seed::run(&pool, &options).await.unwrap();
    let row = pool
        .get()
        .await
        .unwrap()
        .query_one(
            &format!(
                "SELECT trip_id, from_station, to_station, \
                 to_char(departs_at AT TIME ZONE '{}', 'YYYY-MM-DD') \
                 FROM trips ORDER BY departs_at DESC LIMIT 1",
                train_service::catalogue::SERVICE_TIME_ZONE
            ),
            &[],
        )
        .await
        .unwrap();
    Trip {
        id: row.get(0),
        route: [row.get(1), row.get(2), row.get(3)],
    }
}
