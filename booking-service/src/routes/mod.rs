//! The `/api/bookings`, `/api/queue` and `/api/tickets` routes of `docs/api.md`, and the internal booking
//! summary route (not under `/api`, so the gateway does not route it) that payment-service
//! asks.

mod admin;
mod bookings;
mod confirm;
mod queue;
mod seatmap;
mod select;
mod tickets;

use serde_json::json;
use servicekit::error::Code;
use servicekit::openapi::{Api, array, object, schema, uuid, wrapped};

/// Every route of booking-service, registered once for actix and the OpenAPI document.
pub fn api() -> Api {
    let mut api = Api::new("booking-service", "/api/bookings");
    let booking = || Some(schema::<crate::store::Booking>());
    api.post("/seats/select", select::select)
        .summary("Hold 1 to 4 seats of a trip for 5 minutes")
        .auth()
        .idempotent()
        .body(schema::<select::SelectRequest>())
        .header(
            "X-Queue-Pass",
            false,
            json!({ "type": "string" }),
            PASS_TEXT,
        )
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
            Code::TripCancelled,
            Code::SalesNotOpen,
            Code::SalesClosed,
            Code::SeatUnavailable,
            Code::SeatLimitReached,
            Code::QueuePassRequired,
            Code::QueuePassInvalid,
            Code::RateLimited,
        ]);
    api.post("/seats/confirm", confirm::confirm)
        .summary("Turn the caller's hold into a booking (payment due in 10 minutes)")
        .auth()
        .idempotent()
        .body(schema::<confirm::ConfirmRequest>())
        .header(
            "X-Queue-Pass",
            false,
            json!({ "type": "string" }),
            PASS_TEXT,
        )
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
            Code::TripCancelled,
            Code::SeatLimitReached,
            Code::SeatUnavailable,
            Code::QueuePassRequired,
            Code::QueuePassInvalid,
            Code::RateLimited,
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
    admin_routes(&mut api);
    servicekit::parked::routes(&mut api, "/api/bookings");
    queue_routes(&mut api);
    ticket_routes(&mut api);
    // Not under /api: the gateway never routes it; payment-service reads it.
    api.prefix("")
        .get("/internal/bookings/{booking_id}", bookings::summary)
        .summary("A booking's owner, status and amount for payment-service (internal)")
        .path_param("booking_id", uuid())
        .answers(200, "The booking summary", Some(object()))
        .internal();
    api
}

/// The railway's calls (role `admin`): cancelling a trip and its progress, the sales
/// overview and the booking lookup of the operator console.
fn admin_routes(api: &mut Api) {
    let progress = || Some(schema::<crate::trip_cancel::store::Progress>());
    api.post("/admin/trips/{trip_id}/cancel", admin::cancel_trip)
        .summary("Cancel a trip: every booking cancelled, every paid one refunded (admin)")
        .description(
            "Idempotent: calling again answers the same cancellation (its first reason). \
             202 while bookings are left to cancel, 200 once done.",
        )
        .auth()
        .body(schema::<admin::CancelTripRequest>())
        .answers(202, "The cancellation, in progress", progress())
        .answers(200, "The cancellation, done", progress())
        .link(
            "progress",
            "getApiBookingsAdminTripsTripIdCancellation",
            json!({ "trip_id": "$response.body#/trip_id" }),
            serde_json::Value::Null,
        )
        .errors(&[Code::Forbidden, Code::NotFound]);
    api.get("/admin/trips/{trip_id}/cancellation", admin::cancellation)
        .summary("A trip's cancellation and its progress (admin)")
        .auth()
        .answers(200, "The cancellation", progress())
        .errors(&[Code::Forbidden, Code::NotFound]);
    api.get("/admin/sales", admin::sales)
        .summary("A date's trips with live sales: sold, held, free per class, boarded (admin)")
        .description(
            "The trips whose service date (the departure's date in Asia/Dhaka) is `date`, \
             by departure. `sold` counts the seats of confirmed or paid bookings, `held` the \
             seats held in Redis now, `free` = total - sold - held.",
        )
        .auth()
        .query(
            "date",
            true,
            json!({ "type": "string", "format": "date" }),
            "YYYY-MM-DD",
        )
        .answers(
            200,
            "The overview",
            Some(schema::<crate::admin::sales::SalesOverview>()),
        )
        .errors(&[Code::Forbidden]);
    let text = json!({ "type": "string" });
    api.get("/admin/bookings", admin::bookings)
        .summary("Any passenger's bookings with their history, newest first, at most 50 (admin)")
        .description("Exactly one of `booking_id`, `ticket_code`, `user_id`; otherwise 400.")
        .auth()
        .query("booking_id", false, uuid(), "A booking's id")
        .query("ticket_code", false, text, "A paid booking's ticket code")
        .query("user_id", false, uuid(), "The passenger's user id")
        .answers(
            200,
            "The bookings",
            Some(wrapped(
                "bookings",
                array(schema::<crate::admin::lookup::AdminBooking>()),
            )),
        )
        .errors(&[Code::Forbidden]);
}

const PASS_TEXT: &str =
    "The pass of the sale's waiting room while it is active (GET /api/queue/sales/{sale_id}/place)";

/// The waiting room's routes (`/api/queue`).
fn queue_routes(api: &mut Api) {
    let sale_id = || json!({ "type": "string", "pattern": "^[0-9]{8}T[0-9]{6}Z$", "example": "20261210T020000Z" });
    let sale_state = || json!({ "enum": ["upcoming", "pre_queue", "open", "sold_out", "closed"] });
    let time = || json!({ "type": "string", "format": "date-time" });
    let place = || {
        Some(json!({
            "type": "object",
            "required": ["sale_id", "state", "number", "position", "ahead", "estimated_wait_s", "pass", "pass_expires_at"],
            "properties": {
                "sale_id": { "type": "string" },
                "state": { "enum": ["waiting", "admitted", "sold_out", "expired"] },
                "number": { "type": ["integer", "null"] },
                "position": { "type": ["integer", "null"] },
                "ahead": { "type": ["integer", "null"] },
                "estimated_wait_s": { "type": ["integer", "null"] },
                "pass": { "type": ["string", "null"] },
                "pass_expires_at": { "type": ["string", "null"], "format": "date-time" }
            }
        }))
    };
    api.prefix("/api/queue");
    api.get("/sales", queue::list)
        .summary("Every sale (trips that open together) and its state")
        .answers(
            200,
            "The sales",
            Some(wrapped(
                "sales",
                array(json!({
                    "type": "object",
                    "required": ["sale_id", "opens_at", "state", "trip_ids", "waiting_room", "pre_queue_opens_at"],
                    "properties": {
                        "sale_id": { "type": "string" }, "opens_at": time(), "state": sale_state(),
                        "trip_ids": array(json!({ "type": "integer" })),
                        "waiting_room": { "type": "boolean" }, "pre_queue_opens_at": time()
                    }
                })),
            )),
        );
    api.get("/sales/{sale_id}", queue::status)
        .summary("A sale's public status: the same for every caller, cacheable for 1 s")
        .path_param("sale_id", sale_id())
        .answers(
            200,
            "The status",
            Some(json!({
                "type": "object",
                "required": ["sale_id", "state", "opens_at", "now_serving", "waiting", "admitted_per_minute", "waiting_room", "pre_queue_opens_at"],
                "properties": {
                    "sale_id": { "type": "string" }, "state": sale_state(), "opens_at": time(),
                    "now_serving": { "type": "integer" }, "waiting": { "type": "integer" },
                    "admitted_per_minute": { "type": "integer" },
                    "waiting_room": { "type": "boolean" }, "pre_queue_opens_at": time()
                }
            })),
        );
    api.post("/sales/{sale_id}/join", queue::join)
        .summary("Join a sale's waiting room (verified phone and NID); again: the same place")
        .auth()
        .path_param("sale_id", sale_id())
        .answers(200, "The place", place())
        .errors(&[
            Code::QueueClosed,
            Code::SoldOut,
            Code::VerificationRequired,
            Code::RateLimited,
        ]);
    api.get("/sales/{sale_id}/place", queue::place)
        .summary("The caller's place; asking keeps it")
        .auth()
        .path_param("sale_id", sale_id())
        .answers(200, "The place", place())
        .errors(&[Code::RateLimited]);
}

/// Signed tickets and check-in (`/api/tickets`).
fn ticket_routes(api: &mut Api) {
    let time = || json!({ "type": "string", "format": "date-time" });
    let state = || json!({ "enum": ["valid", "boarded", "cancelled", "expired", "wrong_trip"] });
    let checked = |required: &[&str]| {
        Some(json!({
            "type": "object",
            "required": required,
            "properties": {
                "state": state(),
                "ticket": schema::<crate::tickets::Ticket>(),
                "boarded_at": time(),
                "device": { "type": ["string", "null"] },
                "by": uuid()
            }
        }))
    };
    api.prefix("/api/tickets");
    api.get("/keys", tickets::keys)
        .summary("The public keys that verify signed tickets offline (current first)")
        .answers(
            200,
            "The keys",
            Some(wrapped(
                "keys",
                array(schema::<crate::tickets::keys::PublicKey>()),
            )),
        );
    api.post("/verify", tickets::verify)
        .summary("A scanned ticket and its state (conductor or admin)")
        .auth()
        .body(schema::<tickets::VerifyRequest>())
        .answers(
            200,
            "The ticket and its state",
            checked(&["state", "ticket"]),
        )
        .errors(&[Code::InvalidTicket, Code::Forbidden]);
    api.post("/board", tickets::board)
        .summary("Board a ticket once (conductor or admin)")
        .auth()
        .body(schema::<tickets::BoardRequest>())
        .answers(
            200,
            "Boarded (or the same device's earlier boarding)",
            checked(&["state", "ticket", "boarded_at", "device", "by"]),
        )
        .errors(&[
            Code::InvalidTicket,
            Code::Forbidden,
            Code::AlreadyBoarded,
            Code::NotBoardable,
        ]);
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
