//! The services started in-process for one test, each on the stores it is given and on a
//! free port, with one worker; and a seeded trip. The saga stack and the stores tests build
//! on these.

use servicekit::config::{AmqpSettings, DatabaseSettings, RedisSettings};
use servicekit::testing;

/// One service's stores.
pub struct Stores {
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub amqp: AmqpSettings,
}

/// The base URL of a service listening on `port`.
pub fn base(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// auth-service with the OTP dev echo on; its base URL.
pub async fn auth(stores: Stores) -> String {
    let mut s = auth_service::settings::Settings {
        database: stores.database,
        redis: stores.redis,
        amqp: stores.amqp,
        jwt: testing::jwt_settings(true).unwrap(),
        ..Default::default()
    };
    s.http.port = 0;
    s.http.workers = Some(1);
    s.otp.dev_echo = true;
    let app = auth_service::startup::build(s).await.unwrap();
    let url = base(app.port());
    tokio::spawn(app.run_until_stopped());
    url
}

/// train-service; its base URL.
pub async fn train(stores: Stores) -> String {
    let mut s = train_service::settings::Settings {
        database: stores.database,
        redis: stores.redis,
        amqp: stores.amqp,
        jwt: testing::jwt_settings(false).unwrap(),
        ..Default::default()
    };
    s.http.port = 0;
    s.http.workers = Some(1);
    let app = train_service::startup::build(s).await.unwrap();
    let url = base(app.port());
    tokio::spawn(app.run_until_stopped());
    url
}

/// booking-service asking `train` for its inventory, with `configure` applied last; its
/// base URL.
pub async fn booking(
    stores: Stores,
    train: &str,
    configure: impl FnOnce(&mut booking_service::settings::Settings),
) -> String {
    let mut s = booking_service::settings::Settings {
        database: stores.database,
        redis: stores.redis,
        amqp: stores.amqp,
        jwt: testing::jwt_settings(false).unwrap(),
        ..Default::default()
    };
    s.http.port = 0;
    s.http.workers = Some(1);
    s.booking.train_service_url = train.to_owned();
    configure(&mut s);
    let app = booking_service::startup::build(s).await.unwrap();
    let url = base(app.port());
    tokio::spawn(app.run_until_stopped());
    url
}

/// payment-service (with its built-in test gateway; it uses no Redis); its base URL.
#[allow(dead_code)] // the stores tests start no payment-service
pub async fn payment(database: DatabaseSettings, amqp: AmqpSettings) -> String {
    let mut s = payment_service::settings::Settings {
        database,
        amqp,
        jwt: testing::jwt_settings(false).unwrap(),
        ..Default::default()
    };
    s.http.port = 0;
    s.http.workers = Some(1);
    let app = payment_service::startup::build(s).await.unwrap();
    let url = base(app.port());
    tokio::spawn(app.run_until_stopped());
    url
}

/// notification-service (it uses no Redis); its base URL.
#[allow(dead_code)] // the stores tests start no notification-service
pub async fn notification(database: DatabaseSettings, amqp: AmqpSettings) -> String {
    let mut s = notification_service::settings::Settings {
        database,
        amqp,
        jwt: testing::jwt_settings(false).unwrap(),
        ..Default::default()
    };
    s.http.port = 0;
    s.http.workers = Some(1);
    let app = notification_service::startup::build(s).await.unwrap();
    let url = base(app.port());
    tokio::spawn(app.run_until_stopped());
    url
}

/// The trip the seed puts last: one train, one coach of `seats` seats, two days.
pub struct Trip {
    pub id: i64,
    /// From and to station codes and the local departure date, as a search takes them.
    #[allow(dead_code)] // the saga stack's tests book by id and never search
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
