//! The `/api/trains` routes of `docs/api.md` and the internal inventory route (not under `/api`,
//! so the gateway never exposes it).

mod admin;
mod search;
mod trips;

use serde_json::json;
use servicekit::error::Code;
use servicekit::openapi::{Api, array, object, schema, wrapped};

/// Three letters (case does not matter: the service upper-cases them).
fn station_code() -> serde_json::Value {
    json!({ "type": "string", "pattern": "^[A-Za-z]{3}$", "example": "DHK" })
}

/// Every route of train-service, registered once for actix and the OpenAPI document.
pub fn api() -> Api {
    let mut api = Api::new("train-service", "/api/trains");
    let station = || {
        json!({ "type": "object", "required": ["code", "name"],
        "properties": { "code": { "type": "string" }, "name": { "type": "string" } } })
    };
    api.get("/stations", search::stations)
        .summary("Every station")
        .answers(
            200,
            "The stations",
            Some(wrapped("stations", array(station()))),
        );
    api.post("/stations", admin::create_station)
        .summary("Create a station (admin)")
        .auth()
        .idempotent()
        .body(schema::<admin::StationBody>())
        .answers(201, "The station", Some(station()))
        .errors(&[Code::Forbidden, Code::AlreadyExists]);
    api.get("/search", search::search)
        .summary("Trips between two stations on a date, by departure")
        .query("from", true, station_code(), "Station code, like DHK")
        .query("to", true, station_code(), "Station code, like CTG")
        .query(
            "date",
            true,
            json!({ "type": "string", "format": "date" }),
            "YYYY-MM-DD",
        )
        .answers(200, "The trips", Some(wrapped("trips", array(object()))));
    api.post("/trains", admin::create_train)
        .summary("Create a train with its coaches (admin)")
        .auth()
        .idempotent()
        .body(schema::<admin::TrainBody>())
        .answers(201, "The train", Some(object()))
        .errors(&[Code::Forbidden, Code::AlreadyExists]);
    api.post("/trips", admin::create_trip)
        .summary("Create a trip (admin)")
        .auth()
        .idempotent()
        .body(schema::<admin::TripBody>())
        .answers(201, "The trip", Some(object()))
        .errors(&[Code::Forbidden, Code::AlreadyExists, Code::NotFound]);
    api.get("/trips/{trip_id}", trips::detail)
        .summary("A trip with its coaches, seats and fares")
        .answers(200, "TripDetail", Some(object()));
    api.put("/admin/trips/{trip_id}/sales", admin::move_sales)
        .summary("Move a trip's sales opening, close or reopen its sales (admin)")
        .description(
            "Takes `sales_open_at`, `sales_closed` or both (at least one). While \
             `sales_closed` is true booking-service refuses new holds with 409 `sales_closed`.",
        )
        .auth()
        .body(schema::<admin::SalesBody>())
        .answers(
            200,
            "The trip with its sales_open_at and sales_closed",
            Some(object()),
        )
        .errors(&[Code::Forbidden, Code::NotFound]);
    // Not under /api: the gateway never routes it; booking-service reads it.
    api.prefix("")
        .get("/internal/trips/{trip_id}/inventory", trips::inventory)
        .summary("A trip's seats and fares for booking-service (internal)")
        .answers(200, "The inventory, with its ETag", Some(object()))
        .answers(304, "Unchanged: If-None-Match named the current ETag", None)
        .internal();
    api.get("/internal/trips", trips::on_date)
        .summary("The trips of a service date with their seats per class (internal)")
        .query(
            "date",
            true,
            json!({ "type": "string", "format": "date" }),
            "YYYY-MM-DD, the departure's date in Asia/Dhaka",
        )
        .answers(200, "The trips", Some(wrapped("trips", array(object()))))
        .internal();
    api.get("/internal/sales", trips::sales)
        .summary("The sales: trips grouped by their opening, with seats in all and sold (internal)")
        .answers(200, "The sales", Some(wrapped("sales", array(object()))))
        .internal();
    api
}
