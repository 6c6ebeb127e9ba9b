//! The waiting room (`docs/api.md`, "The fair rush"): the pre-queue is complete and shuffled
//! at the opening, later joiners are first come first served, one place per account, every
//! pass rule of select and confirm, sold out reaches everyone, stale places are lost, and a
//! drained room ends. Against real Redis, PostgreSQL, RabbitMQ and train-service.

use crate::helpers::{BookingApp, assert_error, move_opening, spawn_app_with, user};
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use servicekit::testing::{User, keys, poll, sign_claims, verified_user};
use std::collections::HashSet;

/// booking-service with a quick waiting room: 600 admissions a minute (10 a second), the
/// counter moving every 50 ms, sales fetched every 200 ms.
async fn quick_app(configure: impl FnOnce(&mut booking_service::settings::Settings)) -> BookingApp {
    spawn_app_with(|s| {
        s.queue.pre_queue_mins = 60;
        s.queue.admit_per_minute = 600;
        s.queue.tick_ms = 50;
        s.queue.sales_refresh_ms = 200;
        s.queue.end_after_secs = 3_600;
        // These tests ask for places far more often than a person; the limits have their own.
        s.user_limits.enabled = false;
        configure(s);
    })
    .await
}

/// Moves the test trip's opening to `secs` from now (whole seconds); returns the sale id.
async fn open_in(app: &BookingApp, secs: i64) -> (String, DateTime<Utc>) {
    let at = DateTime::from_timestamp(Utc::now().timestamp() + secs, 0).unwrap();
    move_opening(app, app.trip, at).await;
    let id = at.format("%Y%m%dT%H%M%SZ").to_string();
    // The service sees the new sale within a refresh, and makes its room when the
    // pre-queue is open.
    poll(
        "the sale to be listed (with its room once the pre-queue is open)",
        || async {
            let sales = app.get_json("/api/queue/sales").await;
            let found = sales["sales"].as_array().unwrap().iter().any(|s| {
                s["sale_id"] == id.as_str()
                    && (s["waiting_room"] == true || s["state"] == "upcoming")
            });
            if found { Ok(()) } else { Err(sales) }
        },
    )
    .await;
    (id, at)
}

async fn status(app: &BookingApp, sale: &str) -> Value {
    app.get_json(&format!("/api/queue/sales/{sale}")).await
}

async fn wait_state(app: &BookingApp, sale: &str, state: &str) -> Value {
    poll(&format!("the sale to be {state}"), || async {
        let s = status(app, sale).await;
        if s["state"] == state { Ok(s) } else { Err(s) }
    })
    .await
}

async fn join(app: &BookingApp, user: &User, sale: &str) -> reqwest::Response {
    app.with_token(&user.token)
        .post_json(&format!("/api/queue/sales/{sale}/join"), &json!({}))
        .await
}

async fn joined(app: &BookingApp, user: &User, sale: &str) -> Value {
    let res = join(app, user, sale).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    res.json().await.unwrap()
}

async fn place(app: &BookingApp, user: &User, sale: &str) -> reqwest::Response {
    app.with_token(&user.token)
        .get(&format!("/api/queue/sales/{sale}/place"))
        .await
}

async fn place_json(app: &BookingApp, user: &User, sale: &str) -> Value {
    let res = place(app, user, sale).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    res.json().await.unwrap()
}

/// Polls `user`'s place until it is admitted; returns it.
async fn admitted(app: &BookingApp, user: &User, sale: &str) -> Value {
    poll("the user to be admitted", || async {
        let p = place_json(app, user, sale).await;
        if p["state"] == "admitted" {
            Ok(p)
        } else {
            Err(p)
        }
    })
    .await
}

async fn select_with(
    app: &BookingApp,
    user: &User,
    seats: &[i32],
    pass: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .request(reqwest::Method::POST, "/api/bookings/seats/select")
        .bearer_auth(&user.token)
        .json(&json!({"trip_id": app.trip, "seat_ids": seats}));
    if let Some(pass) = pass {
        req = req.header("x-queue-pass", pass);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_pre_queue_is_shuffled_at_the_opening_and_later_joiners_follow_in_order() {
    let app = quick_app(|_| {}).await;
    let (sale, _) = open_in(&app, 6).await;
    let before = wait_state(&app, &sale, "pre_queue").await;
    assert_eq!(before["waiting_room"], true, "{before}");
    // 30 people join the pre-queue at once: no numbers yet.
    let early: Vec<User> = (0..30).map(|_| verified_user()).collect();
    let places = join_all(early.iter().map(|u| joined(&app, u, &sale))).await;
    for p in &places {
        assert_eq!(p["state"], "waiting", "{p}");
        assert!(p["number"].is_null() && p["position"].is_null(), "{p}");
        assert!(p["pass"].is_null(), "{p}");
    }
    assert_eq!(status(&app, &sale).await["waiting"], 30);
    wait_state(&app, &sale, "open").await;
    // After the opening: first come, first served, after the whole pre-queue.
    let late: Vec<User> = (0..5).map(|_| verified_user()).collect();
    for (i, u) in late.iter().enumerate() {
        let p = joined(&app, u, &sale).await;
        assert_eq!(p["number"], 31 + i as i64, "{p}");
    }
    let mut numbers = Vec::new();
    for u in &early {
        let p = place_json(&app, u, &sale).await;
        numbers.push((u.id, p["number"].as_i64().unwrap()));
    }
    let set: HashSet<i64> = numbers.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        set,
        (1..=30).collect(),
        "the pre-queue holds 1..30 exactly once"
    );
    // Shuffled: not the order the members are kept in (sorted ids); 1/30! by chance.
    let mut sorted = numbers.clone();
    sorted.sort_by_key(|(id, _)| id.to_string());
    assert!(sorted.iter().map(|(_, n)| *n).ne(1..=30), "{numbers:?}");
    // Admission goes in number order. Looking from the highest number down, once someone is
    // seen admitted, everyone with a lower number looked at later must be admitted too.
    let mut everyone: Vec<(i64, &User)> = numbers
        .iter()
        .map(|(id, n)| (*n, early.iter().find(|u| u.id == *id).unwrap()))
        .chain(late.iter().enumerate().map(|(i, u)| (31 + i as i64, u)))
        .collect();
    everyone.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    poll("everyone to be admitted in number order", || async {
        let mut admitted_above: Option<i64> = None;
        let mut waiting = Vec::new();
        for (n, u) in &everyone {
            let p = place_json(&app, u, &sale).await;
            assert_eq!(p["number"], *n, "{p}");
            match p["state"].as_str().unwrap() {
                "admitted" => admitted_above = admitted_above.or(Some(*n)),
                "waiting" => {
                    assert!(
                        admitted_above.is_none(),
                        "{n} waits after {admitted_above:?} was admitted"
                    );
                    waiting.push(*n);
                }
                other => panic!("unexpected place {other}: {p}"),
            }
        }
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(format!("{waiting:?}"))
        }
    })
    .await;
    assert_eq!(app.metric("railrush_queue_admitted_total", &[]).await, 35.0);
}

#[tokio::test]
async fn one_account_gets_one_place_however_many_joins_race() {
    let app = quick_app(|s| s.queue.admit_per_minute = 1).await;
    let (sale, _) = open_in(&app, 3).await;
    wait_state(&app, &sale, "open").await;
    let first = verified_user();
    joined(&app, &first, &sale).await;
    let someone = verified_user();
    let places = join_all((0..20).map(|_| joined(&app, &someone, &sale))).await;
    let numbers: HashSet<String> = places.iter().map(|p| p["number"].to_string()).collect();
    assert_eq!(numbers.len(), 1, "{places:?}");
    assert_eq!(status(&app, &sale).await["waiting"], 2);
    let again = place_json(&app, &someone, &sale).await;
    assert_eq!(again["number"].to_string(), *numbers.iter().next().unwrap());
}

#[tokio::test]
async fn select_and_confirm_need_a_valid_pass_of_the_caller_for_the_sale() {
    let app = quick_app(|_| {}).await;
    let (sale, _) = open_in(&app, 3).await;
    wait_state(&app, &sale, "open").await;
    let (alice, bob) = (verified_user(), verified_user());
    joined(&app, &alice, &sale).await;
    joined(&app, &bob, &sale).await;
    let alice_pass = admitted(&app, &alice, &sale).await["pass"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob_pass = admitted(&app, &bob, &sale).await["pass"]
        .as_str()
        .unwrap()
        .to_owned();

    let err = assert_error(
        select_with(&app, &alice, &[1], None).await,
        StatusCode::FORBIDDEN,
        "queue_pass_required",
    )
    .await;
    assert_eq!(err["error"]["details"]["sale_id"], sale.as_str());
    for bad in [
        "",
        "forged",
        &bob_pass,
        &alice_pass.replace(&sale, "20200101T000000Z"),
    ] {
        assert_error(
            select_with(&app, &alice, &[1], Some(bad)).await,
            StatusCode::FORBIDDEN,
            "queue_pass_invalid",
        )
        .await;
    }
    // A pass with one character of its signature changed does not verify.
    let mut chars: Vec<char> = alice_pass.chars().collect();
    let i = chars.len() - 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    assert_error(
        select_with(&app, &alice, &[1], Some(&tampered)).await,
        StatusCode::FORBIDDEN,
        "queue_pass_invalid",
    )
    .await;
    assert!(app.seat_map().await.values().all(|s| s == "available"));

    let res = select_with(&app, &alice, &[1, 2], Some(&alice_pass)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let hold: Value = res.json().await.unwrap();
    let confirm = |pass: Option<String>| {
        let mut req = app
            .request(reqwest::Method::POST, "/api/bookings/seats/confirm")
            .bearer_auth(&alice.token)
            .json(&json!({"hold_id": hold["hold_id"], "passengers": [{"name": "A"}, {"name": "B"}], "payment_token": "tok_visa"}));
        if let Some(pass) = pass {
            req = req.header("x-queue-pass", pass);
        }
        req.send()
    };
    assert_error(
        confirm(None).await.unwrap(),
        StatusCode::FORBIDDEN,
        "queue_pass_required",
    )
    .await;
    assert_error(
        confirm(Some(bob_pass)).await.unwrap(),
        StatusCode::FORBIDDEN,
        "queue_pass_invalid",
    )
    .await;
    let res = confirm(Some(alice_pass)).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    assert!(
        app.metric(
            "railrush_queue_passes_refused_total",
            &[("reason", "missing")]
        )
        .await
            >= 2.0
    );
    assert!(
        app.metric(
            "railrush_queue_passes_refused_total",
            &[("reason", "other_user")]
        )
        .await
            >= 2.0
    );
}

#[tokio::test]
async fn an_expired_pass_is_refused_and_the_place_says_expired() {
    let app = quick_app(|s| s.queue.pass_ttl_secs = 1).await;
    let (sale, _) = open_in(&app, 3).await;
    wait_state(&app, &sale, "open").await;
    let alice = verified_user();
    joined(&app, &alice, &sale).await;
    let pass = admitted(&app, &alice, &sale).await["pass"]
        .as_str()
        .unwrap()
        .to_owned();
    poll("the pass to run out", || async {
        let p = place_json(&app, &alice, &sale).await;
        if p["state"] == "expired" {
            Ok(p)
        } else {
            Err(p)
        }
    })
    .await;
    assert_error(
        select_with(&app, &alice, &[1], Some(&pass)).await,
        StatusCode::FORBIDDEN,
        "queue_pass_invalid",
    )
    .await;
    // Joining again queues at the back with a new number.
    let again = joined(&app, &alice, &sale).await;
    assert_eq!(again["number"], 2, "{again}");
}

#[tokio::test]
async fn joining_needs_a_verified_phone_and_nid() {
    let app = quick_app(|_| {}).await;
    let (sale, _) = open_in(&app, 600).await;
    let err = assert_error(
        join(&app, &user(), &sale).await,
        StatusCode::FORBIDDEN,
        "verification_required",
    )
    .await;
    assert_eq!(err["error"]["details"]["missing"], json!(["phone", "nid"]));
    let id = uuid::Uuid::new_v4();
    let phone_only = User {
        id,
        token: sign_claims(id, "user", true, false, &keys().unwrap().private).unwrap(),
    };
    let err = assert_error(
        join(&app, &phone_only, &sale).await,
        StatusCode::FORBIDDEN,
        "verification_required",
    )
    .await;
    assert_eq!(err["error"]["details"]["missing"], json!(["nid"]));
}

#[tokio::test]
async fn joining_before_the_pre_queue_or_an_unknown_sale_is_refused() {
    let app = quick_app(|s| s.queue.pre_queue_mins = 1).await;
    let (sale, _) = open_in(&app, 3_600).await;
    assert_eq!(status(&app, &sale).await["state"], "upcoming");
    let someone = verified_user();
    assert_error(
        join(&app, &someone, &sale).await,
        StatusCode::CONFLICT,
        "queue_closed",
    )
    .await;
    assert_error(
        place(&app, &someone, &sale).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for unknown in ["20200101T000000Z", "nonsense", "+0261210T020000Z"] {
        let res = app.get(&format!("/api/queue/sales/{unknown}")).await;
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_error(
            join(&app, &someone, unknown).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // No room while upcoming: select is still judged by the opening alone.
    assert_error(
        select_with(&app, &someone, &[1], None).await,
        StatusCode::CONFLICT,
        "sales_not_open",
    )
    .await;
}

#[tokio::test]
async fn sold_out_reaches_every_waiting_user_at_once() {
    let app = quick_app(|s| s.queue.admit_per_minute = 1).await;
    let (sale, _) = open_in(&app, 3).await;
    wait_state(&app, &sale, "open").await;
    let waiting: Vec<User> = (0..5).map(|_| verified_user()).collect();
    for u in &waiting {
        joined(&app, u, &sale).await;
    }
    // Every seat of the sale is sold (train-service counts them from booking events).
    app.train
        .db()
        .await
        .execute(
            "UPDATE trip_classes SET seats_sold = seats_total WHERE trip_id = $1",
            &[&app.trip],
        )
        .await
        .unwrap();
    wait_state(&app, &sale, "sold_out").await;
    for u in &waiting {
        assert_eq!(place_json(&app, u, &sale).await["state"], "sold_out");
    }
    assert_error(
        join(&app, &verified_user(), &sale).await,
        StatusCode::CONFLICT,
        "sold_out",
    )
    .await;
}

#[tokio::test]
async fn a_user_who_stops_asking_loses_the_place_and_a_drained_room_ends() {
    // One admission every 3 s: the first comes when `gone`, who joined right after the
    // opening and never asked again, has been silent for more than a second.
    let app = quick_app(|s| {
        s.queue.admit_per_minute = 20;
        s.queue.stale_after_secs = 1;
        s.queue.end_after_secs = 1;
    })
    .await;
    let (sale, _) = open_in(&app, 3).await;
    wait_state(&app, &sale, "open").await;
    let (gone, present) = (verified_user(), verified_user());
    joined(&app, &gone, &sale).await;
    joined(&app, &present, &sale).await;
    admitted(&app, &present, &sale).await;
    assert_eq!(place_json(&app, &gone, &sale).await["state"], "expired");
    assert!(app.metric("railrush_queue_places_lost_total", &[]).await >= 1.0);
    // Everyone had their turn: the room ends and select needs no pass any more.
    poll("the room to end", || async {
        let s = status(&app, &sale).await;
        if s["waiting_room"] == false {
            Ok(s)
        } else {
            Err(s)
        }
    })
    .await;
    // Joining an ended room lets the caller in at once.
    let late = verified_user();
    assert_eq!(joined(&app, &late, &sale).await["state"], "admitted");
    assert_eq!(place_json(&app, &late, &sale).await["state"], "admitted");
    // So does joining again after losing one's place in it.
    assert_eq!(joined(&app, &gone, &sale).await["state"], "admitted");
    assert_eq!(place_json(&app, &gone, &sale).await["state"], "admitted");
    poll("select without a pass", || async {
        let res = select_with(&app, &user(), &[5], None).await;
        if res.status() == StatusCode::CREATED {
            Ok(())
        } else {
            Err(res.text().await.unwrap())
        }
    })
    .await;
}

#[tokio::test]
async fn a_sale_already_open_has_no_room_and_joining_it_admits_at_once() {
    let app = quick_app(|_| {}).await;
    // The test trip's default opening is days ago: on sale, no waiting room.
    let sales = app.get_json("/api/queue/sales").await;
    let sale = sales["sales"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["trip_ids"].as_array().unwrap().contains(&json!(app.trip)))
        .unwrap()
        .clone();
    assert_eq!(sale["state"], "open", "{sale}");
    assert_eq!(sale["waiting_room"], false, "{sale}");
    let id = sale["sale_id"].as_str().unwrap();
    let someone = verified_user();
    let p = joined(&app, &someone, id).await;
    assert_eq!(p["state"], "admitted", "{p}");
    assert!(p["pass"].is_string());
    assert_eq!(place_json(&app, &someone, id).await["state"], "admitted");
    // Clients that never heard of the waiting room book as before.
    let res = select_with(&app, &user(), &[3], None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_passenger_is_limited_per_minute_on_select_and_join() {
    let app = spawn_app_with(|s| {
        s.user_limits.select_per_minute = 3;
        s.user_limits.join_per_minute = 2;
    })
    .await;
    let sale = app.get_json("/api/queue/sales").await["sales"][0]["sale_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Counted per fixed minute: try again if the minute turned during an attempt.
    for attempt in 0.. {
        let someone = verified_user();
        let minute = Utc::now().timestamp() / 60;
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(select_with(&app, &someone, &[999], None).await.status());
        }
        let mut joins = Vec::new();
        for _ in 0..3 {
            joins.push(join(&app, &someone, &sale).await);
        }
        if Utc::now().timestamp() / 60 != minute && attempt < 2 {
            continue;
        }
        assert_eq!(statuses[..3], [StatusCode::NOT_FOUND; 3]);
        let last_join = joins.pop().unwrap();
        assert!(joins.iter().all(|r| r.status() == StatusCode::OK));
        assert_error(last_join, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        let res = select_with(&app, &someone, &[999], None).await;
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        // Another passenger is not affected.
        assert_eq!(
            select_with(&app, &user(), &[999], None).await.status(),
            StatusCode::NOT_FOUND
        );
        break;
    }
}
