use crate::helpers::{TestApp, assert_error, service_date, spawn_app, token, token_signed_by};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub fn train_body(number: &str) -> Value {
    json!({"number": number, "name": "Parabat Express", "coaches": [
        {"code": "KA", "class": "SNIGDHA", "seats": 3},
        {"code": "KHA", "class": "SHOVAN", "seats": 2},
    ]})
}

pub fn trip_body(number: &str, departs: &str, arrives: &str) -> Value {
    json!({"train_number": number, "from": "DHK", "to": "SYL",
           "departs_at": departs, "arrives_at": arrives,
           "fares": {"SNIGDHA": 62_000, "SHOVAN": 26_500}})
}

pub async fn with_stations(app: &TestApp) -> String {
    let admin = token("admin");
    for (code, name) in [("DHK", "Dhaka"), ("SYL", "Sylhet")] {
        let res = app
            .with_token(&admin)
            .post_json("/api/trains/stations", &json!({"code": code, "name": name}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    admin
}

#[tokio::test]
async fn admin_endpoints_need_a_valid_token_and_the_admin_role() {
    let app = spawn_app().await;
    let keys = servicekit::testing::keys().unwrap();
    let bodies = [
        (
            "/api/trains/stations",
            json!({"code": "DHK", "name": "Dhaka"}),
        ),
        ("/api/trains/trains", train_body("777")),
        (
            "/api/trains/trips",
            trip_body("777", "2030-01-01T01:00:00Z", "2030-01-01T07:00:00Z"),
        ),
    ];
    for (path, body) in &bodies {
        assert_error(
            app.post_json(path, body).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        let forged = token_signed_by("admin", &keys.other_private);
        let res = app.with_token(&forged).post_json(path, body).await;
        assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let res = app.with_token("not.a.jwt").post_json(path, body).await;
        assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        for role in ["user", "conductor"] {
            let res = app.with_token(&token(role)).post_json(path, body).await;
            assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        }
    }
    let count: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM stations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn admin_creates_a_station_a_train_and_a_trip_that_search_then_finds() {
    let app = spawn_app().await;
    let admin = with_stations(&app).await;
    let stations = app.get_json("/api/trains/stations").await;
    assert_eq!(
        stations["stations"][0],
        json!({"code": "DHK", "name": "Dhaka"})
    );

    let res = app
        .with_token(&admin)
        .post_json("/api/trains/trains", &train_body("709"))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let train: Value = res.json().await.unwrap();
    assert_eq!(train["number"], "709");
    assert_eq!(
        train["coaches"][0]["seats"],
        json!([
            {"seat_id": 1, "label": "KA-1"}, {"seat_id": 2, "label": "KA-2"}, {"seat_id": 3, "label": "KA-3"}
        ])
    );
    assert_eq!(
        train["coaches"][1],
        json!({"code": "KHA", "class": "SHOVAN",
        "seats": [{"seat_id": 4, "label": "KHA-1"}, {"seat_id": 5, "label": "KHA-2"}]})
    );

    let day = service_date(3);
    let departs = format!("{day}T00:30:00Z");
    let arrives = format!("{day}T07:15:00+06:00");
    let path = format!("/api/trains/search?from=DHK&to=SYL&date={day}");
    assert_eq!(app.get_json(&path).await["trips"], json!([]));
    let res = app
        .with_token(&admin)
        .post_json("/api/trains/trips", &trip_body("709", &departs, &arrives))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let trip: Value = res.json().await.unwrap();
    assert_eq!(
        trip["train"],
        json!({"number": "709", "name": "Parabat Express"})
    );
    assert_eq!(trip["departs_at"], departs);
    assert_eq!(trip["arrives_at"], format!("{day}T01:15:00Z"));
    assert_eq!(
        trip["classes"],
        json!([
            {"class": "SNIGDHA", "fare": 62_000, "seats_total": 3, "seats_available": 3},
            {"class": "SHOVAN", "fare": 26_500, "seats_total": 2, "seats_available": 2},
        ])
    );
    assert_eq!(
        app.get_json(&path).await["trips"],
        json!([trip]),
        "the cached empty result was invalidated"
    );
    let detail = app
        .get_json(&format!("/api/trains/trips/{}", trip["trip_id"]))
        .await;
    assert_eq!(
        detail["coaches"][1]["seats"][1],
        json!({"seat_id": 5, "label": "KHA-2", "fare": 26_500})
    );
}

#[tokio::test]
async fn duplicates_are_409_already_exists() {
    let app = spawn_app().await;
    let admin = with_stations(&app).await;
    let res = app
        .with_token(&admin)
        .post_json(
            "/api/trains/stations",
            &json!({"code": "DHK", "name": "Dhaka 2"}),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "already_exists").await;
    assert_eq!(
        app.with_token(&admin)
            .post_json("/api/trains/trains", &train_body("709"))
            .await
            .status(),
        StatusCode::CREATED
    );
    let res = app
        .with_token(&admin)
        .post_json("/api/trains/trains", &train_body("709"))
        .await;
    assert_error(res, StatusCode::CONFLICT, "already_exists").await;
    let body = trip_body("709", "2030-01-01T01:00:00Z", "2030-01-01T07:00:00Z");
    assert_eq!(
        app.with_token(&admin)
            .post_json("/api/trains/trips", &body)
            .await
            .status(),
        StatusCode::CREATED
    );
    let same_day = trip_body("709", "2030-01-01T12:00:00Z", "2030-01-01T17:00:00Z");
    let res = app
        .with_token(&admin)
        .post_json("/api/trains/trips", &same_day)
        .await;
    assert_error(res, StatusCode::CONFLICT, "already_exists").await;
}

#[tokio::test]
async fn creating_posts_honour_idempotency_keys() {
    let app = spawn_app().await;
    let admin = with_stations(&app).await;
    let send = |body: Value, key: &'static str| {
        app.client
            .post(app.url("/api/trains/trains"))
            .bearer_auth(&admin)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send(train_body("709"), "k-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send(train_body("709"), "k-1").await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let other = send(train_body("710"), "k-1").await.unwrap();
    assert_error(other, StatusCode::CONFLICT, "idempotency_key_reused").await;
    let trains: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM trains", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(trains, 1);
}
