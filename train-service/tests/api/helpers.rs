use chrono::{Duration as Days, NaiveDate, Utc};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use servicekit::events::BookedSeat;
use servicekit::testing::{self, TestEnv};
use train_service::seed::{self, SeedOptions, SeedReport};
use train_service::settings::Settings;
use train_service::startup;
use uuid::Uuid;

pub use servicekit::testing::{TestApp, assert_error, eventually};

/// Starts train-service on a free port with its own database, key prefix and queues;
/// returns once it is ready.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let (env, settings) = test_settings(configure).await;
    TestApp::spawn(env, startup::build(settings)).await
}

/// Starts the app without waiting for its dependencies (for tests of broken ones).
pub async fn spawn_unready_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let (env, settings) = test_settings(configure).await;
    TestApp::spawn_unready(env, startup::build(settings)).await
}

async fn test_settings(configure: impl FnOnce(&mut Settings)) -> (TestEnv, Settings) {
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
    env.track_consumer_queues(&startup::QUEUES);
    (env, settings)
}

/// The service date (Asia/Dhaka) `days` from today.
/// Tomorrow's DHK → CTG search: the seeded trips of [`Catalogue::seeded_trips`].
pub fn search_path() -> String {
    format!(
        "/api/trains/search?from=DHK&to=CTG&date={}",
        service_date(1)
    )
}

pub fn service_date(days: i64) -> NaiveDate {
    (Utc::now() + Days::hours(6)).date_naive() + Days::days(days)
}

/// A token of someone with `role`.
pub fn token(role: &str) -> String {
    token_signed_by(role, &testing::keys().unwrap().private)
}

pub fn token_signed_by(role: &str, key: &std::path::Path) -> String {
    testing::sign_token(Uuid::new_v4(), role, key).unwrap()
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

/// train-service's data.
pub trait Catalogue {
    /// Runs the seed on the service's database.
    async fn seed(&self, trains: usize, coaches: usize, seats: i32, days: i32) -> SeedReport;
    /// Seeds the brief's scenario for 2 days and returns tomorrow's DHK→CTG trips.
    async fn seeded_trips(&self) -> Vec<Value>;
}

impl Catalogue for TestApp {
    async fn seed(&self, trains: usize, coaches: usize, seats: i32, days: i32) -> SeedReport {
        let pool = servicekit::db::pool(&self.env.database).unwrap();
        let options = SeedOptions {
            trains,
            coaches,
            seats,
            days,
            ..SeedOptions::default()
        };
        seed::run(&pool, &options).await.expect("seed")
    }

    async fn seeded_trips(&self) -> Vec<Value> {
        self.seed(5, 5, 55, 2).await;
        let body = self.get_json(&search_path()).await;
        body["trips"].as_array().unwrap().clone()
    }
}

pub async fn assert_invalid(res: Response, field: &str) -> Value {
    let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["details"]["field"], field, "{body}");
    body
}
