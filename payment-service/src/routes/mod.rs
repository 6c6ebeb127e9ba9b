//! The `/api/payments` routes of `docs/api.md`.

mod admin;
mod payments;

use serde_json::json;
use servicekit::error::Code;
use servicekit::openapi::{Api, array, schema, uuid, wrapped};

/// Every route of payment-service, registered once for actix and the OpenAPI document.
pub fn api() -> Api {
    let mut api = Api::new("payment-service", "/api/payments");
    api.get("/{booking_id}", payments::get)
        .summary("A booking's payment (its owner, or an admin)")
        .auth()
        .path_param("booking_id", uuid())
        .answers(
            200,
            "The payment; pending from the moment the booking is confirmed",
            Some(json!({
                "type": "object",
                "required": ["booking_id", "status"],
                "properties": {
                    "booking_id": uuid(),
                    "status": { "enum": ["pending", "succeeded", "failed", "refunded"] }
                }
            })),
        );
    api.post("/{booking_id}/retry", payments::retry)
        .summary("Retry a failed payment before it is due")
        .auth()
        .idempotent()
        .path_param("booking_id", uuid())
        .body(schema::<payments::RetryBody>())
        .answers(
            202,
            "The retry is accepted",
            Some(json!({ "type": "object" })),
        )
        .errors(&[Code::NotRetryable]);
    api.get("/admin/bookings/{booking_id}/attempts", admin::attempts)
        .summary("Every charge attempt and the refund of a booking's payment, oldest first (admin)")
        .description(
            "`[]` while the payment worker has not taken a booking booking-service knows; 404 \
             for a booking neither knows.",
        )
        .auth()
        .path_param("booking_id", uuid())
        .answers(
            200,
            "The attempts",
            Some(wrapped(
                "attempts",
                array(schema::<crate::store::AttemptView>()),
            )),
        )
        .errors(&[Code::Forbidden]);
    servicekit::parked::routes(&mut api, "/api/payments");
    api
}
