//! The `/api/bookings` routes of `docs/api.md`.

mod bookings;
mod confirm;
mod seatmap;
mod select;

use serde_json::json;
use servicekit::error::Code;
use servicekit::openapi::{Api, array, schema, uuid, wrapped};

/// Every route of booking-service, registered once for actix and the OpenAPI document.
pub fn api() -> Api {
    let mut api = Api::new("booking-service", "/api/bookings");
    let booking = || Some(schema::<crate::store::Booking>());
    api.post("/seats/select", select::select)
        .summary("Hold 1 to 4 seats of a trip for 5 minutes")
        .auth()
        .idempotent()
        .body(schema::<select::SelectRequest>())
        .answers(
            201,
            "Hold",
            Some(json!({
                "type": "object", "required": ["hold_id", "trip_id", "seat_ids", "expires_at"],
                "properties": {
                    "hold_id": uuid(), "trip_id": { "type": "integer" },
                    "seat_ids": array(json!({ "type": "integer" })),
                    "expires_at": { "type": "string", "format": "date-time" }
                }
            })),
        )
        .link(
            "confirm",
            "postApiBookingsSeatsConfirm",
            serde_json::Value::Null,
            json!({ "hold_id": "$response.body#/hold_id" }),
        )
        .link(
            "release",
            "deleteApiBookingsHoldsHoldId",
            json!({ "hold_id": "$response.body#/hold_id" }),
            serde_json::Value::Null,
        )
        .errors(&[
            Code::NotFound,
            Code::TripDeparted,
            Code::SalesNotOpen,
            Code::SeatUnavailable,
            Code::SeatLimitReached,
        ]);
    api.post("/seats/confirm", confirm::confirm)
        .summary("Turn the caller's hold into a booking (payment due in 10 minutes)")
        .auth()
        .idempotent()
        .body(schema::<confirm::ConfirmRequest>())
        .answers(201, "Booking with status confirmed", booking())
        .link(
            "get",
            "getApiBookingsBookingId",
            json!({ "booking_id": "$response.body#/booking_id" }),
            serde_json::Value::Null,
        )
        .link(
            "cancel",
            "postApiBookingsBookingIdCancel",
            json!({ "booking_id": "$response.body#/booking_id" }),
            serde_json::Value::Null,
        )
        .errors(&[
            Code::NotFound,
            Code::HoldExpired,
            Code::SeatLimitReached,
            Code::SeatUnavailable,
        ]);
    api.delete("/holds/{hold_id}", select::release)
        .summary("Give a hold's seats back (owner only)")
        .auth()
        .path_param("hold_id", uuid())
        .answers(204, "Released", None);
    api.get("/trips/{trip_id}/seats", seatmap::seat_map)
        .summary("Every seat of a trip: available, held or booked")
        .answers(
            200,
            "The seat map",
            Some(json!({
                "type": "object", "required": ["trip_id", "seats"],
                "properties": {
                    "trip_id": { "type": "integer" },
                    "seats": array(json!({
                        "type": "object", "required": ["seat_id", "status"],
                        "properties": {
                            "seat_id": { "type": "integer" },
                            "status": { "enum": ["available", "held", "booked"] }
                        }
                    }))
                }
            })),
        );
    api.get("/trips/{trip_id}/events", seatmap::events)
        .summary("Live seat changes (server-sent events)")
        .answer(
            200,
            "`event: seat` with `data: {seat_id, status}` per change",
            "text/event-stream",
            Some(json!({ "type": "string" })),
        );
    api.get("", bookings::list)
        .summary("The caller's bookings, newest first")
        .auth()
        .answers(
            200,
            "The bookings",
            Some(wrapped(
                "bookings",
                array(schema::<crate::store::Booking>()),
            )),
        );
    api.get("/{booking_id}", bookings::get)
        .summary("A booking (owner only; others get 404)")
        .auth()
        .path_param("booking_id", uuid())
        .answers(200, "Booking", booking());
    api.post("/{booking_id}/cancel", bookings::cancel)
        .summary("Cancel a booking; a paid one is refunded")
        .auth()
        .path_param("booking_id", uuid())
        .answers(200, "Booking with status cancelled", booking())
        .errors(&[Code::NotCancellable]);
    api
}

/// A trip or seat id from a path or body: positive, else 400 naming `field`.
pub(crate) fn positive<T: PartialOrd + Default>(
    value: T,
    field: &str,
) -> Result<T, servicekit::ApiError> {
    if value > T::default() {
        Ok(value)
    } else {
        Err(servicekit::ApiError::invalid_field(
            field,
            format!("{field} must be a positive integer"),
        ))
    }
}
