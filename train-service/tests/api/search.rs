use crate::helpers::{Catalogue, assert_error, assert_invalid, service_date, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn stations_lists_every_station_with_code_and_name() {
    let app = spawn_app().await;
    let body = app.get_json("/api/trains/stations").await;
    assert_eq!(body, json!({"stations": []}));
    app.seed(1, 1, 4, 1).await;
    let body = app.get_json("/api/trains/stations").await;
    let stations = body["stations"].as_array().unwrap();
    assert!(stations.contains(&json!({"code": "DHK", "name": "Dhaka"})));
    assert!(stations.contains(&json!({"code": "CTG", "name": "Chattogram"})));
    assert!(stations.len() >= 6);
}

#[tokio::test]
async fn search_finds_the_five_seeded_trips_sorted_by_departure() {
    let app = spawn_app().await;
    let trips = app.seeded_trips().await;
    assert_eq!(trips.len(), 5);
    let departures: Vec<&str> = trips
        .iter()
        .map(|t| t["departs_at"].as_str().unwrap())
        .collect();
    let mut sorted = departures.clone();
    sorted.sort();
    assert_eq!(departures, sorted);
    let first = &trips[0];
    assert_eq!(
        first["train"],
        json!({"number": "787", "name": "Sonar Bangla Express"})
    );
    assert_eq!(
        (first["from"].as_str(), first["to"].as_str()),
        (Some("DHK"), Some("CTG"))
    );
    assert!(first["trip_id"].as_i64().unwrap() > 0);
    assert!(
        departures[0].ends_with('Z'),
        "RFC 3339 UTC: {}",
        departures[0]
    );
    let departs = chrono::DateTime::parse_from_rfc3339(departures[0]).unwrap();
    let arrives =
        chrono::DateTime::parse_from_rfc3339(first["arrives_at"].as_str().unwrap()).unwrap();
    assert!(arrives > departs);
    let classes: Vec<&str> = first["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["AC_B", "AC_S", "SNIGDHA", "S_CHAIR", "SHOVAN"]);
    for c in first["classes"].as_array().unwrap() {
        assert_eq!(c["seats_total"], 55);
        assert_eq!(c["seats_available"], 55);
        assert!(c["fare"].as_i64().unwrap() >= 30_000);
    }
    assert_eq!(
        first["classes"][3],
        json!({"class": "S_CHAIR", "fare": 40_500, "seats_total": 55, "seats_available": 55})
    );
}

#[tokio::test]
async fn search_of_a_route_or_day_without_trips_is_empty() {
    let app = spawn_app().await;
    app.seed(2, 2, 4, 2).await;
    for query in [
        format!("from=CTG&to=DHK&date={}", service_date(1)),
        format!("from=DHK&to=CTG&date={}", service_date(30)),
        format!("from=DHK&to=SYL&date={}", service_date(1)),
    ] {
        let body = app.get_json(&format!("/api/trains/search?{query}")).await;
        assert_eq!(body, json!({"trips": []}), "{query}");
    }
}

#[tokio::test]
async fn search_validates_every_parameter_and_names_it() {
    let app = spawn_app().await;
    app.seed(1, 1, 4, 1).await;
    let day = service_date(1);
    for (query, field) in [
        (format!("to=CTG&date={day}"), "from"),
        (format!("from=DHK&date={day}"), "to"),
        ("from=DHK&to=CTG".to_owned(), "date"),
        (String::new(), "from"),
        (format!("from=XYZ&to=CTG&date={day}"), "from"),
        (format!("from=DHK&to=QQQ&date={day}"), "to"),
        (format!("from=DHAKA&to=CTG&date={day}"), "from"),
        (format!("from=DHK&to=DHK&date={day}"), "to"),
        ("from=DHK&to=CTG&date=2026-02-30".to_owned(), "date"),
        ("from=DHK&to=CTG&date=2026-13-01".to_owned(), "date"),
        ("from=DHK&to=CTG&date=tomorrow".to_owned(), "date"),
        ("from=DHK&to=CTG&date=2026-1-5".to_owned(), "date"),
        ("from=DHK&to=CTG&date=".to_owned(), "date"),
    ] {
        let res = app.get(&format!("/api/trains/search?{query}")).await;
        assert_invalid(res, field).await;
    }
    let res = app
        .get(&format!("/api/trains/search?from=dhk&to=ctg&date={day}"))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "codes are case-insensitive in search"
    );
    let res = app
        .get("/api/trains/search?from=DHK&from=CTG&to=CTG&date=2026-01-01")
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn repeated_searches_are_served_from_the_cache() {
    let app = spawn_app().await;
    app.seed(2, 1, 4, 2).await;
    let path = format!(
        "/api/trains/search?from=DHK&to=CTG&date={}",
        service_date(1)
    );
    let first = app.get_json(&path).await;
    let second = app.get_json(&path).await;
    assert_eq!(first, second);
    assert_eq!(
        app.metric("railrush_search_cache_lookups_total", &[("result", "hit")])
            .await,
        1.0
    );
    assert_eq!(
        app.metric("railrush_search_cache_lookups_total", &[("result", "miss")])
            .await,
        1.0
    );
}

#[tokio::test]
async fn search_still_answers_from_postgres_when_redis_is_down() {
    let app = crate::helpers::spawn_unready_app_with(|s| {
        s.redis.url = "redis://127.0.0.1:1".to_owned().into();
    })
    .await;
    app.seed(2, 1, 4, 2).await;
    let path = format!(
        "/api/trains/search?from=DHK&to=CTG&date={}",
        service_date(1)
    );
    let body = app.get_json(&path).await;
    assert_eq!(body["trips"].as_array().unwrap().len(), 2);
    crate::helpers::eventually("readiness to report redis as degraded", || async {
        let res = app.get("/health/ready").await;
        assert_eq!(res.status(), StatusCode::OK, "search works without redis");
        let body: serde_json::Value = res.json().await.unwrap();
        body == json!({"status": "degraded", "degraded": ["redis"]})
    })
    .await;
}
