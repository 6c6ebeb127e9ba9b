//! Passengers driving the platform while faults happen, and the history they leave: for
//! every operation its invocation and its outcome, `ok`, `fail` (a definite refusal) or
//! `unknown` (a timeout, a 5xx, or still `idempotency_key_in_use` after the retries: the
//! effect may or may not have happened). Like a real client, a passenger retries a request
//! that timed out with the same `Idempotency-Key`.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Fail,
    Unknown,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Op {
    pub passenger: usize,
    /// `select`, `confirm`, `cancel`, `retry_payment`, and the railway's `cancel_trip`.
    pub kind: &'static str,
    /// The `Idempotency-Key` of select and confirm.
    pub key: Option<String>,
    pub trip: i64,
    pub seats: Vec<i32>,
    pub hold_id: Option<Uuid>,
    pub booking_id: Option<Uuid>,
    /// The payment token of a confirm or a payment retry.
    pub token: Option<&'static str>,
    /// Milliseconds since the run started.
    pub invoked_ms: u64,
    pub completed_ms: u64,
    pub outcome: Outcome,
    /// The last status seen and the error code, if any.
    pub answer: String,
    pub attempts: u32,
}

/// Every operation of the run, in completion order.
#[derive(Clone, Default)]
pub struct History(Arc<Mutex<Vec<Op>>>);

impl History {
    fn push(&self, op: Op) {
        if let Ok(mut ops) = self.0.lock() {
            ops.push(op);
        }
    }

    pub fn ops(&self) -> Vec<Op> {
        self.0.lock().map(|ops| ops.clone()).unwrap_or_default()
    }
}

/// The addresses and the clock the passengers share.
#[derive(Clone)]
pub struct Driver {
    pub auth: String,
    pub booking: String,
    pub payment: String,
    pub trips: Vec<i64>,
    /// The trips the railway has cancelled: passengers stop choosing them.
    pub cancelled: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
    pub history: History,
    pub started: Instant,
    pub client: reqwest::Client,
}

/// A logged-in passenger (its token renewed by logging in again before it lapses).
#[derive(Clone)]
pub struct Passenger {
    pub index: usize,
    pub email: String,
    pub token: String,
    pub since: Instant,
}

const PASSWORD: &str = "correct horse battery";
/// Access tokens last 15 minutes; a passenger logs in again after this.
const TOKEN_AGE: Duration = Duration::from_secs(600);

/// The body of a confirm of `seats` held by `hold`, paid with `token`.
pub fn confirm_body(hold: Uuid, seats: &[i32], token: &str) -> Value {
    let passengers: Vec<Value> = seats
        .iter()
        .map(|s| json!({"name": format!("Traveller {s}")}))
        .collect();
    json!({"hold_id": hold, "passengers": passengers, "payment_token": token})
}

/// The `passenger` of the railway's own operations (`cancel_trip`).
pub const ADMIN: usize = usize::MAX;

/// How long one request may take before the passenger gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
/// Attempts of one operation (the first and its retries with the same key).
const ATTEMPTS: u32 = 4;

/// One answer: status, body and whether it was a replay (`Idempotent-Replayed: true`), or
/// `None` when none came (timeout, connection refused).
type Answer = Option<(StatusCode, Value, bool)>;

impl Driver {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let res = req.timeout(REQUEST_TIMEOUT).send().await.ok()?;
        let status = res.status();
        let replayed = res.headers().contains_key("idempotent-replayed");
        let body = res.json().await.unwrap_or(Value::Null);
        Some((status, body, replayed))
    }

    /// Registers and logs in passenger `index`, retrying through faults.
    pub async fn passenger(&self, index: usize, stop: &CancellationToken) -> Option<Passenger> {
        let email = format!("p{index}-{}@example.com", Uuid::new_v4().simple());
        let n = Uuid::new_v4().as_u128() % 100_000_000;
        let phone = format!("+88017{n:08}");
        let password = PASSWORD;
        let key = Uuid::new_v4().to_string();
        while !stop.is_cancelled() {
            let register = self
                .send(
                    self.client
                        .post(format!("{}/api/auth/register", self.auth))
                        .header("Idempotency-Key", &key)
                        .json(&json!({"name": format!("Passenger {index}"), "email": email, "phone": phone, "password": password})),
                )
                .await;
            let registered = matches!(register, Some((s, _, _)) if s == StatusCode::CREATED || s == StatusCode::CONFLICT);
            if registered && let Some(passenger) = self.login(index, &email).await {
                return Some(passenger);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        None
    }

    /// Logs passenger `index` in (one attempt).
    pub async fn login(&self, index: usize, email: &str) -> Option<Passenger> {
        let login = self
            .send(
                self.client
                    .post(format!("{}/api/auth/login", self.auth))
                    .json(&json!({"login": email, "password": PASSWORD})),
            )
            .await;
        let Some((StatusCode::OK, body, _)) = login else {
            return None;
        };
        Some(Passenger {
            index,
            email: email.to_owned(),
            token: body["access_token"].as_str()?.to_owned(),
            since: Instant::now(),
        })
    }

    /// Sends `make()` up to [`ATTEMPTS`] times while the answer is unknown (none, a 5xx, 408,
    /// 429 or 409 `idempotency_key_in_use`); returns the outcome, the last answer and the attempts.
    async fn with_retries(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
        ok: StatusCode,
    ) -> (Outcome, Answer, u32) {
        let mut last = None;
        for attempt in 1..=ATTEMPTS {
            let answer = self.send(make()).await;
            let settled = match &answer {
                Some((status, _, _)) if *status == ok => return (Outcome::Ok, answer, attempt),
                // 408: the server gave up reading the request (a paused process resumed
                // late); it never ran, so it is retried like a 5xx.
                Some((status, body, _)) => {
                    !(status.is_server_error()
                        || body["error"]["code"] == "idempotency_key_in_use"
                        || *status == StatusCode::TOO_MANY_REQUESTS
                        || *status == StatusCode::REQUEST_TIMEOUT)
                }
                None => false,
            };
            if settled {
                return (Outcome::Fail, answer, attempt);
            }
            last = answer;
            tokio::time::sleep(Duration::from_millis(300 * u64::from(attempt))).await;
        }
        (Outcome::Unknown, last, ATTEMPTS)
    }

    fn describe(answer: &Answer) -> String {
        match answer {
            Some((status, body, replayed)) => {
                let code = body["error"]["code"].as_str().unwrap_or_default();
                let replay = if *replayed { " replayed" } else { "" };
                format!("{} {code}{replay}", status.as_u16())
                    .replace("  ", " ")
                    .trim()
                    .to_owned()
            }
            None => "no answer".to_owned(),
        }
    }

    /// The passenger's loop until `stop`: choose free seats, hold them, confirm (most with a
    /// card that pays, some with one declined), now and then retry a declined payment or
    /// cancel a booking.
    /// `mine` is what the passenger booked in earlier rounds; the loop returns it as it leaves it.
    pub async fn run(
        &self,
        mut who: Passenger,
        mut mine: Mine,
        seed: u64,
        stop: CancellationToken,
    ) -> Mine {
        let mut rng = StdRng::seed_from_u64(seed);
        while !stop.is_cancelled() {
            if who.since.elapsed() > TOKEN_AGE
                && let Some(renewed) = self.login(who.index, &who.email).await
            {
                who = renewed;
            }
            if rng.random_bool(0.15)
                && let Some(booking) = mine.0.choose(&mut rng).copied()
            {
                if !booking.good && rng.random_bool(0.5) {
                    self.retry_payment(&who, booking.id).await;
                } else {
                    self.cancel(&who, booking.id).await;
                    mine.forget(booking.id);
                }
                continue;
            }
            let count = rng.random_range(1..=2);
            // Trips on sale where the passenger may still buy `count` seats (the railway's
            // 4-seat rule); at the limit everywhere, it gives a booking back first.
            let on_sale: Vec<i64> = match self.cancelled.lock() {
                Ok(cancelled) => self
                    .trips
                    .iter()
                    .copied()
                    .filter(|t| !cancelled.contains(t))
                    .collect(),
                Err(_) => self.trips.clone(),
            };
            if on_sale.is_empty() {
                return mine;
            }
            let open: Vec<i64> = on_sale
                .iter()
                .copied()
                .filter(|&t| mine.seats_on(t) + count <= SEAT_LIMIT)
                .collect();
            let Some(&trip) = open.choose(&mut rng) else {
                if let Some(booking) = mine.give_back(None, &mut rng) {
                    self.cancel(&who, booking).await;
                }
                continue;
            };
            let Some(seats) = self.free_seats(&who, trip, count, &mut rng).await else {
                // The trip is sold out (or its map did not answer): give a seat back now and
                // then, so that a long run keeps selling instead of running out of seats.
                if rng.random_bool(0.5)
                    && let Some(booking) = mine.give_back(None, &mut rng)
                {
                    self.cancel(&who, booking).await;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            };
            let hold = match self.select(&who, trip, &seats).await {
                Ok(hold) => hold,
                Err(refusal) => {
                    // At the seat limit after all (a booking whose confirm was lost, a
                    // declined one not yet expired): give one of this trip's back.
                    if refusal.contains("seat_limit_reached")
                        && let Some(booking) = mine.give_back(Some(trip), &mut rng)
                    {
                        self.cancel(&who, booking).await;
                    }
                    tokio::time::sleep(Duration::from_millis(rng.random_range(200..1000))).await;
                    continue;
                }
            };
            let good = rng.random_bool(0.75);
            let token = if good {
                "tok_visa"
            } else {
                "tok_chargeDeclined"
            };
            match self.confirm(&who, trip, &seats, hold, token).await {
                Ok(id) => mine.0.push(MyBooking {
                    id,
                    good,
                    trip,
                    seats: seats.len(),
                }),
                Err(refusal) => {
                    if refusal.contains("seat_limit_reached")
                        && let Some(booking) = mine.give_back(Some(trip), &mut rng)
                    {
                        self.cancel(&who, booking).await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(200..1000))).await;
        }
        mine
    }

    async fn free_seats(
        &self,
        who: &Passenger,
        trip: i64,
        count: usize,
        rng: &mut StdRng,
    ) -> Option<Vec<i32>> {
        let (status, body, _) = self
            .send(
                self.client
                    .get(format!("{}/api/bookings/trips/{trip}/seats", self.booking))
                    .bearer_auth(&who.token),
            )
            .await?;
        if status != StatusCode::OK {
            return None;
        }
        let free: Vec<i32> = body["seats"]
            .as_array()?
            .iter()
            .filter(|s| s["status"] == "available")
            .filter_map(|s| s["seat_id"].as_i64().and_then(|id| i32::try_from(id).ok()))
            .collect();
        let chosen: Vec<i32> = free.choose_multiple(rng, count).copied().collect();
        (!chosen.is_empty()).then_some(chosen)
    }

    /// The hold, or how the select was refused (`describe`'s text).
    async fn select(&self, who: &Passenger, trip: i64, seats: &[i32]) -> Result<Uuid, String> {
        let key = Uuid::new_v4().to_string();
        let invoked_ms = self.now_ms();
        let (outcome, answer, attempts) = self
            .with_retries(
                || {
                    self.client
                        .post(format!("{}/api/bookings/seats/select", self.booking))
                        .bearer_auth(&who.token)
                        .header("Idempotency-Key", &key)
                        .json(&json!({"trip_id": trip, "seat_ids": seats}))
                },
                StatusCode::CREATED,
            )
            .await;
        let hold_id = answer
            .as_ref()
            .filter(|_| outcome == Outcome::Ok)
            .and_then(|(_, b, _)| b["hold_id"].as_str())
            .and_then(|h| h.parse().ok());
        let described = Self::describe(&answer);
        self.history.push(Op {
            passenger: who.index,
            kind: "select",
            key: Some(key),
            trip,
            seats: seats.to_vec(),
            hold_id,
            booking_id: None,
            token: None,
            invoked_ms,
            completed_ms: self.now_ms(),
            outcome,
            answer: described.clone(),
            attempts,
        });
        hold_id.ok_or(described)
    }

    async fn confirm(
        &self,
        who: &Passenger,
        trip: i64,
        seats: &[i32],
        hold: Uuid,
        token: &'static str,
    ) -> Result<Uuid, String> {
        let key = Uuid::new_v4().to_string();
        let body = confirm_body(hold, seats, token);
        let invoked_ms = self.now_ms();
        let (outcome, answer, attempts) = self
            .with_retries(
                || self.confirm_request(who, &key, &body),
                StatusCode::CREATED,
            )
            .await;
        let booking_id = answer
            .as_ref()
            .filter(|_| outcome == Outcome::Ok)
            .and_then(|(_, b, _)| b["booking_id"].as_str())
            .and_then(|h| h.parse().ok());
        let described = Self::describe(&answer);
        self.history.push(Op {
            passenger: who.index,
            kind: "confirm",
            key: Some(key),
            trip,
            seats: seats.to_vec(),
            hold_id: Some(hold),
            booking_id,
            token: Some(token),
            invoked_ms,
            completed_ms: self.now_ms(),
            outcome,
            answer: described.clone(),
            attempts,
        });
        booking_id.ok_or(described)
    }

    /// The confirm request of `body` under `key`, as the passenger sends it (also for the
    /// checker's final retry of an unknown confirm).
    pub fn confirm_request(
        &self,
        who: &Passenger,
        key: &str,
        body: &Value,
    ) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/api/bookings/seats/confirm", self.booking))
            .bearer_auth(&who.token)
            .header("Idempotency-Key", key)
            .json(body)
    }

    async fn cancel(&self, who: &Passenger, booking: Uuid) {
        let invoked_ms = self.now_ms();
        let (outcome, answer, attempts) = self
            .with_retries(
                || {
                    self.client
                        .post(format!("{}/api/bookings/{booking}/cancel", self.booking))
                        .bearer_auth(&who.token)
                },
                StatusCode::OK,
            )
            .await;
        self.record_booking_op(
            who, "cancel", booking, None, invoked_ms, outcome, &answer, attempts,
        );
    }

    async fn retry_payment(&self, who: &Passenger, booking: Uuid) {
        let invoked_ms = self.now_ms();
        let (outcome, answer, attempts) = self
            .with_retries(
                || {
                    self.client
                        .post(format!("{}/api/payments/{booking}/retry", self.payment))
                        .bearer_auth(&who.token)
                        .json(&json!({"payment_token": "tok_visa"}))
                },
                StatusCode::ACCEPTED,
            )
            .await;
        self.record_booking_op(
            who,
            "retry_payment",
            booking,
            Some("tok_visa"),
            invoked_ms,
            outcome,
            &answer,
            attempts,
        );
    }

    /// The railway cancels `trip` (an admin's call, retried through faults like a
    /// passenger's). 202 and 200 (a retry finding the cancellation done) are both success.
    /// Passengers choose among the other trips from now on.
    pub fn cancelled_trip(&self, trip: i64) {
        if let Ok(mut cancelled) = self.cancelled.lock() {
            cancelled.insert(trip);
        }
    }

    /// Recorded as `cancel_trip` of passenger [`ADMIN`].
    pub async fn cancel_trip(&self, admin_token: &str, trip: i64) {
        let invoked_ms = self.now_ms();
        let (mut outcome, answer, attempts) = self
            .with_retries(
                || {
                    self.client
                        .post(format!(
                            "{}/api/bookings/admin/trips/{trip}/cancel",
                            self.booking
                        ))
                        .bearer_auth(admin_token)
                        .json(&json!({"reason": "Chaos: the line is closed"}))
                },
                StatusCode::ACCEPTED,
            )
            .await;
        if matches!(&answer, Some((StatusCode::OK, _, _))) {
            outcome = Outcome::Ok;
        }
        self.history.push(Op {
            passenger: ADMIN,
            kind: "cancel_trip",
            key: None,
            trip,
            seats: Vec::new(),
            hold_id: None,
            booking_id: None,
            token: None,
            invoked_ms,
            completed_ms: self.now_ms(),
            outcome,
            answer: Self::describe(&answer),
            attempts,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn record_booking_op(
        &self,
        who: &Passenger,
        kind: &'static str,
        booking: Uuid,
        token: Option<&'static str>,
        invoked_ms: u64,
        outcome: Outcome,
        answer: &Answer,
        attempts: u32,
    ) {
        self.history.push(Op {
            passenger: who.index,
            kind,
            key: None,
            trip: 0,
            seats: Vec::new(),
            hold_id: None,
            booking_id: Some(booking),
            token,
            invoked_ms,
            completed_ms: self.now_ms(),
            outcome,
            answer: Self::describe(answer),
            attempts,
        });
    }
}

/// Seats one passenger may hold or own per trip (booking-service's default
/// `max_seats_per_user`).
const SEAT_LIMIT: usize = 4;

/// A booking the passenger made and has not given back.
#[derive(Clone, Copy)]
struct MyBooking {
    id: Uuid,
    /// Paid with a card that pays (a declined one may get a payment retry).
    good: bool,
    trip: i64,
    seats: usize,
}

/// The passenger's bookings, to keep under the 4-seat rule of each trip; kept from round to
/// round (a passenger that forgot its bookings would run into the rule everywhere).
#[derive(Default)]
pub struct Mine(Vec<MyBooking>);

impl Mine {
    fn seats_on(&self, trip: i64) -> usize {
        self.0
            .iter()
            .filter(|b| b.trip == trip)
            .map(|b| b.seats)
            .sum()
    }

    fn forget(&mut self, booking: Uuid) {
        self.0.retain(|b| b.id != booking);
    }

    /// A booking to give back, on `trip` when given, and forgets it.
    fn give_back(&mut self, trip: Option<i64>, rng: &mut StdRng) -> Option<Uuid> {
        let candidates: Vec<usize> = (0..self.0.len())
            .filter(|&i| trip.is_none_or(|t| self.0[i].trip == t))
            .collect();
        let &i = candidates.choose(rng)?;
        Some(self.0.remove(i).id)
    }
}
