//! The queues this service consumes and what each event becomes.
//!
//! | queue | events | message |
//! |---|---|---|
//! | `notification.users` | `user.registered` | none: the contact is kept |
//! | `notification.otp` | `otp.requested` | `otp` by SMS to the phone |
//! | `notification.tickets` | `booking.paid` | `ticket` by e-mail |
//! | `notification.bookings` | `booking.expired`, `booking.cancelled`, `payment.failed`, `payment.refunded` | by e-mail |
//!
//! Each queue's name is also its consumer name in `processed_events`. A payload that does
//! not parse is rejected (parked at once); a missing contact or an unreachable store is
//! retried; the queue's delivery limit parks what keeps failing.

use crate::channel::Kind;
use crate::notify::{Notifier, Outcome};
use crate::render;
use crate::settings::DeliverySettings;
use servicekit::amqp::Envelope;
use servicekit::consumer::{HandleError, Handler, Meta, Outcomes, Subscription, decode};
use servicekit::events::{
    self, BookingPaid, BookingReleased, OtpRequested, PaymentOutcome, PaymentRefunded,
    UserRegistered,
};
use std::sync::Arc;
use std::time::Duration;

pub const USERS: &str = "notification.users";
pub const OTP: &str = "notification.otp";
pub const TICKETS: &str = "notification.tickets";
pub const BOOKINGS: &str = "notification.bookings";

/// Every queue (unprefixed) with its bindings.
pub const QUEUES: [(&str, &[&str]); 4] = [
    (USERS, &[events::USER_REGISTERED]),
    (OTP, &[events::OTP_REQUESTED]),
    (TICKETS, &[events::BOOKING_PAID]),
    (
        BOOKINGS,
        &[
            events::BOOKING_EXPIRED,
            events::BOOKING_CANCELLED,
            events::PAYMENT_FAILED,
            events::PAYMENT_REFUNDED,
        ],
    ),
];

/// The names of [`QUEUES`] (what `notification-service parked` works on).
pub const NAMES: [&str; QUEUES.len()] = {
    let mut names = [""; QUEUES.len()];
    let mut i = 0;
    while i < QUEUES.len() {
        names[i] = QUEUES[i].0;
        i += 1;
    }
    names
};

/// The consumer of one of [`QUEUES`]; every queue's name is also its consumer name.
pub struct Queue {
    pub name: &'static str,
    pub bindings: &'static [&'static str],
    pub notifier: Arc<Notifier>,
    pub delivery: DeliverySettings,
}

impl Queue {
    /// A consumer for each of [`QUEUES`].
    pub fn all(notifier: &Arc<Notifier>, delivery: &DeliverySettings) -> Vec<Queue> {
        QUEUES
            .iter()
            .map(|(name, bindings)| Queue {
                name,
                bindings,
                notifier: notifier.clone(),
                delivery: delivery.clone(),
            })
            .collect()
    }
}

impl Handler for Queue {
    fn subscription(&self) -> Subscription {
        let mut subscription = Subscription::new(self.name, self.bindings)
            .delivery_limit(self.delivery.delivery_limit)
            .prefetch(self.delivery.prefetch);
        subscription.depth_refresh = Duration::from_millis(self.delivery.parked_refresh_ms);
        subscription
    }

    fn outcomes(&self) -> Option<Outcomes> {
        Some(Outcomes::labelled(
            self.notifier.metrics.events.clone(),
            &[self.name],
        ))
    }

    #[tracing::instrument(skip_all, fields(queue = self.name, event_id = %event.event_id, kind = %event.kind))]
    async fn handle(&self, event: Envelope, _meta: Meta) -> Result<&'static str, HandleError> {
        let outcome = apply(&self.notifier, self.name, &event).await?;
        tracing::debug!(outcome = outcome.as_str(), "event handled");
        Ok(outcome.as_str())
    }
}

/// An event this service acts on, parsed.
enum Event {
    User(UserRegistered),
    Otp(OtpRequested),
    Paid(BookingPaid),
    Released(Kind, BookingReleased),
    PaymentFailed(PaymentOutcome),
    Refunded(PaymentRefunded),
}

/// The event, or `None` for a type this service does not act on.
fn parse(event: &Envelope) -> Result<Option<Event>, HandleError> {
    Ok(Some(match event.kind.as_str() {
        events::USER_REGISTERED => Event::User(decode(event)?),
        events::OTP_REQUESTED => Event::Otp(decode(event)?),
        events::BOOKING_PAID => Event::Paid(decode(event)?),
        events::BOOKING_EXPIRED => Event::Released(Kind::BookingExpired, decode(event)?),
        events::BOOKING_CANCELLED => Event::Released(Kind::BookingCancelled, decode(event)?),
        events::PAYMENT_FAILED => Event::PaymentFailed(decode(event)?),
        events::PAYMENT_REFUNDED => Event::Refunded(decode(event)?),
        _ => return Ok(None),
    }))
}

async fn apply(
    notifier: &Notifier,
    consumer: &str,
    event: &Envelope,
) -> Result<Outcome, HandleError> {
    let id = event.event_id;
    let Some(parsed) = parse(event)? else {
        return Ok(Outcome::Ignored);
    };
    let notifies = !matches!(parsed, Event::User(_));
    if notifies && notifier.seen(consumer, id).await? {
        return Ok(Outcome::Duplicate);
    }
    let message = match parsed {
        Event::User(user) => return notifier.save_contact(consumer, id, &user).await,
        Event::Otp(otp) => render::otp(id, &otp),
        Event::Paid(paid) => render::ticket(id, &paid, &notifier.contact(paid.user_id).await?),
        Event::Released(kind, booking) => {
            let contact = notifier.contact(booking.user_id).await?;
            render::released(id, kind, &booking, &contact)
        }
        Event::PaymentFailed(outcome) => {
            let contact = notifier.contact(outcome.user_id).await?;
            render::payment_failed(id, &outcome, &contact)
        }
        Event::Refunded(refund) => {
            let contact = notifier.contact(refund.user_id).await?;
            render::refunded(id, &refund, &contact)
        }
    };
    notifier.deliver_and_record(consumer, &message).await
}
