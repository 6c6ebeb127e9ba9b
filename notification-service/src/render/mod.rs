//! Messages from events: what each passenger reads, in plain text. Pure functions, so every
//! template is tested without a broker or a database.

pub mod format;

use crate::channel::{Kind, Medium, Message};
use crate::store::Contact;
use format::{dhaka_time, duration, money};
use servicekit::events::{
    BookedSeat, BookingPaid, BookingReleased, OtpRequested, PaymentOutcome, PaymentRefunded,
    TripSummary,
};
use std::fmt::Write;
use uuid::Uuid;

const SIGNATURE: &str = "\n-- \nRailRush, Bangladesh Railway e-ticketing\n";

fn message(event_id: Uuid, user_id: Uuid, kind: Kind, medium: Medium, to: (&str, &str)) -> Message {
    Message {
        id: Uuid::now_v7(),
        event_id,
        user_id,
        booking_id: None,
        kind,
        medium,
        to: to.0.to_owned(),
        to_name: to.1.to_owned(),
        subject: String::new(),
        body: String::new(),
    }
}

fn email(event_id: Uuid, kind: Kind, contact: &Contact) -> Message {
    message(
        event_id,
        contact.user_id,
        kind,
        Medium::Email,
        (&contact.email, &contact.name),
    )
}

/// `otp.requested`: the code by SMS to the phone it was requested for.
pub fn otp(event_id: Uuid, otp: &OtpRequested) -> Message {
    let mut m = message(
        event_id,
        otp.user_id,
        Kind::Otp,
        Medium::Sms,
        (&otp.phone, &otp.name),
    );
    m.subject = "Your RailRush login code".into();
    m.body = format!(
        "RailRush: your login code is {}. It is valid for {}. Never share it with anyone; \
         RailRush staff will never ask for it.",
        otp.code,
        duration(otp.expires_in)
    );
    m
}

fn journey(trip: &TripSummary) -> String {
    format!(
        "{} {}, {} → {}, departing {} (Dhaka time)",
        trip.train_number,
        trip.train_name,
        trip.from,
        trip.to,
        dhaka_time(trip.departs_at)
    )
}

fn seat_list(seats: &[BookedSeat]) -> String {
    seats
        .iter()
        .map(|s| s.label.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `booking.paid`: the e-ticket.
pub fn ticket(event_id: Uuid, paid: &BookingPaid, contact: &Contact) -> Message {
    let mut m = email(event_id, Kind::Ticket, contact);
    m.booking_id = Some(paid.booking_id);
    let trip = &paid.trip;
    m.subject = format!(
        "Your e-ticket: {} {}, {} → {}, {}",
        trip.train_number,
        trip.train_name,
        trip.from,
        trip.to,
        dhaka_time(trip.departs_at)
    );
    let mut body = format!(
        "Dear {},\n\nyour booking is paid. This is your e-ticket.\n\n\
         Train:      {} {}\nFrom → to:  {} → {}\nDeparture:  {} (Dhaka time)\n\nPassengers:\n",
        contact.name,
        trip.train_number,
        trip.train_name,
        trip.from,
        trip.to,
        dhaka_time(trip.departs_at)
    );
    let rows = paid.seats.len().max(paid.passengers.len());
    for i in 0..rows {
        let name = paid.passengers.get(i).map_or("(passenger)", |p| &p.name);
        let _ = match paid.seats.get(i) {
            Some(seat) => writeln!(
                body,
                "  {}. {name}: coach {}, seat {} ({})",
                i + 1,
                seat.coach,
                seat.label,
                seat.class
            ),
            None => writeln!(body, "  {}. {name}", i + 1),
        };
    }
    let _ = write!(
        body,
        "\nAmount paid: {}\nBooking:     {}\nTicket code: {}\n\n\
         Show the ticket code (or its QR code) to the ticket checker with a photo ID.\n{SIGNATURE}",
        money(paid.amount, &paid.currency),
        paid.booking_id,
        paid.ticket_code
    );
    m.body = body;
    m
}

/// `booking.expired` (no payment in time) and `booking.cancelled` (by the passenger, or by
/// the railway when the event carries the reason the trip was cancelled).
pub fn released(
    event_id: Uuid,
    kind: Kind,
    booking: &BookingReleased,
    contact: &Contact,
) -> Message {
    let mut m = email(event_id, kind, contact);
    m.booking_id = Some(booking.booking_id);
    let trip = booking
        .trip
        .as_ref()
        .map(|t| format!("Journey: {}\n", journey(t)))
        .unwrap_or_default();
    let seats = seat_list(&booking.seats);
    let (subject, what, after) = if kind == Kind::BookingExpired {
        (
            "Your booking expired",
            "expired: no payment arrived before the payment deadline",
            "The seats were released. You can select seats again and book anew.".to_owned(),
        )
    } else {
        let refund = if booking.was_paid {
            format!(
                "A refund of {} is on its way to the card you paid with.",
                money(booking.amount, &booking.currency)
            )
        } else {
            "Nothing was charged.".to_owned()
        };
        match booking.reason.as_deref() {
            Some(reason) => (
                "Your train is cancelled",
                "is cancelled because the railway cancelled this train",
                format!(
                    "Reason given by the railway: {reason}\n\n{refund} We are sorry for the trouble."
                ),
            ),
            None => ("Your booking is cancelled", "is cancelled", refund),
        }
    };
    m.subject = subject.into();
    m.body = format!(
        "Dear {},\n\nyour booking {} {what}.\n\n{trip}Seats: {seats}\n\n{after}\n{SIGNATURE}",
        contact.name, booking.booking_id
    );
    m
}

fn failure_reason(code: Option<&str>) -> &'static str {
    match code {
        Some("card_declined") => "the card was declined",
        Some("invalid_token") => "the card details were not accepted",
        Some("gateway_error") => "the payment provider did not answer",
        _ => "the payment did not go through",
    }
}

/// `payment.failed`: why, and until when another card can be tried.
pub fn payment_failed(event_id: Uuid, outcome: &PaymentOutcome, contact: &Contact) -> Message {
    let mut m = email(event_id, Kind::PaymentFailed, contact);
    m.booking_id = Some(outcome.booking_id);
    m.subject = "Your payment did not go through".into();
    m.body = format!(
        "Dear {},\n\nthe payment of {} for booking {} failed: {}.\n\n\
         Your seats stay reserved until {} (Dhaka time). Retry the payment with another card \
         before then; after that the booking expires and the seats are released.\n{SIGNATURE}",
        contact.name,
        money(outcome.amount, &outcome.currency),
        outcome.booking_id,
        failure_reason(outcome.failure.as_deref()),
        dhaka_time(outcome.payment_due_at)
    );
    m
}

/// `payment.refunded`: the money went back.
pub fn refunded(event_id: Uuid, refund: &PaymentRefunded, contact: &Contact) -> Message {
    let mut m = email(event_id, Kind::PaymentRefunded, contact);
    m.booking_id = Some(refund.booking_id);
    m.subject = "Your refund is on its way".into();
    m.body = format!(
        "Dear {},\n\n{} for booking {} was refunded to the card you paid with. Depending on \
         your bank it shows on your statement within a few working days.\n{SIGNATURE}",
        contact.name,
        money(refund.amount, &refund.currency),
        refund.booking_id
    );
    m
}

#[cfg(test)]
mod tests;
