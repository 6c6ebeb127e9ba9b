use crate::helpers::{assert_error, spawn_app, spawn_app_with, user};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn select_holds_the_seats_for_five_minutes_and_the_map_shows_them_held() {
    let app = spawn_app().await;
    let rahim = user();
    let res = app.select(&rahim, app.trip, &[3, 4]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let hold: Value = res.json().await.unwrap();
    assert!(uuid::Uuid::parse_str(hold["hold_id"].as_str().unwrap()).is_ok());
    assert_eq!(hold["trip_id"], app.trip);
    assert_eq!(hold["seat_ids"], json!([3, 4]));
    let expires =
        chrono::DateTime::parse_from_rfc3339(hold["expires_at"].as_str().unwrap()).unwrap();
    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::seconds(290) && left <= chrono::Duration::seconds(300),
        "{left}"
    );
    assert!(hold.get("user_id").is_none());

    let map = app.seat_map().await;
    assert_eq!(map.len(), app.seats as usize);
    assert_eq!(map[&3], "held");
    assert_eq!(map[&4], "held");
    assert_eq!(map[&5], "available");
}

#[tokio::test]
async fn a_taken_seat_answers_409_naming_it_and_nothing_is_held() {
    let app = spawn_app().await;
    app.hold(&user(), &[2]).await;
    let res = app.select(&user(), app.trip, &[1, 2, 3]).await;
    let err = assert_error(res, StatusCode::CONFLICT, "seat_unavailable").await;
    assert_eq!(err["error"]["details"]["seat_ids"], json!([2]));
    let map = app.seat_map().await;
    assert_eq!(
        (map[&1].as_str(), map[&3].as_str()),
        ("available", "available"),
        "all or nothing"
    );
}

#[tokio::test]
async fn a_passenger_may_hold_or_own_at_most_four_seats_of_a_trip() {
    let app = spawn_app().await;
    let rahim = user();
    let first = app.hold(&rahim, &[1, 2, 3]).await;
    let res = app.select(&rahim, app.trip, &[4, 5]).await;
    assert_error(res, StatusCode::CONFLICT, "seat_limit_reached").await;
    app.hold(&rahim, &[4]).await;
    // Owned seats count too: confirm the first hold, the limit still holds.
    assert_eq!(
        app.confirm(&rahim, &first).await.status(),
        StatusCode::CREATED
    );
    let res = app.select(&rahim, app.trip, &[6]).await;
    assert_error(res, StatusCode::CONFLICT, "seat_limit_reached").await;
    // Someone else is not affected.
    app.hold(&user(), &[6, 7, 8, 9]).await;
}

#[tokio::test]
async fn an_expired_hold_frees_its_seats_and_cannot_be_confirmed() {
    let app = spawn_app_with(|s| s.booking.hold_ttl_ms = 300).await;
    let rahim = user();
    let hold = app.hold(&rahim, &[5]).await;
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(app.seat_map().await[&5], "available");
    assert_error(
        app.confirm(&rahim, &hold).await,
        StatusCode::CONFLICT,
        "hold_expired",
    )
    .await;
    // And the seat can be held again by anyone.
    app.hold(&user(), &[5]).await;
}

#[tokio::test]
async fn releasing_a_hold_is_for_its_owner_only() {
    let app = spawn_app().await;
    let rahim = user();
    let hold = app.hold(&rahim, &[7, 8]).await;
    let path = format!("/api/bookings/holds/{}", hold["hold_id"].as_str().unwrap());
    let other = app.with_token(&user().token).delete(&path).await;
    assert_error(other, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.seat_map().await[&7], "held");
    let mine = app.with_token(&rahim.token).delete(&path).await;
    assert_eq!(mine.status(), StatusCode::NO_CONTENT);
    let map = app.seat_map().await;
    assert_eq!(
        (map[&7].as_str(), map[&8].as_str()),
        ("available", "available")
    );
    let unknown = app
        .with_token(&rahim.token)
        .delete(&format!("/api/bookings/holds/{}", uuid::Uuid::new_v4()))
        .await;
    assert_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn unknown_trips_and_seats_are_404_and_departed_trips_409() {
    let app = spawn_app().await;
    let rahim = user();
    assert_error(
        app.select(&rahim, 999_999, &[1]).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let err = assert_error(
        app.select(&rahim, app.trip, &[1, app.seats + 1]).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(err["error"]["details"]["seat_ids"], json!([app.seats + 1]));
    assert_error(
        app.select(&rahim, app.departed_trip, &[1]).await,
        StatusCode::CONFLICT,
        "trip_departed",
    )
    .await;
    let res = app.get("/api/bookings/trips/999999/seats").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn bad_select_input_gets_4xx_in_the_error_shape() {
    let app = spawn_app().await;
    let rahim = user();
    let trip = app.trip;
    let cases = [
        (json!({"trip_id": trip, "seat_ids": []}), "seat_ids"),
        (
            json!({"trip_id": trip, "seat_ids": [1, 2, 3, 4, 5]}),
            "seat_ids",
        ),
        (json!({"trip_id": trip, "seat_ids": [1, 1]}), "seat_ids"),
        (json!({"trip_id": trip, "seat_ids": [-1]}), "seat_ids"),
        (json!({"trip_id": trip, "seat_ids": [0]}), "seat_ids"),
        (
            json!({"trip_id": trip, "seat_ids": [4294967296i64]}),
            "seat_ids[0]",
        ),
        (json!({"trip_id": trip, "seat_ids": ["1"]}), "seat_ids[0]"),
        (json!({"trip_id": -5, "seat_ids": [1]}), "trip_id"),
        (json!({"trip_id": 0, "seat_ids": [1]}), "trip_id"),
        (json!({"trip_id": 1e30, "seat_ids": [1]}), "trip_id"),
        (json!({"trip_id": "one", "seat_ids": [1]}), "trip_id"),
        (json!({"seat_ids": [1]}), "trip_id"),
        (json!({"trip_id": trip}), "seat_ids"),
    ];
    for (body, field) in cases {
        let res = app
            .with_token(&rahim.token)
            .post_json("/api/bookings/seats/select", &body)
            .await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(err["error"]["details"]["field"], field, "{body}: {err}");
    }
    let raw = |body: Vec<u8>| {
        app.client
            .post(app.url("/api/bookings/seats/select"))
            .bearer_auth(&rahim.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_error(
        raw(b"{\"trip_id\": ".to_vec()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let huge = format!(
        "{{\"trip_id\": 1, \"seat_ids\": [{}1]}}",
        "1,".repeat(600_000)
    );
    assert_error(
        raw(huge.into_bytes()).await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let no_token = app
        .client
        .post(app.url("/api/bookings/seats/select"))
        .json(&json!({"trip_id": trip, "seat_ids": [1]}))
        .send()
        .await
        .unwrap();
    assert_error(no_token, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for path in [
        "/api/bookings/trips/abc/seats",
        "/api/bookings/trips/-1/seats",
        "/api/bookings/trips/99999999999999999999/seats",
    ] {
        let res = app.get(path).await;
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    assert_eq!(
        app.seat_map()
            .await
            .values()
            .filter(|s| *s != "available")
            .count(),
        0
    );
}

#[tokio::test]
async fn the_seat_rule_holds_at_confirm_even_when_redis_forgot_the_users_seats() {
    let app = spawn_app().await;
    let rahim = user();
    let first = app.hold(&rahim, &[1, 2, 3]).await;
    assert_eq!(
        app.confirm(&rahim, &first).await.status(),
        StatusCode::CREATED
    );
    let mut redis = app.redis().await;
    let user_key = format!(
        "{}user:{{{}}}:{}",
        app.env.redis.key_prefix, app.trip, rahim.id
    );
    redis::cmd("DEL")
        .arg(&user_key)
        .query_async::<()>(&mut redis)
        .await
        .unwrap();
    let second = app.hold(&rahim, &[4, 5]).await;
    let res = app.confirm(&rahim, &second).await;
    assert_error(res, StatusCode::CONFLICT, "seat_limit_reached").await;
}

#[tokio::test]
async fn unauthenticated_selects_with_one_idempotency_key_are_each_401_and_kept_nowhere() {
    let app = spawn_app().await;
    for _ in 0..2 {
        let res = app
            .client
            .post(app.url("/api/bookings/seats/select"))
            .header("Idempotency-Key", "shared-key")
            .json(&json!({"trip_id": app.trip, "seat_ids": [1]}))
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let kept: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM idempotency_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 0);
}

#[tokio::test]
async fn a_holds_record_and_expiry_live_in_its_trips_slot_beside_its_seats() {
    let app = spawn_app().await;
    let rahim = user();
    let hold = app.hold(&rahim, &[2, 5]).await;
    let id = hold["hold_id"].as_str().unwrap();
    let prefix = &app.env.redis.key_prefix;
    let mut redis = app.redis().await;
    // One script wrote them all, so they share the trip's `{trip}` hash tag (one cluster slot).
    let record: String = redis::cmd("GET")
        .arg(format!("{prefix}hold:{{{}}}:{id}", app.trip))
        .query_async(&mut redis)
        .await
        .unwrap();
    let record: Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["seat_ids"], json!([2, 5]));
    assert_eq!(record["user_id"], json!(rahim.id));
    let expiring: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("{prefix}expiring:{{{}}}", app.trip))
        .arg(0)
        .arg(-1)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(expiring, vec![format!("{id}:{}:2,5", rahim.id)]);
    // The record is what confirm reads.
    assert_eq!(
        app.confirm(&rahim, &hold).await.status(),
        StatusCode::CREATED
    );
}
