//! Event payloads as the other services publish them.

use servicekit::events::{
    BookedSeat, BookingPaid, BookingReleased, OtpRequested, Passenger, PaymentOutcome,
    PaymentRefunded, TripSummary, UserRegistered,
};
use uuid::Uuid;

/// A registered user, as auth-service announces them.
pub fn registered(user: Uuid) -> UserRegistered {
    let n = user.as_u128() % 100_000_000;
    UserRegistered {
        user_id: user,
        name: "Rahim Uddin".into(),
        email: format!("{}@example.com", user.simple()),
        phone: format!("+88017{n:08}"),
    }
}

pub fn otp_requested(user: &UserRegistered, code: &str) -> OtpRequested {
    OtpRequested {
        user_id: user.user_id,
        name: user.name.clone(),
        phone: user.phone.clone(),
        code: code.into(),
        expires_in: 300,
    }
}

pub fn trip() -> TripSummary {
    TripSummary {
        train_number: "701".into(),
        train_name: "Subarna Express".into(),
        from: "DHK".into(),
        to: "CTG".into(),
        departs_at: "2026-03-20T01:30:00Z".parse().unwrap(),
    }
}

pub fn seats() -> Vec<BookedSeat> {
    ["KA-12", "KA-13"]
        .iter()
        .enumerate()
        .map(|(i, label)| BookedSeat {
            seat_id: 12 + i as i32,
            label: (*label).into(),
            coach: "KA".into(),
            class: "S_CHAIR".into(),
            fare: 40_500,
        })
        .collect()
}

pub fn paid(user: Uuid, ticket_code: &str) -> BookingPaid {
    BookingPaid {
        booking_id: Uuid::new_v4(),
        user_id: user,
        trip_id: 42,
        trip: trip(),
        seats: seats(),
        passengers: vec![
            Passenger {
                name: "Rahim Uddin".into(),
            },
            Passenger {
                name: "Karima Begum".into(),
            },
        ],
        amount: 81_000,
        currency: "BDT".into(),
        ticket_code: ticket_code.into(),
    }
}

pub fn released(user: Uuid, was_paid: bool) -> BookingReleased {
    BookingReleased {
        booking_id: Uuid::new_v4(),
        user_id: user,
        trip_id: 42,
        seats: seats(),
        amount: 81_000,
        currency: "BDT".into(),
        was_paid,
        trip: Some(trip()),
        reason: None,
    }
}

pub fn payment_failed(user: Uuid) -> PaymentOutcome {
    PaymentOutcome {
        payment_id: Uuid::new_v4(),
        booking_id: Uuid::new_v4(),
        user_id: user,
        amount: 81_000,
        currency: "BDT".into(),
        attempts: 1,
        failure: Some("card_declined".into()),
        payment_due_at: "2026-03-19T10:40:00Z".parse().unwrap(),
    }
}

pub fn refunded(user: Uuid) -> PaymentRefunded {
    PaymentRefunded {
        payment_id: Uuid::new_v4(),
        booking_id: Uuid::new_v4(),
        user_id: user,
        amount: 81_000,
        currency: "BDT".into(),
    }
}
