use crate::helpers::{BookingApp, User, assert_error, spawn_app, user};
use futures_util::FutureExt;
use futures_util::future::{LocalBoxFuture, join_all};
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::testing::{self, WAIT, eventually, poll};

#[tokio::test]
async fn confirm_books_the_seats_and_the_outbox_delivers_booking_confirmed() {
    let app = spawn_app().await;
    let mut events = app.listen("booking.confirmed").await;
    let rahim = user();
    let hold = app.hold(&rahim, &[1, 2]).await;
    let res = app.confirm(&rahim, &hold).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let booking: Value = res.json().await.unwrap();
    assert_eq!(booking["status"], "confirmed");
    assert_eq!(booking["trip_id"], app.trip);
    assert_eq!(booking["seat_ids"], json!([1, 2]));
    assert_eq!(booking["amount"], 2 * app.fare);
    assert_eq!(booking["currency"], "BDT");
    assert_eq!(
        booking["passengers"],
        json!([{"name": "Passenger 0"}, {"name": "Passenger 1"}])
    );
    assert!(booking["ticket_code"].is_null());
    let due =
        chrono::DateTime::parse_from_rfc3339(booking["payment_due_at"].as_str().unwrap()).unwrap();
    let window = due.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(window > chrono::Duration::seconds(590) && window <= chrono::Duration::seconds(600));

    let map = app.seat_map().await;
    assert_eq!((map[&1].as_str(), map[&2].as_str()), ("booked", "booked"));

    let event = events
        .next_json(WAIT)
        .await
        .expect("booking.confirmed arrives");
    assert_eq!(event["type"], "booking.confirmed");
    let p = &event["payload"];
    assert_eq!(p["booking_id"], booking["booking_id"]);
    assert_eq!(p["user_id"], json!(rahim.id));
    assert_eq!(p["trip_id"], app.trip);
    assert_eq!(p["amount"], 2 * app.fare);
    assert_eq!(p["payment_token"], "tok_visa");
    assert_eq!(p["seats"][0]["seat_id"], 1);
    assert_eq!(p["seats"][0]["class"], app.seat_class.as_str());
    assert_eq!(p["seats"][0]["fare"], app.fare);
    assert!(p["seats"][0]["label"].as_str().unwrap().ends_with("-1"));
    assert_eq!(p["payment_due_at"], booking["payment_due_at"]);

    // The relay marks the row sent after the broker's confirm, which may come
    // a moment after the event has already reached our queue.
    let db = app.db().await;
    let counts = poll("the outbox row to be marked sent", || async {
        let row = db
            .query_one("SELECT count(*), count(sent_at) FROM outbox", &[])
            .await
            .unwrap();
        match (row.get::<_, i64>(0), row.get::<_, i64>(1)) {
            (all, 1) => Ok((all, 1)),
            counts => Err(format!("{counts:?}")),
        }
    })
    .await;
    assert_eq!(counts, (1, 1), "one event, confirmed by the broker");
    // The hold is spent.
    assert_error(
        app.confirm(&rahim, &hold).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn confirm_honours_idempotency_keys() {
    let app = spawn_app().await;
    let rahim = user();
    let hold = app.hold(&rahim, &[3]).await;
    let body = json!({"hold_id": hold["hold_id"], "passengers": [{"name": "Rahim"}], "payment_token": "tok_visa"});
    let send = |body: Value| confirm_with_key(&app, &rahim, "confirm-1", body);
    let first = send(body.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send(body.clone()).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let mut other = body.clone();
    other["passengers"] = json!([{"name": "Someone Else"}]);
    assert_error(
        send(other).await,
        StatusCode::CONFLICT,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(bookings(&app).await, 1);
    // Another user's identical key is their own.
    let karim = user();
    let theirs = confirm_with_key(&app, &karim, "confirm-1", body).await;
    assert_error(theirs, StatusCode::NOT_FOUND, "not_found").await;
}

/// Issue 16: the answer of a confirm commits with its booking. Here the database refuses an
/// answer written in any other transaction than its booking's (as when the database goes
/// away between the commit and a separate bookkeeping write); the client still gets its
/// 201, and a retry with the key replays it instead of 409 `idempotency_key_in_use`.
#[tokio::test]
async fn a_confirm_keeps_its_answer_in_the_bookings_own_transaction() {
    let app = spawn_app().await;
    app.db()
        .await
        .batch_execute(
            "CREATE FUNCTION answers_only_with_their_booking() RETURNS trigger AS $$ \
             BEGIN \
               IF NEW.status IS NOT NULL AND NOT EXISTS ( \
                    SELECT 1 FROM bookings WHERE xmin = pg_current_xact_id()::xid) THEN \
                 RAISE EXCEPTION 'an answer written apart from its booking'; \
               END IF; \
               RETURN NEW; \
             END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER answers_only_with_their_booking BEFORE UPDATE ON idempotency_keys \
               FOR EACH ROW EXECUTE FUNCTION answers_only_with_their_booking();",
        )
        .await
        .unwrap();
    let rahim = user();
    let hold = app.hold(&rahim, &[7]).await;
    let body = json!({"hold_id": hold["hold_id"], "passengers": [{"name": "Rahim"}], "payment_token": "tok_visa"});
    let send = || confirm_with_key(&app, &rahim, "confirm-tx", body.clone());
    let first = send().await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "confirmed");
    let again = send().await;
    assert_eq!(
        again.status(),
        StatusCode::CREATED,
        "the retry did not replay"
    );
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
}

/// The answer of a keyed confirm is written in the same flight as its booking, before the
/// database's guards are read. A confirm the guard refuses (here the railway cancelled the
/// trip and this replica does not know yet) rolls that write back, and the refusal becomes
/// the key's answer: a retry replays it instead of 409 `idempotency_key_in_use`.
#[tokio::test]
async fn a_keyed_confirm_refused_by_the_databases_guard_replays_its_refusal() {
    let app = spawn_app().await;
    let rahim = user();
    let hold = app.hold(&rahim, &[9]).await;
    app.db()
        .await
        .execute(
            "INSERT INTO trip_cancellations (trip_id, reason, requested_by, departs_at) \
             VALUES ($1, 'flooding', gen_random_uuid(), now() + interval '1 day')",
            &[&app.trip],
        )
        .await
        .unwrap();
    let body = json!({"hold_id": hold["hold_id"], "passengers": [{"name": "Rahim"}], "payment_token": "tok_visa"});
    let send = || confirm_with_key(&app, &rahim, "confirm-refused", body.clone());

    assert_error(send().await, StatusCode::CONFLICT, "trip_cancelled").await;
    let again = send().await;

    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..]),
        "the retry did not replay the refusal"
    );
    assert_error(again, StatusCode::CONFLICT, "trip_cancelled").await;
    assert_eq!(bookings(&app).await, 0);
}

#[tokio::test]
async fn confirming_someone_elses_or_an_unknown_hold_is_404() {
    let app = spawn_app().await;
    let hold = app.hold(&user(), &[4]).await;
    assert_error(
        app.confirm(&user(), &hold).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let unknown = json!({"hold_id": uuid::Uuid::new_v4(), "seat_ids": [1]});
    assert_error(
        app.confirm(&user(), &unknown).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn confirm_validates_passengers_and_the_payment_token() {
    let app = spawn_app().await;
    let rahim = user();
    let hold = app.hold(&rahim, &[5, 6]).await;
    let cases = [
        (
            json!({"hold_id": hold["hold_id"], "passengers": [{"name": "One"}], "payment_token": "tok_visa"}),
            "passengers",
        ),
        (
            json!({"hold_id": hold["hold_id"], "passengers": [{"name": "One"}, {"name": ""}], "payment_token": "tok_visa"}),
            "passengers",
        ),
        (
            json!({"hold_id": hold["hold_id"], "passengers": [{"name": "One"}, {"name": "Two"}], "payment_token": ""}),
            "payment_token",
        ),
        (
            json!({"hold_id": "not-a-uuid", "passengers": [], "payment_token": "tok_visa"}),
            "hold_id",
        ),
        (
            json!({"hold_id": hold["hold_id"], "passengers": "x", "payment_token": "tok_visa"}),
            "passengers",
        ),
        (
            json!({"hold_id": hold["hold_id"], "passengers": [{"name": "One"}, {"name": "Two"}]}),
            "payment_token",
        ),
        // A control character never reaches PostgreSQL (a NUL there was a 500).
        (
            json!({"hold_id": hold["hold_id"], "passengers": [{"name": "One"}, {"name": "Two"}], "payment_token": "tok_\u{0}visa"}),
            "payment_token",
        ),
        (
            json!({"hold_id": hold["hold_id"], "passengers": [{"name": "One"}, {"name": "T\u{1}wo"}], "payment_token": "tok_visa"}),
            "passengers[1].name",
        ),
    ];
    for (body, field) in cases {
        let res = app
            .with_token(&rahim.token)
            .post_json("/api/bookings/seats/confirm", &body)
            .await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(err["error"]["details"]["field"], field, "{body}");
    }
    assert_eq!(bookings(&app).await, 0);
}

/// Confirmations that arrive while a batch is being written are written together, in one
/// transaction, each with its own answer, event and (under a key) kept answer. Here the
/// test holds the trip's cancellation lock (as the railway's cancellation does), so the
/// first batch (one confirmation) waits for it while four more arrive.
#[tokio::test]
async fn confirmations_that_arrive_together_are_written_in_one_transaction() {
    let app = spawn_app().await;
    let first = user();
    let first_hold = app.hold(&first, &[2]).await;
    let others: Vec<(User, Value)> = {
        let mut others = Vec::new();
        for seat in 3..=6 {
            let who = user();
            let hold = app.hold(&who, &[seat]).await;
            others.push((who, hold));
        }
        others
    };
    let keyed = &others[0];
    let body = json!({"hold_id": keyed.1["hold_id"], "passengers": [{"name": "Karim"}], "payment_token": "tok_visa"});
    let (first_answer, rest) = confirm_in_two_batches(
        &app,
        app.confirm(&first, &first_hold),
        vec![
            confirm_with_key(&app, &keyed.0, "batched", body.clone()).boxed_local(),
            app.confirm(&others[1].0, &others[1].1).boxed_local(),
            app.confirm(&others[2].0, &others[2].1).boxed_local(),
            app.confirm(&others[3].0, &others[3].1).boxed_local(),
        ],
    )
    .await;

    assert_eq!(first_answer.status(), StatusCode::CREATED);
    for answer in rest {
        assert_eq!(answer.status(), StatusCode::CREATED);
        let booking: Value = answer.json().await.unwrap();
        assert_eq!(booking["status"], "confirmed");
    }
    assert_eq!(
        bookings_and_transactions(&app).await,
        (5, 2),
        "five bookings in two transactions"
    );
    assert_eq!(app.outbox_count("booking.confirmed").await, 5);
    assert_eq!(
        app.metric("railrush_booking_confirm_batch_size_count", &[])
            .await,
        2.0
    );
    // The keyed one's answer was kept with its batch: a retry replays it.
    let again = confirm_with_key(&app, &keyed.0, "batched", body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
}

/// A batch that any of its confirmations would make fail is rolled back, and each of them
/// is then written the single way, with its own answer: here a second confirmation of a
/// hold already booked (a double click without a key) waits in the second batch beside
/// three others.
#[tokio::test]
async fn a_batch_one_confirmation_would_fail_is_written_one_by_one() {
    let app = spawn_app().await;
    let first = user();
    let first_hold = app.hold(&first, &[1]).await;
    let mut others = Vec::new();
    for seat in 2..=4 {
        let who = user();
        let hold = app.hold(&who, &[seat]).await;
        others.push((who, hold));
    }
    let (first_answer, rest) = confirm_in_two_batches(
        &app,
        app.confirm(&first, &first_hold),
        vec![
            app.confirm(&first, &first_hold).boxed_local(),
            app.confirm(&others[0].0, &others[0].1).boxed_local(),
            app.confirm(&others[1].0, &others[1].1).boxed_local(),
            app.confirm(&others[2].0, &others[2].1).boxed_local(),
        ],
    )
    .await;
    let [again, a, b, c]: [reqwest::Response; 4] = rest.try_into().unwrap();

    assert_eq!(first_answer.status(), StatusCode::CREATED);
    assert_error(again, StatusCode::CONFLICT, "hold_expired").await;
    for answer in [a, b, c] {
        assert_eq!(answer.status(), StatusCode::CREATED);
    }
    assert_eq!(
        bookings_and_transactions(&app).await,
        (4, 4),
        "the second batch was written one by one"
    );
    assert_eq!(app.outbox_count("booking.confirmed").await, 4);
}

/// Sends `first` while the test holds the trip's cancellation lock (exclusive, as the
/// railway's cancellation takes it), so that its batch waits for the lock; then sends `rest`
/// together and releases the lock once all of them wait for the next batch. The answers
/// come in the order of the requests.
async fn confirm_in_two_batches<'a>(
    app: &'a BookingApp,
    first: impl Future<Output = reqwest::Response>,
    rest: Vec<LocalBoxFuture<'a, reqwest::Response>>,
) -> (reqwest::Response, Vec<reqwest::Response>) {
    let (lock, release) = hold_trip_lock(app).await;
    let n = rest.len();
    let later = async {
        testing::lock_waiters(&lock, 1).await;
        let release_when_waiting = async {
            eventually(&format!("{n} confirmations waiting"), || async {
                app.metric("railrush_booking_confirms_waiting", &[]).await == n as f64
            })
            .await;
            release.send(()).unwrap();
        };
        tokio::join!(join_all(rest), release_when_waiting).0
    };
    tokio::join!(first, later)
}

/// Holds the trip's cancellation lock (exclusive, as the railway's cancellation takes it)
/// in an open transaction until the returned sender is used; returns a connection to watch
/// the waiters with.
async fn hold_trip_lock(
    app: &BookingApp,
) -> (tokio_postgres::Client, tokio::sync::oneshot::Sender<()>) {
    let holder = app.db().await;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (locked, is_locked) = tokio::sync::oneshot::channel::<()>();
    let trip = app.trip;
    tokio::spawn(async move {
        let mut holder = holder;
        let tx = holder.transaction().await.unwrap();
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('trip-cancel:' || $1::bigint::text, 0))",
            &[&trip],
        )
        .await
        .unwrap();
        locked.send(()).unwrap();
        let _ = released.await;
        tx.rollback().await.unwrap();
    });
    is_locked.await.unwrap();
    (app.db().await, release)
}

/// `POST /api/bookings/seats/confirm` with `body` as `who`, under `Idempotency-Key: key`.
async fn confirm_with_key(
    app: &BookingApp,
    who: &User,
    key: &str,
    body: Value,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/bookings/seats/confirm"))
        .bearer_auth(&who.token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// How many bookings the service's database holds.
async fn bookings(app: &BookingApp) -> i64 {
    app.db()
        .await
        .query_one("SELECT count(*) FROM bookings", &[])
        .await
        .unwrap()
        .get(0)
}

/// How many bookings the service's database holds, and in how many transactions they were
/// written (`xmin`: the transaction that wrote the row).
async fn bookings_and_transactions(app: &BookingApp) -> (i64, i64) {
    let row = app
        .db()
        .await
        .query_one(
            "SELECT count(*), count(DISTINCT xmin::text) FROM bookings",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}
