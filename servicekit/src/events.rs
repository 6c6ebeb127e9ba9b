//! The event contracts between services: routing keys (= envelope `type`) and payloads.
//! Producers and consumers both use these types, so a field cannot drift on one side.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const USER_REGISTERED: &str = "user.registered";
pub const OTP_REQUESTED: &str = "otp.requested";
pub const BOOKING_CONFIRMED: &str = "booking.confirmed";
pub const BOOKING_CANCELLED: &str = "booking.cancelled";
pub const BOOKING_EXPIRED: &str = "booking.expired";
pub const BOOKING_PAID: &str = "booking.paid";
pub const PAYMENT_SUCCEEDED: &str = "payment.succeeded";
pub const PAYMENT_FAILED: &str = "payment.failed";
pub const PAYMENT_REFUNDED: &str = "payment.refunded";
/// Published by booking-service when money arrived for a booking that is no longer
/// payable (it expired or was cancelled while the charge was in flight): refund it.
pub const BOOKING_REFUND_DUE: &str = "booking.refund_due";
/// Published by booking-service when the railway cancels a trip (once per trip): search
/// stops listing it.
pub const TRIP_CANCELLED: &str = "trip.cancelled";
/// payment-service's own command to itself (through its outbox and queue): charge again
/// with a new token after a failure.
pub const PAYMENT_RETRY_REQUESTED: &str = "payment.retry_requested";

/// `user.registered`: who a user is and where to reach them (notification-service keeps
/// these, so it never calls auth-service to deliver a message).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    /// Empty for an operator account made without a phone (`auth-service admin create`).
    pub phone: String,
}

/// `otp.requested`: a one-time code to deliver by SMS to `phone`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OtpRequested {
    pub user_id: Uuid,
    pub name: String,
    pub phone: String,
    pub code: String,
    pub expires_in: u64,
}

/// The journey a booking is for, as printed on a ticket.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TripSummary {
    pub train_number: String,
    pub train_name: String,
    /// Station codes.
    pub from: String,
    pub to: String,
    pub departs_at: DateTime<Utc>,
}

/// A seat of a booking, with what search availability and tickets need.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BookedSeat {
    pub seat_id: i32,
    pub label: String,
    pub coach: String,
    pub class: String,
    /// Poisha.
    pub fare: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Passenger {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]+$",
        example = "Rahim Uddin"
    )]
    pub name: String,
}

/// `booking.confirmed`: seats are sold to `user_id`, payment is due by `payment_due_at`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BookingConfirmed {
    pub booking_id: Uuid,
    pub user_id: Uuid,
    pub trip_id: i64,
    pub seats: Vec<BookedSeat>,
    pub passengers: Vec<Passenger>,
    pub amount: i64,
    pub currency: String,
    pub payment_token: String,
    pub payment_due_at: DateTime<Utc>,
}

/// `booking.cancelled` and `booking.expired`: the seats are free again.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BookingReleased {
    pub booking_id: Uuid,
    pub user_id: Uuid,
    pub trip_id: i64,
    pub seats: Vec<BookedSeat>,
    pub amount: i64,
    pub currency: String,
    /// True when the booking had been paid (a cancellation then needs a refund).
    pub was_paid: bool,
    /// The journey, for the passenger's message (absent in events from older producers).
    #[serde(default)]
    pub trip: Option<TripSummary>,
    /// Set only when the railway cancelled the whole trip (not the passenger): its reason,
    /// for the passenger's message. Absent in older events and in every other release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `trip.cancelled`: the railway cancelled the trip; its bookings are cancelled and refunded
/// by booking-service, each with its own `booking.cancelled`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TripCancelled {
    pub trip_id: i64,
    pub reason: String,
    pub cancelled_at: DateTime<Utc>,
}

/// `booking.paid`: the booking is paid and this is its e-ticket.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BookingPaid {
    pub booking_id: Uuid,
    pub user_id: Uuid,
    pub trip_id: i64,
    pub trip: TripSummary,
    pub seats: Vec<BookedSeat>,
    pub passengers: Vec<Passenger>,
    pub amount: i64,
    pub currency: String,
    /// Unguessable; the QR code on the ticket encodes it.
    pub ticket_code: String,
}

/// `booking.refund_due`: money arrived for a booking that can no longer be paid.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BookingRefundDue {
    pub booking_id: Uuid,
    pub user_id: Uuid,
    /// The booking's status when the payment arrived: `expired` or `cancelled`.
    pub status: String,
}

/// `payment.succeeded` and `payment.failed`: the outcome of one charge attempt.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PaymentOutcome {
    pub payment_id: Uuid,
    pub booking_id: Uuid,
    pub user_id: Uuid,
    pub amount: i64,
    pub currency: String,
    /// Charge attempts so far, this one included.
    pub attempts: i32,
    /// On failure, why: `card_declined`, `invalid_token` or `gateway_error`.
    pub failure: Option<String>,
    /// A failed payment can be retried until then.
    pub payment_due_at: DateTime<Utc>,
}

/// `payment.refunded`: the booking's money went back to the passenger.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PaymentRefunded {
    pub payment_id: Uuid,
    pub booking_id: Uuid,
    pub user_id: Uuid,
    pub amount: i64,
    pub currency: String,
}
