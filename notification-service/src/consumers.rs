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
use serde::de::DeserializeOwned;
use servicekit::amqp::{Broker, Envelope};
use servicekit::consumer::{self, ConsumerHandle, HandleError, Handler, QueueSpec};
use servicekit::events::{
    self, BookingPaid, BookingReleased, OtpRequested, PaymentOutcome, PaymentRefunded,
    UserRegistered,
};
use servicekit::metrics::Metrics;
use std::sync::Arc;

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

/// The specs of every queue, named with the broker's prefix.
pub fn queue_specs(broker: &Broker, delivery: &DeliverySettings) -> Vec<(&'static str, QueueSpec)> {
    QUEUES
        .iter()
        .map(|(name, bindings)| {
            let mut spec = QueueSpec::new(broker.queue_name(name), bindings);
            spec.delivery_limit = delivery.delivery_limit;
            spec.prefetch = delivery.prefetch;
            spec.depth_refresh = std::time::Duration::from_millis(delivery.parked_refresh_ms);
            (*name, spec)
        })
        .collect()
}

/// Starts one consumer per queue.
pub fn spawn(
    broker: &Broker,
    notifier: Arc<Notifier>,
    delivery: &DeliverySettings,
    metrics: &Metrics,
) -> Vec<ConsumerHandle> {
    queue_specs(broker, delivery)
        .into_iter()
        .map(|(name, spec)| {
            let notifier = notifier.clone();
            let handler: Handler = Arc::new(move |event, _meta| {
                let notifier = notifier.clone();
                Box::pin(async move { handle(&notifier, name, event).await })
            });
            consumer::spawn(broker.clone(), spec.observed_by(metrics), handler)
        })
        .collect()
}

#[tracing::instrument(skip_all, fields(queue = consumer, event_id = %event.event_id, kind = %event.kind))]
async fn handle(notifier: &Notifier, consumer: &str, event: Envelope) -> Result<(), HandleError> {
    let outcome = apply(notifier, consumer, &event).await;
    let label = match &outcome {
        Ok(outcome) => outcome.as_str(),
        Err(HandleError::Retry(_)) => "retried",
        Err(HandleError::Reject(_)) => "rejected",
    };
    notifier
        .metrics
        .events
        .with_label_values(&[consumer, label])
        .inc();
    if let Ok(outcome) = outcome {
        tracing::debug!(outcome = outcome.as_str(), "event handled");
    }
    outcome.map(|_| ())
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

fn payload<T: DeserializeOwned>(event: &Envelope) -> Result<T, HandleError> {
    serde_json::from_value(event.payload.clone())
        .map_err(|e| HandleError::Reject(anyhow::anyhow!("malformed {} payload: {e}", event.kind)))
}

/// The event, or `None` for a type this service does not act on.
fn parse(event: &Envelope) -> Result<Option<Event>, HandleError> {
    Ok(Some(match event.kind.as_str() {
        events::USER_REGISTERED => Event::User(payload(event)?),
        events::OTP_REQUESTED => Event::Otp(payload(event)?),
        events::BOOKING_PAID => Event::Paid(payload(event)?),
        events::BOOKING_EXPIRED => Event::Released(Kind::BookingExpired, payload(event)?),
        events::BOOKING_CANCELLED => Event::Released(Kind::BookingCancelled, payload(event)?),
        events::PAYMENT_FAILED => Event::PaymentFailed(payload(event)?),
        events::PAYMENT_REFUNDED => Event::Refunded(payload(event)?),
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
