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

use crate::channel::{Kind, Message};
use crate::notify::{Notifier, Outcome};
use crate::render;
use crate::settings::DeliverySettings;
use crate::store;
use futures_util::future::join_all;
use servicekit::amqp::Envelope;
use servicekit::consumer::{HandleError, Handler, Meta, Outcomes, Subscription, decode};
use servicekit::events::{
    self, BookingPaid, BookingReleased, OtpRequested, PaymentOutcome, PaymentRefunded,
    UserRegistered,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub const USERS: &str = "notification.users";
pub const OTP: &str = "notification.otp";
pub const TICKETS: &str = "notification.tickets";
pub const BOOKINGS: &str = "notification.bookings";
/// The most tickets sent and recorded as one batch.
const TICKET_BATCH: u16 = 32;

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
        if self.name == TICKETS {
            subscription = subscription
                .batched(TICKET_BATCH)
                .prefetch(self.delivery.prefetch.max(TICKET_BATCH * 2));
        }
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

    /// Tickets ([`TICKETS`], the only batched queue) as one batch ([`tickets`]); any other
    /// batch one event at a time.
    #[tracing::instrument(skip_all, fields(queue = self.name, events = events.len()))]
    async fn handle_batch(
        &self,
        events: Vec<(Envelope, Meta)>,
    ) -> Vec<Result<&'static str, HandleError>> {
        let outcomes = match paid_all(&events) {
            Some(paid) if self.name == TICKETS => tickets(&self.notifier, &events, &paid).await,
            _ => {
                let each = events
                    .iter()
                    .map(|(event, _)| apply(&self.notifier, self.name, event));
                join_all(each).await
            }
        };
        outcomes
            .into_iter()
            .map(|o| o.map(Outcome::as_str))
            .collect()
    }
}

/// Tickets sent for a batch of booking.paid: one look-up of the deliveries already recorded
/// and one of the contacts, the e-mails sent at once, and one transaction recording every
/// delivered one. An event whose contact is not known yet goes the single way (it waits for
/// the contact); a failed delivery fails its own event only; when the batch cannot be
/// recorded as one (a duplicate delivery meanwhile), each delivered message is recorded on
/// its own, without being sent again.
async fn tickets(
    notifier: &Notifier,
    events: &[(Envelope, Meta)],
    paid: &[BookingPaid],
) -> Vec<Result<Outcome, HandleError>> {
    let event_ids: Vec<Uuid> = events.iter().map(|(e, _)| e.event_id).collect();
    let users: Vec<Uuid> = paid.iter().map(|p| p.user_id).collect();
    let looked_up = async {
        let db = notifier.db.get().await?;
        let (seen, contacts) = tokio::join!(
            biased;
            store::processed_of(&db, TICKETS, &event_ids),
            store::contacts(&db, &users),
        );
        Ok::<_, HandleError>((seen?, contacts?))
    };
    let (seen, contacts) = match looked_up.await {
        Ok(found) => found,
        Err(error) => {
            tracing::debug!(%error, "tickets not looked up as one; sending each");
            let each = events
                .iter()
                .map(|(event, _)| apply(notifier, TICKETS, event));
            return join_all(each).await;
        }
    };
    let mut results: Vec<Option<Result<Outcome, HandleError>>> = Vec::with_capacity(events.len());
    let mut messages = Vec::new();
    for ((event, _), paid) in events.iter().zip(paid) {
        if seen.contains(&event.event_id) {
            results.push(Some(Ok(Outcome::Duplicate)));
        } else if let Some(contact) = contacts.get(&paid.user_id) {
            messages.push((results.len(), render::ticket(event.event_id, paid, contact)));
            results.push(None);
        } else {
            results.push(Some(apply(notifier, TICKETS, event).await));
        }
    }
    let sent = join_all(messages.iter().map(|(_, m)| notifier.deliver(m))).await;
    let mut delivered = Vec::new();
    for ((i, message), sent) in messages.iter().zip(sent) {
        match sent {
            Ok(()) => delivered.push((*i, message)),
            Err(e) => results[*i] = Some(Err(e)),
        }
    }
    let together: Vec<&Message> = delivered.iter().map(|(_, m)| *m).collect();
    if !together.is_empty() {
        match notifier.record_all(TICKETS, &together).await {
            Ok(true) => {
                for (i, _) in &delivered {
                    results[*i] = Some(Ok(Outcome::Notified));
                }
            }
            Ok(false) | Err(_) => {
                for (i, message) in &delivered {
                    results[*i] = Some(notifier.record(TICKETS, message).await);
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(HandleError::retry(anyhow::anyhow!("not handled")))))
        .collect()
}

/// The tickets of `events` when every one is a `booking.paid` that parses and no event is
/// there twice; more than one.
fn paid_all(events: &[(Envelope, Meta)]) -> Option<Vec<BookingPaid>> {
    if events.len() < 2 {
        return None;
    }
    let ids: HashSet<Uuid> = events.iter().map(|(e, _)| e.event_id).collect();
    if ids.len() != events.len() {
        return None;
    }
    events
        .iter()
        .map(|(event, _)| {
            (event.kind == events::BOOKING_PAID)
                .then(|| decode::<BookingPaid>(event).ok())
                .flatten()
        })
        .collect()
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
