use crate::helpers::{Catalogue, TestApp, eventually, search_path, seat, spawn_app_with};
use serde_json::{Value, json};
use servicekit::amqp::Envelope;
use servicekit::cache::Keys;
use servicekit::consumer::{HandleError, Handler, Meta};
use servicekit::events::{self, BookedSeat, BookingConfirmed, BookingReleased};
use servicekit::testing::processed_transactions;
use train_service::availability::{self, Availability};
use train_service::metrics::TrainMetrics;
use train_service::search_cache::SearchCache;
use uuid::Uuid;

fn confirmed(booking_id: Uuid, trip_id: i64, seats: Vec<BookedSeat>) -> Value {
    serde_json::to_value(BookingConfirmed {
        booking_id,
        user_id: Uuid::new_v4(),
        trip_id,
        amount: 40_500 * seats.len() as i64,
        seats,
        passengers: vec![],
        currency: "BDT".into(),
        payment_token: "tok_visa".into(),
        payment_due_at: chrono::Utc::now(),
    })
    .unwrap()
}

fn released(booking_id: Uuid, trip_id: i64, seats: Vec<BookedSeat>) -> Value {
    serde_json::to_value(BookingReleased {
        booking_id,
        user_id: Uuid::new_v4(),
        trip_id,
        amount: 0,
        seats,
        currency: "BDT".into(),
        was_paid: false,
        trip: None,
        reason: None,
    })
    .unwrap()
}

/// Seats available per class of the trip, from TripDetail (never cached).
async fn available(app: &TestApp, trip_id: i64) -> Value {
    let detail = app.get_json(&format!("/api/trains/trips/{trip_id}")).await;
    let mut out = serde_json::Map::new();
    for c in detail["classes"].as_array().unwrap() {
        out.insert(
            c["class"].as_str().unwrap().to_owned(),
            c["seats_available"].clone(),
        );
    }
    Value::Object(out)
}

async fn wait_for(app: &TestApp, trip_id: i64, class: &str, n: i64) {
    eventually(&format!("{class} availability {n}"), || async {
        available(app, trip_id).await[class] == n
    })
    .await;
}

/// train-service's count of availability events with `outcome`.
async fn events(app: &TestApp, outcome: &str) -> f64 {
    app.metric(
        "railrush_availability_events_total",
        &[("outcome", outcome)],
    )
    .await
}

/// With a cache TTL far beyond the test, only invalidation can make a search current.
async fn spawn_app() -> TestApp {
    spawn_app_with(|s| s.search.cache_ttl_secs = 600).await
}

/// Waits until the (cached) search shows `n` seats of class `class` on trip `index`.
async fn wait_for_search(app: &TestApp, index: usize, class: usize, n: i64) {
    eventually("the search to show the change", || async {
        let body = app.get_json(&search_path()).await;
        body["trips"][index]["classes"][class]["seats_available"] == n
    })
    .await;
}

#[tokio::test]
async fn a_confirmation_lowers_availability_and_a_cached_search_shows_it_at_once() {
    let app = spawn_app().await;
    let trips = app.seeded_trips().await;
    let trip_id = trips[1]["trip_id"].as_i64().unwrap();
    app.get_json(&search_path()).await;
    let seats = vec![seat(166, "S_CHAIR"), seat(167, "S_CHAIR"), seat(1, "AC_B")];
    app.publish(
        events::BOOKING_CONFIRMED,
        &confirmed(Uuid::new_v4(), trip_id, seats),
    )
    .await;
    wait_for(&app, trip_id, "S_CHAIR", 53).await;
    assert_eq!(
        available(&app, trip_id).await,
        json!({"AC_B": 54, "AC_S": 55, "SNIGDHA": 55, "S_CHAIR": 53, "SHOVAN": 55})
    );
    wait_for_search(&app, 1, 3, 53).await;
    let after = app.get_json(&search_path()).await;
    let trip = after["trips"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["trip_id"] == trip_id)
        .unwrap()
        .clone();
    assert_eq!(
        trip["classes"][3],
        json!({"class": "S_CHAIR", "fare": 40_500, "seats_total": 55, "seats_available": 53})
    );
    assert_eq!(trip["classes"][0]["seats_available"], 54);
    let other = after["trips"][0]["classes"][3]["seats_available"].clone();
    assert_eq!(other, 55, "other trips are unchanged");
}

#[tokio::test]
async fn a_duplicate_delivery_is_counted_once_and_a_cancellation_gives_the_seats_back() {
    let app = spawn_app().await;
    let trip_id = app.seeded_trips().await[0]["trip_id"].as_i64().unwrap();
    let booking = Uuid::new_v4();
    let seats = vec![seat(221, "SHOVAN"), seat(222, "SHOVAN")];
    let event = Envelope::new(
        events::BOOKING_CONFIRMED,
        &confirmed(booking, trip_id, seats.clone()),
    )
    .unwrap();
    app.publish_envelope(&event).await;
    app.publish_envelope(&event).await;
    eventually("the duplicate to be skipped", || async {
        events(&app, "duplicate").await == 1.0
    })
    .await;
    assert_eq!(available(&app, trip_id).await["SHOVAN"], 53);
    let db = app.db().await;
    let n: i64 = db
        .query_one("SELECT count(*) FROM processed_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);

    wait_for_search(&app, 0, 4, 53).await;
    app.publish(
        events::BOOKING_CANCELLED,
        &released(booking, trip_id, seats.clone()),
    )
    .await;
    wait_for(&app, trip_id, "SHOVAN", 55).await;
    wait_for_search(&app, 0, 4, 55).await;
    app.publish(events::BOOKING_EXPIRED, &released(booking, trip_id, seats))
        .await;
    eventually("the second release to be seen", || async {
        events(&app, "duplicate").await == 2.0
    })
    .await;
    assert_eq!(
        available(&app, trip_id).await["SHOVAN"],
        55,
        "a booking is released once"
    );
}

#[tokio::test]
async fn an_expiry_overtaking_its_confirmation_leaves_availability_unchanged() {
    let app = spawn_app().await;
    let trip_id = app.seeded_trips().await[0]["trip_id"].as_i64().unwrap();
    let booking = Uuid::new_v4();
    let seats = vec![seat(56, "AC_S")];
    app.publish(
        events::BOOKING_EXPIRED,
        &released(booking, trip_id, seats.clone()),
    )
    .await;
    eventually("the early release to be seen", || async {
        events(&app, "duplicate").await == 1.0
    })
    .await;
    app.publish(
        events::BOOKING_CONFIRMED,
        &confirmed(booking, trip_id, seats),
    )
    .await;
    eventually("the late confirmation to be seen", || async {
        events(&app, "duplicate").await == 2.0
    })
    .await;
    assert_eq!(available(&app, trip_id).await["AC_S"], 55);
}

#[tokio::test]
async fn a_malformed_event_is_parked_and_the_consumer_keeps_going() {
    let app = spawn_app().await;
    let trip_id = app.seeded_trips().await[0]["trip_id"].as_i64().unwrap();
    let queue = app.queue(availability::QUEUE);
    let parked = format!("{queue}.parked");
    app.publish(events::BOOKING_CONFIRMED, &json!({"booking_id": "nope"}))
        .await;
    app.publish(
        events::BOOKING_CONFIRMED,
        &confirmed(Uuid::new_v4(), 999_999, vec![seat(1, "AC_B")]),
    )
    .await;
    app.publish(
        events::BOOKING_CONFIRMED,
        &confirmed(Uuid::new_v4(), trip_id, vec![seat(1, "FIRST")]),
    )
    .await;
    eventually("three parked messages", || async {
        app.queue_depth(&parked).await == 3
    })
    .await;
    app.publish(
        events::BOOKING_CONFIRMED,
        &confirmed(Uuid::new_v4(), trip_id, vec![seat(111, "SNIGDHA")]),
    )
    .await;
    wait_for(&app, trip_id, "SNIGDHA", 54).await;
    assert_eq!(events(&app, "rejected").await, 3.0);
    // servicekit's consumer metrics: 4 received, 3 rejected and parked, 1 acked.
    for (outcome, n) in [
        ("received", 4.0),
        ("rejected", 3.0),
        ("parked", 3.0),
        ("acked", 1.0),
    ] {
        let labels = [("outcome", outcome), ("queue", queue.as_str())];
        assert_eq!(
            app.metric("railrush_consumer_messages_total", &labels)
                .await,
            n,
            "{outcome}"
        );
    }
    eventually("the parked gauge to show 3", || async {
        app.metric("railrush_consumer_parked_messages", &[("queue", &queue)])
            .await
            == 3.0
    })
    .await;
    let n: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM processed_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "rejected events are not recorded as processed");
}

/// The service's consumer, on its own pools, to hand it batches directly: through the
/// broker a batch is whatever arrived while the previous one ran.
fn consumer(app: &TestApp) -> Availability {
    let redis = &app.env.redis;
    Availability {
        db: servicekit::db::pool(&app.env.database).unwrap(),
        cache: SearchCache::new(
            servicekit::cache::pool(redis).unwrap(),
            Keys::new(redis.key_prefix.clone()),
            600,
            redis.timeout(),
        ),
        metrics: TrainMetrics::register(&prometheus::Registry::new()).unwrap(),
    }
}

fn batch(events: &[&Envelope]) -> Vec<(Envelope, Meta)> {
    events
        .iter()
        .map(|e| {
            let meta = Meta {
                request_id: None,
                redelivered: false,
            };
            ((*e).clone(), meta)
        })
        .collect()
}

/// The labels of `results`, or `Err` for each failure.
fn labels(results: Vec<Result<&'static str, HandleError>>) -> Vec<Result<&'static str, String>> {
    results
        .into_iter()
        .map(|r| r.map_err(|e| e.label().to_owned()))
        .collect()
}

#[tokio::test]
async fn a_batch_is_applied_in_one_transaction_with_the_counts_of_one_event_at_a_time() {
    let app = spawn_app().await;
    let trip_id = app.seeded_trips().await[0]["trip_id"].as_i64().unwrap();
    app.get_json(&search_path()).await;
    let handler = consumer(&app);
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let a_seats = vec![seat(221, "SHOVAN"), seat(222, "SHOVAN"), seat(56, "AC_S")];
    let confirm_a = Envelope::new(
        events::BOOKING_CONFIRMED,
        &confirmed(a, trip_id, a_seats.clone()),
    )
    .unwrap();
    let confirm_b = Envelope::new(
        events::BOOKING_CONFIRMED,
        &confirmed(b, trip_id, vec![seat(223, "SHOVAN")]),
    )
    .unwrap();
    // An expiry overtaking its confirmation: never counted.
    let expire_c = Envelope::new(
        events::BOOKING_EXPIRED,
        &released(c, trip_id, vec![seat(57, "AC_S")]),
    )
    .unwrap();
    let other = Envelope::new(events::BOOKING_PAID, &json!({})).unwrap();
    let results = handler
        .handle_batch(batch(&[&confirm_a, &other, &confirm_b, &expire_c]))
        .await;
    assert_eq!(
        labels(results),
        vec![Ok("applied"), Ok("ignored"), Ok("applied"), Ok("duplicate")]
    );
    let seats = available(&app, trip_id).await;
    assert_eq!((&seats["SHOVAN"], &seats["AC_S"]), (&json!(52), &json!(54)));
    // One transaction: every record carries its start time.
    let recorded = processed_transactions(&app.db().await, availability::CONSUMER).await;
    assert_eq!(recorded, (3, 1));
    wait_for_search(&app, 0, 4, 52).await;

    // A batch that cannot be applied as one (a duplicate delivery, a class that does not
    // exist): each event on its own, as one delivery would be.
    let cancel_a =
        Envelope::new(events::BOOKING_CANCELLED, &released(a, trip_id, a_seats)).unwrap();
    let no_class = Envelope::new(
        events::BOOKING_CONFIRMED,
        &confirmed(Uuid::new_v4(), trip_id, vec![seat(1, "FIRST")]),
    )
    .unwrap();
    let confirm_c = Envelope::new(
        events::BOOKING_CONFIRMED,
        &confirmed(c, trip_id, vec![seat(57, "AC_S")]),
    )
    .unwrap();
    let confirm_d = Envelope::new(
        events::BOOKING_CONFIRMED,
        &confirmed(Uuid::new_v4(), trip_id, vec![seat(58, "AC_S")]),
    )
    .unwrap();
    let results = handler
        .handle_batch(batch(&[
            &confirm_b, &cancel_a, &no_class, &confirm_c, &confirm_d,
        ]))
        .await;
    assert_eq!(
        labels(results),
        vec![
            Ok("duplicate"),
            Ok("applied"),
            Err("rejected".to_owned()),
            Ok("duplicate"),
            Ok("applied"),
        ]
    );
    let seats = available(&app, trip_id).await;
    assert_eq!((&seats["SHOVAN"], &seats["AC_S"]), (&json!(54), &json!(54)));
    wait_for_search(&app, 0, 4, 54).await;
}
