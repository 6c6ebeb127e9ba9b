//! notification-service settings (see `servicekit::config` for the layering).

use secrecy::SecretString;
use serde::Deserialize;
use servicekit::config::{AmqpSettings, DatabaseSettings, HttpSettings, JwtSettings, LogSettings};
use std::time::Duration;

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub jwt: JwtSettings,
    pub log: LogSettings,
    pub smtp: SmtpSettings,
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
            smtp: SmtpSettings::default(),
            delivery: DeliverySettings::default(),
        }
    }
}

/// E-mail delivery. Without `url`, e-mails go to the log channel like SMS do.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    /// `smtp://[user:password@]host[:port]` (plain SMTP, no TLS: a local relay or a
    /// sidecar that does TLS). Port 25 when absent.
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

/// How the consumers read and retry.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct DeliverySettings {
    /// Deliveries of one message before it is parked in `<queue>.parked`.
    pub delivery_limit: u32,
    /// Unacked messages in flight per queue.
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
