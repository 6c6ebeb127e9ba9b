//! The effect of one event, in this order: skip it if already processed; render; deliver
//! through the medium's channel (a transient failure is retried, a permanent one parks the
//! message); then ONE transaction records the event ([`first_delivery`]) and the inbox
//! entry. A duplicate delivery therefore yields one inbox entry; a crash between delivery and
//! commit delivers the message again (at least once), never loses it.

use crate::channel::{Channels, DeliveryError, Message};
use crate::metrics::NotificationMetrics;
use crate::store::{self, Contact};
use servicekit::consumer::{HandleError, first_deliveries, first_delivery};
use servicekit::db::PgPool;
use servicekit::events::UserRegistered;
use std::time::{Duration, Instant};
use uuid::Uuid;

const CONTACT_POLL: Duration = Duration::from_millis(200);

/// What became of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Notified,
    ContactSaved,
    Duplicate,
    Ignored,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notified => "notified",
            Self::ContactSaved => "contact_saved",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
        }
    }
}

pub struct Notifier {
    pub(crate) db: PgPool,
    pub(crate) channels: Channels,
    pub(crate) metrics: NotificationMetrics,
    /// How long to wait for a missing contact before requeueing.
    pub(crate) contact_wait: Duration,
}

impl Notifier {
    /// True when `consumer` already applied `event_id` (its message is in the inbox).
    pub async fn seen(&self, consumer: &str, event_id: Uuid) -> Result<bool, HandleError> {
        let db = self.db.get().await?;
        Ok(store::already_processed(&db, consumer, event_id).await?)
    }

    /// The recipient's contact. Its `user.registered` may not have been consumed yet: wait a
    /// little, then requeue (it will arrive).
    pub async fn contact(&self, user_id: Uuid) -> Result<Contact, HandleError> {
        let deadline = Instant::now() + self.contact_wait;
        loop {
            let found = {
                let db = self.db.get().await?;
                store::contact(&db, user_id).await?
            };
            if let Some(contact) = found {
                return Ok(contact);
            }
            if Instant::now() >= deadline {
                return Err(HandleError::retry(anyhow::anyhow!(
                    "no contact for user {user_id} yet (user.registered not consumed)"
                )));
            }
            tokio::time::sleep(CONTACT_POLL).await;
        }
    }

    /// `user.registered`: remembers where to reach the user.
    pub async fn save_contact(
        &self,
        consumer: &str,
        event_id: Uuid,
        user: &UserRegistered,
    ) -> Result<Outcome, HandleError> {
        let mut db = self.db.get().await?;
        let tx = db.transaction().await?;
        if !first_delivery(&tx, consumer, event_id).await? {
            return Ok(Outcome::Duplicate);
        }
        store::upsert_contact(&tx, user).await?;
        tx.commit().await?;
        Ok(Outcome::ContactSaved)
    }

    /// Delivers `message`, then records it in the inbox once.
    pub async fn deliver_and_record(
        &self,
        consumer: &str,
        message: &Message,
    ) -> Result<Outcome, HandleError> {
        self.deliver(message).await?;
        self.record(consumer, message).await
    }

    /// Sends `message` through its medium's channel: a transient failure is retried, a
    /// permanent one parks the event.
    pub async fn deliver(&self, message: &Message) -> Result<(), HandleError> {
        let channel = self.channels.for_medium(message.medium);
        let delivered = channel.deliver(message).await;
        let outcome = match &delivered {
            Ok(()) => "delivered",
            Err(DeliveryError::Transient(_)) => "retried",
            Err(DeliveryError::Permanent(_)) => "failed",
        };
        self.metrics
            .deliveries
            .with_label_values(&[message.medium.as_str(), channel.name(), outcome])
            .inc();
        match delivered {
            Ok(()) => Ok(()),
            Err(e @ DeliveryError::Transient(_)) => Err(HandleError::retry(e)),
            Err(e @ DeliveryError::Permanent(_)) => Err(HandleError::Reject(e.into())),
        }
    }

    /// Records the delivered `message` in the inbox, once.
    pub async fn record(&self, consumer: &str, message: &Message) -> Result<Outcome, HandleError> {
        let mut db = self.db.get().await?;
        let tx = db.transaction().await?;
        // One flight: the delivery's record and the message; a duplicate rolls it back.
        let (first, inserted) = tokio::join!(
            biased;
            first_delivery(&tx, consumer, message.event_id),
            store::insert_notification(&tx, message),
        );
        if !first? {
            return Ok(Outcome::Duplicate);
        }
        inserted?;
        tx.commit().await?;
        Ok(Outcome::Notified)
    }

    /// Records the delivered `messages` in the inbox in one transaction when every one is a
    /// first delivery; `false` (nothing recorded) otherwise.
    pub async fn record_all(
        &self,
        consumer: &str,
        messages: &[&Message],
    ) -> Result<bool, HandleError> {
        let event_ids: Vec<Uuid> = messages.iter().map(|m| m.event_id).collect();
        let mut db = self.db.get().await?;
        let tx = db.transaction().await?;
        let (first, inserted) = tokio::join!(
            biased;
            first_deliveries(&tx, consumer, &event_ids),
            store::insert_notifications(&tx, messages),
        );
        if first? != messages.len() {
            return Ok(false);
        }
        inserted?;
        tx.commit().await?;
        Ok(true)
    }
}
