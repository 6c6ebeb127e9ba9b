//! Starts the whole platform for one test.

use e2e::consistency::{self, Databases, Report};
use e2e::proxy::Proxy;
use reqwest::{Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use servicekit::testing::{self, TestEnv};
use services::Stores;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[path = "../support/services.rs"]
mod services;

pub const SEATS: i32 = 10;

#[derive(Default)]
pub struct Options {
    /// booking-service's payment window (default 10 minutes).
    pub payment_window_secs: Option<u64>,
    /// Put a cuttable proxy between booking-service and RabbitMQ.
    pub broker_proxy: bool,
}

pub struct Stack {
    pub auth: String,
    #[allow(dead_code)] // the saga does not call train-service; other test binaries do
    pub train: String,
    pub booking: String,
    pub payment: String,
    pub notification: String,
    pub trip: i64,
    pub client: reqwest::Client,
    pub proxy: Option<Proxy>,
    dbs: Databases,
    // Dropped last: the databases, Redis keys and queues of each service.
    _envs: Vec<TestEnv>,
}

fn track_queues(env: &TestEnv, names: &[&str]) {
    for name in names {
        let queue = format!("{}{name}", env.amqp.queue_prefix);
        env.track_queue(&queue);
        env.track_queue(&format!("{queue}.parked"));
    }
}

fn url(env: &TestEnv) -> String {
    env.database.url.expose_secret().to_owned()
}

impl Stack {
    pub async fn start(options: Options) -> Self {
        // The booking env's exchange and queue prefix are the test's; every service uses it.
        let bus = TestEnv::new("e2e_booking").await.unwrap();
        let auth_env = TestEnv::new("e2e_auth").await.unwrap();
        let train_env = TestEnv::new("e2e_train").await.unwrap();
        let payment_env = TestEnv::new("e2e_payment").await.unwrap();
        let notification_env = TestEnv::new("e2e_notification").await.unwrap();
        track_queues(
            &bus,
            &[
                train_service::availability::QUEUE,
                booking_service::payments::QUEUE,
                payment_service::charges::QUEUE,
                payment_service::refunds::QUEUE,
                notification_service::consumers::USERS,
                notification_service::consumers::OTP,
                notification_service::consumers::TICKETS,
                notification_service::consumers::BOOKINGS,
            ],
        );
        let amqp = bus.amqp.clone();

        let stores = |env: &TestEnv| Stores {
            database: env.database.clone(),
            redis: env.redis.clone(),
            amqp: amqp.clone(),
        };
        let auth = services::auth(stores(&auth_env)).await;
        let train = services::train(stores(&train_env)).await;
        let trip = services::seed(&train_env.database, SEATS).await.id;

        let proxy = if options.broker_proxy {
            Some(
                Proxy::start("127.0.0.1:5672".parse().unwrap())
                    .await
                    .unwrap(),
            )
        } else {
            None
        };
        let seats_exchange = format!("test.{}.seats", bus.id);
        bus.track_exchange(&seats_exchange);
        let booking = services::booking(stores(&bus), &train, |s| {
            if let Some(p) = &proxy {
                s.amqp.url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", p.port()).into();
            }
            s.booking.seats_exchange = seats_exchange;
            s.booking.sweep_interval_ms = 100;
            if let Some(w) = options.payment_window_secs {
                s.booking.payment_window_secs = w;
            }
        })
        .await;

        let payment = services::payment(payment_env.database.clone(), amqp.clone()).await;
        let notification =
            services::notification(notification_env.database.clone(), amqp.clone()).await;

        let client = reqwest::Client::new();
        for base in [&auth, &train, &booking, &payment, &notification] {
            if proxy.is_none() || base != &booking {
                testing::wait_ready(&client, base).await;
            }
        }
        // Events published before a consumer declared its queue would be lost to it.
        for queue in [
            train_service::availability::QUEUE,
            booking_service::payments::QUEUE,
            payment_service::charges::QUEUE,
            payment_service::refunds::QUEUE,
            notification_service::consumers::USERS,
            notification_service::consumers::OTP,
            notification_service::consumers::TICKETS,
            notification_service::consumers::BOOKINGS,
        ] {
            testing::wait_for_queue(&format!("{}{queue}", bus.amqp.queue_prefix))
                .await
                .unwrap();
        }
        let dbs = Databases {
            booking: url(&bus),
            payment: url(&payment_env),
            notification: url(&notification_env),
            outboxes: vec![url(&auth_env), url(&bus), url(&payment_env)],
        };
        Self {
            auth,
            train,
            booking,
            payment,
            notification,
            trip,
            client,
            proxy,
            dbs,
            _envs: vec![bus, auth_env, train_env, payment_env, notification_env],
        }
    }

    /// Registers a new passenger and logs in.
    pub async fn passenger(&self) -> Passenger {
        let n = Uuid::new_v4().as_u128() % 100_000_000;
        let phone = format!("+88017{n:08}");
        let email = format!("{}@example.com", Uuid::new_v4().simple());
        let res = self
            .client
            .post(format!("{}/api/auth/register", self.auth))
            .json(&json!({"name": "Rahim Uddin", "email": email, "phone": phone, "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let tokens: Value = self
            .client
            .post(format!("{}/api/auth/login", self.auth))
            .json(&json!({"login": email, "password": "correct horse battery"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Passenger {
            phone,
            email,
            token: tokens["access_token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn get(&self, who: &Passenger, url: String) -> Response {
        self.client
            .get(url)
            .bearer_auth(&who.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, who: &Passenger, url: String, body: Value) -> Response {
        self.client
            .post(url)
            .bearer_auth(&who.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Holds `seats` and confirms them with `token`; returns the booking.
    pub async fn book(&self, who: &Passenger, seats: &[i32], token: &str) -> Value {
        let res = self
            .post(
                who,
                format!("{}/api/bookings/seats/select", self.booking),
                json!({"trip_id": self.trip, "seat_ids": seats}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let hold: Value = res.json().await.unwrap();
        let passengers: Vec<Value> = (0..seats.len())
            .map(|i| json!({"name": format!("Traveller {i}")}))
            .collect();
        let res = self
            .post(
                who,
                format!("{}/api/bookings/seats/confirm", self.booking),
                json!({"hold_id": hold["hold_id"], "passengers": passengers, "payment_token": token}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    /// Polls `url` until `done` holds for its JSON body (at most 20 s).
    pub async fn until(
        &self,
        who: &Passenger,
        url: String,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let res = self.get(who, url.clone()).await;
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            if status == StatusCode::OK && done(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{url} never reached the expected state; last: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn booking_until(&self, who: &Passenger, booking: &Value, status: &str) -> Value {
        let url = format!(
            "{}/api/bookings/{}",
            self.booking,
            booking["booking_id"].as_str().unwrap()
        );
        self.until(who, url, |b| b["status"] == status).await
    }

    pub async fn payment_until(&self, who: &Passenger, booking: &Value, status: &str) -> Value {
        let url = format!(
            "{}/api/payments/{}",
            self.payment,
            booking["booking_id"].as_str().unwrap()
        );
        self.until(who, url, |p| p["status"] == status).await
    }

    /// The passenger's inbox once it holds a notification of each of `kinds`.
    pub async fn inbox_with(&self, who: &Passenger, kinds: &[&str]) -> Vec<Value> {
        let url = format!("{}/api/notifications", self.notification);
        let body = self
            .until(who, url, |b| {
                let have: Vec<&str> = b["notifications"]
                    .as_array()
                    .map(|n| n.iter().filter_map(|x| x["kind"].as_str()).collect())
                    .unwrap_or_default();
                kinds.iter().all(|k| have.contains(k))
            })
            .await;
        body["notifications"].as_array().unwrap().clone()
    }

    pub async fn seat_statuses(&self) -> std::collections::HashMap<i64, String> {
        let body: Value = self
            .client
            .get(format!(
                "{}/api/bookings/trips/{}/seats",
                self.booking, self.trip
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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

    /// The consistency check over this stack's databases.
    pub async fn check(&self) -> Report {
        consistency::check(&self.dbs, Duration::from_secs(20))
            .await
            .unwrap()
    }

    /// The check without waiting for the saga to settle (for tests of the check itself).
    pub async fn check_now(&self) -> Report {
        consistency::check(&self.dbs, Duration::ZERO).await.unwrap()
    }

    /// Runs `sql` with `id` on one service's database, to break what the check verifies.
    pub async fn tamper(&self, service: &str, sql: &str, id: Uuid) {
        let url = match service {
            "booking" => &self.dbs.booking,
            "payment" => &self.dbs.payment,
            _ => &self.dbs.notification,
        };
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        assert_eq!(client.execute(sql, &[&id]).await.unwrap(), 1);
    }

    pub async fn assert_consistent(&self) {
        let report = self.check().await;
        assert!(report.is_consistent(), "{report}");
    }

    pub async fn unsent_booking_events(&self) -> i64 {
        let (client, conn) = tokio_postgres::connect(&self.dbs.booking, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .query_one("SELECT count(*) FROM outbox WHERE sent_at IS NULL", &[])
            .await
            .unwrap()
            .get(0)
    }
}

pub struct Passenger {
    pub phone: String,
    pub email: String,
    pub token: String,
}
