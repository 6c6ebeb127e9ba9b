//! A trip the railway cancelled (booking-service's `trip.cancelled`) leaves search at once,
//! cached searches included, and each event is applied once.

use crate::helpers::{Catalogue, TestApp, eventually, search_path, spawn_app_with};
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use servicekit::events::{self, TripCancelled};
use train_service::cancellations::CONSUMER;

async fn listed(app: &TestApp) -> Vec<i64> {
    let body: Value = app.get_json(&search_path()).await;
    body["trips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trip_id"].as_i64().unwrap())
        .collect()
}

fn cancelled(trip_id: i64, reason: &str, at: DateTime<Utc>) -> TripCancelled {
    TripCancelled {
        trip_id,
        reason: reason.into(),
        cancelled_at: at,
    }
}

async fn applied(app: &TestApp) -> i64 {
    app.db()
        .await
        .query_one(
            "SELECT count(*) FROM processed_events WHERE consumer = $1",
            &[&CONSUMER],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_cancelled_trip_leaves_the_cached_search_at_once_and_a_repeat_changes_nothing() {
    // With a cache TTL far beyond the test, only invalidation can make a search current.
    let app = spawn_app_with(|s| s.search.cache_ttl_secs = 600).await;
    app.seeded_trips().await;
    let before = listed(&app).await;
    assert!(before.len() >= 2, "{before:?}");
    let trip = before[1];
    let at = Utc::now().trunc_subsecs(3);

    let event = app
        .publish(
            events::TRIP_CANCELLED,
            &cancelled(trip, "Flooding on the line near Feni", at),
        )
        .await;
    eventually("the cancelled trip to leave search", || async {
        !listed(&app).await.contains(&trip)
    })
    .await;
    let expected: Vec<i64> = before.iter().copied().filter(|t| *t != trip).collect();
    assert_eq!(listed(&app).await, expected);
    // Its own page still answers: a passenger's booking links to it.
    let detail = app.get_json(&format!("/api/trains/trips/{trip}")).await;
    assert_eq!(detail["trip_id"], trip);

    // The same delivery again, a second cancellation of the trip and one of a trip this
    // service does not have: recorded, and nothing else changes.
    app.publish_envelope(&event).await;
    app.publish(
        events::TRIP_CANCELLED,
        &cancelled(trip, "Again", at + chrono::Duration::hours(1)),
    )
    .await;
    app.publish(
        events::TRIP_CANCELLED,
        &cancelled(987_654_321, "Unknown trip", at),
    )
    .await;
    eventually("three distinct events applied", || async {
        applied(&app).await == 3
    })
    .await;
    let first: DateTime<Utc> = app
        .db()
        .await
        .query_one(
            "SELECT cancelled_at FROM trips WHERE trip_id = $1",
            &[&trip],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(first, at);
    assert_eq!(listed(&app).await, expected);
}
