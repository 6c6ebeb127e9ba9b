//! `sales_closed`: the admin closes and reopens a trip's sales (with or without moving its
//! opening); Trip, TripDetail, the inventory and search carry it. And the internal list of a
//! date's trips that booking-service's sales overview reads.

use crate::helpers::{
    Catalogue, TestApp, assert_error, assert_invalid, service_date, spawn_app, token,
};
use chrono::Utc;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

async fn put(app: &TestApp, token: &str, path: &str, body: &Value) -> Response {
    app.request(Method::PUT, path)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn ok(res: Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `sales_closed` of trip `id` as detail, inventory and search tell it.
async fn closed_everywhere(app: &TestApp, id: i64) -> [Value; 3] {
    let detail = app.get_json(&format!("/api/trains/trips/{id}")).await;
    let inventory = app
        .get_json(&format!("/internal/trips/{id}/inventory"))
        .await;
    let search = app
        .get_json(&format!(
            "/api/trains/search?from=DHK&to=CTG&date={}",
            service_date(1)
        ))
        .await;
    let found = search["trips"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["trip_id"] == id)
        .unwrap()
        .clone();
    [
        detail["sales_closed"].clone(),
        inventory["sales_closed"].clone(),
        found["sales_closed"].clone(),
    ]
}

#[tokio::test]
async fn an_admin_closes_and_reopens_a_trips_sales() {
    let app = spawn_app().await;
    let trips = app.seeded_trips().await;
    let (trip, other) = (&trips[0], &trips[1]);
    assert_eq!(trip["sales_closed"], false);
    let id = trip["trip_id"].as_i64().unwrap();
    let path = format!("/api/trains/admin/trips/{id}/sales");
    let admin = token("admin");
    assert_eq!(
        closed_everywhere(&app, id).await,
        [json!(false), json!(false), json!(false)]
    );

    let closed = ok(put(&app, &admin, &path, &json!({"sales_closed": true})).await).await;
    assert_eq!(closed["trip_id"], id);
    assert_eq!(closed["sales_closed"], true);
    assert_eq!(
        closed["sales_open_at"], trip["sales_open_at"],
        "the opening stays"
    );
    assert_eq!(
        closed_everywhere(&app, id).await,
        [json!(true), json!(true), json!(true)]
    );
    let other_id = other["trip_id"].as_i64().unwrap();
    assert_eq!(
        closed_everywhere(&app, other_id).await,
        [json!(false), json!(false), json!(false)]
    );

    // Both fields at once.
    let later = (Utc::now() + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let both = json!({"sales_open_at": later, "sales_closed": false});
    let reopened = ok(put(&app, &admin, &path, &both).await).await;
    assert_eq!(reopened["sales_closed"], false);
    assert_eq!(reopened["sales_open_at"], later);
    assert_eq!(
        closed_everywhere(&app, id).await,
        [json!(false), json!(false), json!(false)]
    );

    // A refused opening changes nothing, the close included.
    let refused = json!({"sales_open_at": trip["arrives_at"], "sales_closed": true});
    assert_invalid(put(&app, &admin, &path, &refused).await, "sales_open_at").await;
    let detail = app.get_json(&format!("/api/trains/trips/{id}")).await;
    assert_eq!(detail["sales_closed"], false);
    assert_eq!(detail["sales_open_at"], later);

    let res = put(&app, &admin, &path, &json!({"sales_closed": "yes"})).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    let res = put(&app, &admin, &path, &json!({"sales_closed": null})).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    let res = put(&app, &token("user"), &path, &json!({"sales_closed": true})).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = put(
        &app,
        &admin,
        "/api/trains/admin/trips/999999/sales",
        &json!({"sales_closed": true}),
    )
    .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        closed_everywhere(&app, id).await,
        [json!(false), json!(false), json!(false)]
    );
}

#[tokio::test]
async fn the_internal_trips_of_a_date_are_every_trip_with_its_seats_per_class() {
    let app = spawn_app().await;
    app.seed(5, 5, 55, 2).await;
    let date = service_date(1);
    let body = app.get_json(&format!("/internal/trips?date={date}")).await;
    assert_eq!(body["date"], date.to_string());
    let trips = body["trips"].as_array().unwrap();
    assert_eq!(trips.len(), 5);
    let departures: Vec<&str> = trips
        .iter()
        .map(|t| t["departs_at"].as_str().unwrap())
        .collect();
    assert!(
        departures.windows(2).all(|w| w[0] <= w[1]),
        "{departures:?}"
    );
    for trip in trips {
        let seats: i64 = trip["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["seats_total"].as_i64().unwrap())
            .sum();
        assert_eq!(seats, 275, "{trip}");
        assert_eq!(trip["sales_closed"], false);
        assert!(trip["train"]["name"].is_string(), "{trip}");
    }
    let later = service_date(30);
    let none = app.get_json(&format!("/internal/trips?date={later}")).await;
    assert_eq!(none["trips"], json!([]));
    for bad in ["", "?date=", "?date=2026-13-01", "?date=1/2/2026"] {
        let res = app.get(&format!("/internal/trips{bad}")).await;
        assert_invalid(res, "date").await;
    }
}
