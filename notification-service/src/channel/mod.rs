//! Delivery channels. A [`Channel`] takes a rendered [`Message`] to its recipient and says
//! whether a failure is worth retrying ([`DeliveryError::Transient`]: the consumer requeues
//! with back-off) or not ([`DeliveryError::Permanent`]: the message is parked).
//!
//! [`LogChannel`] is the default for everything (the inbox holds the message);
//! [`SmtpChannel`] takes e-mails when `smtp.url` is configured and [`HttpSmsChannel`] SMS when
//! `sms.kind = "http"` (production). [`Channels`] picks the channel of each message by its
//! medium.

mod http_sms;
mod log;
mod smtp;

pub use self::http_sms::HttpSmsChannel;
pub use self::log::LogChannel;
pub use self::smtp::SmtpChannel;

use crate::settings::{SmsKind, SmsSettings, SmtpSettings};
use futures_util::future::BoxFuture;
use std::fmt;
use std::sync::Arc;
use uuid::Uuid;

/// What a notification is about; stored as `notifications.kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Otp,
    Ticket,
    BookingExpired,
    BookingCancelled,
    PaymentFailed,
    PaymentRefunded,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Otp => "otp",
            Self::Ticket => "ticket",
            Self::BookingExpired => "booking_expired",
            Self::BookingCancelled => "booking_cancelled",
            Self::PaymentFailed => "payment_failed",
            Self::PaymentRefunded => "payment_refunded",
        }
    }
}

/// How a message reaches its recipient; stored as `notifications.channel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Medium {
    Sms,
    Email,
}

impl Medium {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }
}

/// A rendered message, ready to deliver and then to keep in the inbox.
#[derive(Clone, Debug)]
pub struct Message {
    /// The inbox entry's id.
    pub id: Uuid,
    pub event_id: Uuid,
    pub user_id: Uuid,
    /// The booking the message is about (none for an OTP).
    pub booking_id: Option<Uuid>,
    pub kind: Kind,
    pub medium: Medium,
    /// The phone number (SMS) or e-mail address.
    pub to: String,
    pub to_name: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Could work later (the provider is down or busy): retried.
    #[error("transient delivery failure: {0}")]
    Transient(String),
    /// Will never work (the address is refused): parked.
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

/// A way to deliver messages. Object safe: the service holds `Arc<dyn Channel>`.
pub trait Channel: Send + Sync {
    /// Short name for logs and the `channel` label of the delivery metrics.
    fn name(&self) -> &str;

    fn deliver<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), DeliveryError>>;
}

impl fmt::Debug for dyn Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Channel({})", self.name())
    }
}

/// The channel of each medium.
#[derive(Clone)]
pub struct Channels {
    pub sms: Arc<dyn Channel>,
    pub email: Arc<dyn Channel>,
}

impl Channels {
    /// The configured channels: SMS through the HTTP provider when `sms.kind` is `http`,
    /// e-mail over SMTP when `smtp.url` is set; the log otherwise.
    pub fn from_settings(smtp: &SmtpSettings, sms: &SmsSettings) -> anyhow::Result<Self> {
        let log: Arc<dyn Channel> = Arc::new(LogChannel);
        let email: Arc<dyn Channel> = match SmtpChannel::from_settings(smtp)? {
            Some(smtp) => Arc::new(smtp),
            None => log.clone(),
        };
        let sms: Arc<dyn Channel> = match sms.kind {
            SmsKind::Http => Arc::new(HttpSmsChannel::from_settings(sms)?),
            SmsKind::Log => log,
        };
        Ok(Self { sms, email })
    }

    /// One channel for everything (tests inject theirs this way).
    pub fn all(channel: Arc<dyn Channel>) -> Self {
        Self {
            sms: channel.clone(),
            email: channel,
        }
    }

    pub fn for_medium(&self, medium: Medium) -> &Arc<dyn Channel> {
        match medium {
            Medium::Sms => &self.sms,
            Medium::Email => &self.email,
        }
    }
}
