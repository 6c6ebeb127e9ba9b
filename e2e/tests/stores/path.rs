//! auth-, train- and booking-service on stores a test chooses, and a passenger's path
//! through them that touches every kind of Redis and PostgreSQL use: register and password
//! login, an OTP login (a script and an atomic pipeline on the phone's keys), a search
//! twice (the search cache's fill script, then its MGET), a hold of two seats (the select
//! script on the hot multiplexed connection), a confirm (PostgreSQL, then the replace
//! script), and the seat map (MGET).

use e2e::services::{self, Trip};
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::testing::{TestApp, TestEnv};
use uuid::Uuid;

pub struct MiniStack {
    pub auth: TestApp,
    pub train: TestApp,
    pub booking: TestApp,
    pub trip: Trip,
}

/// Starts the three services, each on a fresh env on `bus`'s broker names that `stores`
/// points at the stores under test (its database, its Redis settings).
pub async fn start(bus: &TestEnv, stores: impl AsyncFn(&str, &mut TestEnv)) -> MiniStack {
    let env = async |service: &str| {
        let mut env = TestEnv::sharing_broker(service, bus).await.unwrap();
        stores(service, &mut env).await;
        env
    };
    // notification-service is not part of this stack: a stand-in for its code queue, as
    // otp.requested is published `mandatory` (a code nobody would deliver is refused).
    bus.stand_in_queue("notification.otp", &[servicekit::events::OTP_REQUESTED])
        .await
        .unwrap();
    let auth = services::auth(env("auth").await).await;
    let train = services::train(env("train").await).await;
    let trip = services::seed(&train.env.database, 10).await;
    let booking = services::booking(env("booking").await, &train, |_| {}).await;

    for app in [&auth, &train, &booking] {
        servicekit::testing::wait_ready(&app.client, &app.address).await;
        let ready = app.get_json("/health/ready").await;
        assert_eq!(ready["status"], "ok", "{}: {ready}", app.address);
    }
    MiniStack {
        auth,
        train,
        booking,
        trip,
    }
}

/// POSTs `body` to `app`'s `path`, with `token` if given: the status and the JSON body.
async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let res = match token {
        Some(token) => app.with_token(token).post_json(path, &body).await,
        None => app.post_json(path, &body).await,
    };
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

impl MiniStack {
    /// The passenger's path (module docs); returns the confirmed booking's id.
    pub async fn passenger_path(&self, seats: [i32; 2]) -> Uuid {
        let email = format!("{}@example.com", Uuid::new_v4().simple());
        let phone = format!("+88017{:08}", Uuid::new_v4().as_u128() % 100_000_000);
        let password = "correct horse battery";
        let (status, _) = post(
            &self.auth,
            "/api/auth/register",
            None,
            json!({"name": "Rahim Uddin", "email": email, "phone": phone, "password": password}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, tokens) = post(
            &self.auth,
            "/api/auth/login",
            None,
            json!({"login": email, "password": password}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert!(tokens["access_token"].is_string());

        let (status, otp) = post(
            &self.auth,
            "/api/auth/otp/request",
            None,
            json!({"phone": phone}),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{otp}");
        let code = otp["dev_code"].as_str().unwrap().to_owned();
        let (status, tokens) = post(
            &self.auth,
            "/api/auth/otp/verify",
            None,
            json!({"phone": phone, "code": code}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let token = tokens["access_token"].as_str().unwrap().to_owned();

        let [from, to, date] = &self.trip.route;
        let search = format!("/api/trains/search?from={from}&to={to}&date={date}");
        let first = self.train.get_json(&search).await;
        let again = self.train.get_json(&search).await;
        assert_eq!(first, again);
        let trips = first["trips"].as_array().unwrap();
        assert!(
            trips.iter().any(|t| t["trip_id"] == self.trip.id),
            "{first}"
        );

        let (status, hold) = post(
            &self.booking,
            "/api/bookings/seats/select",
            Some(&token),
            json!({"trip_id": self.trip.id, "seat_ids": seats}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{hold}");
        let (status, confirmed) = post(
            &self.booking,
            "/api/bookings/seats/confirm",
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
            .booking
            .get_json(&format!("/api/bookings/trips/{}/seats", self.trip.id))
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
