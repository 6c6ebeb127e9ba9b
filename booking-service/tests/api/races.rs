use crate::helpers::{spawn_app, user};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashSet;

#[tokio::test]
async fn a_hundred_concurrent_selects_of_one_seat_yield_exactly_one_hold() {
    let app = spawn_app().await;
    let users: Vec<_> = (0..100).map(|_| user()).collect();
    let results = join_all(users.iter().map(|u| app.select(u, app.trip, &[6]))).await;
    let statuses: Vec<StatusCode> = results.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        99,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn overlapping_multi_seat_holds_never_share_a_seat() {
    let app = spawn_app().await;
    let n = app.seats;
    // Each user asks for a window of 2–3 seats; windows overlap heavily.
    let requests: Vec<(crate::helpers::User, Vec<i32>)> = (0..60)
        .map(|i| {
            let start = 1 + (i % (n - 2));
            let len = 2 + (i % 2);
            (user(), (start..(start + len).min(n + 1)).collect())
        })
        .collect();
    let results = join_all(
        requests
            .iter()
            .map(|(u, seats)| app.select(u, app.trip, seats)),
    )
    .await;
    let mut held = HashSet::new();
    for res in results {
        if res.status() == StatusCode::CREATED {
            let hold: Value = res.json().await.unwrap();
            for seat in hold["seat_ids"].as_array().unwrap() {
                assert!(
                    held.insert(seat.as_i64().unwrap()),
                    "seat {seat} held twice"
                );
            }
        } else {
            assert_eq!(res.status(), StatusCode::CONFLICT);
        }
    }
    assert!(!held.is_empty());
    let map = app.seat_map().await;
    let shown: HashSet<i64> = map
        .iter()
        .filter(|(_, s)| *s == "held")
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(shown, held, "the map shows exactly the granted holds");
}

#[tokio::test]
async fn with_redis_losing_the_keys_between_hold_and_confirm_two_confirms_make_one_booking() {
    let app = spawn_app().await;
    let (rahim, karim) = (user(), user());
    let first = app.hold(&rahim, &[9]).await;
    // Redis loses the seat keys (a failover that dropped recent writes); the hold records
    // survive, so both holds look valid and only PostgreSQL can decide.
    let mut redis = app.redis().await;
    let seat_key = format!("{}seat:{{{}}}:9", app.env.redis.key_prefix, app.trip);
    redis::cmd("DEL")
        .arg(&seat_key)
        .query_async::<()>(&mut redis)
        .await
        .unwrap();
    let second = app.hold(&karim, &[9]).await;
    let (a, b) = tokio::join!(app.confirm(&rahim, &first), app.confirm(&karim, &second));
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    let loser = if a.status() == StatusCode::CONFLICT {
        a
    } else {
        b
    };
    let err: Value = loser.json().await.unwrap();
    assert_eq!(err["error"]["code"], "seat_unavailable");
    let live: i64 = app
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM booking_seats WHERE trip_id = $1 AND seat_id = 9 AND live",
            &[&app.trip],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 1, "exactly one booking holds seat 9");
    let metrics = app.metrics().await;
    for line in [
        r#"railrush_booking_oversell_guard_total{service="booking"} 1"#,
        r#"railrush_booking_confirms_total{outcome="conflict",service="booking"} 1"#,
        r#"railrush_booking_hold_seconds_count{service="booking"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}
