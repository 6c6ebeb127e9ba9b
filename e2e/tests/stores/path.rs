//! auth-, train- and booking-service on stores a test chooses, and a passenger's path
//! through them that touches every kind of Redis and PostgreSQL use: register and password
//! login, an OTP login (a script and an atomic pipeline on the phone's keys), a search
//! twice (the search cache's fill script, then its MGET), a hold of two seats (the select
//! script on the hot multiplexed connection), a confirm (PostgreSQL, then the replace
//! script), and the seat map (MGET).

use crate::services::{self, Stores, Trip};
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::config::{DatabaseSettings, RedisSettings};
use servicekit::testing::{self, TestEnv};
use uuid::Uuid;

pub struct MiniStack {
    pub auth: String,
    pub train: String,
    pub booking: String,
    pub trip: Trip,
    pub client: reqwest::Client,
}

/// Starts the three services; `database` gives each its (empty) database, `redis` its
/// Redis settings. The broker is the shared one, under `bus`'s names.
pub async fn start(
    bus: &TestEnv,
    database: impl AsyncFn(&str) -> DatabaseSettings,
    redis: impl Fn(&str) -> RedisSettings,
) -> MiniStack {
    let stores = async |service: &str| Stores {
        database: database(service).await,
        redis: redis(service),
        amqp: bus.amqp.clone(),
    };
    let auth = services::auth(stores("auth").await).await;
    let train_stores = stores("train").await;
    let train_db = train_stores.database.clone();
    let train = services::train(train_stores).await;
    let trip = services::seed(&train_db, 10).await;
    let seats_exchange = format!("test.{}.seats", bus.id);
    bus.track_exchange(&seats_exchange);
    let booking = services::booking(stores("booking").await, &train, |s| {
        s.booking.seats_exchange = seats_exchange;
    })
    .await;

    let client = reqwest::Client::new();
    for base in [&auth, &train, &booking] {
        testing::wait_ready(&client, base).await;
        let ready: Value = client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["status"], "ready", "{base}: {ready}");
    }
    MiniStack {
        auth,
        train,
        booking,
        trip,
        client,
    }
}

impl MiniStack {
    async fn post(&self, url: String, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self.client.post(url).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, url: String) -> Value {
        let res = self.client.get(url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// The passenger's path (module docs); returns the confirmed booking's id.
    pub async fn passenger_path(&self, seats: [i32; 2]) -> Uuid {
        let auth = &self.auth;
        let email = format!("{}@example.com", Uuid::new_v4().simple());
        let phone = format!("+88017{:08}", Uuid::new_v4().as_u128() % 100_000_000);
        let password = "correct horse battery";
        let (status, _) = self
            .post(
                format!("{auth}/api/auth/register"),
                None,
                json!({"name": "Rahim Uddin", "email": email, "phone": phone, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, tokens) = self
            .post(
                format!("{auth}/api/auth/login"),
                None,
                json!({"login": email, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert!(tokens["access_token"].is_string());

        let (status, otp) = self
            .post(
                format!("{auth}/api/auth/otp/request"),
                None,
                json!({"phone": phone}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{otp}");
        let code = otp["dev_code"].as_str().unwrap().to_owned();
        let (status, tokens) = self
            .post(
                format!("{auth}/api/auth/otp/verify"),
                None,
                json!({"phone": phone, "code": code}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let token = tokens["access_token"].as_str().unwrap().to_owned();

        let [from, to, date] = &self.trip.route;
        let search = format!(
            "{}/api/trains/search?from={from}&to={to}&date={date}",
            self.train
        );
        let first = self.get(search.clone()).await;
        let again = self.get(search).await;
        assert_eq!(first, again);
        let trips = first["trips"].as_array().unwrap();
        assert!(
            trips.iter().any(|t| t["trip_id"] == self.trip.id),
            "{first}"
        );

        let booking = &self.booking;
        let (status, hold) = self
            .post(
                format!("{booking}/api/bookings/seats/select"),
                Some(&token),
                json!({"trip_id": self.trip.id, "seat_ids": seats}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{hold}");
        let (status, confirmed) = self
            .post(
                format!("{booking}/api/bookings/seats/confirm"),
                Some(&token),
                json!({
                    "hold_id": hold["hold_id"],
                    "passengers": [{"name": "Rahim Uddin"}, {"name": "Karim Uddin"}],
                    "payment_token": "tok_visa"
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{confirmed}");
        assert_eq!(confirmed["status"], "confirmed");

        let map = self
            .get(format!(
                "{booking}/api/bookings/trips/{}/seats",
                self.trip.id
            ))
            .await;
        let status_of = |seat: i32| {
            map["seats"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["seat_id"] == seat)
                .and_then(|s| s["status"].as_str())
                .map(str::to_owned)
        };
        for seat in seats {
            assert_eq!(status_of(seat).as_deref(), Some("booked"), "{map}");
        }
        let free = (1..=10).find(|s| !seats.contains(s)).unwrap();
        assert_eq!(status_of(free).as_deref(), Some("available"), "{map}");
        Uuid::parse_str(confirmed["booking_id"].as_str().unwrap()).unwrap()
    }
}
