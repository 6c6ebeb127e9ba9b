//! payment-service settings (see `servicekit::config` for the layering), e.g.
//! `APP_GATEWAY__KIND=stripe`, `APP_GATEWAY__SECRET_KEY=sk_test_...`.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use servicekit::config::{
    AmqpSettings, DatabaseSettings, HttpSettings, JwtSettings, LogSettings, RetentionSettings,
};
use std::path::PathBuf;

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
    pub gateway: GatewaySettings,
    pub booking_service: BookingServiceSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8084),
            database: DatabaseSettings::for_database("railrush_payment"),
            amqp: AmqpSettings::default(),
            jwt: JwtSettings::default(),
            log: LogSettings::default(),
            retention: RetentionSettings::default(),
            gateway: GatewaySettings::default(),
            booking_service: BookingServiceSettings::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GatewayKind {
    /// The built-in gateway with Stripe's test tokens (no network).
    #[default]
    Test,
    /// Stripe's HTTP API (or anything speaking it) at `base_url`.
    Stripe,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewaySettings {
    pub kind: GatewayKind,
    /// Stripe only: where its API answers. `https://` (the server's certificate is verified
    /// against `ca_file`, or the system's roots), or `http://` for an egress proxy that
    /// originates TLS to Stripe or a test double; any other scheme is refused at start.
    pub base_url: String,
    /// Stripe only: PEM file of the CAs trusted for the gateway's certificate; the system's
    /// roots when unset.
    pub ca_file: Option<PathBuf>,
    /// Stripe only: the secret API key, sent as a bearer token and never logged.
    #[serde(serialize_with = "servicekit::config::expose_optional_secret")]
    pub secret_key: Option<SecretString>,
    /// Stripe only: a call that takes longer is treated as the gateway being unavailable
    /// (and retried with the same idempotency key).
    pub timeout_ms: u64,
    /// Test gateway only: how long each call takes.
    pub latency_ms: u64,
    /// Test gateway only: the first N calls fail as unavailable (fault injection).
    pub fail_first: u32,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            kind: GatewayKind::Test,
            base_url: "https://api.stripe.com".into(),
            ca_file: None,
            secret_key: None,
            timeout_ms: 10_000,
            latency_ms: 0,
            fail_first: 0,
        }
    }
}

/// booking-service's internal booking summary (`servicekit::internal`), asked when no payment
/// row exists yet and before a retry is accepted.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct BookingServiceSettings {
    /// Its base URL, e.g. `http://booking-service:8083` (`APP_BOOKING_SERVICE__URL`).
    pub url: String,
    /// A slower answer counts as booking-service being unavailable (503).
    pub timeout_ms: u64,
}

impl Default for BookingServiceSettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8083".into(),
            timeout_ms: 3_000,
        }
    }
}
