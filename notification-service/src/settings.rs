//! notification-service settings (see `servicekit::config` for the layering).

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use servicekit::config::{
    AmqpSettings, DatabaseSettings, HttpSettings, JwtSettings, LogSettings, RetentionSettings,
};
use std::time::Duration;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub jwt: JwtSettings,
    pub log: LogSettings,
    /// How long the outbox, the consumers\' dedupe records and idempotency keys are kept.
    pub retention: RetentionSettings,
    pub smtp: SmtpSettings,
    pub sms: SmsSettings,
    pub delivery: DeliverySettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8085),
            database: DatabaseSettings::for_database("railrush_notification"),
            amqp: AmqpSettings::default(),
            jwt: JwtSettings::default(),
            log: LogSettings::default(),
            retention: RetentionSettings::default(),
            smtp: SmtpSettings::default(),
            sms: SmsSettings::default(),
            delivery: DeliverySettings::default(),
        }
    }
}

/// E-mail delivery. Without `url`, e-mails go to the log channel like SMS do.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    /// `smtp://[user:password@]host[:port]` (plain SMTP, no TLS: a local relay or a
    /// sidecar that does TLS). Port 25 when absent.
    #[serde(serialize_with = "servicekit::config::expose_optional_secret")]
    pub url: Option<SecretString>,
    /// The `From:` of every e-mail.
    pub from: String,
    /// Bound on each SMTP command; a timeout is a transient failure (retried).
    pub timeout_ms: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            url: None,
            from: "RailRush <no-reply@railrush.example>".into(),
            timeout_ms: 10_000,
        }
    }
}

impl SmtpSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmsKind {
    /// SMS go to the log (and the inbox): development and tests.
    #[default]
    Log,
    /// An HTTP SMS provider at `url` (`channel::HttpSmsChannel`).
    Http,
}

/// SMS delivery, e.g. `APP_SMS__KIND=http`, `APP_SMS__URL=https://sms.example/v1/messages`,
/// `APP_SMS__TOKEN=...` (a secret).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SmsSettings {
    pub kind: SmsKind,
    /// Http only: where messages are POSTed.
    pub url: Option<String>,
    /// Http only: the provider's API token, sent as a bearer token and never logged.
    #[serde(serialize_with = "servicekit::config::expose_optional_secret")]
    pub token: Option<SecretString>,
    /// Http only: the sender id or number the provider shows.
    pub from: String,
    /// Http only: PEM file of the CAs trusted for the provider; the system's roots when unset.
    pub ca_file: Option<std::path::PathBuf>,
    /// Http only: a slower answer is a transient failure (retried).
    pub timeout_ms: u64,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            kind: SmsKind::Log,
            url: None,
            token: None,
            from: "RailRush".into(),
            ca_file: None,
            timeout_ms: 10_000,
        }
    }
}

/// How the consumers read and retry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliverySettings {
    /// Deliveries of one message before it is parked in `<queue>.parked`.
    pub delivery_limit: u32,
    /// Unacked messages in flight per queue (at least 64 for `notification.tickets`, which
    /// takes batches of 32).
    pub prefetch: u16,
    /// How long a message waits in its handler for the recipient's contact (its
    /// `user.registered` not consumed yet) before it is requeued.
    pub contact_wait_ms: u64,
    /// How often the queue-depth and parked-messages gauges are read from the broker.
    pub parked_refresh_ms: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            delivery_limit: 5,
            prefetch: 16,
            contact_wait_ms: 2_000,
            parked_refresh_ms: 5_000,
        }
    }
}
