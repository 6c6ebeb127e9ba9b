//! Contracts of the internal HTTP endpoints one service asks another (not under `/api`, not
//! routed by the gateway). Both sides use these types, so a field cannot drift on one side.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `GET /internal/bookings/{booking_id}` of booking-service: who a booking belongs to, its
/// status and what it costs. payment-service asks it when it has no payment row yet (to
/// answer `pending` from the moment of the confirm) and before it accepts a retry (so that a
/// booking cancelled a moment ago is not charged again). 404 for an unknown booking.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BookingSummary {
    pub booking_id: Uuid,
    pub user_id: Uuid,
    /// `confirmed`, `paid`, `expired` or `cancelled`.
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub payment_due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// The path of a booking's summary on booking-service.
pub fn booking_path(booking_id: Uuid) -> String {
    format!("/internal/bookings/{booking_id}")
}
