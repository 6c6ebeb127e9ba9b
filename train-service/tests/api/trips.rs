use crate::helpers::{Catalogue, assert_error, assert_invalid, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn trip_detail_lists_coaches_in_order_with_labelled_seats_and_fares() {
    let app = spawn_app().await;
    let trips = app.seeded_trips().await;
    let trip = &trips[0];
    let id = trip["trip_id"].as_i64().unwrap();
    let detail = app.get_json(&format!("/api/trains/trips/{id}")).await;
    for key in [
        "trip_id",
        "train",
        "from",
        "to",
        "departs_at",
        "arrives_at",
        "classes",
    ] {
        assert_eq!(detail[key], trip[key], "{key}");
    }
    let coaches = detail["coaches"].as_array().unwrap();
    let codes: Vec<&str> = coaches
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["KA", "KHA", "GA", "GHA", "UMA"]);
    assert_eq!(coaches[0]["class"], "AC_B");
    assert_eq!(coaches[3]["class"], "S_CHAIR");
    let all: Vec<&Value> = coaches
        .iter()
        .flat_map(|c| c["seats"].as_array().unwrap())
        .collect();
    assert_eq!(all.len(), 275);
    for (i, seat) in all.iter().enumerate() {
        assert_eq!(seat["seat_id"], i + 1);
    }
    assert_eq!(
        coaches[0]["seats"][0],
        json!({"seat_id": 1, "label": "KA-1", "fare": 139_800})
    );
    assert_eq!(coaches[0]["seats"][54]["label"], "KA-55");
    assert_eq!(
        coaches[1]["seats"][0],
        json!({"seat_id": 56, "label": "KHA-1", "fare": 93_200})
    );
    assert_eq!(coaches[3]["seats"][11]["label"], "GHA-12");
    assert_eq!(coaches[3]["seats"][11]["fare"], 40_500);
}

#[tokio::test]
async fn unknown_trips_are_404_and_bad_ids_4xx_in_the_error_shape() {
    let app = spawn_app().await;
    app.seed(1, 1, 4, 1).await;
    for base in ["/api/trains/trips", "/internal/trips"] {
        let suffix = if base.starts_with("/internal") {
            "/inventory"
        } else {
            ""
        };
        for id in ["999999", "0", "-1", "99999999999999999999999999"] {
            let res = app.get(&format!("{base}/{id}{suffix}")).await;
            assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
        }
        for id in ["abc", "1.5", "1e3", "%20", "+5", "%2B5"] {
            let res = app.get(&format!("{base}/{id}{suffix}")).await;
            assert_invalid(res, "trip_id").await;
        }
    }
}

#[tokio::test]
async fn inventory_gives_booking_service_every_seat_with_coach_class_and_fare() {
    let app = spawn_app().await;
    let trips = app.seeded_trips().await;
    let trip = &trips[4];
    let id = trip["trip_id"].as_i64().unwrap();
    let inv = app
        .get_json(&format!("/internal/trips/{id}/inventory"))
        .await;
    assert_eq!(inv["trip_id"], id);
    for key in ["departs_at", "arrives_at", "from", "to", "train"] {
        assert_eq!(inv[key], trip[key], "{key}");
    }
    assert_eq!(
        inv["train"],
        json!({"number": "741", "name": "Turna Express"})
    );
    assert_eq!(inv["currency"], "BDT");
    let seats = inv["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 275);
    assert_eq!(
        seats[0],
        json!({"seat_id": 1, "label": "KA-1", "coach": "KA", "class": "AC_B", "fare": 139_800})
    );
    assert_eq!(
        seats[274],
        json!({"seat_id": 275, "label": "UMA-55", "coach": "UMA", "class": "SHOVAN", "fare": 32_000})
    );
    assert!(
        seats
            .windows(2)
            .all(|w| w[0]["seat_id"].as_i64() < w[1]["seat_id"].as_i64())
    );
    let res = app
        .get(&format!("/api/trains/internal/trips/{id}/inventory"))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}
