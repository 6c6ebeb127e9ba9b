//! Event payloads as booking-service publishes them.

use chrono::{DateTime, Duration as Span, Utc};
use servicekit::events::{BookedSeat, BookingConfirmed, BookingRefundDue, BookingReleased};
use servicekit::testing::User;
use uuid::Uuid;

pub const AMOUNT: i64 = 81_000;

pub fn confirmed(
    booking_id: Uuid,
    user: &User,
    token: &str,
    due: DateTime<Utc>,
) -> BookingConfirmed {
    BookingConfirmed {
        booking_id,
        user_id: user.id,
        trip_id: 7,
        seats: vec![seat(1), seat(2)],
        passengers: vec![],
        amount: AMOUNT,
        currency: "BDT".into(),
        payment_token: token.into(),
        payment_due_at: due,
    }
}

/// What booking-service tells of the booking `booking.confirmed` announces.
pub fn summary(booking: &BookingConfirmed) -> servicekit::internal::BookingSummary {
    servicekit::internal::BookingSummary {
        booking_id: booking.booking_id,
        user_id: booking.user_id,
        status: "confirmed".into(),
        amount: booking.amount,
        currency: booking.currency.clone(),
        payment_due_at: booking.payment_due_at,
        created_at: Utc::now(),
    }
}

pub fn seat(seat_id: i32) -> BookedSeat {
    BookedSeat {
        seat_id,
        label: format!("KA-{seat_id}"),
        coach: "KA".into(),
        class: "S_CHAIR".into(),
        fare: AMOUNT / 2,
    }
}

pub fn in_ten_minutes() -> DateTime<Utc> {
    Utc::now() + Span::minutes(10)
}

pub fn released(booking_id: Uuid, user: &User, was_paid: bool) -> BookingReleased {
    BookingReleased {
        booking_id,
        user_id: user.id,
        trip_id: 7,
        seats: vec![seat(1), seat(2)],
        amount: AMOUNT,
        currency: "BDT".into(),
        was_paid,
        trip: None,
        reason: None,
    }
}

pub fn refund_due(booking_id: Uuid, user: &User) -> BookingRefundDue {
    BookingRefundDue {
        booking_id,
        user_id: user.id,
        status: "expired".into(),
    }
}
