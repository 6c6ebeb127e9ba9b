use super::*;
use chrono::{TimeZone, Utc};
use servicekit::events::Passenger;

fn contact() -> Contact {
    Contact {
        user_id: Uuid::nil(),
        name: "Rahim Uddin".into(),
        email: "rahim@example.com".into(),
        phone: "+8801712345678".into(),
    }
}

fn seat(label: &str) -> BookedSeat {
    BookedSeat {
        seat_id: 1,
        label: label.into(),
        coach: label.split('-').next().unwrap_or_default().into(),
        class: "S_CHAIR".into(),
        fare: 40_500,
    }
}

#[test]
fn the_ticket_lists_train_journey_passengers_seats_code_and_amount() {
    let departs_at = Utc
        .with_ymd_and_hms(2026, 3, 20, 1, 30, 0)
        .single()
        .unwrap_or_default();
    let paid = BookingPaid {
        booking_id: Uuid::nil(),
        user_id: Uuid::nil(),
        trip_id: 7,
        trip: TripSummary {
            train_number: "701".into(),
            train_name: "Subarna Express".into(),
            from: "DHK".into(),
            to: "CTG".into(),
            departs_at,
        },
        seats: vec![seat("KA-12"), seat("KA-13")],
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
        ticket_code: "RR-7QX2".into(),
    };
    let m = ticket(Uuid::nil(), &paid, &contact());
    assert_eq!((m.kind, m.medium), (Kind::Ticket, Medium::Email));
    assert_eq!(m.to, "rahim@example.com");
    assert!(m.subject.contains("701 Subarna Express"), "{}", m.subject);
    for text in [
        "701 Subarna Express",
        "DHK → CTG",
        "Fri 20 Mar 2026, 07:30",
        "1. Rahim Uddin: coach KA, seat KA-12",
        "2. Karima Begum: coach KA, seat KA-13",
        "Tk 810.00",
        "RR-7QX2",
    ] {
        assert!(m.body.contains(text), "{text} in {}", m.body);
    }
}

/// A paid one-seat booking of Tk 405.00, released.
fn released_booking(reason: Option<&str>) -> BookingReleased {
    BookingReleased {
        booking_id: Uuid::nil(),
        user_id: Uuid::nil(),
        trip_id: 7,
        seats: vec![seat("KA-1")],
        amount: 40_500,
        currency: "BDT".into(),
        was_paid: true,
        trip: None,
        reason: reason.map(str::to_owned),
    }
}

#[test]
fn a_cancellation_mentions_the_refund_only_when_paid() {
    let mut booking = released_booking(None);
    let paid = released(Uuid::nil(), Kind::BookingCancelled, &booking, &contact());
    assert!(paid.body.contains("refund of Tk 405.00"), "{}", paid.body);
    booking.was_paid = false;
    let unpaid = released(Uuid::nil(), Kind::BookingCancelled, &booking, &contact());
    assert!(!unpaid.body.contains("refund"), "{}", unpaid.body);
    let expired = released(Uuid::nil(), Kind::BookingExpired, &booking, &contact());
    assert!(expired.body.contains("expired"), "{}", expired.body);
}

#[test]
fn a_trip_cancelled_by_the_railway_says_so_with_its_reason_and_the_refund() {
    let booking = released_booking(Some("Flooding on the line near Feni"));
    let m = released(Uuid::nil(), Kind::BookingCancelled, &booking, &contact());
    assert_eq!(m.subject, "Your train is cancelled");
    for text in [
        "the railway cancelled this train",
        "Reason given by the railway: Flooding on the line near Feni",
        "refund of Tk 405.00",
    ] {
        assert!(m.body.contains(text), "{text} in {}", m.body);
    }
}

#[test]
fn the_otp_sms_has_the_code_and_its_validity() {
    let m = otp(
        Uuid::nil(),
        &OtpRequested {
            user_id: Uuid::nil(),
            name: "Rahim".into(),
            phone: "+8801712345678".into(),
            code: "042917".into(),
            expires_in: 300,
        },
    );
    assert_eq!((m.kind, m.medium), (Kind::Otp, Medium::Sms));
    assert_eq!(m.to, "+8801712345678");
    assert!(
        m.body.contains("042917") && m.body.contains("5 minutes"),
        "{}",
        m.body
    );
}
