//! The parked messages of booking-service's payment-outcome consumer over HTTP (admin only).

use crate::helpers::spawn_app;
use booking_service::payments;
use serde_json::json;
use servicekit::amqp::Envelope;
use servicekit::events;
use servicekit::testing::parked::check_parked_routes;

#[tokio::test]
async fn a_poisoned_payment_outcome_is_listed_replayed_and_dropped_over_http() {
    let app = spawn_app().await;
    app.payments_ready().await;
    // Not a payment outcome's payload: the consumer refuses it at once.
    let poison =
        Envelope::new(events::PAYMENT_SUCCEEDED, &json!({ "booking_id": "none" })).unwrap();
    check_parked_routes(&app, "/api/bookings", payments::QUEUE, &poison).await;
}
