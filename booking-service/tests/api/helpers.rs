use booking_service::settings::Settings;
use booking_service::startup;
use booking_service::{payments, refunds};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use servicekit::testing::{self, TestApp, TestEnv, keys, sign_token};
use std::collections::HashMap;
use std::ops::Deref;
use std::time::Duration;

pub use servicekit::testing::{User, assert_error, eventually, user};

/// Seats of each test trip.
pub const SEATS_PER_TRIP: i32 = 10;

/// booking-service with the real train-service beside it.
pub struct BookingApp {
    app: TestApp,
    /// train-service, on its own database and the same events exchange (it sees the
    /// booking events).
    pub train: TestApp,
    /// A trip departing tomorrow with `seats` seats, and one that already left.
    pub trip: i64,
    pub departed_trip: i64,
    pub seats: i32,
    /// Fare and class of every seat of the test trips (one coach).
    pub fare: i64,
    pub seat_class: String,
    pub settings: Settings,
}

impl Deref for BookingApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

pub async fn spawn_app() -> BookingApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> BookingApp {
    let app = spawn_unready_app_with(configure).await;
    testing::wait_ready(&app.client, &app.address).await;
    app
}

/// Starts booking-service with a real train-service beside it (its own database, seeded
/// with one train of one 10-seat coach for today and tomorrow; today's trip is moved into
/// the past to serve as the departed one).
pub async fn spawn_unready_app_with(configure: impl FnOnce(&mut Settings)) -> BookingApp {
    let env = TestEnv::new("booking").await.unwrap();
    let (train, trip, departed_trip) = train_service_beside(&env).await;
    let mut settings = Settings {
        database: env.database.clone(),
        redis: env.redis.clone(),
        amqp: env.amqp.clone(),
        jwt: testing::jwt_settings(false).unwrap(),
        ..Settings::default()
    };
    settings.http.port = 0;
    settings.http.workers = Some(2);
    settings.booking.train_service_url = train.address.clone();
    settings.booking.seats_exchange = format!("test.{}.seats", env.id);
    settings.booking.marker_check_ms = 200;
    env.track_exchange(&settings.booking.seats_exchange);
    env.track_consumer_queues(&[payments::QUEUE, refunds::QUEUE]);
    configure(&mut settings);
    let app = TestApp::spawn_unready(env, startup::build(settings.clone())).await;
    let inventory = train
        .get_json(&format!("/internal/trips/{trip}/inventory"))
        .await;
    BookingApp {
        app,
        trip,
        departed_trip,
        seats: SEATS_PER_TRIP,
        fare: inventory["seats"][0]["fare"].as_i64().unwrap(),
        seat_class: inventory["seats"][0]["class"].as_str().unwrap().to_owned(),
        train,
        settings,
    }
}

/// train-service on `bus`'s exchange, seeded; with tomorrow's trip and the departed one.
async fn train_service_beside(bus: &TestEnv) -> (TestApp, i64, i64) {
    let env = TestEnv::sharing_broker("train", bus).await.unwrap();
    env.track_consumer_queues(&train_service::startup::QUEUES);
    let mut settings = train_service::settings::Settings {
        database: env.database.clone(),
        redis: env.redis.clone(),
        amqp: env.amqp.clone(),
        jwt: testing::jwt_settings(false).unwrap(),
        ..Default::default()
    };
    settings.http.port = 0;
    settings.http.workers = Some(1);
    let train = TestApp::spawn(env, train_service::startup::build(settings)).await;
    let pool = servicekit::db::pool(&train.env.database).unwrap();
    let options = train_service::seed::SeedOptions {
        trains: 1,
        coaches: 1,
        seats: SEATS_PER_TRIP,
        days: 2,
        ..Default::default()
    };
    train_service::seed::run(&pool, &options).await.unwrap();
    let db = train.db().await;
    let trips: Vec<i64> = db
        .query("SELECT trip_id FROM trips ORDER BY departs_at", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (departed_trip, trip) = (trips[0], trips[1]);
    db.execute(
        "UPDATE trips SET departs_at = now() - interval '1 day', arrives_at = now() - interval '18 hours' WHERE trip_id = $1",
        &[&departed_trip],
    )
    .await
    .unwrap();
    (train, trip, departed_trip)
}

impl BookingApp {
    pub async fn select(&self, user: &User, trip: i64, seats: &[i32]) -> Response {
        self.with_token(&user.token)
            .post_json(
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
        self.with_token(&user.token)
            .post_json(
                "/api/bookings/seats/confirm",
                &json!({"hold_id": hold["hold_id"], "passengers": passengers, "payment_token": "tok_visa"}),
            )
            .await
    }

    /// Confirms a fresh hold of `seats` for `user`; returns the booking.
    pub async fn book(&self, user: &User, seats: &[i32]) -> Value {
        let hold = self.hold(user, seats).await;
        let res = self.confirm(user, &hold).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    /// Seat id → status from the seat map.
    pub async fn seat_map(&self) -> HashMap<i64, String> {
        let body = self
            .get_json(&format!("/api/bookings/trips/{}/seats", self.trip))
            .await;
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

    /// The caller's booking, polled until `done` holds.
    pub async fn booking_until(
        &self,
        user: &User,
        id: &Value,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let path = format!("/api/bookings/{}", id.as_str().unwrap());
        testing::poll("the booking to reach the expected state", || async {
            let booking = self.with_token(&user.token).get_json(&path).await;
            if done(&booking) {
                Ok(booking)
            } else {
                Err(booking)
            }
        })
        .await
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

    /// Waits until the consumers (payment outcomes, refunds) have declared their queues.
    pub async fn payments_ready(&self) {
        self.wait_for_consumers().await;
    }
}

/// Moves the trip's opening through train-service's admin call.
pub async fn move_opening(app: &BookingApp, trip: i64, at: DateTime<Utc>) {
    let admin = sign_token(uuid::Uuid::new_v4(), "admin", &keys().unwrap().private).unwrap();
    let res = app
        .train
        .request(
            Method::PUT,
            &format!("/api/trains/admin/trips/{trip}/sales"),
        )
        .bearer_auth(admin)
        .json(&json!({ "sales_open_at": at }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
}

/// A live seat-map stream (`GET /api/bookings/trips/{trip}/events`) and what it said so far.
pub struct SeatEvents {
    stream: BoxStream<'static, reqwest::Result<Vec<u8>>>,
    pub seen: String,
}

impl SeatEvents {
    /// Opens the trip's stream on `app` and waits until it is connected and the replica's
    /// feed is subscribed (it subscribes in the background).
    pub async fn open(app: &TestApp, trip: i64) -> Self {
        let res = app
            .client
            .get(app.url(&format!("/api/bookings/trips/{trip}/events")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        let mut events = Self {
            stream: res.bytes_stream().map(|c| c.map(|b| b.to_vec())).boxed(),
            seen: String::new(),
        };
        events.read_until(": connected").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        events
    }

    /// Reads until the stream has said `needle`; panics after `within`.
    pub async fn read_until_within(&mut self, within: Duration, needle: &str) {
        let deadline = tokio::time::Instant::now() + within;
        while !self.seen.contains(needle) {
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("{needle} not heard; heard: {}", self.seen))
                .unwrap()
                .unwrap();
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    pub async fn read_until(&mut self, needle: &str) {
        self.read_until_within(Duration::from_secs(5), needle).await;
    }

    /// Reads until the stream announced `seat` with `status`.
    pub async fn seat(&mut self, seat: i32, status: &str, within: Duration) {
        let needle = format!("{{\"seat_id\":{seat},\"status\":\"{status}\"}}");
        self.read_until_within(within, &needle).await;
    }
}
