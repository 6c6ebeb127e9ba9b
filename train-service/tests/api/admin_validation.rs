use crate::admin::{train_body, trip_body, with_stations};
use crate::helpers::{assert_invalid, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn admin_input_is_validated_field_by_field() {
    let app = spawn_app().await;
    let admin = with_stations(&app).await;
    assert_eq!(
        app.with_token(&admin)
            .post_json("/api/trains/trains", &train_body("709"))
            .await
            .status(),
        StatusCode::CREATED
    );
    let station = |code: &str, name: &str| json!({"code": code, "name": name});
    for (body, field) in [
        (station("dhk", "Dhaka"), "code"),
        (station("DHKA", "Dhaka"), "code"),
        (station("KHL", "  "), "name"),
        (json!({"code": "KHL"}), "name"),
        (json!({"code": 5, "name": "x"}), "code"),
    ] {
        assert_invalid(
            app.with_token(&admin)
                .post_json("/api/trains/stations", &body)
                .await,
            field,
        )
        .await;
    }
    let train =
        |coaches: Value| json!({"number": "710", "name": "Kalni Express", "coaches": coaches});
    for (body, field) in [
        (
            json!({"number": "7 10", "name": "x", "coaches": [{"code": "KA", "class": "SHOVAN", "seats": 1}]}),
            "number",
        ),
        (train(json!([])), "coaches"),
        (
            train(json!([{"code": "KA", "class": "FIRST", "seats": 2}])),
            "coaches[0].class",
        ),
        (
            train(json!([{"code": "KA", "class": "SHOVAN", "seats": 0}])),
            "coaches[0].seats",
        ),
        (
            train(json!([{"code": "KA", "class": "SHOVAN", "seats": 1000}])),
            "coaches[0].seats",
        ),
        (
            train(
                json!([{"code": "KA", "class": "SHOVAN", "seats": 2}, {"code": "KA", "class": "SHOVAN", "seats": 2}]),
            ),
            "coaches[1].code",
        ),
        (
            train(json!([{"code": "k1", "class": "SHOVAN", "seats": 2}])),
            "coaches[0].code",
        ),
    ] {
        assert_invalid(
            app.with_token(&admin)
                .post_json("/api/trains/trains", &body)
                .await,
            field,
        )
        .await;
    }
    let good = trip_body("709", "2030-01-01T01:00:00Z", "2030-01-01T07:00:00Z");
    let with = |key: &str, value: Value| {
        let mut b = good.clone();
        b[key] = value;
        b
    };
    for (body, field) in [
        (with("train_number", json!("999")), "train_number"),
        (with("from", json!("XYZ")), "from"),
        (with("to", json!("DHK")), "to"),
        (with("to", json!("sylhet")), "to"),
        (
            with("arrives_at", json!("2030-01-01T00:00:00Z")),
            "arrives_at",
        ),
        (
            with("arrives_at", json!("2030-01-01T01:00:00Z")),
            "arrives_at",
        ),
        (with("departs_at", json!("tomorrow")), "departs_at"),
        (with("fares", json!({"SNIGDHA": 62_000})), "fares.SHOVAN"),
        (
            with("fares", json!({"SNIGDHA": 62_000, "SHOVAN": 0})),
            "fares.SHOVAN",
        ),
        (
            with("fares", json!({"SNIGDHA": 62_000, "SHOVAN": 1, "AC_B": 9})),
            "fares.AC_B",
        ),
        (
            with("fares", json!({"SNIGDHA": 62_000, "SHOVAN": 1, "FIRST": 9})),
            "fares.FIRST",
        ),
    ] {
        assert_invalid(
            app.with_token(&admin)
                .post_json("/api/trains/trips", &body)
                .await,
            field,
        )
        .await;
    }
}
