use booking_service::settings::Settings;
use booking_service::startup;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use servicekit::testing::{self, Listener, TestEnv};
use uuid::Uuid;

/// Seats of each test trip.
pub const SEATS_PER_TRIP: i32 = 10;

pub struct TestApp {
    /// A trip departing tomorrow with `seats` seats, and one that already left.
    pub trip: i64,
    pub departed_trip: i64,
    pub seats: i32,
    /// Fare and class of every seat of the test trips (one coach).
    pub fare: i64,
    pub seat_class: String,
    /// The real train-service beside the app.
    pub train_url: String,
    pub address: String,
    pub client: reqwest::Client,
    pub env: TestEnv,
    _train_env: TestEnv,
    pub settings: Settings,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let app = spawn_unready_app_with(configure).await;
    testing::wait_ready(&app.client, &app.address).await;
    app
}

/// Starts booking-service with a real train-service beside it (its own database, seeded
/// with one train of one 10-seat coach for today and tomorrow; today's trip is moved into
/// the past to serve as the departed one). Both share this test's events exchange, so
/// train-service sees the booking events.
pub async fn spawn_unready_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let env = TestEnv::new("booking").await.unwrap();
    let train_env = TestEnv::new("train").await.unwrap();
    let mut train_settings = train_service::settings::Settings {
        database: train_env.database.clone(),
        redis: train_env.redis.clone(),
        amqp: env.amqp.clone(),
        jwt: testing::jwt_settings(false).unwrap(),
        ..Default::default()
    };
    train_settings.http.port = 0;
    train_settings.http.workers = Some(1);
    let queue = format!(
        "{}{}",
        env.amqp.queue_prefix,
        train_service::availability::QUEUE
    );
    env.track_queue(&queue);
    env.track_queue(&format!("{queue}.parked"));
    let train = train_service::startup::build(train_settings).await.unwrap();
    let train_url = format!("http://127.0.0.1:{}", train.port());
    tokio::spawn(train.run_until_stopped());
    let pool = servicekit::db::pool(&train_env.database).unwrap();
    let options = train_service::seed::SeedOptions {
        trains: 1,
        coaches: 1,
        seats: SEATS_PER_TRIP,
        days: 2,
        ..Default::default()
    };
    train_service::seed::run(&pool, &options).await.unwrap();
    let client = pool.get().await.unwrap();
    let trips: Vec<i64> = client
        .query("SELECT trip_id FROM trips ORDER BY departs_at", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (departed_trip, trip) = (trips[0], trips[1]);
    client
        .execute(
            "UPDATE trips SET departs_at = now() - interval '1 day', arrives_at = now() - interval '18 hours' WHERE trip_id = $1",
            &[&departed_trip],
        )
        .await
        .unwrap();

    let mut settings = Settings {
        database: env.database.clone(),
        redis: env.redis.clone(),
        amqp: env.amqp.clone(),
        jwt: testing::jwt_settings(false).unwrap(),
        ..Settings::default()
    };
    settings.http.port = 0;
    settings.http.workers = Some(2);
    settings.booking.train_service_url = train_url.clone();
    settings.booking.seats_exchange = format!("test.{}.seats", env.id);
    settings.booking.marker_check_ms = 200;
    env.track_exchange(&settings.booking.seats_exchange);
    let payments_queue = format!(
        "{}{}",
        env.amqp.queue_prefix,
        booking_service::payments::QUEUE
    );
    env.track_queue(&payments_queue);
    env.track_queue(&format!("{payments_queue}.parked"));
    configure(&mut settings);
    let app = startup::build(settings.clone()).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let inventory: Value = reqwest::get(format!("{train_url}/internal/trips/{trip}/inventory"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    TestApp {
        trip,
        departed_trip,
        seats: SEATS_PER_TRIP,
        fare: inventory["seats"][0]["fare"].as_i64().unwrap(),
        seat_class: inventory["seats"][0]["class"].as_str().unwrap().to_owned(),
        train_url,
        address,
        client: reqwest::Client::new(),
        env,
        _train_env: train_env,
        settings,
    }
}

/// An access token for `user`, signed like auth-service signs them.
pub fn token_for(user: Uuid) -> String {
    testing::user_token(user).unwrap()
}

/// A passenger: a user id and its token.
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

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post(&self, user: &User, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&user.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, user: &User, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn select(&self, user: &User, trip: i64, seats: &[i32]) -> Response {
        self.post(
            user,
            "/api/bookings/seats/select",
            &json!({"trip_id": trip, "seat_ids": seats}),
        )
        .await
    }

    /// Selects and asserts 201; returns the hold.
    pub async fn hold(&self, user: &User, seats: &[i32]) -> Value {
        let res = self.select(user, self.trip, seats).await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
        res.json().await.unwrap()
    }

    pub async fn confirm(&self, user: &User, hold: &Value) -> Response {
        let n = hold["seat_ids"].as_array().unwrap().len();
        let passengers: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("Passenger {i}")}))
            .collect();
        self.post(
            user,
            "/api/bookings/seats/confirm",
            &json!({"hold_id": hold["hold_id"], "passengers": passengers, "payment_token": "tok_visa"}),
        )
        .await
    }

    /// Seat id → status from the seat map.
    pub async fn seat_map(&self) -> std::collections::HashMap<i64, String> {
        let res = self
            .client
            .get(self.url(&format!("/api/bookings/trips/{}/seats", self.trip)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        body["seats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["seat_id"].as_i64().unwrap(),
                    s["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub async fn db(&self) -> tokio_postgres::Client {
        use secrecy::ExposeSecret;
        let (client, conn) = tokio_postgres::connect(
            self.settings.database.url.expose_secret(),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        client
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(testing::redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Deletes every key of this test's namespace, as if Redis had restarted empty.
    pub async fn wipe_redis(&self) {
        let mut conn = self.redis().await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.env.redis.key_prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
    }

    /// Publishes an event to this test's exchange, as another service would.
    pub async fn publish(&self, kind: &str, payload: &Value) -> Uuid {
        let event = servicekit::amqp::Envelope::new(kind, payload).unwrap();
        testing::publish(&self.env.amqp.exchange, &event)
            .await
            .unwrap();
        event.event_id
    }

    /// Publishes the same envelope again (a duplicate delivery).
    pub async fn publish_envelope(&self, event: &servicekit::amqp::Envelope) {
        testing::publish(&self.env.amqp.exchange, event)
            .await
            .unwrap();
    }

    /// Waits until the payment-outcome consumer has declared its queue.
    pub async fn payments_ready(&self) {
        testing::wait_for_queue(&format!(
            "{}{}",
            self.env.amqp.queue_prefix,
            booking_service::payments::QUEUE
        ))
        .await
        .unwrap();
    }

    /// Confirms a fresh hold of `seats` for `user`; returns the booking.
    pub async fn book(&self, user: &User, seats: &[i32]) -> Value {
        let hold = self.hold(user, seats).await;
        let res = self.confirm(user, &hold).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    /// The caller's booking, polled until `done` holds (at most 10 s).
    pub async fn booking_until(
        &self,
        user: &User,
        id: &Value,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let path = format!("/api/bookings/{}", id.as_str().unwrap());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let booking: Value = self.get(user, &path).await.json().await.unwrap();
            if done(&booking) {
                return booking;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "booking never reached the expected state: {booking}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Outbox rows of `kind`.
    pub async fn outbox_count(&self, kind: &str) -> i64 {
        self.db()
            .await
            .query_one("SELECT count(*) FROM outbox WHERE kind = $1", &[&kind])
            .await
            .unwrap()
            .get(0)
    }

    /// A queue bound to this test's events exchange for `routing_key`.
    pub async fn listen(&self, routing_key: &str) -> Listener {
        Listener::bind(&self.env.amqp.exchange, routing_key)
            .await
            .unwrap()
    }
}

pub use servicekit::testing::assert_error;
