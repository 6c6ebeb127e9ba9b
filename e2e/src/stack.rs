//! The whole platform for one test: the five services in-process, each on a database of
//! its own and all on one test exchange of the real RabbitMQ, with one seeded train of one
//! 10-seat coach; and what a test does with it as a passenger.

use crate::consistency::{self, Databases, Report};
use crate::gateway::Upstreams;
use crate::proxy::Proxy;
use crate::services;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use servicekit::testing::{self, TestApp, TestEnv};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

pub const SEATS: i32 = 10;

#[derive(Default)]
pub struct Options {
    /// booking-service's payment window (default 10 minutes).
    pub payment_window_secs: Option<u64>,
    /// Put a cuttable proxy between booking-service and RabbitMQ.
    pub broker_proxy: bool,
    /// booking-service's waiting-room settings (default: the service's defaults).
    pub queue: Option<booking_service::settings::QueueSettings>,
}

pub struct Stack {
    pub auth: TestApp,
    pub train: TestApp,
    pub booking: TestApp,
    pub payment: TestApp,
    pub notification: TestApp,
    pub trip: i64,
    pub client: reqwest::Client,
    pub proxy: Option<Proxy>,
}

/// A registered passenger, logged in.
pub struct Passenger {
    pub phone: String,
    pub email: String,
    pub token: String,
}

impl Stack {
    pub async fn start(options: Options) -> Self {
        // booking-service's env names the test's exchange and queues; every service uses them.
        let bus = TestEnv::new("e2e_booking").await.unwrap();
        let env = async |service: &str| TestEnv::sharing_broker(service, &bus).await.unwrap();
        let auth = services::auth(env("e2e_auth").await).await;
        let train = services::train(env("e2e_train").await).await;
        let trip = services::seed(&train.env.database, SEATS).await.id;
        let payment_env = env("e2e_payment").await;
        let notification = services::notification(env("e2e_notification").await).await;

        let proxy = if options.broker_proxy {
            Some(
                Proxy::start("127.0.0.1:5672".parse().unwrap())
                    .await
                    .unwrap(),
            )
        } else {
            None
        };
        let booking = services::booking(bus, &train, |s| {
            if let Some(p) = &proxy {
                s.amqp.url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", p.port()).into();
            }
            s.booking.sweep_interval_ms = 100;
            s.booking.trip_cancel_interval_ms = 100;
            // auth-service's deny-list of ended sessions.
            s.jwt.revocation_key_prefix = Some(auth.env.redis.key_prefix.clone());
            if let Some(w) = options.payment_window_secs {
                s.booking.payment_window_secs = w;
            }
            if let Some(q) = options.queue {
                s.queue = q;
            }
        })
        .await;
        let payment = services::payment(payment_env, &booking).await;

        let client = reqwest::Client::new();
        for app in [&auth, &train, &booking, &payment, &notification] {
            if proxy.is_none() || app.address != booking.address {
                testing::wait_ready(&client, &app.address).await;
            }
        }
        // Events published before a consumer declared its queue would be lost to it.
        for app in [&train, &booking, &payment, &notification] {
            app.wait_for_consumers().await;
        }
        Self {
            auth,
            train,
            booking,
            payment,
            notification,
            trip,
            client,
            proxy,
        }
    }

    /// The services' addresses, for a gateway in front of them.
    pub fn upstreams(&self) -> Upstreams {
        Upstreams::from_urls(
            &self.auth.address,
            &self.train.address,
            &self.booking.address,
            &self.payment.address,
            &self.notification.address,
        )
    }

    /// Registers a new passenger and logs in.
    pub async fn passenger(&self) -> Passenger {
        let n = Uuid::new_v4().as_u128() % 100_000_000;
        let phone = format!("+88017{n:08}");
        let email = format!("{}@example.com", Uuid::new_v4().simple());
        let res = self
            .auth
            .post_json(
                "/api/auth/register",
                &json!({"name": "Rahim Uddin", "email": email, "phone": phone, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let tokens: Value = self
            .auth
            .post_json(
                "/api/auth/login",
                &json!({"login": email, "password": "correct horse battery"}),
            )
            .await
            .json()
            .await
            .unwrap();
        Passenger {
            phone,
            email,
            token: tokens["access_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Holds `seats` and confirms them with `token`; returns the booking.
    pub async fn book(&self, who: &Passenger, seats: &[i32], token: &str) -> Value {
        let booking = self.booking.with_token(&who.token);
        let res = booking
            .post_json(
                "/api/bookings/seats/select",
                &json!({"trip_id": self.trip, "seat_ids": seats}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let hold: Value = res.json().await.unwrap();
        let passengers: Vec<Value> = (0..seats.len())
            .map(|i| json!({"name": format!("Traveller {i}")}))
            .collect();
        let res = booking
            .post_json(
                "/api/bookings/seats/confirm",
                &json!({"hold_id": hold["hold_id"], "passengers": passengers, "payment_token": token}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    /// Polls `path` of `app` as `who` until `done` holds for its JSON body.
    pub async fn until(
        &self,
        who: &Passenger,
        app: &TestApp,
        path: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        testing::poll(&format!("{path} to reach the expected state"), || async {
            let res = app.with_token(&who.token).get(path).await;
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            if status == StatusCode::OK && done(&body) {
                Ok(body)
            } else {
                Err(format!("{status} {body}"))
            }
        })
        .await
    }

    pub async fn booking_until(&self, who: &Passenger, booking: &Value, status: &str) -> Value {
        let path = format!("/api/bookings/{}", booking["booking_id"].as_str().unwrap());
        self.until(who, &self.booking, &path, |b| b["status"] == status)
            .await
    }

    pub async fn payment_until(&self, who: &Passenger, booking: &Value, status: &str) -> Value {
        let path = format!("/api/payments/{}", booking["booking_id"].as_str().unwrap());
        self.until(who, &self.payment, &path, |p| p["status"] == status)
            .await
    }

    /// The passenger's inbox once it holds a notification of each of `kinds`.
    pub async fn inbox_with(&self, who: &Passenger, kinds: &[&str]) -> Vec<Value> {
        let body = self
            .until(who, &self.notification, "/api/notifications", |b| {
                let have: Vec<&str> = b["notifications"]
                    .as_array()
                    .map(|n| n.iter().filter_map(|x| x["kind"].as_str()).collect())
                    .unwrap_or_default();
                kinds.iter().all(|k| have.contains(k))
            })
            .await;
        body["notifications"].as_array().unwrap().clone()
    }

    pub async fn seat_statuses(&self) -> HashMap<i64, String> {
        let body = self
            .booking
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

    fn databases(&self) -> Databases {
        let url = |app: &TestApp| app.env.database.url.expose_secret().to_owned();
        Databases {
            booking: url(&self.booking),
            payment: url(&self.payment),
            notification: url(&self.notification),
            outboxes: vec![url(&self.auth), url(&self.booking), url(&self.payment)],
        }
    }

    /// The consistency check over this stack's databases.
    pub async fn check(&self) -> Report {
        consistency::check(&self.databases(), Duration::from_secs(20))
            .await
            .unwrap()
    }

    /// The check without waiting for the saga to settle (for tests of the check itself).
    pub async fn check_now(&self) -> Report {
        consistency::check(&self.databases(), Duration::ZERO)
            .await
            .unwrap()
    }

    /// Runs `sql` with `id` on `app`'s database, to break what the check verifies.
    pub async fn tamper(&self, app: &TestApp, sql: &str, id: Uuid) {
        assert_eq!(app.db().await.execute(sql, &[&id]).await.unwrap(), 1);
    }

    pub async fn assert_consistent(&self) {
        let report = self.check().await;
        assert!(report.is_consistent(), "{report}");
    }

    pub async fn unsent_booking_events(&self) -> i64 {
        self.booking
            .db()
            .await
            .query_one("SELECT count(*) FROM outbox WHERE sent_at IS NULL", &[])
            .await
            .unwrap()
            .get(0)
    }
}
