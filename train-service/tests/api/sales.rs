//! `sales_open_at`: carried by Trip, TripDetail and the inventory; the default rule; the
//! admin's create and move; where the seed puts it; the inventory's ETag follows it.

use crate::admin::{train_body, trip_body, with_stations};
use crate::helpers::{
    Catalogue, TestApp, assert_error, assert_invalid, service_date, spawn_app, token,
};
use chrono::{DateTime, NaiveDate, Utc};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use train_service::seed::{self, SeedOptions};

/// The default rule: 08:00 Asia/Dhaka (02:00 UTC), 10 days before the service date.
fn default_rule(date: NaiveDate) -> String {
    format!("{}T02:00:00Z", date - chrono::Days::new(10))
}

/// `PUT path` with a JSON body, as `token` (or anonymously).
async fn put(app: &TestApp, token: Option<&str>, path: &str, body: &Value) -> Response {
    let request = app.request(Method::PUT, path).json(body);
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.unwrap()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn trip_trip_detail_and_inventory_carry_sales_open_at() {
    let app = spawn_app().await;
    let trips = app.seeded_trips().await;
    let trip = &trips[0];
    assert_eq!(trip["sales_open_at"], default_rule(service_date(1)));
    let id = trip["trip_id"].as_i64().unwrap();
    let detail = app.get_json(&format!("/api/trains/trips/{id}")).await;
    assert_eq!(detail["sales_open_at"], trip["sales_open_at"]);
    let inventory = app
        .get_json(&format!("/internal/trips/{id}/inventory"))
        .await;
    assert_eq!(inventory["sales_open_at"], trip["sales_open_at"]);
}

async fn admin_with_train(app: &TestApp) -> String {
    let admin = with_stations(app).await;
    let res = app
        .with_token(&admin)
        .post_json("/api/trains/trains", &train_body("709"))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    admin
}

async fn create_trip(app: &TestApp, admin: &str, body: &Value) -> Value {
    let res = app
        .with_token(admin)
        .post_json("/api/trains/trips", body)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

#[tokio::test]
async fn admin_trip_creation_takes_sales_open_at_or_applies_the_default_rule() {
    let app = spawn_app().await;
    let admin = admin_with_train(&app).await;
    // 23:30 UTC is the next day in Dhaka: the rule counts from the Dhaka date.
    let body = trip_body("709", "2030-01-10T23:30:00Z", "2030-01-11T05:00:00Z");
    let trip = create_trip(&app, &admin, &body).await;
    assert_eq!(trip["sales_open_at"], "2030-01-01T02:00:00Z");

    let mut body = trip_body("709", "2030-02-10T01:00:00Z", "2030-02-10T07:00:00Z");
    body["sales_open_at"] = json!("2030-02-09T12:00:00+06:00");
    let trip = create_trip(&app, &admin, &body).await;
    assert_eq!(trip["sales_open_at"], "2030-02-09T06:00:00Z");
    let detail = app
        .get_json(&format!("/api/trains/trips/{}", trip["trip_id"]))
        .await;
    assert_eq!(detail["sales_open_at"], "2030-02-09T06:00:00Z");

    for bad in [json!("soon"), json!(12), json!("2030-03-10T01:00:00Z")] {
        let mut body = trip_body("709", "2030-03-01T01:00:00Z", "2030-03-01T07:00:00Z");
        body["sales_open_at"] = bad;
        let res = app
            .with_token(&admin)
            .post_json("/api/trains/trips", &body)
            .await;
        assert_invalid(res, "sales_open_at").await;
    }
}

#[tokio::test]
async fn an_admin_moves_the_opening_of_one_trip() {
    let app = spawn_app().await;
    let trips = app.seeded_trips().await;
    let (trip, other) = (&trips[0], &trips[1]);
    let id = trip["trip_id"].as_i64().unwrap();
    let path = format!("/api/trains/admin/trips/{id}/sales");
    let admin = token("admin");
    let later = (Utc::now() + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();

    let res = put(&app, Some(&admin), &path, &json!({"sales_open_at": later})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let moved: Value = res.json().await.unwrap();
    assert_eq!(moved["trip_id"], id);
    assert_eq!(moved["sales_open_at"], later);
    assert_eq!(moved["classes"], trip["classes"]);
    let detail = app.get_json(&format!("/api/trains/trips/{id}")).await;
    assert_eq!(detail["sales_open_at"], later);
    let inventory = app
        .get_json(&format!("/internal/trips/{id}/inventory"))
        .await;
    assert_eq!(inventory["sales_open_at"], later);
    let search = app
        .get_json(&format!(
            "/api/trains/search?from=DHK&to=CTG&date={}",
            service_date(1)
        ))
        .await;
    assert_eq!(
        search["trips"][0]["sales_open_at"], later,
        "cache invalidated"
    );
    assert_eq!(search["trips"][1]["sales_open_at"], other["sales_open_at"]);

    let body = json!({"sales_open_at": later});
    let res = put(&app, None, &path, &body).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = put(&app, Some(&token("user")), &path, &body).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = put(
        &app,
        Some(&admin),
        "/api/trains/admin/trips/999999/sales",
        &body,
    )
    .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    for bad in [
        json!({"sales_open_at": "tomorrow"}),
        json!({"sales_open_at": null}),
        json!({}),
        json!({"sales_open_at": trip["arrives_at"]}),
    ] {
        let res = put(&app, Some(&admin), &path, &bad).await;
        assert_invalid(res, "sales_open_at").await;
    }
    let detail = app.get_json(&format!("/api/trains/trips/{id}")).await;
    assert_eq!(
        detail["sales_open_at"], later,
        "refused changes change nothing"
    );
}

/// `(day offset, sales_open_at)` of every trip, by date.
async fn openings(app: &TestApp) -> Vec<(i64, DateTime<Utc>)> {
    let db = app.db().await;
    db.query(
        "SELECT service_date - (now() AT TIME ZONE 'Asia/Dhaka')::date, sales_open_at \
         FROM trips ORDER BY service_date, trip_id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (i64::from(r.get::<_, i32>(0)), r.get(1)))
    .collect()
}

fn options(days: i32, rush_in: Option<i32>) -> SeedOptions {
    SeedOptions {
        trains: 2,
        coaches: 1,
        seats: 2,
        days,
        rush_in,
        ..SeedOptions::default()
    }
}

#[tokio::test]
async fn the_seed_puts_nine_days_on_sale_and_later_days_on_the_default_rule() {
    let app = spawn_app().await;
    let pool = servicekit::db::pool(&app.env.database).unwrap();
    seed::run(&pool, &options(12, None)).await.unwrap();
    let now = Utc::now();
    let openings = openings(&app).await;
    assert_eq!(openings.len(), 24);
    for (day, at) in openings {
        if day < 9 {
            assert!(at < now, "day {day} opens at {at}");
        }
        if day >= 9 {
            let date = service_date(day);
            assert_eq!(at, time(&json!(default_rule(date))), "day {day}");
        }
    }
}

#[tokio::test]
async fn rush_in_opens_one_day_minutes_from_now_on_every_run() {
    let app = spawn_app().await;
    let pool = servicekit::db::pool(&app.env.database).unwrap();
    let report = seed::run(&pool, &options(11, Some(5))).await.unwrap();
    assert_eq!((report.trips, report.rush_trips), (22, 2));
    let check = |openings: Vec<(i64, DateTime<Utc>)>| {
        let now = Utc::now();
        for (day, at) in openings {
            match day {
                9 => {
                    let left = at - now;
                    assert!(
                        left > chrono::Duration::minutes(4) && left <= chrono::Duration::minutes(5),
                        "{left}"
                    );
                }
                10 => assert_eq!(at, time(&json!(default_rule(service_date(10))))),
                _ => assert!(at < now, "day {day}"),
            }
        }
    };
    check(openings(&app).await);
    // A rerun adds nothing and moves the rush again; without --rush-in it leaves it alone.
    let report = seed::run(&pool, &options(11, Some(5))).await.unwrap();
    assert_eq!((report.trips, report.rush_trips), (0, 2));
    check(openings(&app).await);
    let report = seed::run(&pool, &options(11, None)).await.unwrap();
    assert_eq!((report.trips, report.rush_trips), (0, 0));
    check(openings(&app).await);

    let refused = seed::run(&pool, &options(5, Some(5))).await;
    assert!(
        refused
            .err()
            .is_some_and(|e| e.to_string().contains("--rush-day 9")),
        "the rush day must be seeded"
    );
}

#[tokio::test]
async fn the_inventory_is_304_to_its_etag_until_the_opening_moves() {
    let app = spawn_app().await;
    let trips = app.seeded_trips().await;
    let id = trips[0]["trip_id"].as_i64().unwrap();
    let path = format!("/internal/trips/{id}/inventory");
    let inventory = |etag: Option<String>| {
        let request = app.request(Method::GET, &path);
        let request = match etag {
            Some(etag) => request.header(reqwest::header::IF_NONE_MATCH, etag),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };
    let etag_of = |res: &Response| {
        res.headers()[reqwest::header::ETAG]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let first = inventory(None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let etag = etag_of(&first);

    let unchanged = inventory(Some(etag.clone())).await;
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(etag_of(&unchanged), etag);
    assert!(unchanged.bytes().await.unwrap().is_empty());
    let other = inventory(Some("\"another\"".into())).await;
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(etag_of(&other), etag);

    let later = (Utc::now() + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let admin = token("admin");
    let moved = put(
        &app,
        Some(&admin),
        &format!("/api/trains/admin/trips/{id}/sales"),
        &json!({"sales_open_at": later}),
    )
    .await;
    assert_eq!(moved.status(), StatusCode::OK);
    let changed = inventory(Some(etag.clone())).await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(etag_of(&changed), etag);
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["sales_open_at"], later);
    assert_eq!(body["seats"], first.json::<Value>().await.unwrap()["seats"]);
}
